/**
 * The cleanup pass against real task sandboxes: tasks really run through the
 * executor under the fake agent, the executor SIGKILLed mid-task (and the
 * task's process group with it, as the agent destroys the container), then
 * the cleanup run in-process against a fake Singularity API and a fake agent
 * state endpoint. Definitions for the cases that need no running task are
 * made with the executor's own set-up code.
 */
import assert from "node:assert/strict";
import { join, resolve } from "node:path";
import { CLEANUP, type CleanupKeys, EXECUTOR, type ExecutorKeys, loadConfig } from "../../lib/config/mod.ts";
import { runCleanup } from "../../lib/cleanup/cleanup_pass.ts";
import { acquireRunLock } from "../../lib/cleanup/run_lock.ts";
import { makeDeadTask } from "../support/dead_task.ts";
import { gunzipFile } from "../support/gzip.ts";
import { FakeAgent, taskInfo } from "../support/fake_agent.ts";
import { FakeAgentState } from "../support/fake_agent_state.ts";
import { FakeSingularity } from "../support/fake_singularity.ts";
import { writeTestConfigDir } from "../support/s3_server.ts";

const MAIN = resolve(import.meta.dirname!, "../../main_executor.ts");
const AGENT_ID = "agent-S7";
const HOUR = 3600_000;
const taskId = (n: number) => `web-deploy1-17958492000${String(n).padStart(2, "0")}-${n}-host_a-rack_1`;

const silent = { info() {}, warn() {}, error() {} };

/** Directories, config files shared by the executor and the cleanup, the fakes. */
async function environment(properties: Record<string, string> = {}) {
  const root = await Deno.makeTempDir({ prefix: "cleanup-pass-" });
  const dirs = {
    tasks: join(root, "tasks"),
    logrotate: join(root, "logrotate.d"),
    hourly: join(root, "logrotate.d/hourly"),
    cron: join(root, "cron.d"),
    results: join(root, "results"),
    sandboxes: join(root, "sandboxes"),
  };
  for (const dir of Object.values(dirs)) await Deno.mkdir(dir, { recursive: true });
  const singularity = FakeSingularity.start();
  const agentState = FakeAgentState.start({ id: AGENT_ID });
  const setup = await writeTestConfigDir(EXECUTOR, {
    properties: {
      "executor.default.user": "root",
      "executor.global.task.definition.directory": dirs.tasks,
      "executor.logrotate.config.folder": dirs.logrotate,
      "executor.logrotate.hourly.config.folder": dirs.hourly,
      "executor.cron.directory": dirs.cron,
      "executor.s3.uploader.bucket": "task-logs",
      "executor.idle.shutdown.after.millis": "800",
      "mesos.agent.host": "127.0.0.1",
      "mesos.agent.port": String(agentState.port),
      ...properties,
    },
  });
  await Deno.writeTextFile(
    join(setup.dir, "singularity.executor.cleanup.properties"),
    `executor.cleanup.results.directory=${dirs.results}\nsingularity.hosts=${singularity.host}\n`,
  );
  const load = async <T extends CleanupKeys | ExecutorKeys>(program: typeof CLEANUP) => {
    const { config, errors } = await loadConfig<T>(program, { configDir: setup.dir });
    assert.deepEqual(errors, []);
    return config;
  };
  const config = await load<CleanupKeys>(CLEANUP);
  const metadataDir = join(setup.dir, "metadata");
  return {
    ...dirs,
    root,
    singularity,
    agentState,
    config,
    metadataDir,
    configDir: setup.dir,
    executorConfig: await load<ExecutorKeys>(EXECUTOR),
    definitions: () => [...Deno.readDirSync(dirs.tasks)].map((e) => e.name).sort(),
    resultsFile: async () => {
      const files = [...Deno.readDirSync(dirs.results)].filter((e) => !e.name.startsWith("."));
      assert.equal(files.length, 1, "one results file");
      return JSON.parse(await Deno.readTextFile(join(dirs.results, files[0].name)));
    },
    /** A task's sandbox as the executor leaves it right after set-up, its executor long gone. */
    async deadTask(id: string, fields: Record<string, unknown> = {}) {
      const sandbox = await makeDeadTask(await load<ExecutorKeys>(EXECUTOR), dirs.sandboxes, id, fields);
      await Deno.writeTextFile(join(sandbox, "service.log"), `${id} says goodbye\n`);
      return sandbox;
    },
    async [Symbol.asyncDispose]() {
      await singularity.stop();
      await agentState.stop();
      await setup[Symbol.asyncDispose]();
      await Deno.remove(root, { recursive: true });
    },
  };
}

