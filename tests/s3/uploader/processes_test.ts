import assert from "node:assert/strict";
import { join } from "node:path";
import { livePids, openFiles } from "../../../lib/s3/uploader/processes.ts";

Deno.test("livePids(): live pids stay; exited ones and zombies are gone", async () => {
  const live = new Deno.Command("sleep", { args: ["30"] }).spawn();
  const exited = new Deno.Command("true").spawn();
  await exited.status;
  // bash starts a child it never waits for, then becomes `sleep`: the child stays a zombie.
  const parent = new Deno.Command("bash", {
    args: ["-c", "sleep 0.05 & echo $!; exec sleep 30"],
    stdout: "piped",
  }).spawn();
  const reader = parent.stdout.getReader();
  const zombie = Number(new TextDecoder().decode((await reader.read()).value).trim());
  reader.releaseLock();
  await new Promise((resolve) => setTimeout(resolve, 300));
  try {
    const alive = await livePids([live.pid, exited.pid, zombie, parent.pid]);
    assert.deepEqual([...alive!].sort(), [live.pid, parent.pid].sort());
  } finally {
    live.kill("SIGKILL");
    parent.kill("SIGKILL");
    await live.status;
    await parent.status;
    await parent.stdout.cancel();
  }
});

Deno.test("openFiles(): by lsof (by inode) and by fuser, odd names included", async () => {
  const dir = await Deno.makeTempDir({ prefix: "open-files-" });
  const open = join(dir, "open\nfile -x.log");
  const closed = join(dir, "closed.log");
  await Deno.writeTextFile(open, "x");
  await Deno.writeTextFile(closed, "y");
  const holder = new Deno.Command("bash", {
    args: ["-c", 'exec 3<"$1"; echo ready; exec sleep 30', "h", open],
    stdout: "piped",
  })
    .spawn();
  const reader = holder.stdout.getReader();
  await reader.read();
  reader.releaseLock();
  try {
    const files = [
      { path: open, ino: (await Deno.stat(open)).ino! },
      { path: closed, ino: (await Deno.stat(closed)).ino! },
    ];
    assert.deepEqual([...await openFiles(files, "lsof")], [open]);
    assert.deepEqual([...await openFiles(files, "fuser")], [open]);
    assert.deepEqual([...await openFiles([], "lsof")], []);
    // A check that cannot be made counts every file as open.
    const missing = [{ path: join(dir, "missing.log"), ino: 1 }, ...files];
    assert.deepEqual([...await openFiles(missing, "lsof")].sort(), [join(dir, "missing.log"), closed, open].sort());
  } finally {
    holder.kill("SIGKILL");
    await holder.status;
    await holder.stdout.cancel();
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("openFiles(): candidates whose paths pass the kernel's argument limit are checked in batches", async () => {
  const root = await Deno.makeTempDir({ prefix: "open-files-many-" });
  // 800 paths of about 2.8 kB: 2.2 MB of arguments, more than one exec takes (ARG_MAX, 2 MiB).
  const dir = join(root, ...Array.from({ length: 11 }, (_, i) => `${i}`.padEnd(250, "d")));
  await Deno.mkdir(dir, { recursive: true });
  const files = [];
  for (let i = 0; i < 800; i++) {
    const path = join(dir, `service.log-${String(i).padStart(4, "0")}.gz`);
    Deno.writeTextFileSync(path, "x");
    files.push({ path, ino: Deno.statSync(path).ino! });
  }
  const held = files[777].path;
  const holder = new Deno.Command("bash", {
    args: ["-c", 'exec 3<"$1"; echo ready; exec sleep 30', "h", held],
    stdout: "piped",
  }).spawn();
  const reader = holder.stdout.getReader();
  await reader.read();
  reader.releaseLock();
  try {
    assert.ok(files.reduce((bytes, file) => bytes + file.path.length + 1, 0) > 2 * 1024 * 1024);
    const open = await openFiles(files, "lsof");
    // Unbatched, the exec failed and all 800 counted as open, for ever.
    assert.equal(open.size, 1, `${open.size} of 800 files reported open`);
    assert.ok(open.has(held));
  } finally {
    holder.kill("SIGKILL");
    await holder.status;
    await holder.stdout.cancel();
    await Deno.remove(root, { recursive: true });
  }
});
