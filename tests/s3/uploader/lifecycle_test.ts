/**
 * The uploaders' lifecycle through the daemon (in this process): metadata
 * files appearing, changing, going bad and disappearing; finished by flag,
 * by deletion and by a dead pid; expiry; immediate uploads; many at once.
 */
import assert from "node:assert/strict";
import { join } from "node:path";
import { pathExists } from "../../../lib/path_exists.ts";
import { fixture, waitFor, writeLog } from "./_fixture.ts";

Deno.test("uploader: finished by flag uploads onFinishGlob files once, then deletes its metadata file", async () => {
  await using f = await fixture("finish-flag");
  const logs = await f.dir("task/logs");
  await writeLog(join(logs, "service.log-1.gz"), "rotated\n");
  await writeLog(join(logs, "service.log"), "the live log\n");
  const metadata = await f.metadata("task.s3.json", logs, { fileGlob: "*.gz", onFinishGlob: "service.log" });
  const service = await f.service();
  let summary = await service.runPass();
  assert.deepEqual({ uploaded: summary.uploaded, removed: summary.removed }, { uploaded: 1, removed: 0 });
  assert.deepEqual(await f.keys(), ["service.log-1.gz"]);
  assert.ok(await pathExists(join(logs, "service.log")), "onFinishGlob waits for the end of the task");

  await writeLog(join(logs, "service.log-2.gz"), "rotated at the end\n");
  await f.metadata("task.s3.json", logs, { fileGlob: "*.gz", onFinishGlob: "service.log", finished: true });
  await waitFor(() => service.registry.uploaders()[0]?.finishedByFlag === true, "the finished flag");
  summary = await service.runPass();
  assert.deepEqual({ uploaded: summary.uploaded, removed: summary.removed }, { uploaded: 2, removed: 1 });
  assert.deepEqual(await f.keys(), ["service.log", "service.log-1.gz", "service.log-2.gz"]);
  assert.equal(service.registry.size, 0);
  assert.ok(!(await pathExists(metadata)), "the metadata file is deleted after the final pass");
  assert.ok(f.logger.lines.includes("INFO task.s3.json: finished: final pass next"));
  assert.ok(f.logger.lines.includes("INFO task.s3.json: finished and uploaded; metadata file deleted"));
});

Deno.test("uploader: a deleted metadata file finishes its uploader (one final pass with onFinishGlob)", async () => {
  await using f = await fixture("finish-deleted");
  const logs = await f.dir("task/logs");
  const metadata = await f.metadata("task.s3.json", logs, { fileGlob: "*.gz", onFinishGlob: "*.log" });
  const service = await f.service();
  assert.equal(service.registry.size, 1);
  await writeLog(join(logs, "a.gz"), "a\n");
  await writeLog(join(logs, "b.log"), "b\n");
  await Deno.remove(metadata);
  await waitFor(() => service.registry.uploaders()[0]?.metadataDeleted === true, "the deletion event");
  const summary = await service.runPass();
  assert.deepEqual({ uploaded: summary.uploaded, removed: summary.removed }, { uploaded: 2, removed: 1 });
  assert.deepEqual(await f.keys(), ["a.gz", "b.log"]);
  assert.equal(service.registry.size, 0);
  assert.ok(f.logger.lines.includes("INFO task.s3.json was deleted: final pass"));
});

