import assert from "node:assert/strict";
import { join } from "node:path";
import { writeAtomically } from "../../../lib/write_atomically.ts";
import { MetadataWatcher } from "../../../lib/s3/uploader/metadata_watcher.ts";
import { recordingLogger, waitFor } from "./_fixture.ts";

/** A watcher over a fresh directory whose handler accepts content starting with "ok" and records every call. */
async function setup() {
  const dir = await Deno.makeTempDir({ prefix: "metadata-watcher-" });
  const calls: string[] = [];
  const { log, lines } = recordingLogger();
  const watcher = new MetadataWatcher(dir, ".s3.json", {
    file: (path, text) => {
      calls.push(`file ${path.slice(dir.length + 1)} ${text}`);
      return text.startsWith("ok");
    },
    gone: (path) => calls.push(`gone ${path.slice(dir.length + 1)}`),
  }, log);
  return {
    dir,
    calls,
    lines,
    watcher,
    async [Symbol.asyncDispose]() {
      await watcher.close();
      await Deno.remove(dir, { recursive: true });
    },
  };
}

Deno.test("MetadataWatcher.scan(): suffix files only, in name order; unchanged ones once; gone ones reported", async () => {
  await using w = await setup();
  await Deno.writeTextFile(join(w.dir, "b.s3.json"), "ok b");
  await Deno.writeTextFile(join(w.dir, "a.s3.json"), "ok a");
  await Deno.writeTextFile(join(w.dir, "c.s3.json"), "bad");
  await Deno.writeTextFile(join(w.dir, ".a.s3.json.1234.tmp"), "ok hidden");
  await Deno.writeTextFile(join(w.dir, "notes.txt"), "ok text");
  await Deno.writeTextFile(join(w.dir, ".s3.json"), "ok nameless");
  await Deno.symlink(join(w.dir, "a.s3.json"), join(w.dir, "link.s3.json"));
  await w.watcher.scan();
  assert.deepEqual(w.calls, ["file a.s3.json ok a", "file b.s3.json ok b", "file c.s3.json bad"]);
  assert.deepEqual(w.lines, [
    `WARN ${join(w.dir, "link.s3.json")}: not a regular file (a symbolic link or directory); ignored`,
  ]);
  w.calls.length = 0;
  // A second scan: accepted files are unchanged and skipped; the refused one is offered again.
  await Deno.remove(join(w.dir, "b.s3.json"));
  await w.watcher.scan();
  assert.deepEqual(w.calls, ["file c.s3.json bad", "gone b.s3.json"]);
});

Deno.test("MetadataWatcher.start(): events hand on new versions at once; rescans offer refused files again", async () => {
  await using w = await setup();
  await w.watcher.scan();
  w.watcher.start(100);
  await writeAtomically(join(w.dir, "t.s3.json"), "ok 1", { mode: 0o644 });
  await waitFor(() => w.calls.includes("file t.s3.json ok 1"), "the create event");
  await writeAtomically(join(w.dir, "t.s3.json"), "ok 2", { mode: 0o644 });
  await waitFor(() => w.calls.includes("file t.s3.json ok 2"), "the rename event");
  await Deno.writeTextFile(join(w.dir, "bad.s3.json"), "half");
  const offers = () => w.calls.filter((call) => call === "file bad.s3.json half").length;
  await waitFor(() => offers() >= 1, "the event");
  await new Promise((resolve) => setTimeout(resolve, 50));
  const byEvents = offers();
  // No more events: further offers come from the rescans, every 100 ms.
  await waitFor(() => offers() >= byEvents + 2, "two rescans", 3000);
  await Deno.remove(join(w.dir, "t.s3.json"));
  await waitFor(() => w.calls.includes("gone t.s3.json"), "the delete event");
  assert.equal(w.calls.filter((call) => call.startsWith("file t.s3.json")).length, 2, w.calls.join("\n"));
});
