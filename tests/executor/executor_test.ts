/**
 * singularity-executor end to end under the fake Mesos agent: the real
 * main_executor.ts as a child process, real tasks through bash runner.sh.
 */
import assert from "node:assert/strict";
import { join, resolve } from "node:path";
import { EXECUTOR } from "../../lib/config/mod.ts";
import { gunzipFile } from "../support/gzip.ts";
import { FakeAgent, taskInfo } from "../support/fake_agent.ts";
import { PutObjectCommand } from "@aws-sdk/client-s3";
import { closeS3Clients, s3ClientFor } from "../../lib/s3/client.ts";
import { createTestBucket, loadTestConfig, writeTestConfigDir } from "../support/s3_server.ts";

const MAIN = resolve(import.meta.dirname!, "../../main_executor.ts");
const TASK_ID = "my-request-deploy1-1700000000000-1-host_a-rack_1";

function pathExistsSync(path: string): boolean {
  try {
    Deno.statSync(path);
    return true;
  } catch {
    return false;
  }
}

async function ensureUser(name: string): Promise<void> {
  const found = await new Deno.Command("id", { args: ["-u", name], stdout: "null", stderr: "null" }).output();
  if (!found.success) {
    const made = await new Deno.Command("useradd", { args: ["--system", "--no-create-home", name] }).output();
    assert.equal(made.code, 0, `useradd ${name}`);
  }
}

async function start(properties: Record<string, string> = {}) {
  const state = await Deno.makeTempDir({ prefix: "executor-state-" });
  await Deno.mkdir(join(state, "tasks"));
  await Deno.mkdir(join(state, "logrotate"));
  const setup = await writeTestConfigDir(EXECUTOR, {
    properties: {
      "executor.default.user": "root",
      "executor.global.task.definition.directory": join(state, "tasks"),
      "executor.logrotate.config.folder": join(state, "logrotate"),
      "executor.idle.shutdown.after.millis": "800",
      "executor.check.threads.every.millis": "200",
      ...properties,
    },
  });
  const agent = await FakeAgent.start();
  const executor = await agent.launchExecutor({
    command: [Deno.execPath(), "run", "-A", MAIN, "--config-dir", setup.dir],
    env: { NO_COLOR: "1", DENO_NO_UPDATE_CHECK: "1" },
  });
  await agent.waitFor(() => agent.subscribeCount >= 1, 15_000, "subscribed");
  const launch = (data: unknown, extra: Record<string, unknown> = {}) =>
    agent.launch(taskInfo({ id: TASK_ID, data: typeof data === "string" ? data : JSON.stringify(data), ...extra }));
  const messages = (id = TASK_ID) =>
    agent.updates.filter((u) => u.taskId === id && u.outcome === "applied").map((u) => [u.state, u.message]);
  return {
    agent,
    executor,
    launch,
    messages,
    taskDir: () => join(executor.sandbox, TASK_ID),
    /** What the task wrote: the rotated service logs (the teardown's forced rotation), then service.log. */
    async serviceOutput(): Promise<string> {
      const dir = join(executor.sandbox, TASK_ID);
      const rotated = [...Deno.readDirSync(join(dir, "logs"))].map((e) => e.name).sort();
      let text = "";
      for (const name of rotated) text += await gunzipFile(join(dir, "logs", name));
      return text + await Deno.readTextFile(join(dir, "service.log"));
    },
    state,
    metadataDir: join(setup.dir, "metadata"),
    definitions: () => [...Deno.readDirSync(join(state, "tasks"))].map((e) => e.name),
    async [Symbol.asyncDispose]() {
      await agent.close();
      await setup[Symbol.asyncDispose]();
      await Deno.remove(state, { recursive: true });
      await Deno.remove(executor.sandbox, { recursive: true }).catch(() => {});
    },
  };
}

