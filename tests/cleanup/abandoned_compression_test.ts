import assert from "node:assert/strict";
import { join } from "node:path";
import { repairAbandonedCompression } from "../../lib/cleanup/abandoned_compression.ts";
import { gunzipFile, gzip } from "../support/gzip.ts";

Deno.test("repairAbandonedCompression() finishes what a killed logrotate left, and leaves complete archives alone", async () => {
  const dir = await Deno.makeTempDir();
  try {
    const hourAgo = new Date(Date.now() - 3600_000);
    const write = async (name: string, text: string, old = true) => {
      await Deno.writeTextFile(join(dir, name), text);
      if (old) await Deno.utime(join(dir, name), hourAgo, hourAgo);
    };
    // killed during gzip: the copy and a truncated archive
    await write("service.log-1", "copy one\n");
    await write("service.log-1.gz", "\x1f\x8b\x08 truncated");
    // killed after the copy, before gzip started
    await write("service.log-2", "copy two\n");
    // an empty archive and no copy (the originals' case)
    await write("service.log-3.gz", "");
    // complete, and another file's rotation
    await Deno.writeFile(join(dir, "service.log-4.gz"), await gzip("complete\n"));
    await write("access.log-1", "not ours\n");
    // a copy made a moment ago: a logrotate run may be compressing it now
    await write("service.log-5", "in progress\n", false);

    const repair = await repairAbandonedCompression(dir, "service.log", { minAgeMs: 600_000 });
    assert.deepEqual(repair.removed.sort(), ["service.log-1.gz", "service.log-3.gz"]);
    assert.deepEqual(repair.compressed.sort(), ["service.log-1", "service.log-2"]);
    assert.deepEqual([...Deno.readDirSync(dir)].map((e) => e.name).sort(), [
      "access.log-1",
      "service.log-1.gz",
      "service.log-2.gz",
      "service.log-4.gz",
      "service.log-5",
    ]);
    assert.equal(await gunzipFile(join(dir, "service.log-1.gz")), "copy one\n");
    assert.equal(await gunzipFile(join(dir, "service.log-2.gz")), "copy two\n");
    assert.equal(await gunzipFile(join(dir, "service.log-4.gz")), "complete\n");
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("repairAbandonedCompression(): a missing directory is nothing to repair", async () => {
  assert.deepEqual(await repairAbandonedCompression("/nonexistent/logs", "service.log", { minAgeMs: 0 }), {
    removed: [],
    compressed: [],
  });
});
