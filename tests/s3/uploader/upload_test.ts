/**
 * Uploads against radosgw through the daemon (in this process): keys, single
 * and multipart uploads checked byte for byte and by ETag in Ceph, object
 * options, compression, open files, credentials.
 */
import { CreateBucketCommand, GetObjectCommand, HeadObjectCommand } from "@aws-sdk/client-s3";
import assert from "node:assert/strict";
import { Buffer } from "node:buffer";
import { createHash } from "node:crypto";
import { join } from "node:path";
import { md5OfBytes } from "../../../lib/artifacts/md5.ts";
import { pathExists } from "../../../lib/path_exists.ts";
import { JOURNAL_DIRECTORY } from "../../../lib/s3/uploader/journal.ts";
import { randomBytes } from "../../support/s3_server.ts";
import { fixture, listObjects, MIB, removeBucket, waitFor, writeLog } from "./_fixture.ts";

/** The ETag S3 gives `bytes` uploaded in parts of `partSize`, computed here independently of the uploader. */
function multipartETagOf(bytes: Uint8Array, partSize: number): string {
  const digests: Buffer[] = [];
  for (let start = 0; start < bytes.length; start += partSize) {
    digests.push(createHash("md5").update(bytes.subarray(start, start + partSize)).digest());
  }
  return `${createHash("md5").update(Buffer.concat(digests)).digest("hex")}-${digests.length}`;
}

/** The journal's entries. */
async function journalEntries(metadataDir: string): Promise<string[]> {
  const names: string[] = [];
  for await (const entry of Deno.readDir(join(metadataDir, JOURNAL_DIRECTORY))) names.push(entry.name);
  return names;
}

Deno.test("uploader: stage-2 key tokens from the file's mtime, its position, this host; %guid unique", async () => {
  await using f = await fixture("keys", { "agent.hostname": "agent-7" });
  const logs = await f.dir("task1/logs");
  const modified = new Date(2026, 10, 28, 9, 5, 7);
  await writeLog(join(logs, "a.log"), "first\n", modified);
  await writeLog(join(logs, "b.log.gz"), "second\n", modified);
  await writeLog(join(logs, "noext"), "third\n", modified);
  await f.metadata("task1.s3.json", logs, {
    fileGlob: "{*.log,*.gz,noext}",
    s3KeyFormat: "web/%Y/%m/%d/%H/task1_%index-%s-%filename|%fileext|%host|%guid",
  });
  const service = await f.service();
  const summary = await service.runPass();
  assert.equal(summary.uploaded, 3);
  const keys = await f.keys();
  const guid = /^(.*)\|([0-9a-f]{8}-[0-9a-f]{4}-4[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12})$/;
  const parts = keys.map((key) => guid.exec(key));
  assert.ok(parts.every((match) => match !== null), keys.join(", "));
  const ms = modified.getTime();
  assert.deepEqual(parts.map((match) => match![1]), [
    `web/2026/11/28/09/task1_0-${ms}-a.log|.log|agent-7`,
    `web/2026/11/28/09/task1_1-${ms}-b.log.gz|.gz|agent-7`,
    `web/2026/11/28/09/task1_2-${ms}-noext|%fileext|agent-7`,
  ]);
  assert.equal(new Set(parts.map((match) => match![2])).size, 3);
  assert.deepEqual([...Deno.readDirSync(logs)], []);
});

Deno.test("uploader: a single PUT and a multipart upload; bytes and ETags in Ceph; locals deleted after; empty files skipped", async () => {
  await using f = await fixture("sizes");
  const logs = await f.dir("task/logs");
  const small = randomBytes(3 * MIB + 17);
  const exact = randomBytes(5 * MIB);
  const large = randomBytes(12 * MIB + 3);
  await writeLog(join(logs, "small.log"), small);
  await writeLog(join(logs, "exact.log"), exact);
  await writeLog(join(logs, "large.log"), large);
  await writeLog(join(logs, "empty.log"), "");
  await f.metadata("t.s3.json", logs, { s3KeyFormat: "logs/%filename" });
  const service = await f.service();
  const summary = await service.runPass();
  assert.deepEqual(
    { uploaded: summary.uploaded, failed: summary.failed },
    { uploaded: 3, failed: 0 },
  );
  const objects = await f.objects();
  assert.deepEqual([...objects.values()].map(({ key, size, etag, md5 }) => ({ key, size, etag, md5 })), [
    { key: "logs/exact.log", size: exact.length, etag: md5OfBytes(exact), md5: md5OfBytes(exact) },
    { key: "logs/large.log", size: large.length, etag: multipartETagOf(large, 5 * MIB), md5: md5OfBytes(large) },
    { key: "logs/small.log", size: small.length, etag: md5OfBytes(small), md5: md5OfBytes(small) },
  ]);
  assert.match(objects.get("logs/large.log")!.etag, /-3$/);
  // An empty file is never uploaded (nor counted as found).
  assert.deepEqual([...Deno.readDirSync(logs)].map((entry) => entry.name), ["empty.log"]);
  assert.deepEqual(await journalEntries(f.metadataDir), []);
  assert.deepEqual(await f.multipartUploads(), []);
  // The uploader stays registered (not finished); its metadata file stays.
  assert.equal(service.registry.size, 1);
  assert.ok(await pathExists(join(f.metadataDir, "t.s3.json")));
});