Deno.test("executor: a task runs to TASK_FINISHED with the originals' messages; app/ and the definition are removed", async () => {
  await using env = await start();
  env.launch({
    cmd: 'echo out; echo err >&2; cat ../config.txt; echo "$GREETING"',
    embeddedArtifacts: [{ name: "c", filename: "config.txt", content: btoa("from an artifact\n") }],
  }, { environment: { GREETING: 'hi "there" `x` !bang' } });
  assert.equal((await env.executor.status).code, 0, env.executor.stderr);
  const pid = env.executor.pid;
  const updates = env.messages();
  assert.deepEqual(updates.map(([state]) => state), ["TASK_STARTING", "TASK_RUNNING", "TASK_FINISHED"]);
  assert.equal(updates[0][1], `Staging files... (executor pid: ${pid})`);
  assert.match(updates[1][1]!, /^Task running process bash - \(pid: \d+\)$/);
  assert.equal(updates[2][1], "Process exited normally with code 0");
  assert.equal(
    await env.serviceOutput(),
    'out\nerr\nfrom an artifact\nhi "there" `x` !bang\n',
  );
  await assert.rejects(Deno.stat(join(env.taskDir(), "app")), Deno.errors.NotFound);
  assert.deepEqual(env.definitions(), []);
  assert.deepEqual(env.agent.agentUpdates, []);
  const taskLog = await Deno.readTextFile(join(env.taskDir(), "executor.java.log"));
  assert.match(taskLog, /TASK_STARTING: Staging files\.\.\. \(executor pid: \d+\)\n/);
  assert.match(taskLog, /embedded artifact c \(config\.txt\): written\n/);
  assert.match(taskLog, /TASK_FINISHED: Process exited normally with code 0\n/);
});

Deno.test("executor: a non-zero exit is TASK_FAILED; app/ and the task definition stay for the cleanup job", async () => {
  await using env = await start();
  env.launch({ cmd: "exit 3" });
  await env.executor.status;
  assert.deepEqual(env.messages().at(-1), ["TASK_FAILED", "Process failed with code 3"]);
  assert.ok((await Deno.stat(join(env.taskDir(), "app"))).isDirectory);
  assert.deepEqual(env.definitions(), [`${TASK_ID}.task.json`]);
});

Deno.test("executor: successfulExitCodes decide FINISHED", async () => {
  await using env = await start();
  env.launch({ cmd: "exit 3", successfulExitCodes: [0, 3] });
  await env.executor.status;
  assert.deepEqual(env.messages().at(-1), ["TASK_FINISHED", "Process exited normally with code 3"]);
});

Deno.test("executor: malformed executor data gives a terminal status that says what was wrong; the executor exits cleanly", async () => {
  await using env = await start();
  env.launch({ successfulExitCodes: [0] });
  assert.equal((await env.executor.status).code, 0);
  const [state, message] = env.messages().at(-1)!;
  assert.equal(state, "TASK_FAILED");
  assert.match(message!, /^Invalid executor data: .*cmd/);
  assert.ok(message!.length <= 80);
});

Deno.test("executor: runs the task as its user through sudo", async () => {
  await ensureUser("sgtest");
  await using env = await start();
  env.launch({ cmd: "id -un; touch made-by-task", user: "sgtest" });
  await env.executor.status;
  assert.deepEqual(env.messages().at(-1)?.[0], "TASK_FINISHED");
  assert.equal(await env.serviceOutput(), "sgtest\n");
});

Deno.test("executor: KILL of a SIGTERM-ignoring task with grandchildren: SIGKILL after sigKillProcessesAfterMillis", async () => {
  await using env = await start();
  // The marker shows the traps are in place before the KILL is sent.
  env.launch({
    cmd: "trap '' TERM; (trap '' TERM; sleep 60.25) & touch ../trapped; sleep 60.25; wait",
    sigKillProcessesAfterMillis: 500,
  });
  await env.agent.waitFor(() => pathExistsSync(join(env.taskDir(), "trapped")), 10_000, "the task's traps set");
  env.agent.kill(TASK_ID);
  await env.agent.waitFor(() => env.agent.taskState(TASK_ID) === "TASK_KILLED", 10_000, "KILLED");
  assert.deepEqual(env.messages().at(-1), ["TASK_KILLED", "Task killed forcibly after waiting at least 500 ms"]);
  assert.equal((await env.executor.status).code, 0);
  const leftovers = await new Deno.Command("pgrep", { args: ["-f", "sleep 60.25"], stdout: "piped" }).output();
  assert.equal(new TextDecoder().decode(leftovers.stdout).trim(), "", "a task process survived the kill");
});