/** Everything below `dir`: path, size and mtime of each entry, for "nothing changed" checks. */
function snapshot(dir: string): string[] {
  const out: string[] = [];
  const walk = (path: string) => {
    for (const entry of Deno.readDirSync(path)) {
      const full = join(path, entry.name);
      const info = Deno.lstatSync(full);
      out.push(`${full} ${info.size} ${info.mtime?.getTime()}`);
      if (entry.isDirectory) walk(full);
    }
  };
  walk(dir);
  return out.sort();
}

/** A snapshot without the results directory, which every run (aborted ones too) writes to. */
function withoutResults(lines: string[]): string[] {
  return lines.filter((line) => !line.includes("/results"));
}

async function gunzipAll(dir: string): Promise<string> {
  let text = "";
  for (const name of [...Deno.readDirSync(dir)].map((e) => e.name).sort()) text += await gunzipFile(join(dir, name));
  return text;
}

Deno.test("cleanup: a task whose executor was SIGKILLed mid-task gets its last logs rotated and handed over, app/ removed", async () => {
  await using env = await environment();
  const id = taskId(1);
  const agent = await FakeAgent.start();
  try {
    const executor = await agent.launchExecutor({
      command: [Deno.execPath(), "run", "-A", MAIN, "--config-dir", env.configDir],
      env: { NO_COLOR: "1", DENO_NO_UPDATE_CHECK: "1" },
    });
    await agent.waitFor(() => agent.subscribeCount >= 1, 15_000, "subscribed");
    agent.launch(taskInfo({ id, data: JSON.stringify({ cmd: "echo started; echo last words; exec sleep 600" }) }));
    await agent.waitFor(() => agent.taskState(id) === "TASK_RUNNING", 15_000, "running");
    const running = agent.updates.find((u) => u.taskId === id && u.state === "TASK_RUNNING")!;
    const taskPid = Number(/\(pid: (\d+)\)/.exec(running.message ?? "")![1]);
    const sandbox = join(executor.sandbox, id);
    await agent.waitFor(
      () => {
        try {
          return Deno.readTextFileSync(join(sandbox, "service.log")).includes("last words");
        } catch {
          return false;
        }
      },
      10_000,
      "task output",
    );
    // The OOM killer takes the executor; the agent then destroys the container, the task's processes with it.
    Deno.kill(executor.pid, "SIGKILL");
    await executor.status;
    await new Deno.Command("kill", { args: ["-KILL", "--", `-${taskPid}`] }).output();
    assert.deepEqual(env.definitions(), [`${id}.task.json`]);
    assert.ok((await Deno.stat(join(env.logrotate, id))).isFile, "the dead executor left its logrotate config");

    env.singularity.setActiveTasks(AGENT_ID, [taskId(99)]);
    // The agent reported the executor's death; Singularity recorded the task lost (20 minutes ago: settled).
    env.singularity.setHistory(id, [
      { taskState: "TASK_LAUNCHED", timestamp: Date.now() - 22 * 60_000 },
      { taskState: "TASK_RUNNING", timestamp: Date.now() - 21 * 60_000 },
      { taskState: "TASK_LOST", timestamp: Date.now() - 20 * 60_000 },
    ]);
    const { results, resultsFile } = await runCleanup({ config: env.config, log: silent });
    assert.deepEqual(results, {
      totalTaskFiles: 1,
      mesosRunningTasks: 1,
      waitingTasks: 0,
      runningTasksIgnored: 0,
      successfullyCleanedTasks: 1,
      ioErrorTasks: 0,
      errorTasks: 0,
      invalidTasks: 0,
    });
    assert.deepEqual(JSON.parse(await Deno.readTextFile(resultsFile!)), results);
    assert.equal(await gunzipAll(join(sandbox, "logs")), "started\nlast words\n");
    assert.equal(await Deno.readTextFile(join(sandbox, "tail_of_finished_service.log")), "started\nlast words\n");
    const metadata = JSON.parse(await Deno.readTextFile(join(env.metadataDir, `${id}.s3.json`)));
    assert.deepEqual([metadata.finished, metadata.uploadImmediately, metadata.directory], [
      true,
      true,
      join(sandbox, "logs"),
    ]);
    await assert.rejects(Deno.stat(join(sandbox, "app")), Deno.errors.NotFound);
    await assert.rejects(Deno.stat(join(env.logrotate, id)), Deno.errors.NotFound);
    assert.deepEqual(env.definitions(), []);
    assert.deepEqual(env.agentState.paths, ["/slave(1)/state.json"]);
  } finally {
    await agent.close();
  }
});

