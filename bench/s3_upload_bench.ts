/**
 * singularity-s3-uploader against the local radosgw, two figures:
 *
 * 1. Wall time to upload 1 GiB of logs (one 512 MiB file and 64 files of
 *    8 MiB, random bytes, in 9 task directories as the executor leaves them)
 *    with the uploader's default settings (one metadata file per task, one
 *    pass), against `aws s3 cp --recursive` and `rclone copy` of the same
 *    tree, measured in the same run. Every tool runs as its own process,
 *    timed from spawn to exit, ours included (this script runs itself with
 *    `--ours`); ours also verifies every object with HeadObject and deletes
 *    the local files, so it runs last. Before each tool: `sync` and
 *    `echo 1 > /proc/sys/vm/drop_caches` when permitted. Each tool's objects
 *    are deleted after it ran (radosgw keeps them in RAM).
 * 2. CPU time (user + system, `process.cpuUsage()`) of one pass over 10,000
 *    metadata files whose directories hold no new file (their logs
 *    directories last changed an hour ago), in a child started with
 *    `--idle`: the first pass after start (every directory listed once) and
 *    a steady-state pass, with registration and a rescan for context.
 *
 * awscli and rclone get their keys from the environment (nothing secret in
 * their arguments) and run with only PATH, HOME and their own settings, so a
 * user's AWS profile or `AWS_CA_BUNDLE` cannot interfere.
 *
 * Run: deno task bench s3_upload (needs `bash scripts/s3_test_server.sh start`)
 */
import { CreateBucketCommand, DeleteObjectsCommand, ListObjectsV2Command, type S3Client } from "@aws-sdk/client-s3";
import { getLogger } from "@logtape/logtape";
import process from "node:process";
import { join } from "node:path";
import { UPLOADER, type UploaderKeys } from "../lib/config/mod.ts";
import { closeS3Clients, s3ClientFor } from "../lib/s3/client.ts";
import { writeUploadMetadata } from "../lib/s3/upload_metadata.ts";
import { UploaderService } from "../lib/s3/uploader/service.ts";
import { loadTestConfig, requireS3Server, S3_TEST_ENDPOINT } from "../tests/support/s3_server.ts";
import { AWS, AWS_ENV, coldStart, pageCache, RCLONE_ENV, run, timed } from "./_tools.ts";

const MIB = 1024 * 1024;
const BUCKET = "bench-uploads";
const BIG = 512 * MIB;
const SMALL = 8 * MIB;
const SMALL_COUNT = 64;
const TASKS_WITH_SMALL = 8;
const TOTAL = BIG + SMALL * SMALL_COUNT;
const IDLE_METADATA = 10_000;

/** What the `--ours` child reports. */
interface OursReport {
  passSeconds: number;
  uploaded: number;
  failed: number;
  cpuSeconds: number;
  peakRssMiB: number;
}

/** What the `--idle` child reports (CPU milliseconds). */
interface IdleReport {
  registerMs: number;
  firstPassMs: number;
  firstPassWallMs: number;
  idlePassMs: number;
  idlePassWallMs: number;
  rescanMs: number;
  uploaders: number;
}

/** Process CPU time in milliseconds since `since`. */
function cpuMs(since: ReturnType<typeof process.cpuUsage>): number {
  const used = process.cpuUsage(since);
  return (used.user + used.system) / 1000;
}

/** The `--ours` child: one metadata file per task directory of `tree`, one pass with the default settings. */
async function runOurs(tree: string): Promise<void> {
  await using setup = await loadTestConfig<UploaderKeys>(UPLOADER, {
    properties: { "mesos.work.directory": tree, "s3uploader.check.uploads.every.seconds": "3600" },
  });
  const metadataDir = setup.config.text("s3uploader.metadata.directory");
  for (const task of Deno.readDirSync(tree)) {
    await writeUploadMetadata(metadataDir, `${task.name}.s3.json`, {
      directory: join(tree, task.name, "logs"),
      fileGlob: "service.log-*",
      s3Bucket: BUCKET,
      s3KeyFormat: `ours/${task.name}/%filename`,
      finished: false,
      checkSubdirectories: false,
      compressBeforeUpload: false,
      checkIfOpen: true,
    });
  }
  const service = new UploaderService(setup.config, getLogger(["singularity", "bench"]));
  const cpu = process.cpuUsage();
  await service.start({ schedule: false });
  const started = performance.now();
  const summary = await service.runPass();
  const passSeconds = (performance.now() - started) / 1000;
  await service.stop();
  const status = await Deno.readTextFile("/proc/self/status");
  console.log(JSON.stringify(
    {
      passSeconds,
      uploaded: summary.uploaded,
      failed: summary.failed,
      cpuSeconds: cpuMs(cpu) / 1000,
      peakRssMiB: Number(/^VmHWM:\s+(\d+) kB$/m.exec(status)?.[1] ?? 0) / 1024,
    } satisfies OursReport,
  ));
}

