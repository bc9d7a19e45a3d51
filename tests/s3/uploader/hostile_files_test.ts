/**
 * Files a task user controls: odd names are uploaded under those names;
 * symlinks, symlinked directories, hard links and names that are not UTF-8
 * are neither uploaded nor deleted, and what they point at is untouched.
 */
import assert from "node:assert/strict";
import { join } from "node:path";
import { pathExists } from "../../../lib/path_exists.ts";
import { fixture, writeLog } from "./_fixture.ts";

const ODD_NAMES = [
  "with space.log",
  "new\nline.log",
  "-dash.log",
  "%Y-%filename-%d.log",
  "ünïcødé 😀.log",
  `quote'".log`,
  "back\\slash.log",
  "*.log",
  "..dots.log",
];

Deno.test("uploader: odd names upload as they are; links and non-UTF-8 names are refused and left alone", async () => {
  await using f = await fixture("hostile");
  const logs = await f.dir("task/logs");
  const outside = await f.dir("outside");
  const outsideDir = await f.dir("outside/dir");
  await writeLog(join(outside, "secret.log"), "not for upload\n");
  await writeLog(join(outside, "hard-target.log"), "not for upload either\n");
  await writeLog(join(outsideDir, "x.log"), "nor this\n");
  for (const name of ODD_NAMES) await writeLog(join(logs, name), `content of ${name}\n`);
  await Deno.mkdir(join(logs, "sub"));
  await writeLog(join(logs, "sub", "inner.log"), "in a real subdirectory\n");
  await Deno.symlink(join(outside, "secret.log"), join(logs, "link.log"));
  await Deno.symlink(join(outside, "missing.log"), join(logs, "dangling.log"));
  await Deno.symlink(outsideDir, join(logs, "linkdir"));
  await Deno.link(join(outside, "hard-target.log"), join(logs, "hard.log"));
  const bad = await new Deno.Command("bash", { args: ["-c", `touch "$1"/$'bad\\xff.log'`, "touch", logs] }).output();
  assert.equal(bad.code, 0);
  await Deno.symlink(outsideDir, join(f.work, "linked-logs"));
  await f.metadata("t.s3.json", logs, { fileGlob: "*", checkSubdirectories: true, checkIfOpen: true });
  await f.metadata("linked.s3.json", join(f.work, "linked-logs"), { fileGlob: "*" });

  const service = await f.service();
  const summary = await service.runPass();
  assert.deepEqual({ uploaded: summary.uploaded, failed: summary.failed }, {
    uploaded: ODD_NAMES.length + 1,
    failed: 0,
  });
  assert.deepEqual(await f.keys(), [...ODD_NAMES, "inner.log"].sort());
  const objects = await f.objects();
  for (const name of ODD_NAMES) {
    const expected = new TextEncoder().encode(`content of ${name}\n`).length;
    assert.equal(objects.get(name)?.size, expected, JSON.stringify(name));
  }
  const left = [...Deno.readDirSync(logs)].map((entry) => entry.name).sort();
  assert.deepEqual(left, ["bad\uFFFD.log", "dangling.log", "hard.log", "link.log", "linkdir", "sub"]);
  assert.equal(await Deno.readTextFile(join(outside, "secret.log")), "not for upload\n");
  assert.equal(await Deno.readTextFile(join(outside, "hard-target.log")), "not for upload either\n");
  assert.ok(await pathExists(join(outsideDir, "x.log")));
  const warnings = f.logger.lines.filter((line) => line.startsWith("WARN")).map((line) => line.replace(logs, "L"))
    .sort();
  assert.deepEqual(warnings, [
    `WARN linked.s3.json: not uploading ${
      join(f.work, "linked-logs")
    }: the directory is a symbolic link (not followed)`,
    "WARN t.s3.json: not uploading L/bad\uFFFD.log: its name is not valid UTF-8",
    "WARN t.s3.json: not uploading L/dangling.log: a symbolic link (not followed)",
    "WARN t.s3.json: not uploading L/hard.log: it has 2 hard links (it may be a file from elsewhere)",
    "WARN t.s3.json: not uploading L/link.log: a symbolic link (not followed)",
    "WARN t.s3.json: not uploading L/linkdir: a symbolic link (not followed)",
  ]);
  // A second pass does not repeat the warnings.
  const before = f.logger.lines.length;
  await service.runPass();
  assert.deepEqual(f.logger.lines.slice(before).filter((line) => line.startsWith("WARN")), []);
});