Deno.test("cleanup: a recently failed task keeps app/ and its definition; a later run past the limit removes them", async () => {
  await using env = await environment();
  const id = taskId(2);
  const sandbox = await env.deadTask(id);
  env.singularity.setActiveTasks(AGENT_ID, [taskId(99)]);
  const failedAt = Date.now() - HOUR;
  env.singularity.setHistory(id, [{ taskState: "TASK_FAILED", timestamp: failedAt }]);
  const first = await runCleanup({ config: env.config, log: silent });
  assert.equal(first.results.successfullyCleanedTasks, 1);
  assert.ok((await Deno.stat(join(sandbox, "app"))).isDirectory);
  assert.deepEqual(env.definitions(), [`${id}.task.json`]);
  assert.equal(await gunzipAll(join(sandbox, "logs")), `${id} says goodbye\n`);
  const metadataPath = join(env.metadataDir, `${id}.s3.json`);
  assert.equal(JSON.parse(await Deno.readTextFile(metadataPath)).finished, true);
  // The uploader deletes the metadata after its final pass; a later run must not hand the task over again.
  await Deno.remove(metadataPath);

  const later = await runCleanup({ config: env.config, log: silent, nowMs: failedAt + 25 * HOUR });
  assert.equal(later.results.successfullyCleanedTasks, 1);
  await assert.rejects(Deno.stat(join(sandbox, "app")), Deno.errors.NotFound);
  assert.deepEqual(env.definitions(), []);
  await assert.rejects(Deno.stat(metadataPath), Deno.errors.NotFound);
});

Deno.test("cleanup: a task Singularity reports active, and one whose executor pid is alive, are left untouched", async () => {
  await using env = await environment();
  const active = await env.deadTask(taskId(3));
  const liveExecutor = await env.deadTask(taskId(4));
  const livePath = join(env.tasks, `${taskId(4)}.task.json`);
  const definition = JSON.parse(await Deno.readTextFile(livePath));
  await Deno.writeTextFile(livePath, JSON.stringify({ ...definition, executorPid: String(Deno.pid) }));
  env.singularity.setActiveTasks(AGENT_ID, [taskId(3)]);
  const before = snapshot(env.root);
  const { results } = await runCleanup({ config: env.config, log: silent });
  assert.equal(results.runningTasksIgnored, 2);
  assert.equal(results.successfullyCleanedTasks, 0);
  assert.deepEqual(withoutResults(snapshot(env.root)), withoutResults(before));
  for (const sandbox of [active, liveExecutor]) assert.ok((await Deno.stat(join(sandbox, "app"))).isDirectory);
  assert.ok(!env.singularity.paths.some((path) => path.includes("/history/")), "no history asked for live tasks");
});

Deno.test("cleanup: safe mode with zero active tasks aborts, touches nothing, and says so in the results file", async () => {
  await using env = await environment();
  await env.deadTask(taskId(5));
  env.singularity.setActiveTasks(AGENT_ID, []);
  const before = snapshot(env.root);
  const { results } = await runCleanup({ config: env.config, log: silent });
  assert.match(results.errorMessage!, /^Running in safe mode .* found 0 running tasks - aborting cleanup$/);
  assert.deepEqual(withoutResults(snapshot(env.root)), withoutResults(before));
  assert.deepEqual(await env.resultsFile(), { ...results });
});