Deno.test("executor: the TaskInfo's kill policy sets the grace period between SIGTERM and SIGKILL", async () => {
  await using env = await start({ "executor.hard.kill.after.millis": "60000" });
  env.launch({ cmd: "trap '' TERM; touch ../trapped; sleep 60 & wait" }, { killPolicyGraceMs: 300 });
  await env.agent.waitFor(() => pathExistsSync(join(env.taskDir(), "trapped")), 10_000, "the task's traps set");
  env.agent.kill(TASK_ID);
  await env.agent.waitFor(() => env.agent.taskState(TASK_ID) === "TASK_KILLED", 10_000, "KILLED");
  assert.deepEqual(env.messages().at(-1), ["TASK_KILLED", "Task killed forcibly after waiting at least 300 ms"]);
});

Deno.test("executor: a thread bomb over maxTaskThreads is TASK_FAILED with the count", async () => {
  await using env = await start();
  env.launch({ cmd: "for i in $(seq 1 20); do sleep 30 & done; wait", maxTaskThreads: 8 });
  await env.executor.status;
  const [state, message] = env.messages().at(-1)!;
  assert.equal(state, "TASK_FAILED");
  assert.match(message!, /^Task used \d+ threads and was killed \(max 8\)$/);
});

Deno.test("executor: KILL during a slow download cancels staging: TASK_KILLED before the process started", async () => {
  await using env = await start();
  let release!: () => void;
  const stalled = new Promise<void>((resolve) => release = resolve);
  const server = Deno.serve({ hostname: "127.0.0.1", port: 0, onListen: () => {} }, async () => {
    await stalled;
    return new Response("late");
  });
  try {
    env.launch({
      cmd: "echo never",
      externalArtifacts: [{ name: "slow", filename: "slow.bin", url: `http://127.0.0.1:${server.addr.port}/slow` }],
    });
    await env.agent.waitFor(() => env.agent.taskState(TASK_ID) === "TASK_STARTING", 10_000, "STARTING");
    env.agent.kill(TASK_ID);
    await env.agent.waitFor(() => env.agent.taskState(TASK_ID) === "TASK_KILLED", 10_000, "KILLED");
    assert.deepEqual(env.messages().at(-1), ["TASK_KILLED", "Task killed before service process started"]);
    await assert.rejects(Deno.stat(join(env.taskDir(), "service.log")), Deno.errors.NotFound);
  } finally {
    release();
    await server.shutdown();
  }
});

Deno.test("executor: an agent restart mid-task keeps the task running and loses no update", async () => {
  await using env = await start();
  const marker = "survived-the-restart";
  // The task runs in app/ (removed after success); it leaves its marker in the sandbox root.
  env.launch({ cmd: `sleep 2; touch ../${marker}` });
  await env.agent.waitFor(() => env.agent.taskState(TASK_ID) === "TASK_RUNNING", 10_000, "RUNNING");
  await env.agent.restart({ downForMs: 300, notReadyForMs: 300, reregistrationTimeoutMs: 1500 });
  await env.agent.waitFor(() => env.agent.subscribeCount === 2, 10_000, "resubscribed");
  assert.equal((await env.executor.status).code, 0, env.executor.stderr);
  assert.deepEqual(env.messages().map(([state]) => state), ["TASK_STARTING", "TASK_RUNNING", "TASK_FINISHED"]);
  assert.ok((await Deno.stat(join(env.taskDir(), marker))).isFile, "the task ran to its end across the restart");
  assert.deepEqual(env.agent.agentUpdates, []);
});

