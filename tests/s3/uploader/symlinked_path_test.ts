/**
 * Symbolic links anywhere in an uploader's path, as a task user can plant
 * them in its sandbox: a directory whose path goes through one is not
 * listed, a directory outside mesos.work.directory is not either, and a
 * file whose directory is swapped for a link while it uploads is not
 * deleted (nor is what the link points at).
 */
import assert from "node:assert/strict";
import { join } from "node:path";
import { pathExists } from "../../../lib/path_exists.ts";
import { directoryIdentityOf, identityOf } from "../../../lib/s3/uploader/file_selection.ts";
import { Journal } from "../../../lib/s3/uploader/journal.ts";
import { randomBytes, S3_TEST_ENDPOINT } from "../../support/s3_server.ts";
import { fixture, journalPlans, MIB, waitFor, writeLog } from "./_fixture.ts";
import { startThrottledProxy } from "./_throttled_proxy.ts";

Deno.test("uploader: a symlinked directory in the middle of the metadata directory is not followed", async () => {
  await using f = await fixture("midlink");
  const app = await f.dir("task/app");
  const outside = await f.dir("outside/etc");
  await writeLog(join(outside, "shadow"), "root:secret-hash\n");
  // The task plants app/x -> / (here: -> <work>/outside); the executor wrote metadata for app/x/etc.
  await Deno.symlink(join(f.work, "outside"), join(app, "x"));
  await f.metadata("t-file1.s3.json", join(app, "x", "etc"), { fileGlob: "shadow*", finished: true });

  const service = await f.service();
  const summary = await service.runPass();
  assert.deepEqual({ uploaded: summary.uploaded, failed: summary.failed }, { uploaded: 0, failed: 0 });
  assert.deepEqual(await f.keys(), []);
  assert.equal(await Deno.readTextFile(join(outside, "shadow")), "root:secret-hash\n");
  assert.deepEqual(f.logger.lines.filter((line) => line.startsWith("WARN")), [
    `WARN t-file1.s3.json: not uploading ${join(app, "x", "etc")}: it resolves to ${outside} ` +
    `(a symbolic link in its path is not followed)`,
  ]);
});

Deno.test("uploader: a directory outside mesos.work.directory is not listed", async () => {
  await using f = await fixture("outside");
  const elsewhere = await Deno.makeTempDir({ prefix: "uploader-elsewhere-" });
  try {
    await writeLog(join(elsewhere, "app.log"), "not below the work directory\n");
    await f.metadata("t.s3.json", elsewhere);
    // `..` leads out of the work directory too, whatever the path starts with.
    const dots = `${f.work}/../${elsewhere.split("/").pop()}`;
    await f.metadata("dots.s3.json", dots);
    const service = await f.service();
    const summary = await service.runPass();
    assert.equal(summary.uploaded, 0);
    assert.deepEqual(await f.keys(), []);
    assert.ok(await pathExists(join(elsewhere, "app.log")));
    const warnings = f.logger.lines.filter((line) => line.startsWith("WARN")).sort();
    assert.deepEqual(warnings, [
      `WARN dots.s3.json: not uploading ${dots}: it is not below ` +
      `mesos.work.directory (${f.work}); it resolves to ${elsewhere}`,
      `WARN t.s3.json: not uploading ${elsewhere}: it is not below mesos.work.directory (${f.work}); ` +
      `it resolves to ${elsewhere}`,
    ]);
  } finally {
    await Deno.remove(elsewhere, { recursive: true });
  }
});

Deno.test("uploader: a directory swapped for a symlink during the upload: nothing is deleted, here or there", async () => {
  await using proxy = startThrottledProxy(new URL(S3_TEST_ENDPOINT).host, 4 * MIB);
  await using f = await fixture("swapdir", { "s3.endpoint": proxy.endpoint });
  const logs = await f.dir("task/logs");
  const outside = await f.dir("outside");
  const bytes = randomBytes(3 * MIB);
  await writeLog(join(logs, "big.log"), bytes);
  // What the link will point at: a file of the same name, as root's files might be.
  await writeLog(join(outside, "big.log"), bytes);
  await f.metadata("t.s3.json", logs);

  const service = await f.service();
  const pass = service.runPass();
  await waitFor(async () => (await journalPlans(f.metadataDir)).length === 1, "the upload to start");
  await Deno.rename(logs, join(f.work, "task", "logs.real"));
  await Deno.symlink(outside, logs);
  const summary = await pass;

  assert.equal(summary.failed, 0);
  assert.deepEqual(await f.keys(), ["big.log"]);
  assert.ok(await pathExists(join(outside, "big.log")), "the file the link points at is kept");
  assert.ok(await pathExists(join(f.work, "task", "logs.real", "big.log")), "the uploaded file is kept");
  assert.ok(
    f.logger.lines.includes(
      `WARN ${join(logs, "big.log")}: not deleted after its upload to s3://${f.bucket.name}/big.log: ` +
        `its directory now resolves to ${outside}; it is looked at again next pass`,
    ),
    f.logger.lines.join("\n"),
  );
  assert.deepEqual(await journalPlans(f.metadataDir), []);
});

Deno.test("uploader: a journaled plan whose directory became a symlink is dropped, nothing read through it", async () => {
  await using f = await fixture("planlink");
  const logs = await f.dir("task/logs");
  const outside = await f.dir("outside");
  const path = join(logs, "a.log");
  await writeLog(path, "the task's log\n");
  // Left by a crash: the plan, with the directory as it was listed.
  const { journal } = await Journal.open(f.metadataDir);
  await journal.record({
    version: 1,
    path,
    file: identityOf(await Deno.lstat(path)),
    directory: directoryIdentityOf(logs),
    bucket: f.bucket.name,
    key: "a.log",
    metadataFile: "t.s3.json",
    uploadName: "a.log",
    createdAt: new Date().toISOString(),
  });
  await Deno.rename(logs, join(f.work, "task", "logs.real"));
  await Deno.symlink(outside, logs);
  await writeLog(join(outside, "a.log"), "root's file of the same name\n");

  const service = await f.service();
  const summary = await service.runPass();
  assert.deepEqual({ uploaded: summary.uploaded, failed: summary.failed }, { uploaded: 0, failed: 0 });
  assert.deepEqual(await f.keys(), []);
  assert.equal(await Deno.readTextFile(join(outside, "a.log")), "root's file of the same name\n");
  assert.ok(await pathExists(join(f.work, "task", "logs.real", "a.log")));
  assert.deepEqual(await journalPlans(f.metadataDir), []);
  assert.ok(
    f.logger.lines.includes(
      `WARN ${path}: its directory now resolves to ${outside}; not uploading it, forgetting the plan`,
    ),
    f.logger.lines.join("\n"),
  );
});