Deno.test("cleanup: with the Singularity API down the run aborts, touches nothing, writes the reason", async () => {
  await using env = await environment();
  await env.deadTask(taskId(6));
  await env.singularity.stop();
  const before = snapshot(env.root);
  const { results } = await runCleanup({ config: env.config, log: silent });
  assert.match(results.errorMessage!, /^could not learn which tasks run on this agent: /);
  assert.equal(results.totalTaskFiles, 0);
  assert.deepEqual(withoutResults(snapshot(env.root)), withoutResults(before));
  assert.equal((await env.resultsFile()).errorMessage, results.errorMessage);
});

Deno.test("cleanup: one bad definition file among good ones is counted invalid; the others are cleaned", async () => {
  await using env = await environment();
  const good = [await env.deadTask(taskId(7)), await env.deadTask(taskId(8))];
  await Deno.writeTextFile(join(env.tasks, "broken.task.json"), '{"taskId": "x", "executorData": ');
  await Deno.writeTextFile(join(env.tasks, "notes.txt"), "not a definition\n");
  env.singularity.setActiveTasks(AGENT_ID, [taskId(99)]);
  const { results } = await runCleanup({ config: env.config, log: silent });
  assert.deepEqual(
    [results.totalTaskFiles, results.invalidTasks, results.successfullyCleanedTasks, results.errorTasks],
    [3, 2, 2, 0],
  );
  for (const sandbox of good) await assert.rejects(Deno.stat(join(sandbox, "app")), Deno.errors.NotFound);
  assert.deepEqual(env.definitions(), ["broken.task.json", "notes.txt"]);
});

Deno.test("cleanup --dry-run says per task what it would do and why, and changes nothing", async () => {
  await using env = await environment();
  await env.deadTask(taskId(9));
  await env.deadTask(taskId(10));
  env.singularity.setActiveTasks(AGENT_ID, [taskId(10)]);
  const before = snapshot(env.root);
  const lines: string[] = [];
  await runCleanup({ config: env.config, log: silent, dryRun: true, print: (line) => lines.push(line) });
  assert.deepEqual(snapshot(env.root), before);
  assert.equal(lines.length, 2);
  assert.match(
    lines[1],
    new RegExp(`^${taskId(10)}: leave alone \\(Singularity reports the task active on this agent\\)$`),
  );
  assert.match(
    lines[0],
    new RegExp(
      `^${taskId(9)}: clean \\(.+\\): final logrotate, upload metadata finished, remove app/, delete the definition$`,
    ),
  );
});

Deno.test("cleanup: a run that finds the lock held by an overlapping run leaves every task alone", async () => {
  await using env = await environment();
  const sandbox = await env.deadTask(taskId(11));
  env.singularity.setActiveTasks(AGENT_ID, [taskId(99)]);
  await using _held = await acquireRunLock(env.results);
  const { results } = await runCleanup({ config: env.config, log: silent });
  assert.match(results.errorMessage!, /another cleanup run holds the lock/);
  assert.ok((await Deno.stat(join(sandbox, "app"))).isDirectory);
  assert.deepEqual(env.definitions(), [`${taskId(11)}.task.json`]);
  assert.deepEqual(env.singularity.paths, []);
});

Deno.test("cleanup: a sandbox that is gone only costs its logrotate config and definition", async () => {
  await using env = await environment();
  const sandbox = await env.deadTask(taskId(12));
  await Deno.remove(sandbox, { recursive: true });
  env.singularity.setActiveTasks(AGENT_ID, [taskId(99)]);
  const { results } = await runCleanup({ config: env.config, log: silent });
  assert.equal(results.successfullyCleanedTasks, 1);
  assert.deepEqual([...Deno.readDirSync(env.logrotate)].map((e) => e.name), ["hourly"]);
  assert.deepEqual(env.definitions(), []);
});

