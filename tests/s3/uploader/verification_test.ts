/**
 * The check before any local delete: when HeadObject after an upload
 * reports another ETag or another size than what was sent, the local file
 * and its journaled plan are kept; once S3 answers right, the plan finds
 * the object already there and only then deletes the file.
 */
import assert from "node:assert/strict";
import { join } from "node:path";
import { randomBytes, S3_TEST_ENDPOINT } from "../../support/s3_server.ts";
import { fixture, journalPlans, MIB, writeLog } from "./_fixture.ts";
import { startRewritingProxy } from "./_rewriting_proxy.ts";

const WRONG_ETAG = "0123456789abcdef0123456789abcdef";

Deno.test("uploader: HeadObject after the upload reporting a wrong ETag or size keeps the local files", async () => {
  await using proxy = startRewritingProxy(new URL(S3_TEST_ENDPOINT).host);
  await using f = await fixture("verify", { "s3.endpoint": proxy.endpoint, "s3uploader.retry.count": "1" });
  const logs = await f.dir("task/logs");
  const single = join(logs, "single.log");
  const multipart = join(logs, "multipart.log");
  await writeLog(single, "forty-two bytes of a log, sent in one PUT\n");
  await writeLog(multipart, randomBytes(6 * MIB));
  await f.metadata("t.s3.json", logs);
  proxy.rewriteHead = (head, path) => {
    if (path.endsWith("/single.log")) return head.replace(/^etag:.*$/im, `ETag: "${WRONG_ETAG}"`);
    if (path.endsWith("/multipart.log")) return head.replace(/^content-length:.*$/im, "Content-Length: 6291455");
    return head;
  };

  const service = await f.service();
  const first = await service.runPass();
  assert.deepEqual({ uploaded: first.uploaded, failed: first.failed }, { uploaded: 0, failed: 2 });
  assert.equal(proxy.rewritten, 2);
  // S3 holds both objects whole; the uploader was told otherwise, so it deleted nothing.
  assert.deepEqual(await f.keys(), ["multipart.log", "single.log"]);
  assert.equal((await Deno.stat(single)).size, 42);
  assert.equal((await Deno.stat(multipart)).size, 6 * MIB);
  assert.deepEqual((await journalPlans(f.metadataDir)).map((plan) => plan.key).sort(), [
    "multipart.log",
    "single.log",
  ]);
  const errors = f.logger.lines.filter((line) => line.startsWith("ERROR")).map((line) => line.replaceAll(logs, "L"));
  const where = `s3://${f.bucket.name}`;
  assert.equal(errors.length, 2, errors.join("\n"));
  assert.match(
    errors.find((line) => line.includes("single.log"))!,
    new RegExp(`${where}/single\\.log has ETag ${WRONG_ETAG}, expected [0-9a-f]{32} for L/single\\.log; keeping`),
  );
  assert.match(
    errors.find((line) => line.includes("multipart.log"))!,
    new RegExp(`${where}/multipart\\.log has 6291455 bytes, L/multipart\\.log has 6291456; keeping`),
  );

  // S3 answers right again: the journaled plans find their objects and the files go.
  proxy.rewriteHead = undefined;
  const second = await service.runPass();
  assert.deepEqual({ uploaded: second.uploaded, recovered: second.recovered, failed: second.failed }, {
    uploaded: 2,
    recovered: 2,
    failed: 0,
  });
  assert.equal(f.logger.lines.filter((line) => line.startsWith("INFO already in S3: ")).length, 2);
  assert.deepEqual([...Deno.readDirSync(logs)], []);
  assert.deepEqual(await journalPlans(f.metadataDir), []);
});