Deno.test("uploader: a dead pid finishes its uploader; a live pid keeps it", async () => {
  await using f = await fixture("finish-pid");
  const deadLogs = await f.dir("dead/logs");
  const liveLogs = await f.dir("live/logs");
  const gone = new Deno.Command("true").spawn();
  const deadPid = gone.pid;
  await gone.status;
  const live = new Deno.Command("sleep", { args: ["60"] }).spawn();
  try {
    await writeLog(join(deadLogs, "end.txt"), "uploaded once the process is gone\n");
    await writeLog(join(liveLogs, "end.txt"), "kept while the process lives\n");
    const deadMetadata = await f.metadata("dead.s3.json", deadLogs, {
      onFinishGlob: "*.txt",
      pid: deadPid,
      s3KeyFormat: "dead/%filename",
    });
    const liveMetadata = await f.metadata("live.s3.json", liveLogs, {
      onFinishGlob: "*.txt",
      pid: live.pid,
      s3KeyFormat: "live/%filename",
    });
    const service = await f.service();
    const summary = await service.runPass();
    assert.deepEqual({ uploaded: summary.uploaded, removed: summary.removed }, { uploaded: 1, removed: 1 });
    assert.deepEqual(await f.keys(), ["dead/end.txt"]);
    assert.ok(!(await pathExists(deadMetadata)));
    assert.ok(await pathExists(liveMetadata));
    assert.ok(await pathExists(join(liveLogs, "end.txt")));
    assert.ok(f.logger.lines.includes(`INFO dead.s3.json: pid ${deadPid} is gone; final pass`));
    assert.deepEqual(service.registry.uploaders().map((u) => [u.metadata.pid, u.pidGone]), [[live.pid, false]]);
  } finally {
    live.kill("SIGKILL");
    await live.status;
  }
});

Deno.test("uploader: expiry after finishedAfterMillisWithoutNewFile without a file; negative never expires", async () => {
  await using f = await fixture("expiry", { "s3uploader.stop.checking.after.hours.without.new.file": "-1" });
  const soon = await f.dir("soon/logs");
  const never = await f.dir("never/logs");
  const byDefault = await f.dir("default/logs");
  const soonMetadata = await f.metadata("soon.s3.json", soon, { finishedAfterMillisWithoutNewFile: 300 });
  await f.metadata("never.s3.json", never, { finishedAfterMillisWithoutNewFile: -1 });
  await f.metadata("default.s3.json", byDefault);
  const service = await f.service();
  await writeLog(join(soon, "a.log"), "a file resets the clock\n");
  let summary = await service.runPass();
  assert.deepEqual({ uploaded: summary.uploaded, removed: summary.removed }, { uploaded: 1, removed: 0 });
  await new Promise((resolve) => setTimeout(resolve, 150));
  summary = await service.runPass();
  assert.equal(summary.removed, 0, "150 ms without a file is not yet 300 ms");
  await new Promise((resolve) => setTimeout(resolve, 250));
  summary = await service.runPass();
  assert.equal(summary.removed, 1);
  assert.ok(!(await pathExists(soonMetadata)));
  assert.deepEqual(
    service.registry.uploaders().map((u) => u.metadataPath?.split("/").at(-1)).sort(),
    ["default.s3.json", "never.s3.json"],
  );
  assert.ok(
    f.logger.lines.some((line) =>
      /^INFO soon\.s3\.json: expired \(no file for 0 s\); metadata file deleted$/.test(line)
    ),
  );
});

Deno.test("uploader: the configured hours apply when the metadata names no expiry", async () => {
  await using f = await fixture("expiry-default", { "s3uploader.stop.checking.after.hours.without.new.file": "0" });
  const logs = await f.dir("task/logs");
  const metadata = await f.metadata("t.s3.json", logs);
  const service = await f.service();
  await new Promise((resolve) => setTimeout(resolve, 5));
  assert.equal((await service.runPass()).removed, 1);
  assert.ok(!(await pathExists(metadata)));
});

