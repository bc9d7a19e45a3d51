/**
 * One cleanup pass over 1,000 task definitions of dead tasks with empty logs,
 * against the fake Singularity API and agent state endpoint (no history for
 * any task, so every one is cleaned): wall time with `true` standing in for
 * logrotate (the target: ≤ 3 s excluding logrotate), then with the real
 * logrotate, beside bash running the same 1,000 `logrotate -f` calls alone.
 *
 * Run: deno task bench cleanup
 */
import { join } from "node:path";
import { CLEANUP, type CleanupKeys, EXECUTOR, type ExecutorKeys, loadConfig } from "../lib/config/mod.ts";
import { runCleanup } from "../lib/cleanup/cleanup_pass.ts";
import { makeDeadTask } from "../tests/support/dead_task.ts";
import { FakeAgentState } from "../tests/support/fake_agent_state.ts";
import { FakeSingularity } from "../tests/support/fake_singularity.ts";
import { writeTestConfigDir } from "../tests/support/s3_server.ts";

const TASKS = 1000;
const AGENT_ID = "bench-agent";

/** 1,000 dead tasks' sandboxes and definitions in a fresh directory; returns the configs and the cleanup. */
async function prepare(logrotate: string) {
  const root = await Deno.makeTempDir({ prefix: "cleanup-bench-" });
  const dirs = {
    tasks: join(root, "tasks"),
    logrotate: join(root, "logrotate.d"),
    cron: join(root, "cron.d"),
    results: join(root, "results"),
  };
  for (const dir of Object.values(dirs)) await Deno.mkdir(dir, { recursive: true });
  const singularity = FakeSingularity.start();
  const agentState = FakeAgentState.start({ id: AGENT_ID });
  singularity.setActiveTasks(AGENT_ID, ["other-d1-1-0-h-r"]);
  const setup = await writeTestConfigDir(EXECUTOR, {
    properties: {
      "executor.default.user": "root",
      "executor.global.task.definition.directory": dirs.tasks,
      "executor.logrotate.config.folder": dirs.logrotate,
      "executor.cron.directory": dirs.cron,
      "executor.logrotate.command": logrotate,
      "executor.s3.uploader.bucket": "task-logs",
      "mesos.agent.host": "127.0.0.1",
      "mesos.agent.port": String(agentState.port),
    },
  });
  await Deno.writeTextFile(
    join(setup.dir, "singularity.executor.cleanup.properties"),
    `executor.cleanup.results.directory=${dirs.results}\nsingularity.hosts=${singularity.host}\n`,
  );
  const executorConfig = (await loadConfig<ExecutorKeys>(EXECUTOR, { configDir: setup.dir })).config;
  const config = (await loadConfig<CleanupKeys>(CLEANUP, { configDir: setup.dir })).config;
  for (let i = 0; i < TASKS; i++) {
    await makeDeadTask(executorConfig, join(root, "sandboxes"), `bench-d1-${1795849200000 + i}-${i}-host_a-rack_1`);
  }
  return {
    root,
    config,
    logrotateDir: dirs.logrotate,
    async dispose() {
      await singularity.stop();
      await agentState.stop();
      await setup[Symbol.asyncDispose]();
      await Deno.remove(root, { recursive: true });
    },
  };
}

/** Wall seconds of one cleanup pass; fails unless every task was cleaned. */
async function pass(logrotate: string): Promise<number> {
  const env = await prepare(logrotate);
  try {
    const started = performance.now();
    const { results } = await runCleanup({ config: env.config, log: { info() {}, warn() {}, error() {} } });
    const seconds = (performance.now() - started) / 1000;
    if (results.successfullyCleanedTasks !== TASKS) throw new Error(`cleaned ${JSON.stringify(results)}`);
    return seconds;
  } finally {
    await env.dispose();
  }
}

/** Wall seconds of bash running `logrotate -f` on 1,000 task configs, nothing else. */
async function bashLogrotate(): Promise<number> {
  const env = await prepare("logrotate");
  try {
    const script =
      `for conf in ${env.logrotateDir}/*; do [ -f "$conf" ] && logrotate -f -s "${env.root}/state.$RANDOM" "$conf"; done`;
    const started = performance.now();
    const out = await new Deno.Command("bash", { args: ["-c", script] }).output();
    if (!out.success) throw new Error(new TextDecoder().decode(out.stderr));
    return (performance.now() - started) / 1000;
  } finally {
    await env.dispose();
  }
}

const withoutLogrotate = await pass("true");
const withLogrotate = await pass("logrotate");
const logrotateAlone = await bashLogrotate();
console.log(`cleanup pass over ${TASKS} dead tasks (empty logs, no history, app/ removed):`);
console.log(`  ours, logrotate replaced by true: ${withoutLogrotate.toFixed(2)} s (target <= 3 s)`);
console.log(`  ours, real logrotate:             ${withLogrotate.toFixed(2)} s`);
console.log(`  bash, the 1,000 logrotate runs:   ${logrotateAlone.toFixed(2)} s`);
console.log(
  `  ratio ours (real logrotate) / bash logrotate alone: ${(withLogrotate / logrotateAlone).toFixed(2)}; ` +
    `ours without logrotate: ${(withoutLogrotate * 1000 / TASKS).toFixed(2)} ms per task`,
);
