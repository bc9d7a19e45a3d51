/**
 * The four programs together, as an operator deploys them on one agent:
 * installed into a staging root, each run through its launcher with the
 * permission flags computed from its configuration, against Ceph radosgw.
 */
import assert from "node:assert/strict";
import { join } from "node:path";
import { GetObjectCommand, ListObjectsV2Command, PutObjectCommand, type S3Client } from "@aws-sdk/client-s3";
import { md5OfBytes } from "../../lib/artifacts/md5.ts";
import { UPLOADER } from "../../lib/config/mod.ts";
import { parseMetrics } from "../../lib/metrics.ts";
import { s3ClientFor } from "../../lib/s3/client.ts";
import { gunzip, tarGz } from "../support/gzip.ts";
import { AGENT_ID, InstalledAgent } from "../support/installed_agent.ts";
import { closingClients, createTestBucket, loadTestConfig, requireS3Server } from "../support/s3_server.ts";

const TASK = "hello-deploy1-1795849200000-1-agent_1-rack_1";
const KILLED_TASK = "hello-deploy1-1795849200000-2-agent_1-rack_1";

/** The bucket's keys under `prefix`. */
async function keysUnder(s3: S3Client, bucket: string, prefix: string): Promise<string[]> {
  const page = await s3.send(new ListObjectsV2Command({ Bucket: bucket, Prefix: prefix }));
  return (page.Contents ?? []).map((object) => object.Key!).sort();
}

/** The object's bytes, gunzipped. */
async function gunzippedObject(s3: S3Client, bucket: string, key: string): Promise<string> {
  const object = await s3.send(new GetObjectCommand({ Bucket: bucket, Key: key }));
  return await gunzip(await object.Body!.transformToByteArray());
}

async function waitFor(check: () => Promise<boolean> | boolean, timeoutMs: number, what: string): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!(await check())) {
    if (Date.now() > deadline) throw new Error(`timed out after ${timeoutMs} ms waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 100));
  }
}

/** Upload metadata files still waiting (the uploader's own journal directory is a dot entry). */
function pendingMetadata(agent: InstalledAgent): string[] {
  return [...Deno.readDirSync(agent.dirs.metadata)].map((e) => e.name).filter((name) => !name.startsWith("."));
}

function assertNoPermissionErrors(agent: InstalledAgent, extra: string[] = []): void {
  for (
    const [name, text] of [...agent.programLogs(), ...extra.map((text, i): [string, string] => [`output ${i}`, text])]
  ) {
    assert.doesNotMatch(
      text,
      /NotCapable|PermissionDenied|Requires \S+ access/,
      `${name} needed a permission outside its set`,
    );
    assert.doesNotMatch(text, /s3\.secret\.key=test\b/, `${name} shows a secret`);
  }
}

Deno.test("one agent end to end: artifacts via the downloader, task FINISHED, its log in S3, sandbox cleaned, cleanup finds nothing", async () => {
  await requireS3Server();
  using _clients = closingClients();
  await using clientConfig = await loadTestConfig(UPLOADER, { validate: false });
  const s3 = s3ClientFor(clientConfig.config);
  await using bucket = await createTestBucket(s3, "agent-e2e");
  const archive = await tarGz({ "bin/greet.sh": '#!/bin/sh\necho "hello from the tarball"\n' });
  await s3.send(new PutObjectCommand({ Bucket: bucket.name, Key: "releases/greet.tar.gz", Body: archive }));

  await using agent = await InstalledAgent.install({ bucket: bucket.name });
  await agent.startDaemon("singularity-s3-downloader");
  const uploader = await agent.startDaemon("singularity-s3-uploader");

  const task = await agent.launchTask(TASK, {
    cmd: "cat ../motd.txt; ../bin/greet.sh; for i in 1 2 3; do echo line $i; done",
    embeddedArtifacts: [{ name: "motd", filename: "motd.txt", content: btoa("embedded says hi\n") }],
    s3Artifacts: [{
      name: "greet",
      filename: "greet.tar.gz",
      s3Bucket: bucket.name,
      s3ObjectKey: "releases/greet.tar.gz",
      md5sum: md5OfBytes(archive),
      filesize: archive.length,
    }],
  });
  const status = await task.executor.status;
  assert.equal(status.code, 0, task.executor.stderr);
  const states = task.agent.updates.filter((u) => u.taskId === TASK && u.outcome === "applied").map((u) => u.state);
  assert.deepEqual(states, ["TASK_STARTING", "TASK_RUNNING", "TASK_FINISHED"]);

  const downloads = parseMetrics(await (await fetch(`http://127.0.0.1:${agent.downloaderPort}/metrics`)).text());
  assert.equal(downloads.get("singularity_s3_downloader_downloads_total"), 1, [...downloads].join("\n"));

  const expected = "embedded says hi\nhello from the tarball\nline 1\nline 2\nline 3\n";
  const prefix = `hello/${TASK}/`;
  await waitFor(async () => (await keysUnder(s3, bucket.name, prefix)).length > 0, 30_000, "the log in S3");
  const keys = await keysUnder(s3, bucket.name, prefix);
  assert.equal(keys.length, 1, keys.join(", "));
  assert.match(keys[0], new RegExp(`^${prefix}0-service\\.log-\\d+\\.gz$`));
  assert.equal(await gunzippedObject(s3, bucket.name, keys[0]), expected);
  await waitFor(
    () => pendingMetadata(agent).length === 0,
    30_000,
    "the uploader to drop the metadata",
  );
  assert.deepEqual([...Deno.readDirSync(join(task.sandbox, "logs"))], [], "the uploaded log was deleted locally");
  await assert.rejects(Deno.stat(join(task.sandbox, "app")), Deno.errors.NotFound);
  assert.deepEqual([...Deno.readDirSync(agent.dirs.tasks)], []);

  agent.singularity.setActiveTasks(AGENT_ID, ["other-deploy1-1795849200000-9-agent_1-rack_1"]);
  const cleanup = await agent.runCleanup();
  assert.equal(cleanup.code, 0, new TextDecoder().decode(cleanup.stderr));
  const results = await agent.latestCleanupResults();
  assert.equal(results.successfullyCleanedTasks, 0);
  assert.equal(results.totalTaskFiles, 0);
  assert.equal(results.errorMessage, undefined);

  const uploaderExit = await uploader.stop();
  assert.equal(uploaderExit.code, 0);
  assertNoPermissionErrors(agent, [task.executor.stderr, new TextDecoder().decode(cleanup.stderr)]);
});

