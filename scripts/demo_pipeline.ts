/**
 * The demo's main job (README command 1 runs it after the set-up): one agent
 * installed into a temporary root, a Singularity task run through it, and
 * every step shown as it happens:
 *
 * 1. install the four programs with a configuration pointing into the root
 *    and at the local Ceph radosgw;
 * 2. start singularity-s3-downloader and singularity-s3-uploader from their
 *    installed launchers;
 * 3. run a task through the installed executor under the fake Mesos agent:
 *    an embedded artifact, a `.tar.gz` S3 artifact fetched via the
 *    downloader, a command that logs; its status updates printed live;
 * 4. show the rotated service log landing in S3, with its key;
 * 5. run singularity-executor-cleanup once and show its results file;
 * 6. stop everything it started and remove the root.
 *
 * Run: deno run -A scripts/demo_pipeline.ts (needs `bash scripts/s3_test_server.sh start`)
 *
 * @module
 */
import { join } from "node:path";
import { GetObjectCommand, ListObjectsV2Command, PutObjectCommand } from "@aws-sdk/client-s3";
import { md5OfBytes } from "../lib/artifacts/md5.ts";
import { UPLOADER } from "../lib/config/mod.ts";
import { closeS3Clients, s3ClientFor } from "../lib/s3/client.ts";
import { gunzip, tarGz } from "../tests/support/gzip.ts";
import { AGENT_ID, InstalledAgent } from "../tests/support/installed_agent.ts";
import { createTestBucket, loadTestConfig, requireS3Server } from "../tests/support/s3_server.ts";

const TASK_ID = "hello-world-deploy1-1795849200000-1-demo_agent-rack_1";
let stepNumber = 0;

function step(title: string): void {
  console.log(`\n== ${++stepNumber}. ${title}`);
}

function show(line: string): void {
  console.log(`   ${line}`);
}

