import assert from "node:assert/strict";
import { uploadMetadataJson } from "../../../lib/s3/upload_metadata.ts";
import type { UploadMetadata } from "../../../lib/s3/upload_metadata.ts";
import { isFinished, Registry } from "../../../lib/s3/uploader/registry.ts";

const M = "/var/lib/singularity/s3uploader";
const stamp = (mtimeMs: number) => ({ ino: 1, size: 10, mtimeMs });

function text(fields: Partial<UploadMetadata> = {}): string {
  return uploadMetadataJson({
    directory: "/srv/mesos/t1/logs",
    fileGlob: "*.gz",
    s3Bucket: "b",
    s3KeyFormat: "%filename",
    finished: false,
    checkSubdirectories: false,
    compressBeforeUpload: false,
    checkIfOpen: true,
    ...fields,
  });
}

Deno.test("Registry.apply(): registers, ignores an unchanged rewrite, toggles finished, turns immediate", () => {
  const registry = new Registry(M);
  const first = registry.apply(`${M}/t1.s3.json`, text(), stamp(1), 1000);
  assert.equal(first.kind, "registered");
  const uploader = registry.uploaders()[0];
  assert.deepEqual(
    [uploader.id, uploader.lastFilesFoundAt, uploader.immediate, isFinished(uploader)],
    ['["/srv/mesos/t1/logs","*.gz"]', 1000, false, false],
  );
  assert.deepEqual(registry.apply(`${M}/t1.s3.json`, text({ s3Bucket: "other" }), stamp(2), 2000).kind, "unchanged");
  assert.deepEqual(registry.apply(`${M}/t1.s3.json`, text({ finished: true }), stamp(3), 3000), {
    kind: "updated",
    uploader,
    finished: true,
    becameImmediate: false,
  });
  assert.equal(isFinished(uploader), true);
  assert.deepEqual(registry.apply(`${M}/t1.s3.json`, text({ uploadImmediately: true }), stamp(4), 4000), {
    kind: "updated",
    uploader,
    finished: false,
    becameImmediate: true,
  });
  assert.deepEqual([uploader.immediate, uploader.finishedByFlag, uploader.stamp], [true, false, stamp(4)]);
});

Deno.test("Registry: one uploader per (directory, fileGlob); a file rewritten for another identity finishes the old", () => {
  const registry = new Registry(M);
  registry.apply(`${M}/t1.s3.json`, text(), stamp(1), 0);
  const twin = registry.apply(`${M}/t2.s3.json`, text({ s3Bucket: "elsewhere" }), stamp(1), 0);
  assert.deepEqual(
    twin.kind === "duplicate" && twin.message,
    "t2.s3.json: directory /srv/mesos/t1/logs with fileGlob *.gz is already uploaded for t1.s3.json; ignored",
  );
  const old = registry.uploaders()[0];
  assert.equal(registry.apply(`${M}/t1.s3.json`, text({ fileGlob: "*.log" }), stamp(2), 0).kind, "registered");
  assert.deepEqual([old.metadataDeleted, old.metadataPath], [true, undefined]);
  assert.equal(registry.byPath(`${M}/t1.s3.json`)?.metadata.fileGlob, "*.log");
  assert.equal(registry.size, 2);
  registry.remove(old);
  assert.equal(registry.size, 1);
  const gone = registry.gone(`${M}/t1.s3.json`)!;
  assert.deepEqual([gone.metadata.fileGlob, gone.metadataDeleted, isFinished(gone)], ["*.log", true, true]);
  assert.equal(registry.byPath(`${M}/t1.s3.json`), undefined);
  assert.equal(registry.gone(`${M}/never.s3.json`), undefined);
});
