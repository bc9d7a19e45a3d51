/**
 * The journal: what a restart finds and does (in this process, with the
 * journal and S3 put in the state a crash would leave), and what S3 being
 * unreachable in the middle of a pass leaves behind.
 */
import {
  CreateMultipartUploadCommand,
  ListPartsCommand,
  PutObjectCommand,
  UploadPartCommand,
} from "@aws-sdk/client-s3";
import assert from "node:assert/strict";
import { join } from "node:path";
import { md5OfBytes } from "../../../lib/artifacts/md5.ts";
import { pathExists } from "../../../lib/path_exists.ts";
import { identityOf } from "../../../lib/s3/uploader/file_selection.ts";
import { Journal, JOURNAL_DIRECTORY, parsePlan, type UploadPlan } from "../../../lib/s3/uploader/journal.ts";
import { randomBytes, S3_TEST_ENDPOINT } from "../../support/s3_server.ts";
import { startS3Proxy } from "../../support/s3_proxy.ts";
import { fixture, journalPlans, MIB, waitFor, writeLog } from "./_fixture.ts";
import { startThrottledProxy } from "./_throttled_proxy.ts";

/** A plan for `path` to `bucket`/`key`, as the uploader would have journaled it. */
async function planFor(
  path: string,
  bucket: string,
  key: string,
  extra: Partial<UploadPlan> = {},
): Promise<UploadPlan> {
  return {
    version: 1,
    path,
    file: identityOf(await Deno.lstat(path)),
    bucket,
    key,
    metadataFile: "t.s3.json",
    uploadName: key,
    createdAt: new Date().toISOString(),
    ...extra,
  };
}