Deno.test("uploader: storage class over its threshold, SSE-KMS, content headers by suffix", async () => {
  await using f = await fixture("options", {
    "s3uploader.content.headers":
      '[{"filenameEndsWith":".log.gz","contentType":"text/plain","contentEncoding":"gzip"},{"filenameEndsWith":".log","contentType":"text/plain; charset=utf-8"}]',
  });
  const logs = await f.dir("task/logs");
  await writeLog(join(logs, "big.log"), randomBytes(2000));
  await writeLog(join(logs, "small.log"), randomBytes(500));
  await writeLog(join(logs, "parts.log.gz"), randomBytes(11 * MIB));
  await writeLog(join(logs, "other.txt"), randomBytes(2000));
  await f.metadata("t.s3.json", logs, {
    fileGlob: "*",
    storageClass: "STANDARD_IA",
    applyStorageClassIfOverBytes: 1000,
    encryptionKey: "testkey-1",
  });
  const service = await f.service();
  assert.equal((await service.runPass()).uploaded, 4);
  const heads = [];
  for (const key of ["big.log", "small.log", "parts.log.gz", "other.txt"]) {
    const head = await f.s3.send(new HeadObjectCommand({ Bucket: f.bucket.name, Key: key }));
    heads.push({
      key,
      storageClass: head.StorageClass ?? "STANDARD",
      sse: head.ServerSideEncryption,
      kmsKey: head.SSEKMSKeyId,
      contentType: head.ContentType,
      contentEncoding: head.ContentEncoding,
    });
  }
  assert.deepEqual(heads, [
    {
      key: "big.log",
      storageClass: "STANDARD_IA",
      sse: "aws:kms",
      kmsKey: "testkey-1",
      contentType: "text/plain; charset=utf-8",
      contentEncoding: undefined,
    },
    {
      key: "small.log",
      storageClass: "STANDARD",
      sse: "aws:kms",
      kmsKey: "testkey-1",
      contentType: "text/plain; charset=utf-8",
      contentEncoding: undefined,
    },
    {
      key: "parts.log.gz",
      storageClass: "STANDARD_IA",
      sse: "aws:kms",
      kmsKey: "testkey-1",
      contentType: "text/plain",
      contentEncoding: "gzip",
    },
    {
      key: "other.txt",
      storageClass: "STANDARD_IA",
      sse: "aws:kms",
      kmsKey: "testkey-1",
      contentType: "application/octet-stream",
      contentEncoding: undefined,
    },
  ]);
});

/** The bytes of `gzipped`, decompressed. */
async function gunzip(gzipped: Uint8Array): Promise<Uint8Array> {
  const stream = new Blob([new Uint8Array(gzipped)]).stream().pipeThrough(new DecompressionStream("gzip"));
  return new Uint8Array(await new Response(stream).arrayBuffer());
}

Deno.test("uploader: compressBeforeUpload gzips into a temporary file, uploads <name>.gz, leaves .gz files as they are", async () => {
  await using f = await fixture("gzip");
  const logs = await f.dir("task/logs");
  const text = "line of a log\n".repeat(50_000);
  const already = randomBytes(1000);
  await writeLog(join(logs, "service.log"), text);
  await writeLog(join(logs, "old.log.gz"), already);
  // An earlier daemon's leftover temporary file is never taken for a log.
  await writeLog(join(logs, ".service.log.gz.1234.s3uploader.tmp"), "partial");
  await f.metadata("t.s3.json", logs, { fileGlob: "*", compressBeforeUpload: true, s3KeyFormat: "z/%filename" });
  const service = await f.service();
  assert.equal((await service.runPass()).uploaded, 2);
  const objects = await f.objects();
  assert.deepEqual([...objects.keys()], ["z/old.log.gz", "z/service.log.gz"]);
  assert.equal(objects.get("z/old.log.gz")!.md5, md5OfBytes(already));
  const got = await f.s3.send(new GetObjectCommand({ Bucket: f.bucket.name, Key: "z/service.log.gz" }));
  const gzipped = await got.Body!.transformToByteArray();
  assert.ok(gzipped.length < text.length / 10, `compressed to ${gzipped.length} bytes`);
  assert.equal(new TextDecoder().decode(await gunzip(gzipped)), text);
  assert.deepEqual([...Deno.readDirSync(logs)].map((entry) => entry.name), [".service.log.gz.1234.s3uploader.tmp"]);
});

/** A process holding `path` open until it is killed. */
function holdOpen(path: string): Deno.ChildProcess {
  return new Deno.Command("bash", { args: ["-c", 'exec 3<"$1"; exec sleep 60', "hold", path], stdin: "null" })
    .spawn();
}