Deno.test("uploader: bad metadata files among good ones are named with the reason, retried, never fatal", async () => {
  await using f = await fixture("bad-metadata");
  const logs = await f.dir("task/logs");
  await writeLog(join(logs, "a.log"), "a\n");
  const write = (name: string, text: string) => Deno.writeTextFile(join(f.metadataDir, name), text);
  await write("empty.s3.json", "");
  await write("half.s3.json", '{"directory": "/x", "fileGl');
  await write("array.s3.json", "[1, 2]");
  await write("nodir.s3.json", JSON.stringify({ fileGlob: "*", s3Bucket: "b", s3KeyFormat: "k" }));
  await write("glob.s3.json", JSON.stringify({ directory: logs, fileGlob: "[a-", s3Bucket: "b", s3KeyFormat: "k" }));
  await write(
    "inside.s3.json",
    JSON.stringify({ directory: f.metadataDir, fileGlob: "*", s3Bucket: "b", s3KeyFormat: "k" }),
  );
  await write(
    "secret.s3.json",
    JSON.stringify({ directory: logs, fileGlob: "*", s3Bucket: "b", s3KeyFormat: "k", s3SecretKey: 42 }),
  );
  // A writer's temporary file and an unrelated file are not metadata at all.
  await write(".good.s3.json.2c1e.tmp", "{");
  await write("notes.txt", "{");
  await f.metadata("good.s3.json", logs);
  await f.metadata("twin.s3.json", logs, { s3Bucket: "another-bucket" });
  const service = await f.service();
  assert.equal(service.registry.size, 1);
  const warnings = f.logger.lines.filter((line) => line.startsWith("WARN")).sort();
  assert.deepEqual(warnings, [
    "WARN metadata array.s3.json: expected a JSON object, got [1,2]; trying again when it changes or at the next rescan",
    "WARN metadata empty.s3.json: empty (still being written?); trying again when it changes or at the next rescan",
    `WARN metadata glob.s3.json: field fileGlob: glob "[a-": missing ']' at position 3; trying again when it changes or at the next rescan`,
    `WARN metadata half.s3.json: not valid JSON (it ends early: still being written?); trying again when it changes or at the next rescan`,
    `WARN metadata inside.s3.json: field directory = ${
      JSON.stringify(f.metadataDir)
    }: expected a directory outside the metadata directory ${f.metadataDir}; trying again when it changes or at the next rescan`,
    "WARN metadata nodir.s3.json: field directory = nothing: expected a non-empty string (required); trying again when it changes or at the next rescan",
    "WARN metadata secret.s3.json: field s3SecretKey = (hidden): expected a string; trying again when it changes or at the next rescan",
    `WARN twin.s3.json: directory ${logs} with fileGlob *.log is already uploaded for good.s3.json; ignored`,
  ]);
  assert.equal((await service.runPass()).uploaded, 1);

  // A rescan does not log them again; a fixed file is picked up by its event.
  const before = f.logger.lines.length;
  await service.rescan();
  assert.equal(f.logger.lines.filter((line, i) => i >= before && line.startsWith("WARN")).length, 0);
  await f.metadata("empty.s3.json", await f.dir("other/logs"));
  await waitFor(() => service.registry.size === 2, "the repaired metadata file");
});

Deno.test("uploader: uploadImmediately uploads on detection (no open-file check), then deletes its metadata", async () => {
  await using f = await fixture("immediate");
  const logs = await f.dir("task/logs");
  await writeLog(join(logs, "service.log"), "the end of the task\n");
  const service = await f.service();
  const metadata = await f.metadata("task.s3.json", logs, {
    fileGlob: "service.log",
    uploadImmediately: true,
    finished: true,
    checkIfOpen: true,
  });
  await waitFor(async () => !(await pathExists(metadata)), "the immediate upload");
  assert.deepEqual(await f.keys(), ["service.log"]);
  assert.equal(service.registry.size, 0);
  assert.ok(f.logger.lines.includes("INFO task.s3.json: immediate upload done; metadata file deleted"));
});

Deno.test("uploader: 40 uploaders with 3 files each in one pass, 8 at a time, each file exactly once", async () => {
  await using f = await fixture("many", { "s3uploader.max.upload.threads": "8" });
  const expected = new Set<string>();
  for (let task = 0; task < 40; task++) {
    const logs = await f.dir(`task${task}/logs`);
    for (let i = 0; i < 3; i++) {
      await writeLog(join(logs, `service.log-${i}.gz`), `task ${task} file ${i}\n`);
      expected.add(`task${task}/service.log-${i}.gz`);
    }
    await f.metadata(`task${task}.s3.json`, logs, { fileGlob: "*.gz", s3KeyFormat: `task${task}/%filename` });
  }
  const service = await f.service();
  assert.equal(service.registry.size, 40);
  const summary = await service.runPass();
  assert.deepEqual({ uploaded: summary.uploaded, failed: summary.failed }, { uploaded: 120, failed: 0 });
  assert.deepEqual(new Set(await f.keys()), expected);
});