async function main(): Promise<void> {
  await requireS3Server();
  await using clientConfig = await loadTestConfig(UPLOADER, { validate: false });
  const s3 = s3ClientFor(clientConfig.config);
  await using bucket = await createTestBucket(s3, "demo");

  step(`Install the four programs into a temporary root (S3: the local radosgw, bucket ${bucket.name})`);
  const archive = await tarGz({ "bin/hello.sh": '#!/bin/sh\necho "hello from the S3 tarball (pid $$)"\n' });
  await s3.send(new PutObjectCommand({ Bucket: bucket.name, Key: "releases/hello.tar.gz", Body: archive }));
  show(`uploaded the task's artifact s3://${bucket.name}/releases/hello.tar.gz (${archive.length} bytes)`);
  let installed = 0;
  await using agent = await InstalledAgent.install({
    bucket: bucket.name,
    report: (line) => {
      if (line.includes("/usr/local/bin/")) show(line);
      installed++;
    },
  });
  show(`${installed} files and directories under ${agent.root}; property files in ${agent.dirs.etc}:`);
  const propertyFiles = [...Deno.readDirSync(agent.dirs.etc)].map((e) => e.name).filter((n) =>
    n.endsWith(".properties")
  );
  for (const name of propertyFiles.sort()) show(`  ${name}`);

  step("Start singularity-s3-downloader and singularity-s3-uploader from their launchers");
  const downloader = await agent.startDaemon("singularity-s3-downloader");
  show(`downloader pid ${downloader.child.pid}, listening on 127.0.0.1:${agent.downloaderPort}`);
  const uploader = await agent.startDaemon("singularity-s3-uploader");
  show(`uploader pid ${uploader.child.pid}, metrics on 127.0.0.1:${agent.uploaderMetricsPort}`);
  const flags = (await Deno.readTextFile(agent.launcher("singularity-s3-uploader")))
    .split("\n").filter((line) => line.trim().startsWith('"--allow-run') || line.trim().startsWith('"--allow-net'));
  for (const flag of flags) show(`uploader launcher: ${flag.trim().replace(/ \\$/, "")}`);

  step(`Run task ${TASK_ID} through the installed executor (fake Mesos agent)`);
  const data = {
    cmd: 'cat ../motd.txt; ../bin/hello.sh; for i in 1 2 3; do echo "working: step $i"; sleep 0.2; done',
    embeddedArtifacts: [{ name: "motd", filename: "motd.txt", content: btoa("hello from an embedded artifact\n") }],
    s3Artifacts: [{
      name: "hello",
      filename: "hello.tar.gz",
      s3Bucket: bucket.name,
      s3ObjectKey: "releases/hello.tar.gz",
      md5sum: md5OfBytes(archive),
      filesize: archive.length,
    }],
  };
  show(`executor data: ${JSON.stringify({ ...data, embeddedArtifacts: ["(motd.txt, base64)"] })}`);
  const started = performance.now();
  const task = await agent.launchTask(TASK_ID, data);
  let shown = 0;
  const printUpdates = () => {
    const updates = task.agent.updates.filter((u) => u.taskId === TASK_ID && u.outcome === "applied");
    for (const update of updates.slice(shown)) {
      show(`+${Math.round(performance.now() - started)} ms  ${update.state}  "${update.message ?? ""}"`);
    }
    shown = updates.length;
  };
  while (!["TASK_FINISHED", "TASK_FAILED", "TASK_KILLED", "TASK_LOST"].includes(task.agent.taskState(TASK_ID) ?? "")) {
    printUpdates();
    await new Promise((r) => setTimeout(r, 20));
  }
  printUpdates();
  const exit = await task.executor.status;
  show(`the executor exited with ${exit.code} (idle after its only task)`);
  const downloads = await (await fetch(`http://127.0.0.1:${agent.downloaderPort}/metrics`)).text();
  const line = downloads.split("\n").find((l) => l.startsWith("singularity_s3_downloader_downloads_total"));
  show(`downloader metrics: ${line}`);

  step("The rotated service log lands in S3");
  const prefix = `hello-world/${TASK_ID}/`;
  let key: string | undefined;
  for (let i = 0; i < 300 && key === undefined; i++) {
    const page = await s3.send(new ListObjectsV2Command({ Bucket: bucket.name, Prefix: prefix }));
    key = page.Contents?.[0]?.Key;
    if (key === undefined) await new Promise((r) => setTimeout(r, 100));
  }
  if (key === undefined) throw new Error(`no object under s3://${bucket.name}/${prefix} after 30 s`);
  show(`s3://${bucket.name}/${key}  (key pattern %requestId/%taskId/%index-%filename)`);
  const object = await s3.send(new GetObjectCommand({ Bucket: bucket.name, Key: key }));
  for (const text of (await gunzip(await object.Body!.transformToByteArray())).trimEnd().split("\n")) {
    show(`| ${text}`);
  }
  show(`sandbox logs/ now: [${[...Deno.readDirSync(join(task.sandbox, "logs"))].map((e) => e.name).join(", ")}]`);
  show(`sandbox: ${[...Deno.readDirSync(task.sandbox)].map((e) => e.name).sort().join(" ")}`);

  step("Run singularity-executor-cleanup once (fake Singularity API: another task active on this agent)");
  agent.singularity.setActiveTasks(AGENT_ID, ["another-deploy1-1795849200000-2-demo_agent-rack_1"]);
  const cleanup = await agent.runCleanup();
  show(`exit status ${cleanup.code}; results file: ${JSON.stringify(await agent.latestCleanupResults())}`);

  step("Stop everything");
  show(`uploader: exit ${(await uploader.stop()).code}; downloader: exit ${(await downloader.stop()).code}`);
  closeS3Clients();
}

if (import.meta.main) {
  await main();
  console.log("\nDone: one task from launch to its log in S3. Tests: bash scripts/test.sh");
}