for (const via of ["lsof", "fuser"] as const) {
  Deno.test(`uploader: a file some process has open is skipped until it is closed (${via})`, async () => {
    await using f = await fixture(`open-${via}`, { "s3uploader.check.open.files.via.fuser": String(via === "fuser") });
    const logs = await f.dir("task/logs");
    await writeLog(join(logs, "open.log"), "still written\n");
    await writeLog(join(logs, "closed.log"), "rotated\n");
    await f.metadata("t.s3.json", logs, { checkIfOpen: true });
    const holder = holdOpen(join(logs, "open.log"));
    try {
      const service = await f.service();
      // Until bash has opened it.
      for (let i = 0; i < 50; i++) {
        await new Promise((resolve) => setTimeout(resolve, 20));
        const lsof = await new Deno.Command("lsof", { args: ["-w", join(logs, "open.log")], stdout: "null" }).output();
        if (lsof.code === 0) break;
      }
      const first = await service.runPass();
      assert.deepEqual({ uploaded: first.uploaded, failed: first.failed }, { uploaded: 1, failed: 0 });
      assert.deepEqual(await f.keys(), ["closed.log"]);
      assert.ok(await pathExists(join(logs, "open.log")));
      holder.kill("SIGKILL");
      await holder.status;
      assert.equal((await service.runPass()).uploaded, 1);
      assert.deepEqual(await f.keys(), ["closed.log", "open.log"]);
    } finally {
      try {
        holder.kill("SIGKILL");
      } catch {
        // Already gone.
      }
      await holder.status;
    }
  });
}

Deno.test("uploader: metadata keys over bucket keys over default keys; an unknown key fails and keeps the file", async () => {
  const bucket = `test-creds-${Date.now().toString(36)}-${crypto.randomUUID().slice(0, 6)}`;
  await using f = await fixture("credentials", {
    [`s3.bucket.${bucket}.access.key`]: "nobody",
    [`s3.bucket.${bucket}.secret.key`]: "wrong-bucket-secret",
  });
  await f.s3.send(new CreateBucketCommand({ Bucket: bucket }));
  try {
    const logs = await f.dir("task/logs");
    const other = await f.dir("task/other");
    await writeLog(join(logs, "a.log"), "uploaded with the metadata's keys\n");
    await writeLog(join(other, "b.log"), "the bucket's keys are wrong\n");
    await f.metadata("good.s3.json", logs, { s3Bucket: bucket, s3AccessKey: "test", s3SecretKey: "metadata-secret" });
    await f.metadata("bad.s3.json", other, { s3Bucket: bucket });
    // The good metadata's secret is wrong at first: both fail, named, with no secret in the log.
    const service = await f.service();
    let summary = await service.runPass();
    assert.deepEqual({ uploaded: summary.uploaded, failed: summary.failed }, { uploaded: 0, failed: 2 });
    const failures = f.logger.lines.filter((line) => /^(WARN|ERROR) .*attempt/.test(line))
      .map((line) => line.replace(/\S*\/task\//, "").replace(bucket, "B")).sort();
    assert.deepEqual(failures, [
      "ERROR logs/a.log -> s3://B/a.log: attempt 2 of 2 failed: (HTTP 403); keeping the file for the next pass",
      "ERROR other/b.log -> s3://B/b.log: attempt 2 of 2 failed: (HTTP 403); keeping the file for the next pass",
      "WARN logs/a.log -> s3://B/a.log: attempt 1 of 2 failed: SignatureDoesNotMatch (HTTP 403)",
      "WARN other/b.log -> s3://B/b.log: attempt 1 of 2 failed: InvalidAccessKeyId (HTTP 403)",
    ]);
    assert.doesNotMatch(f.logger.lines.join("\n"), /metadata-secret|wrong-bucket-secret/);
    assert.ok(await pathExists(join(logs, "a.log")));
    assert.ok(await pathExists(join(other, "b.log")), "a file refused by S3 is kept (not the originals' bug #16)");
    assert.equal((await journalEntries(f.metadataDir)).length, 2);

    // Fixing the metadata's keys fixes its journaled plan too: the next pass uploads with them.
    await f.metadata("good.s3.json", logs, { s3Bucket: bucket, s3AccessKey: "test", s3SecretKey: "test" });
    await waitFor(() => service.registry.uploaders().some((u) => u.metadata.s3SecretKey === "test"), "the new keys");
    summary = await service.runPass();
    assert.deepEqual({ uploaded: summary.uploaded, failed: summary.failed }, { uploaded: 1, failed: 1 });
    assert.deepEqual([...(await listObjects(f.s3, bucket)).keys()], ["a.log"]);
    assert.ok(!(await pathExists(join(logs, "a.log"))));
    assert.ok(await pathExists(join(other, "b.log")));
  } finally {
    await removeBucket(f.s3, bucket);
  }
});