Deno.test("Journal: plans survive a reopen; unreadable entries are reported and left in place", async () => {
  const dir = await Deno.makeTempDir({ prefix: "journal-" });
  try {
    const log = join(dir, "a.log");
    await writeLog(log, "x");
    const { journal } = await Journal.open(dir);
    const plan = await planFor(log, "b", "k", { multipart: { partSize: 5 * MIB, uploadId: "2~u" } });
    await journal.record(plan);
    await Deno.writeTextFile(join(dir, JOURNAL_DIRECTORY, "broken.json"), '{"version":1,"path":3}');
    // A write cut short by a crash leaves writeAtomically's temporary file.
    await Deno.writeTextFile(join(dir, JOURNAL_DIRECTORY, ".0a1b.json.5c9e.tmp"), '{"version":1,"pa');
    const reopened = await Journal.open(dir);
    assert.deepEqual(reopened.journal.plans(), [plan]);
    assert.deepEqual(reopened.unreadable, [{
      file: join(dir, JOURNAL_DIRECTORY, "broken.json"),
      reason: `${join(dir, JOURNAL_DIRECTORY, "broken.json")}: field path = 3: expected a non-empty string`,
    }]);
    const names = [...Deno.readDirSync(join(dir, JOURNAL_DIRECTORY))].map((entry) => entry.name).sort();
    assert.equal(names.length, 2);
    assert.ok(names.every((name) => name.endsWith(".json") && !name.endsWith(".s3.json")));
    assert.equal(
      (await Deno.stat(join(dir, JOURNAL_DIRECTORY, names.find((n) => n !== "broken.json")!))).mode! & 0o777,
      0o600,
    );
    await reopened.journal.remove(log);
    assert.deepEqual((await Journal.open(dir)).journal.plans(), []);
    assert.throws(() => parsePlan("{", "x.json"), /^Error: x\.json: not valid JSON/);
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("parsePlan() never quotes the text it refuses (it may hold a secret key); a bad directory is named", () => {
  const secret = "wJalrXUtnFEMI/K7MDENG";
  const cases: [string, string][] = [
    [`{"version":1,"credentials":{"accessKey":"AKIAEXAMPLE","secretKey":"${secret}"},"path":"/x" trunc`, "at position"],
    [`{"credentials":{"secretKey":${secret}}}`, "not valid JSON"],
    [`{"credentials":{"secretKey":"${secret}"`, "at position"],
    [`{"credentials":{"secretKey":"${secret}"}}\u0000`, "at position"],
  ];
  for (const [text, hint] of cases) {
    assert.throws(() => parsePlan(text, "j.json"), (error: Error) => {
      assert.match(error.message, /^j\.json: not valid JSON( \(at position \d+\))?$/);
      assert.ok(error.message.includes(hint), error.message);
      assert.ok(!error.message.includes("wJal") && !error.message.includes("AKIA"), error.message);
      return true;
    });
  }
  const plan = {
    version: 1,
    path: "/s/a.log",
    file: { dev: 1, ino: 2, size: 3, mtimeMs: 4 },
    bucket: "b",
    key: "k",
    metadataFile: "t.s3.json",
    uploadName: "a.log",
    createdAt: "2026-11-28T10:00:00.000Z",
  };
  const directory = { realPath: "/s", dev: 1, ino: 9 };
  assert.deepEqual(parsePlan(JSON.stringify({ ...plan, directory }), "j.json").directory, directory);
  assert.throws(
    () => parsePlan(JSON.stringify({ ...plan, directory: { realPath: "/s" } }), "j.json"),
    /^Error: j\.json: field directory = \{"realPath":"\/s"\}: expected \{realPath, dev, ino\}$/,
  );
});

Deno.test("restart: an object already in S3 with the expected ETag is not sent again; the file is deleted", async () => {
  await using f = await fixture("recover-done");
  const logs = await f.dir("task/logs");
  const bytes = randomBytes(100_000);
  await writeLog(join(logs, "a.log"), bytes);
  const { journal } = await Journal.open(f.metadataDir);
  await journal.record(await planFor(join(logs, "a.log"), f.bucket.name, "planned/a.log"));
  await f.s3.send(new PutObjectCommand({ Bucket: f.bucket.name, Key: "planned/a.log", Body: bytes }));
  await f.metadata("t.s3.json", logs, { s3KeyFormat: "%guid" });
  const service = await f.service();
  const summary = await service.runPass();
  assert.deepEqual({ uploaded: summary.uploaded, recovered: summary.recovered }, { uploaded: 1, recovered: 1 });
  assert.deepEqual(await f.keys(), ["planned/a.log"]);
  assert.ok(!(await pathExists(join(logs, "a.log"))));
  assert.ok(f.logger.lines.some((line) => line.startsWith(`INFO already in S3: ${join(logs, "a.log")} -> `)));
  assert.deepEqual(await journalPlans(f.metadataDir), []);
});

Deno.test("restart: a multipart upload is resumed from the parts S3 has; a part with other bytes is sent again", async () => {
  await using f = await fixture("recover-resume");
  const logs = await f.dir("task/logs");
  const bytes = randomBytes(12 * MIB + 5);
  const path = join(logs, "big.log");
  await writeLog(path, bytes);
  const key = "resumed/big.log";
  const created = await f.s3.send(new CreateMultipartUploadCommand({ Bucket: f.bucket.name, Key: key }));
  await f.s3.send(
    new UploadPartCommand({
      Bucket: f.bucket.name,
      Key: key,
      UploadId: created.UploadId,
      PartNumber: 1,
      Body: bytes.subarray(0, 5 * MIB),
    }),
  );
  // Part 2 holds other bytes of the same size (a file rewritten in place would look like this).
  await f.s3.send(
    new UploadPartCommand({
      Bucket: f.bucket.name,
      Key: key,
      UploadId: created.UploadId,
      PartNumber: 2,
      Body: randomBytes(5 * MIB),
    }),
  );
  const { journal } = await Journal.open(f.metadataDir);
  await journal.record(
    await planFor(path, f.bucket.name, key, {
      multipart: { partSize: 5 * MIB, uploadId: created.UploadId },
    }),
  );
  const service = await f.service();
  assert.equal((await service.runPass()).recovered, 1);
  const objects = await f.objects();
  assert.deepEqual([...objects.keys()], [key]);
  assert.equal(objects.get(key)!.md5, md5OfBytes(bytes));
  assert.match(objects.get(key)!.etag, /-3$/);
  assert.deepEqual(await f.multipartUploads(), []);
  assert.ok(
    f.logger.lines.includes(
      `INFO ${path}: resuming multipart upload to s3://${f.bucket.name}/${key} (2 of 3 parts in S3)`,
    ),
  );
  assert.ok(!(await pathExists(path)));
});

Deno.test("restart: an upload created but not journaled is aborted and the file sent to the same key", async () => {
  await using f = await fixture("recover-orphan");
  const logs = await f.dir("task/logs");
  const bytes = randomBytes(6 * MIB);
  const path = join(logs, "big.log");
  await writeLog(path, bytes);
  const key = "orphan/big.log";
  await f.s3.send(new CreateMultipartUploadCommand({ Bucket: f.bucket.name, Key: key }));
  await f.s3.send(new CreateMultipartUploadCommand({ Bucket: f.bucket.name, Key: `${key}.other` }));
  const { journal } = await Journal.open(f.metadataDir);
  await journal.record(await planFor(path, f.bucket.name, key, { multipart: { partSize: 5 * MIB } }));
  const service = await f.service();
  assert.equal((await service.runPass()).recovered, 1);
  assert.deepEqual(await f.keys(), [key]);
  // Only uploads at exactly the plan's key are the plan's.
  assert.deepEqual(await f.multipartUploads(), [`${key}.other`]);
});

Deno.test("restart: a plan whose file is gone aborts its multipart upload and is forgotten", async () => {
  await using f = await fixture("recover-gone");
  const logs = await f.dir("task/logs");
  const path = join(logs, "gone.log");
  await writeLog(path, randomBytes(1000));
  const key = "gone/gone.log";
  const created = await f.s3.send(new CreateMultipartUploadCommand({ Bucket: f.bucket.name, Key: key }));
  const { journal } = await Journal.open(f.metadataDir);
  await journal.record(
    await planFor(path, f.bucket.name, key, {
      multipart: { partSize: 5 * MIB, uploadId: created.UploadId },
    }),
  );
  await Deno.remove(path);
  const service = await f.service();
  const summary = await service.runPass();
  assert.deepEqual({ uploaded: summary.uploaded, failed: summary.failed }, { uploaded: 0, failed: 0 });
  assert.deepEqual(await f.multipartUploads(), []);
  assert.deepEqual(await f.keys(), []);
  assert.ok(
    f.logger.lines.includes(
      `WARN ${path}: the file is gone before it reached s3://${f.bucket.name}/${key} (deleted by something else?)`,
    ),
  );
  assert.deepEqual(await journalPlans(f.metadataDir), []);
});

Deno.test("restart: a compressed plan whose gzip copy was never finished compresses again", async () => {
  await using f = await fixture("recover-gzip");
  const logs = await f.dir("task/logs");
  const path = join(logs, "service.log");
  await writeLog(path, "to be compressed\n".repeat(1000));
  const temporary = join(logs, ".service.log.gz.abc.s3uploader.tmp");
  await writeLog(temporary, "half a gzip");
  const { journal } = await Journal.open(f.metadataDir);
  await journal.record(await planFor(path, f.bucket.name, "z/service.log.gz", { compressed: { path: temporary } }));
  const service = await f.service();
  assert.equal((await service.runPass()).recovered, 1);
  assert.deepEqual([...Deno.readDirSync(logs)], []);
  const objects = await f.objects();
  const object = objects.get("z/service.log.gz")!;
  const expected = await new Deno.Command("gzip", { args: ["-c", "-n"], stdin: "piped", stdout: "piped" }).spawn();
  const writer = expected.stdin.getWriter();
  await writer.write(new TextEncoder().encode("to be compressed\n".repeat(1000)));
  await writer.close();
  const { stdout } = await expected.output();
  assert.equal(object.md5, md5OfBytes(stdout));
});

Deno.test("S3 unreachable in the middle of a pass: nothing is lost, the next pass finishes, exactly once", async () => {
  const proxy = await startS3Proxy(new URL(S3_TEST_ENDPOINT).host);
  try {
    await using f = await fixture("outage", {
      "s3.endpoint": proxy.endpoint,
      "s3uploader.stall.timeout.millis": "1500",
    });
    const logs = await f.dir("task/logs");
    const files = new Map<string, Uint8Array>();
    for (let i = 0; i < 4; i++) files.set(`big-${i}.log`, randomBytes(7 * MIB));
    for (let i = 0; i < 4; i++) files.set(`small-${i}.log`, randomBytes(1 * MIB + i));
    for (const [name, bytes] of files) await writeLog(join(logs, name), bytes);
    await f.metadata("t.s3.json", logs, { s3KeyFormat: "%filename-%guid" });
    const service = await f.service();
    const pass = service.runPass();
    await waitFor(() => proxy.requests.filter((request) => request.method === "PUT").length >= 2, "uploads under way");
    // The server goes away for 2.5 s: every connection is reset, new requests get nowhere.
    let release!: () => void;
    proxy.hold = new Promise((resolve) => release = resolve);
    const resets = setInterval(() => proxy.cutConnections(), 50);
    await new Promise((resolve) => setTimeout(resolve, 2500));
    clearInterval(resets);
    // During the outage every file is in one place at least: its directory, or S3 with all its bytes.
    const during = await f.objects();
    const local = new Set(Deno.readDirSync(logs).map((entry) => entry.name));
    for (const [name, bytes] of files) {
      const inS3 = [...during.values()].some((object) =>
        object.key.startsWith(`${name}-`) && object.md5 === md5OfBytes(bytes)
      );
      assert.ok(local.has(name) || inS3, `${name} is neither local nor in S3`);
    }
    release();
    proxy.hold = undefined;
    const first = await pass;
    assert.ok(first.failed > 0, "the outage made some uploads fail");
    const second = await service.runPass();
    assert.equal(first.uploaded + second.uploaded, files.size);
    const objects = await f.objects();
    assert.equal(objects.size, files.size, [...objects.keys()].join(", "));
    for (const [name, bytes] of files) {
      const copies = [...objects.values()].filter((object) => object.key.startsWith(`${name}-`));
      assert.deepEqual(copies.map((object) => object.md5), [md5OfBytes(bytes)], name);
    }
    assert.deepEqual([...Deno.readDirSync(logs)], []);
    assert.deepEqual(await f.multipartUploads(), []);
    assert.deepEqual(await journalPlans(f.metadataDir), []);
  } finally {
    await proxy.close();
  }
});

Deno.test("shutdown: an upload still running after the grace period is abandoned, then resumed to its key", async () => {
  await using proxy = startThrottledProxy(new URL(S3_TEST_ENDPOINT).host, 4 * MIB);
  await using f = await fixture("shutdown", {
    "s3.endpoint": proxy.endpoint,
    "s3uploader.shutdown.grace.millis": "300",
    "s3uploader.upload.part.concurrency": "1",
  });
  const logs = await f.dir("task/logs");
  const bytes = randomBytes(11 * MIB);
  await writeLog(join(logs, "big.log"), bytes);
  await f.metadata("t.s3.json", logs, { s3KeyFormat: "%filename-%guid" });
  const first = await f.service();
  const pass = first.runPass();
  // Stop once the first part is in S3 and the second one under way.
  await waitFor(
    () =>
      f.logger.lines.length > 0 &&
      journalPlans(f.metadataDir).then((plans) => plans[0]?.multipart?.uploadId !== undefined),
    "the multipart upload",
  );
  const [inFlight] = await journalPlans(f.metadataDir);
  await waitFor(async () => {
    const parts = await f.s3.send(
      new ListPartsCommand({ Bucket: f.bucket.name, Key: inFlight.key, UploadId: inFlight.multipart!.uploadId }),
    );
    return (parts.Parts ?? []).length === 1;
  }, "the first part in S3");
  const stopping = performance.now();
  await first.stop();
  assert.ok(performance.now() - stopping < 2000, "stop() waits for the grace period only");
  assert.deepEqual({ uploaded: (await pass).uploaded, failed: (await pass).failed }, { uploaded: 0, failed: 0 });
  assert.ok(f.logger.lines.includes("INFO uploads still in flight after 300 ms: abandoning them"));
  assert.ok(
    f.logger.lines.some((line) =>
      /^INFO \S+big\.log: upload abandoned for shutdown; it resumes to s3:\/\/\S+ at the next start$/.test(line)
    ),
  );
  const [plan] = await journalPlans(f.metadataDir);
  assert.ok(plan.multipart?.uploadId !== undefined);
  assert.ok(await pathExists(join(logs, "big.log")));

  const second = await f.service();
  assert.equal((await second.runPass()).recovered, 1);
  assert.ok(f.logger.lines.some((line) => /resuming multipart upload to .* \(1 of 3 parts in S3\)$/.test(line)));
  const objects = await f.objects();
  assert.deepEqual([...objects.keys()], [plan.key]);
  assert.equal(objects.get(plan.key)!.md5, md5OfBytes(bytes));
  assert.deepEqual(await f.multipartUploads(), []);
});