/** The `--idle` child: 10,000 metadata files over directories with nothing new; CPU of the passes. */
async function runIdle(): Promise<void> {
  const work = await Deno.makeTempDir({ prefix: "s3-upload-bench-idle-" });
  try {
    await using setup = await loadTestConfig<UploaderKeys>(UPLOADER, {
      properties: { "mesos.work.directory": work, "s3uploader.check.uploads.every.seconds": "3600" },
    });
    const metadataDir = setup.config.text("s3uploader.metadata.directory");
    const hourAgo = new Date(Date.now() - 3_600_000);
    for (let i = 0; i < IDLE_METADATA; i++) {
      const logs = join(work, `task${i}`, "logs");
      Deno.mkdirSync(logs, { recursive: true });
      // The live log, which the glob does not match until the task finishes.
      Deno.writeTextFileSync(join(logs, "service.log"), "still running\n");
      Deno.utimeSync(logs, hourAgo, hourAgo);
      Deno.writeTextFileSync(
        join(metadataDir, `task${i}.s3.json`),
        JSON.stringify({
          directory: logs,
          fileGlob: "service.log-*.gz",
          onFinishGlob: "service.log",
          s3Bucket: BUCKET,
          s3KeyFormat: "%filename",
          checkIfOpen: true,
        }),
      );
    }
    const service = new UploaderService(setup.config, getLogger(["singularity", "bench"]));
    let cpu = process.cpuUsage();
    await service.start({ schedule: false });
    const registerMs = cpuMs(cpu);
    cpu = process.cpuUsage();
    let wall = performance.now();
    const first = await service.runPass();
    const firstPassMs = cpuMs(cpu);
    const firstPassWallMs = performance.now() - wall;
    cpu = process.cpuUsage();
    wall = performance.now();
    await service.runPass();
    const idlePassMs = cpuMs(cpu);
    const idlePassWallMs = performance.now() - wall;
    cpu = process.cpuUsage();
    await service.rescan();
    const rescanMs = cpuMs(cpu);
    await service.stop();
    console.log(JSON.stringify(
      {
        registerMs,
        firstPassMs,
        firstPassWallMs,
        idlePassMs,
        idlePassWallMs,
        rescanMs,
        uploaders: first.uploaders,
      } satisfies IdleReport,
    ));
  } finally {
    await Deno.remove(work, { recursive: true });
  }
}

/** The benchmark tree: task0 with the 512 MiB log, task1..8 with eight 8 MiB logs each. */
async function makeTree(tree: string): Promise<void> {
  const write = (path: string, size: number) => run("bash", ["-c", `head -c ${size} /dev/urandom > '${path}'`]);
  await Deno.mkdir(join(tree, "task0", "logs"), { recursive: true });
  await write(join(tree, "task0", "logs", "service.log-20261128.gz"), BIG);
  for (let task = 1; task <= TASKS_WITH_SMALL; task++) {
    const logs = join(tree, `task${task}`, "logs");
    await Deno.mkdir(logs, { recursive: true });
    for (let i = 0; i < SMALL_COUNT / TASKS_WITH_SMALL; i++) await write(join(logs, `service.log-${i}.gz`), SMALL);
  }
}

/** Count and total size of the objects under `prefix`, then deletes them. */
async function takeObjects(s3: S3Client, prefix: string): Promise<{ count: number; bytes: number }> {
  let count = 0;
  let bytes = 0;
  let token: string | undefined;
  do {
    const page = await s3.send(new ListObjectsV2Command({ Bucket: BUCKET, Prefix: prefix, ContinuationToken: token }));
    const objects = page.Contents ?? [];
    count += objects.length;
    bytes += objects.reduce((sum, object) => sum + (object.Size ?? 0), 0);
    if (objects.length > 0) {
      await s3.send(
        new DeleteObjectsCommand({
          Bucket: BUCKET,
          Delete: { Objects: objects.map((object) => ({ Key: object.Key! })) },
        }),
      );
    }
    token = page.IsTruncated ? page.NextContinuationToken : undefined;
  } while (token !== undefined);
  return { count, bytes };
}

/** Fails unless `prefix` got the whole tree. */
async function checkUpload(s3: S3Client, tool: string, prefix: string): Promise<void> {
  const { count, bytes } = await takeObjects(s3, prefix);
  if (count !== 1 + SMALL_COUNT || bytes !== TOTAL) {
    throw new Error(`${tool} stored ${count} objects of ${bytes} bytes, not ${1 + SMALL_COUNT} of ${TOTAL}`);
  }
}

