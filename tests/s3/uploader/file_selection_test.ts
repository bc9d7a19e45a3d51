import assert from "node:assert/strict";
import { join } from "node:path";
import {
  directoryIdentityOf,
  FileChangedError,
  identityOf,
  openExpected,
  removeIfUnchanged,
  selectFiles,
} from "../../../lib/s3/uploader/file_selection.ts";

/** A temporary directory for one test, removed by `await using`. */
async function scratch(): Promise<{ root: string } & AsyncDisposable> {
  const root = await Deno.makeTempDir({ prefix: "file-selection-" });
  return { root, [Symbol.asyncDispose]: () => Deno.remove(root, { recursive: true }) };
}

/** Makes `path` (and parents) holding `files` (name: content). */
async function directoryWith(path: string, files: Record<string, string>): Promise<string> {
  await Deno.mkdir(path, { recursive: true });
  for (const [name, content] of Object.entries(files)) await Deno.writeTextFile(join(path, name), content);
  return path;
}

Deno.test("selectFiles() lists a directory below its root; the root's own path may be a symlink", async () => {
  await using dir = await scratch();
  const logs = await directoryWith(join(dir.root, "work/task/logs"), { "a.log": "a", "b.txt": "b" });
  await Deno.symlink(join(dir.root, "work"), join(dir.root, "linked-work"));
  const viaLink = join(dir.root, "linked-work/task/logs");
  const selection = selectFiles({
    directory: `${viaLink}/`,
    matches: (name) => name.endsWith(".log"),
    checkSubdirectories: false,
    root: join(dir.root, "linked-work"),
  });
  assert.deepEqual(selection.refused, []);
  assert.deepEqual(selection.candidates.map((candidate) => candidate.path), [join(viaLink, "a.log")]);
  assert.deepEqual(selection.candidates[0].directory, directoryIdentityOf(logs));
  assert.equal(selection.candidates[0].directory.realPath, logs);
});

Deno.test("selectFiles() with no root refuses a symlink anywhere in the path", async () => {
  await using dir = await scratch();
  await directoryWith(join(dir.root, "real/logs"), { "a.log": "a" });
  await Deno.symlink(join(dir.root, "real"), join(dir.root, "link"));
  const selection = selectFiles({
    directory: join(dir.root, "link/logs"),
    matches: () => true,
    checkSubdirectories: false,
  });
  assert.deepEqual(selection.candidates, []);
  assert.deepEqual(selection.refused, [{
    path: join(dir.root, "link/logs"),
    reason: `it resolves to ${join(dir.root, "real/logs")} (a symbolic link in its path is not followed)`,
  }]);
});

Deno.test("selectFiles() drops what it listed when the directory's path became a symlink meanwhile", async () => {
  await using dir = await scratch();
  const task = await directoryWith(join(dir.root, "work/task/x/logs"), { "a.log": "task's" });
  const outside = await directoryWith(join(dir.root, "work/outside/logs"), { "a.log": "root's" });
  let swapped = false;
  const selection = selectFiles({
    directory: task,
    // Called while the directory is listed: the task swaps x for a link right then.
    matches: () => {
      if (!swapped) {
        swapped = true;
        Deno.renameSync(join(dir.root, "work/task/x"), join(dir.root, "work/task/x.real"));
        Deno.symlinkSync(join(dir.root, "work/outside"), join(dir.root, "work/task/x"));
      }
      return true;
    },
    checkSubdirectories: false,
    root: join(dir.root, "work"),
  });
  assert.ok(swapped);
  assert.deepEqual(selection.candidates, []);
  assert.deepEqual(selection.refused, [{
    path: task,
    reason: `it resolves to ${outside} (a symbolic link in its path is not followed)`,
  }]);
});

Deno.test("selectFiles() checks each subdirectory again right before listing it", async () => {
  await using dir = await scratch();
  const logs = await directoryWith(join(dir.root, "work/task/logs"), { "top.log": "t" });
  await directoryWith(join(logs, "sub"), { "inner.log": "i" });
  const outside = await directoryWith(join(dir.root, "work/outside"), { "secret.log": "s" });
  let swapped = false;
  const selection = selectFiles({
    directory: logs,
    // Called while logs/ is listed, after sub/ was seen as a directory: sub becomes a link.
    matches: () => {
      if (!swapped) {
        swapped = true;
        Deno.renameSync(join(logs, "sub"), join(logs, "sub.real"));
        Deno.symlinkSync(outside, join(logs, "sub"));
      }
      return true;
    },
    checkSubdirectories: true,
    root: join(dir.root, "work"),
  });
  const paths = selection.candidates.map((candidate) => candidate.path);
  assert.ok(!paths.includes(join(logs, "sub", "secret.log")), paths.join(", "));
  assert.ok(paths.includes(join(logs, "top.log")));
  assert.ok(
    selection.refused.some((refused) =>
      refused.path === join(logs, "sub") &&
      refused.reason === `it resolves to ${outside} (a symbolic link in its path is not followed)`
    ),
    JSON.stringify(selection.refused),
  );
});