Deno.test("executor: SIGTERM kills the running task, reports TASK_KILLED and exits 0", async () => {
  await using env = await start();
  env.launch({ cmd: "sleep 60", sigKillProcessesAfterMillis: 300 });
  await env.agent.waitFor(() => env.agent.taskState(TASK_ID) === "TASK_RUNNING", 10_000, "RUNNING");
  Deno.kill(env.executor.pid, "SIGTERM");
  assert.equal((await env.executor.status).code, 0, env.executor.stderr);
  assert.equal(env.agent.taskState(TASK_ID), "TASK_KILLED");
  assert.deepEqual(env.agent.agentUpdates, []);
});

Deno.test("executor: S3 artifacts with signatures are verified; an artifact list adds one more level of artifacts", async () => {
  const client = await loadTestConfig(EXECUTOR, { validate: false });
  const s3 = s3ClientFor(client.config);
  const bucket = await createTestBucket(s3, "executor-signed");
  try {
    const put = (key: string, text: string) =>
      s3.send(new PutObjectCommand({ Bucket: bucket.name, Key: key, Body: text }));
    await put("app.bin", "application\n");
    await put("app.bin.sig", "ok\n");
    await put("bad.bin", "other\n");
    await put("bad.bin.sig", "forged\n");
    await put(
      "list.json",
      JSON.stringify({
        embeddedArtifacts: [{ name: "listed", filename: "listed.txt", content: btoa("from the list\n") }],
      }),
    );
    const verifier = 'bash,-c,test "$(cat "$0")" = ok,{artifactSignaturePath}';
    const s3Artifact = (key: string, extra: Record<string, unknown> = {}) => ({
      name: key,
      filename: key,
      s3Bucket: bucket.name,
      s3ObjectKey: key,
      ...extra,
    });
    const signature = (key: string) => ({ ...s3Artifact(`${key}.sig`), artifactFilename: key });
    {
      await using env = await start({ "executor.artifact.signature.verification.command": verifier });
      env.launch({
        cmd: "cat ../app.bin ../listed.txt",
        s3Artifacts: [s3Artifact("app.bin"), s3Artifact("list.json", { isArtifactList: true })],
        s3ArtifactSignatures: [signature("app.bin")],
      });
      await env.executor.status;
      assert.deepEqual(env.messages().at(-1)?.[0], "TASK_FINISHED", JSON.stringify(env.messages()));
      assert.equal(await env.serviceOutput(), "application\nfrom the list\n");
    }
    {
      await using env = await start({ "executor.artifact.signature.verification.command": verifier });
      env.launch({
        cmd: "echo never",
        s3Artifacts: [s3Artifact("bad.bin")],
        s3ArtifactSignatures: [signature("bad.bin")],
      });
      await env.executor.status;
      const [state, message] = env.messages().at(-1)!;
      assert.equal(state, "TASK_FAILED");
      assert.match(message!, /^signature bad\.bin\.sig of artifact bad\.bin: invalid: /);
      await assert.rejects(Deno.stat(join(env.taskDir(), "service.log")), Deno.errors.NotFound);
    }
  } finally {
    await bucket.remove();
    closeS3Clients();
    await client[Symbol.asyncDispose]();
  }
});

Deno.test("executor: a shell command from a framework message runs for the task and reports ACKED, STARTED, FINISHED", async () => {
  await using env = await start({ "executor.shell.command.whoami": '["echo","{PID}","{USER}"]' });
  env.launch({ cmd: "sleep 3" });
  await env.agent.waitFor(() => env.agent.taskState(TASK_ID) === "TASK_RUNNING", 10_000, "RUNNING");
  const running = env.messages().find(([state]) => state === "TASK_RUNNING")![1]!;
  const pid = running.match(/pid: (\d+)/)![1];
  env.agent.frameworkMessage(JSON.stringify({
    "@class": ".SingularityTaskShellCommandRequest",
    taskId: { id: TASK_ID },
    timestamp: 1700000000123,
    shellCommand: { name: "whoami" },
  }));
  await env.agent.waitFor(() => env.agent.messages.length >= 3, 10_000, "three shell command updates");
  const updates = env.agent.messages.map((message) => JSON.parse(message.text));
  assert.deepEqual(updates.map((update) => update.updateType), ["ACKED", "STARTED", "FINISHED"]);
  assert.equal(updates[0].message, `echo ${pid} root`);
  assert.equal(updates[2].message, "Finished with code 0");
  assert.equal(updates[0].shellRequestId.name, "whoami");
  const output = await Deno.readTextFile(join(env.taskDir(), updates[0].outputFilename));
  assert.match(output, new RegExp(`\n${pid} root\n$`));
  await env.executor.status;
});

