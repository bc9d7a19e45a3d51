/**
 * FIFOs a task user puts where its logs are: nothing waits on one. A log
 * swapped for a FIFO in the middle of its multipart upload is still read
 * whole through the handle opened before the swap, the FIFO is neither read
 * nor deleted, the pass ends, the next one runs and the daemon stops.
 */
import assert from "node:assert/strict";
import { join } from "node:path";
import { md5OfBytes } from "../../../lib/artifacts/md5.ts";
import { randomBytes, S3_TEST_ENDPOINT } from "../../support/s3_server.ts";
import { fixture, journalPlans, MIB, waitFor, writeLog } from "./_fixture.ts";
import { startThrottledProxy } from "./_throttled_proxy.ts";

/** Makes a FIFO at `path`. */
async function mkfifo(path: string): Promise<void> {
  const made = await new Deno.Command("mkfifo", { args: [path] }).output();
  assert.equal(made.code, 0, new TextDecoder().decode(made.stderr));
}

Deno.test("uploader: a log swapped for a FIFO mid-multipart: uploaded from its handle, the FIFO left, no hang", async () => {
  await using proxy = startThrottledProxy(new URL(S3_TEST_ENDPOINT).host, 8 * MIB);
  await using f = await fixture("fifo", {
    "s3.endpoint": proxy.endpoint,
    "s3uploader.upload.part.concurrency": "1",
    "s3uploader.stall.timeout.millis": "2000",
  });
  const logs = await f.dir("task/logs");
  const path = join(logs, "big.log");
  const bytes = randomBytes(12 * MIB);
  await writeLog(path, bytes);
  // A FIFO matching the glob from the start is not a candidate at all.
  await mkfifo(join(logs, "pipe.log"));
  await f.metadata("t.s3.json", logs);
  const service = await f.service();

  const started = performance.now();
  const pass = service.runPass();
  await waitFor(async () => (await journalPlans(f.metadataDir)).some((plan) => plan.multipart?.uploadId), "parts");
  // The task swaps its own log for a FIFO: later parts must not open the path again.
  await mkfifo(join(logs, ".swap"));
  await Deno.rename(join(logs, ".swap"), path);
  const summary = await Promise.race([
    pass,
    new Promise<never>((_, reject) => setTimeout(() => reject(new Error("the pass hangs")), 15_000)),
  ]);
  assert.deepEqual({ uploaded: summary.uploaded, failed: summary.failed }, { uploaded: 1, failed: 0 });
  assert.ok(performance.now() - started < 10_000);
  const objects = await f.objects();
  assert.deepEqual([...objects.keys()], ["big.log"]);
  assert.equal(objects.get("big.log")!.md5, md5OfBytes(bytes));
  assert.ok((await Deno.lstat(path)).isFifo, "the FIFO is not deleted");
  assert.ok(
    f.logger.lines.includes(
      `WARN ${path}: not deleted after its upload to s3://${f.bucket.name}/big.log: it was replaced by a FIFO; ` +
        `it is looked at again next pass`,
    ),
    f.logger.lines.join("\n"),
  );

  // The next pass finds nothing to do (the FIFOs are not candidates), and the daemon stops at once.
  const next = await service.runPass();
  assert.deepEqual({ uploaded: next.uploaded, failed: next.failed }, { uploaded: 0, failed: 0 });
  const stopping = performance.now();
  await service.stop();
  assert.ok(performance.now() - stopping < 3000);
});