Deno.test("removeIfUnchanged() deletes only the same file in the same directory", async () => {
  await using dir = await scratch();
  const logs = await directoryWith(join(dir.root, "logs"), { "a.log": "a", "b.log": "b", "c.log": "c", "d.log": "d" });
  const file = (name: string) => join(logs, name);
  const identity = (name: string) => identityOf(Deno.lstatSync(file(name)));
  const directory = directoryIdentityOf(logs);
  const a = identity("a.log");
  const b = identity("b.log");

  assert.deepEqual(removeIfUnchanged(file("a.log"), a, directory), { state: "deleted" });
  assert.deepEqual(removeIfUnchanged(file("a.log"), a, directory), { state: "gone" });

  // The path now goes through a link to where the very same file is: not deleted through the link.
  Deno.renameSync(logs, join(dir.root, "logs.real"));
  Deno.symlinkSync(join(dir.root, "logs.real"), logs);
  assert.deepEqual(removeIfUnchanged(file("b.log"), b, directory), {
    state: "kept",
    reason: `its directory now resolves to ${join(dir.root, "logs.real")}`,
  });
  // A plan from before directories were recorded checks the real path alone.
  assert.deepEqual(removeIfUnchanged(file("b.log"), b, { realPath: logs }), {
    state: "kept",
    reason: `its directory now resolves to ${join(dir.root, "logs.real")}`,
  });
  Deno.removeSync(logs);

  // Another directory at the same path, holding the same file (moved there): not the directory listed.
  Deno.mkdirSync(logs);
  Deno.renameSync(join(dir.root, "logs.real", "b.log"), file("b.log"));
  assert.deepEqual(removeIfUnchanged(file("b.log"), b, directory), {
    state: "kept",
    reason: "its directory was replaced by another one",
  });
  const now = directoryIdentityOf(logs);
  assert.deepEqual(removeIfUnchanged(file("b.log"), b, now), { state: "deleted" });

  // The file replaced by a FIFO, or changed.
  await directoryWith(logs, { "c.log": "c" });
  const c = identity("c.log");
  Deno.removeSync(file("c.log"));
  assert.equal((await new Deno.Command("mkfifo", { args: [file("c.log")] }).output()).code, 0);
  assert.deepEqual(removeIfUnchanged(file("c.log"), c, now), { state: "kept", reason: "it was replaced by a FIFO" });
  await directoryWith(logs, { "d.log": "d" });
  const d = identity("d.log");
  await Deno.writeTextFile(file("d.log"), "more", { append: true });
  assert.deepEqual(removeIfUnchanged(file("d.log"), d, now), { state: "kept", reason: "it changed" });
});

Deno.test("openExpected() refuses a FIFO at once, a symlink, and another file; reads by position", async () => {
  await using dir = await scratch();
  const path = join(dir.root, "a.log");
  await Deno.writeTextFile(path, "0123456789");
  const expected = identityOf(await Deno.lstat(path));

  const file = await openExpected(path, expected);
  try {
    const buffer = new Uint8Array(4);
    const { bytesRead } = await file.read(buffer, 0, 4, 3);
    assert.equal(new TextDecoder().decode(buffer.subarray(0, bytesRead)), "3456");
  } finally {
    await file.close();
  }

  const fifo = join(dir.root, "fifo.log");
  assert.equal((await new Deno.Command("mkfifo", { args: [fifo] }).output()).code, 0);
  const started = performance.now();
  await assert.rejects(openExpected(fifo, expected), (error: Error) => {
    assert.ok(error instanceof FileChangedError);
    assert.equal(error.message, `${fifo}: now a FIFO, not the regular file that was selected (not read)`);
    return true;
  });
  assert.ok(performance.now() - started < 1000, "a FIFO without a writer does not block the open");

  const link = join(dir.root, "link.log");
  await Deno.symlink(path, link);
  await assert.rejects(openExpected(link, expected), {
    name: "FileChangedError",
    message: `${link}: now a symbolic link, not the regular file that was selected (not read)`,
  });
  await Deno.writeTextFile(path, "more", { append: true });
  await assert.rejects(openExpected(path, expected), /a\.log: changed since it was selected \(inode \d+, 10 bytes/);
  await assert.rejects(openExpected(join(dir.root, "missing.log"), expected), {
    name: "FileChangedError",
    message: `${join(dir.root, "missing.log")}: gone`,
  });
});