Deno.test("one agent end to end: the executor SIGKILLed mid-task; the next cleanup run rotates and uploads the last logs", async () => {
  await requireS3Server();
  using _clients = closingClients();
  await using clientConfig = await loadTestConfig(UPLOADER, { validate: false });
  const s3 = s3ClientFor(clientConfig.config);
  await using bucket = await createTestBucket(s3, "agent-e2e-killed");
  await using agent = await InstalledAgent.install({ bucket: bucket.name });
  await agent.startDaemon("singularity-s3-uploader");

  const task = await agent.launchTask(KILLED_TASK, { cmd: "echo before the crash; echo last words; exec sleep 600" });
  await task.agent.waitFor(() => task.agent.taskState(KILLED_TASK) === "TASK_RUNNING", 20_000, "running");
  const running = task.agent.updates.find((u) => u.taskId === KILLED_TASK && u.state === "TASK_RUNNING")!;
  const taskPid = Number(/\(pid: (\d+)\)/.exec(running.message ?? "")![1]);
  await waitFor(
    async () => {
      try {
        return (await Deno.readTextFile(join(task.sandbox, "service.log"))).includes("last words");
      } catch {
        return false;
      }
    },
    10_000,
    "the task's output",
  );
  // The executor's launcher execs Deno: its pid is the executor. Then the agent destroys the container.
  Deno.kill(task.executor.pid, "SIGKILL");
  await task.executor.status;
  await new Deno.Command("kill", { args: ["-KILL", "--", `-${taskPid}`] }).output();

  agent.singularity.setActiveTasks(AGENT_ID, ["other-deploy1-1795849200000-9-agent_1-rack_1"]);
  const cleanup = await agent.runCleanup();
  assert.equal(cleanup.code, 0, new TextDecoder().decode(cleanup.stderr));
  const results = await agent.latestCleanupResults();
  assert.equal(results.successfullyCleanedTasks, 1, JSON.stringify(results));

  const prefix = `hello/${KILLED_TASK}/`;
  await waitFor(async () => (await keysUnder(s3, bucket.name, prefix)).length > 0, 30_000, "the last logs in S3");
  const keys = await keysUnder(s3, bucket.name, prefix);
  assert.equal(keys.length, 1, keys.join(", "));
  assert.equal(await gunzippedObject(s3, bucket.name, keys[0]), "before the crash\nlast words\n");
  await waitFor(
    () => pendingMetadata(agent).length === 0,
    30_000,
    "the uploader to drop the metadata",
  );
  await assert.rejects(Deno.stat(join(task.sandbox, "app")), Deno.errors.NotFound);
  assert.deepEqual([...Deno.readDirSync(agent.dirs.tasks)], []);
  assertNoPermissionErrors(agent, [new TextDecoder().decode(cleanup.stderr)]);
});
