/**
 * singularity-s3-uploader as its own process with exactly its permission
 * flags: uploads, `--status`, `GET /metrics`, finishing, SIGTERM.
 */
import assert from "node:assert/strict";
import { join } from "node:path";
import { md5OfBytes } from "../../../lib/artifacts/md5.ts";
import { UPLOADER, type UploaderKeys } from "../../../lib/config/mod.ts";
import { parseMetrics } from "../../../lib/metrics.ts";
import { pathExists } from "../../../lib/path_exists.ts";
import { closeS3Clients, s3ClientFor } from "../../../lib/s3/client.ts";
import { writeUploadMetadata } from "../../../lib/s3/upload_metadata.ts";
import {
  createTestBucket,
  loadTestConfig,
  randomBytes,
  requireS3Server,
  writeTestConfigDir,
} from "../../support/s3_server.ts";
import { listObjects, MIB, TEST_PROPERTIES, waitFor, writeLog } from "./_fixture.ts";
import { runUploader, spawnUploader } from "./_process.ts";

function freePort(): number {
  const listener = Deno.listen({ hostname: "127.0.0.1", port: 0 });
  const port = (listener.addr as Deno.NetAddr).port;
  listener.close();
  return port;
}

Deno.test("singularity-s3-uploader process: uploads with its permission set, --status, metrics, SIGTERM", async () => {
  await requireS3Server();
  const work = await Deno.makeTempDir({ prefix: "uploader-process-work-" });
  const port = freePort();
  await using direct = await loadTestConfig<UploaderKeys>(UPLOADER, { validate: false });
  const s3 = s3ClientFor(direct.config);
  await using bucket = await createTestBucket(s3, "process");
  await using setup = await writeTestConfigDir(UPLOADER, {
    properties: {
      ...TEST_PROPERTIES,
      "mesos.work.directory": work,
      "s3uploader.metrics.port": String(port),
      "s3uploader.check.uploads.every.seconds": "1",
    },
  });
  const metadataDir = join(setup.dir, "metadata");
  const logs = join(work, "task/logs");
  await Deno.mkdir(logs, { recursive: true });
  const small = randomBytes(100_000);
  const large = randomBytes(11 * MIB);
  await writeLog(join(logs, "service.log-1.gz"), small);
  await writeLog(join(logs, "service.log-2.gz"), large);
  await writeLog(join(logs, "service.log"), "the live log\n");
  const metadata = {
    directory: logs,
    fileGlob: "service.log-*.gz",
    onFinishGlob: "service.log",
    s3Bucket: bucket.name,
    s3KeyFormat: "task/%filename",
    finished: false,
    checkSubdirectories: false,
    compressBeforeUpload: false,
    checkIfOpen: true,
    s3AccessKey: "test",
    s3SecretKey: "test",
  };
  // gzip and the pid check (lsof) under the permission set: a dead process's plain log, compressed before upload.
  const plain = join(work, "other/logs");
  await Deno.mkdir(plain, { recursive: true });
  await writeLog(join(plain, "app.log"), "plain text\n".repeat(1000));
  const exited = new Deno.Command("true").spawn();
  await exited.status;
  await writeUploadMetadata(metadataDir, "other.s3.json", {
    ...metadata,
    directory: plain,
    fileGlob: "nothing-yet",
    onFinishGlob: "app.log",
    s3KeyFormat: "other/%filename",
    compressBeforeUpload: true,
    pid: exited.pid,
    s3AccessKey: undefined,
    s3SecretKey: undefined,
  });
  // A metadata file naming a directory outside what the uploader may read: an error, not a crash.
  await Deno.mkdir(join(setup.dir, "elsewhere"));
  await writeUploadMetadata(metadataDir, "elsewhere.s3.json", { ...metadata, directory: join(setup.dir, "elsewhere") });
  await writeUploadMetadata(metadataDir, "task.s3.json", metadata);

  const child = await spawnUploader(setup.dir);
  let stderr = "";
  try {
    await waitFor(async () => !(await pathExists(join(logs, "service.log-2.gz"))), "the uploads", 30_000);
    await waitFor(async () => !(await pathExists(join(metadataDir, "other.s3.json"))), "the dead pid's pass", 30_000);
    const objects = await listObjects(s3, bucket.name);
    assert.deepEqual([...objects.keys()], ["other/app.log.gz", "task/service.log-1.gz", "task/service.log-2.gz"]);
    assert.deepEqual([...Deno.readDirSync(plain)], []);
    assert.equal(objects.get("task/service.log-1.gz")!.md5, md5OfBytes(small));
    assert.equal(objects.get("task/service.log-2.gz")!.md5, md5OfBytes(large));
    assert.ok(await pathExists(join(logs, "service.log")));

    const metrics = parseMetrics(await (await fetch(`http://127.0.0.1:${port}/metrics`)).text());
    const gzipped = objects.get("other/app.log.gz")!.size;
    assert.equal(metrics.get("singularity_s3_uploader_uploads_total"), 3);
    assert.equal(metrics.get("singularity_s3_uploader_uploaded_bytes_total"), small.length + large.length + gzipped);
    assert.equal(metrics.get("singularity_s3_uploader_uploaders"), 2);
    assert.equal(metrics.get("singularity_s3_uploader_journal_entries"), 0);
    const notFound = await fetch(`http://127.0.0.1:${port}/other`);
    assert.equal(notFound.status, 404);
    await notFound.body?.cancel();

    const status = await runUploader(setup.dir, ["--status"]);
    assert.equal(status.code, 0, status.stderr);
    const lines = status.stdout.split("\n");
    assert.equal(lines[0], `metadata directory ${metadataDir}: 2 metadata file(s)`, status.stdout);
    assert.equal(lines[1], "uploads planned, not yet confirmed in S3: 0");
    assert.equal(lines[2], `singularity-s3-uploader answering at http://127.0.0.1:${port}/metrics`);
    assert.ok(lines.includes("  uploaders:          2 (0 immediate)"), status.stdout);
    assert.ok(
      lines.includes(`  files uploaded:     3 (${small.length + large.length + gzipped} bytes)`),
      status.stdout,
    );
    assert.ok(lines.includes("  uploaders removed:  finished: 1"), status.stdout);

    await writeUploadMetadata(metadataDir, "task.s3.json", { ...metadata, finished: true });
    await waitFor(async () => !(await pathExists(join(metadataDir, "task.s3.json"))), "the final pass", 30_000);
    assert.deepEqual([...(await listObjects(s3, bucket.name)).keys()], [
      "other/app.log.gz",
      "task/service.log",
      "task/service.log-1.gz",
      "task/service.log-2.gz",
    ]);
  } finally {
    child.kill("SIGTERM");
    stderr = new TextDecoder().decode((await child.output()).stderr);
  }
  const { code } = await child.status;
  assert.equal(code, 0, stderr);
  const log = await Deno.readTextFile(join(setup.dir, "log", "singularity-s3uploader.log"));
  assert.match(log, /singularity-s3-uploader \S+ starting/);
  assert.match(log, /elsewhere\.s3\.json: cannot read \S+\/elsewhere: outside what this uploader may read/);
  assert.match(log, /SIGTERM: stopping/);
  assert.match(log, /stopped \(0 upload\(s\) left in the journal\)/);
  assert.doesNotMatch(log, /NotCapable|Requires .* access|Uncaught/);
  closeS3Clients();
  await Deno.remove(work, { recursive: true });
});

Deno.test("singularity-s3-uploader process: a bad s3uploader.content.headers stops it at start, naming the key", async () => {
  await using setup = await writeTestConfigDir(UPLOADER, {
    properties: { "s3uploader.content.headers": '[{"contentType":"text/plain"}]' },
  });
  const run = await runUploader(setup.dir, []);
  assert.equal(run.code, 1);
  assert.equal(
    run.stderr.trim(),
    'singularity-s3-uploader: invalid configuration: s3uploader.content.headers = "[{\\"contentType\\":\\"text/plain\\"}]": ' +
      "item 1 needs a non-empty string filenameEndsWith; expected a JSON list like " +
      '[{"filenameEndsWith":".log.gz","contentType":"text/plain","contentEncoding":"gzip"}]',
  );
});