/** The parent: measures every tool once and prints the figures with the targets. */
async function main(): Promise<void> {
  await requireS3Server();
  const dir = await Deno.makeTempDir({ prefix: "s3-upload-bench-" });
  await using setup = await loadTestConfig<UploaderKeys>(UPLOADER, { validate: false });
  const s3 = s3ClientFor(setup.config, BUCKET);
  try {
    await s3.send(new CreateBucketCommand({ Bucket: BUCKET })).catch(() => {});
    for (const prefix of ["awscli/", "rclone/", "ours/"]) await takeObjects(s3, prefix);
    const tree = join(dir, "tree");
    console.log(
      `writing 1 GiB of random logs (1 x 512 MiB, ${SMALL_COUNT} x 8 MiB in ${TASKS_WITH_SMALL + 1} tasks) ...`,
    );
    await makeTree(tree);

    await coldStart();
    const [awsWall] = await timed(
      AWS,
      [
        "--endpoint-url",
        S3_TEST_ENDPOINT,
        "s3",
        "cp",
        "--recursive",
        "--only-show-errors",
        tree,
        `s3://${BUCKET}/awscli/`,
      ],
      AWS_ENV,
    );
    await checkUpload(s3, "aws s3 cp", "awscli/");

    await coldStart();
    const [rcloneWall] = await timed("rclone", ["copy", "--config", "", tree, `bench:${BUCKET}/rclone`], RCLONE_ENV);
    await checkUpload(s3, "rclone copy", "rclone/");

    await coldStart();
    const [oursWall, oursStdout] = await timed(Deno.execPath(), ["run", "-A", import.meta.filename!, "--ours", tree]);
    const report = JSON.parse(oursStdout.split("\n").at(-1)!) as OursReport;
    if (report.uploaded !== 1 + SMALL_COUNT || report.failed !== 0) {
      throw new Error(`our pass uploaded ${report.uploaded} files, ${report.failed} failed`);
    }
    await checkUpload(s3, "singularity-s3-uploader", "ours/");

    const [, idleStdout] = await timed(Deno.execPath(), ["run", "-A", import.meta.filename!, "--idle"]);
    const idle = JSON.parse(idleStdout.split("\n").at(-1)!) as IdleReport;

    const line = (name: string, seconds: number, extra = "") =>
      console.log(
        `${name.padEnd(34)} ${seconds.toFixed(2).padStart(6)} s ${
          (TOTAL / MIB / seconds).toFixed(0).padStart(5)
        } MiB/s${extra}`,
      );
    console.log(
      `1 GiB of logs (1 x 512 MiB + ${SMALL_COUNT} x 8 MiB), radosgw memstore at ${S3_TEST_ENDPOINT}, ` +
        `${navigator.hardwareConcurrency} CPUs shared with the server; page cache ${
          pageCache.dropped ? "dropped before each tool" : "NOT dropped (not permitted)"
        }`,
    );
    line(
      "singularity-s3-uploader (process)",
      oursWall,
      `  (${report.passSeconds.toFixed(2)} s in the pass, every object verified by HeadObject and deleted locally; ` +
        `CPU ${report.cpuSeconds.toFixed(2)} s; peak RSS ${report.peakRssMiB.toFixed(0)} MiB)`,
    );
    line("aws s3 cp --recursive", awsWall);
    line("rclone copy", rcloneWall);
    const ratio = (value: number, target: string, what: string) =>
      console.log(`${what.padEnd(34)} ${value.toFixed(2).padStart(6)}   ${target}`);
    ratio(oursWall / awsWall, "(target <= 1.0)", "ours / awscli (wall)");
    ratio(oursWall / rcloneWall, "", "ours / rclone (wall)");
    console.log(`idle pass over ${idle.uploaders} metadata files with no new file:`);
    const ms = (what: string, value: number, extra = "") =>
      console.log(`  ${what.padEnd(32)} ${value.toFixed(0).padStart(6)} ms CPU${extra}`);
    ms("steady-state pass", idle.idlePassMs, ` (${idle.idlePassWallMs.toFixed(0)} ms wall; target <= 200 ms CPU)`);
    ms(
      "first pass after start",
      idle.firstPassMs,
      ` (${idle.firstPassWallMs.toFixed(0)} ms wall; lists every directory)`,
    );
    ms("registering them at start", idle.registerMs);
    ms("a rescan of the directory", idle.rescanMs);
  } finally {
    closeS3Clients();
    await Deno.remove(dir, { recursive: true });
  }
}

if (Deno.args[0] === "--ours") await runOurs(Deno.args[1]);
else if (Deno.args[0] === "--idle") await runIdle();
else await main();
