/**
 * singularity-executor through the fake agent, built and launched as
 * operators run it (bundle + launcher with its permission flags):
 * LAUNCH → TASK_RUNNING latency over 50 launches of a task with no
 * artifacts (p50, p99), and the executor's resident memory while it
 * supervises one task. Baselines in the same run: spawning `bash -c true`
 * until it exits, and the RSS of an idle `deno` process.
 *
 * Run: deno task bench executor
 */
import { join, resolve } from "node:path";
import { EXECUTOR } from "../lib/config/mod.ts";
import { buildPrograms } from "../lib/packaging/build.ts";
import { machineFacts } from "../lib/packaging/machine.ts";
import { FakeAgent, taskInfo } from "../tests/support/fake_agent.ts";

const LAUNCHES = 50;
const projectDir = resolve(import.meta.dirname!, "..");

function percentile(values: number[], p: number): number {
  const sorted = [...values].sort((a, b) => a - b);
  return sorted[Math.min(sorted.length - 1, Math.ceil((p / 100) * sorted.length) - 1)];
}

function rssMiB(pid: number): number {
  return Number(Deno.readTextFileSync(`/proc/${pid}/status`).match(/^VmRSS:\s+(\d+) kB$/m)![1]) / 1024;
}

const root = await Deno.makeTempDir({ prefix: "executor-bench-" });
const dirs = ["log", "meta", "cache", "tasks", "logrotate"].map((name) => join(root, name));
for (const dir of dirs) await Deno.mkdir(dir);
const etc = join(root, "etc");
await Deno.mkdir(etc);
await Deno.writeTextFile(
  join(etc, "singularity.base.properties"),
  `root.log.directory=${dirs[0]}\ns3uploader.metadata.directory=${dirs[1]}\nmesos.work.directory=/tmp\n`,
);
await Deno.writeTextFile(join(etc, "singularity.s3base.properties"), `artifact.cache.directory=${dirs[2]}\n`);
await Deno.writeTextFile(
  join(etc, "singularity.executor.properties"),
  `executor.global.task.definition.directory=${dirs[3]}\nexecutor.logrotate.config.folder=${dirs[4]}\n` +
    "executor.default.user=root\nexecutor.idle.shutdown.after.millis=60000\n",
);
const [built] = await buildPrograms({
  projectDir,
  configDir: etc,
  binDir: join(root, "bin"),
  libDir: join(root, "lib/singularity"),
  programs: [EXECUTOR],
  machine: machineFacts(),
});

const agent = await FakeAgent.start();
try {
  const executor = await agent.launchExecutor({ command: [built.path] });
  await agent.waitFor(() => agent.subscribeCount === 1, 15_000, "subscribed");
  const latencies: number[] = [];
  for (let i = 0; i < LAUNCHES; i++) {
    const id = `bench-req-d1-1700000000000-${i}-host-rack`;
    agent.launch(taskInfo({ id, data: JSON.stringify({ cmd: "true" }) }));
    await agent.waitFor(() => agent.taskState(id) === "TASK_FINISHED", 10_000, `${id} finished`);
    const launch = agent.events.find((event) =>
      event.type === "LAUNCH" &&
      (event.event as { launch: { task: { task_id: { value: string } } } }).launch.task.task_id.value === id
    )!;
    const running = agent.updates.find((update) => update.taskId === id && update.state === "TASK_RUNNING")!;
    latencies.push(running.at - launch.at);
  }
  agent.launch(taskInfo({ id: "bench-req-d1-1700000000000-999-host-rack", data: JSON.stringify({ cmd: "sleep 30" }) }));
  await agent.waitFor(
    () => agent.taskState("bench-req-d1-1700000000000-999-host-rack") === "TASK_RUNNING",
    10_000,
    "supervising",
  );
  await new Promise((r) => setTimeout(r, 2000));
  const supervisingRss = rssMiB(executor.pid);

  const spawns: number[] = [];
  for (let i = 0; i < LAUNCHES; i++) {
    const started = performance.now();
    await new Deno.Command("bash", { args: ["-c", "true"] }).output();
    spawns.push(performance.now() - started);
  }
  const idle = new Deno.Command(Deno.execPath(), {
    args: ["eval", "await new Promise((r) => setTimeout(r, 60_000))"],
    stdout: "null",
    stderr: "null",
  }).spawn();
  await new Promise((r) => setTimeout(r, 1500));
  const idleDenoRss = rssMiB(idle.pid);
  idle.kill("SIGKILL");
  await idle.status;

  const p50 = percentile(latencies, 50);
  const p99 = percentile(latencies, 99);
  console.log(
    `executor (${built.mode}) LAUNCH -> TASK_RUNNING over ${LAUNCHES} launches: p50 ${p50} ms, p99 ${p99} ms (target p50 <= 20 ms)`,
  );
  console.log(
    `bash -c true spawn+exit (baseline): p50 ${percentile(spawns, 50).toFixed(1)} ms, p99 ${
      percentile(spawns, 99).toFixed(1)
    } ms; ` +
      `ratio p50 ${(p50 / percentile(spawns, 50)).toFixed(1)}x`,
  );
  console.log(
    `executor RSS supervising one task: ${supervisingRss.toFixed(1)} MiB (target <= 45 MB); ` +
      `idle deno process (baseline) ${idleDenoRss.toFixed(1)} MiB; ratio ${(supervisingRss / idleDenoRss).toFixed(2)}x`,
  );
} finally {
  await agent.close();
  await Deno.remove(root, { recursive: true });
}