Deno.test("singularity-executor-cleanup: --dry-run prints the plan on stdout; a real run exits 0 and writes its results", async () => {
  await using env = await environment();
  const sandbox = await env.deadTask(taskId(13));
  env.singularity.setActiveTasks(AGENT_ID, [taskId(99)]);
  const cleanup = resolve(import.meta.dirname!, "../../main_cleanup.ts");
  const run = (...args: string[]) =>
    new Deno.Command(Deno.execPath(), {
      args: ["run", "-A", cleanup, "--config-dir", env.configDir, ...args],
      env: { NO_COLOR: "1" },
    }).output();
  const dry = await run("--dry-run");
  assert.equal(dry.code, 0, new TextDecoder().decode(dry.stderr));
  assert.match(new TextDecoder().decode(dry.stdout), new RegExp(`^${taskId(13)}: clean \\(`, "m"));
  assert.deepEqual([...Deno.readDirSync(env.results)].filter((e) => !e.name.startsWith(".")), []);
  const real = await run();
  assert.equal(real.code, 0, new TextDecoder().decode(real.stderr));
  assert.equal((await env.resultsFile()).successfullyCleanedTasks, 1);
  await assert.rejects(Deno.stat(join(sandbox, "app")), Deno.errors.NotFound);
});

Deno.test("cleanup: a task Singularity still sees running, or saw end minutes ago, waits untouched", async () => {
  await using env = await environment();
  await env.deadTask(taskId(14));
  await env.deadTask(taskId(15));
  env.singularity.setActiveTasks(AGENT_ID, [taskId(99)]);
  env.singularity.setHistory(taskId(14), [{ taskState: "TASK_RUNNING", timestamp: Date.now() - HOUR }]);
  env.singularity.setHistory(taskId(15), [{ taskState: "TASK_FINISHED", timestamp: Date.now() - 60_000 }]);
  const before = snapshot(env.root);
  const { results } = await runCleanup({ config: env.config, log: silent });
  assert.deepEqual([results.waitingTasks, results.successfullyCleanedTasks, results.errorTasks], [2, 0, 0]);
  assert.deepEqual(withoutResults(snapshot(env.root)), withoutResults(before));
});

Deno.test("cleanup: preserveTaskSandboxAfterFinish keeps app/ but the definition goes once the logs are handed over", async () => {
  await using env = await environment();
  const sandbox = await env.deadTask(taskId(16), { preserveTaskSandboxAfterFinish: true });
  env.singularity.setActiveTasks(AGENT_ID, [taskId(99)]);
  const { results } = await runCleanup({ config: env.config, log: silent });
  assert.equal(results.successfullyCleanedTasks, 1);
  assert.ok((await Deno.stat(join(sandbox, "app"))).isDirectory);
  assert.deepEqual(env.definitions(), []);
});

Deno.test("cleanup: app/ stays while upload metadata points inside it; a run after the uploader took it removes it", async () => {
  await using env = await environment();
  const id = taskId(17);
  const sandbox = await env.deadTask(id, {
    s3UploaderAdditionalFiles: [{ filename: "app.log", directory: "app/logs", s3UploaderFilenameHint: "app" }],
  });
  await Deno.mkdir(join(sandbox, "app/logs"));
  await Deno.writeTextFile(join(sandbox, "app/logs/app.log-1.gz"), "not uploaded yet");
  env.singularity.setActiveTasks(AGENT_ID, [taskId(99)]);
  const first = await runCleanup({ config: env.config, log: silent });
  assert.deepEqual([first.results.waitingTasks, first.results.successfullyCleanedTasks], [1, 0]);
  assert.equal(await Deno.readTextFile(join(sandbox, "app/logs/app.log-1.gz")), "not uploaded yet");
  assert.deepEqual(env.definitions(), [`${id}.task.json`]);
  const pending = join(env.metadataDir, `${id}-app.s3.json`);
  assert.equal(JSON.parse(await Deno.readTextFile(pending)).finished, true);
  // The uploader's final pass took the file and dropped its metadata.
  await Deno.remove(pending);
  await Deno.remove(join(env.metadataDir, `${id}-default.s3.json`));
  const second = await runCleanup({ config: env.config, log: silent });
  assert.equal(second.results.successfullyCleanedTasks, 1);
  await assert.rejects(Deno.stat(join(sandbox, "app")), Deno.errors.NotFound);
  assert.deepEqual(env.definitions(), []);
});