Deno.test("executor: with no task for executor.idle.shutdown.after.millis it exits 0", async () => {
  await using env = await start({ "executor.idle.shutdown.after.millis": "300" });
  const started = Date.now();
  assert.equal((await env.executor.status).code, 0);
  assert.ok(Date.now() - started < 10_000);
});

Deno.test("executor: at the end the service log is rotated into logs/, its tail saved, the upload metadata finished", async () => {
  await using env = await start({
    "executor.s3.uploader.bucket": "task-logs",
    "executor.s3.uploader.pattern": "%requestId/%taskId/%index-%filename",
    "executor.service.log.tail.lines.to.save": "2",
  });
  env.launch({ cmd: "for i in 1 2 3 4; do echo line $i; done" });
  assert.equal((await env.executor.status).code, 0, env.executor.stderr);
  assert.equal(env.messages().at(-1)?.[0], "TASK_FINISHED");
  const rotated = [...Deno.readDirSync(join(env.taskDir(), "logs"))].map((e) => e.name);
  assert.equal(rotated.length, 1);
  assert.match(rotated[0], /^service\.log-\d{18}\.gz$/);
  assert.equal(await env.serviceOutput(), "line 1\nline 2\nline 3\nline 4\n");
  assert.equal(await Deno.readTextFile(join(env.taskDir(), "tail_of_finished_service.log")), "line 3\nline 4\n");
  assert.deepEqual([...Deno.readDirSync(join(env.state, "logrotate"))], []);
  const metadata = JSON.parse(await Deno.readTextFile(join(env.metadataDir, `${TASK_ID}.s3.json`)));
  assert.deepEqual(metadata, {
    directory: join(env.taskDir(), "logs"),
    fileGlob: "{service.log}*.gz*",
    s3Bucket: "task-logs",
    s3KeyFormat: `my-request/${TASK_ID}/%index-%filename`,
    finished: true,
    uploadImmediately: true,
    checkSubdirectories: false,
    compressBeforeUpload: false,
    checkIfOpen: true,
  });
  assert.deepEqual(env.definitions(), []);
});

Deno.test("executor: a failing logrotate keeps its config and the task definition; the task's real state is reported", async () => {
  const fake = join(await Deno.makeTempDir(), "logrotate");
  await Deno.writeTextFile(fake, "#!/bin/sh\necho 'error: cannot rotate' >&2\nexit 1\n");
  await Deno.chmod(fake, 0o755);
  try {
    await using env = await start({ "executor.logrotate.command": fake });
    env.launch({ cmd: "echo done" });
    assert.equal((await env.executor.status).code, 0, env.executor.stderr);
    assert.equal(env.messages().at(-1)?.[0], "TASK_FINISHED");
    assert.deepEqual([...Deno.readDirSync(join(env.state, "logrotate"))].map((e) => e.name), [TASK_ID]);
    assert.equal(env.definitions().length, 1);
    await assert.rejects(Deno.stat(join(env.taskDir(), "app")), Deno.errors.NotFound);
    const taskLog = await Deno.readTextFile(join(env.taskDir(), "executor.java.log"));
    assert.match(
      taskLog,
      /logrotate \(its configuration is kept for the cleanup job\): .* exited with 1: error: cannot rotate/,
    );
  } finally {
    await Deno.remove(fake.slice(0, fake.lastIndexOf("/")), { recursive: true });
  }
});
