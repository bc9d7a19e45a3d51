import assert from "node:assert/strict";
import { join } from "node:path";
import { ArchiveFormatError, extractTarGz, UnsafeArchiveError } from "../../lib/artifacts/tar_extract.ts";
import { gzip, tarBytes, type TarRecord } from "./_tar_writer.ts";

function text(bytes: Uint8Array): string {
  return new TextDecoder().decode(bytes);
}

/** A fresh parent directory holding the extraction target, a canary directory and the archive; removed on dispose. */
interface Box extends AsyncDisposable {
  parent: string;
  target: string;
  canary: string;
  archive: string;
}

async function box(): Promise<Box> {
  const parent = await Deno.makeTempDir({ prefix: "tar_extract_test_" });
  const box = {
    parent,
    target: join(parent, "target"),
    canary: join(parent, "canary"),
    archive: join(parent, "archive.tar.gz"),
    [Symbol.asyncDispose]: () => Deno.remove(parent, { recursive: true }),
  };
  await Deno.mkdir(box.target);
  await Deno.mkdir(box.canary);
  await Deno.writeTextFile(join(box.canary, "secret.txt"), "canary\n");
  return box;
}

async function run(command: string, ...args: string[]): Promise<void> {
  const output = await new Deno.Command(command, { args, stdout: "piped", stderr: "piped" }).output();
  assert.ok(output.success, `${command} ${args.join(" ")}: ${text(output.stderr)}`);
}

async function digest(path: string): Promise<string> {
  const hash = await crypto.subtle.digest("SHA-256", await Deno.readFile(path));
  return [...new Uint8Array(hash).slice(0, 8)].map((byte) => byte.toString(16).padStart(2, "0")).join("");
}

/**
 * Every path below `root` with its type, mode (with setuid/setgid/sticky),
 * content digest, link target and, if `times`, mtime; then the hard link
 * groups. Paths below `skip` are not descended into.
 */
async function listTree(root: string, options: { skip?: string; times?: boolean } = {}): Promise<string[]> {
  const lines: string[] = [];
  const inodes = new Map<number, string[]>();
  async function walk(dir: string, rel: string): Promise<void> {
    const names: string[] = [];
    for await (const entry of Deno.readDir(dir)) names.push(entry.name);
    for (const name of names.sort()) {
      const path = join(dir, name);
      const relPath = rel === "" ? name : `${rel}/${name}`;
      const info = await Deno.lstat(path);
      const mode = (info.mode! & 0o7777).toString(8);
      const time = options.times ? ` @${Math.floor(info.mtime!.getTime() / 1000)}` : "";
      if (info.isSymlink) {
        lines.push(`${relPath} -> ${await Deno.readLink(path)}`);
      } else if (info.isDirectory) {
        if (path === options.skip) {
          lines.push(`${relPath}/ ${mode} (not listed)`);
          continue;
        }
        lines.push(`${relPath}/ ${mode}${time}`);
        await walk(path, relPath);
      } else if (info.isFile) {
        lines.push(`${relPath} ${mode} ${info.size} ${await digest(path)}${time}`);
        if (info.nlink! > 1) inodes.set(info.ino!, [...inodes.get(info.ino!) ?? [], relPath]);
      } else {
        lines.push(`${relPath} special ${mode}`);
      }
    }
  }
  await walk(root, "");
  for (const paths of inodes.values()) lines.push(`hard links: ${paths.join(" = ")}`);
  return lines;
}

/** Everything outside the target, with mtimes: must not change in any test. */
function outside(box: Box): Promise<string[]> {
  return listTree(box.parent, { skip: box.target, times: true });
}

async function tgz(records: TarRecord[], options: { end?: boolean } = {}): Promise<Uint8Array<ArrayBuffer>> {
  return await gzip(tarBytes(records, options));
}

/** A source tree exercising what real artifacts contain. */
async function sourceTree(root: string): Promise<void> {
  const app = join(root, "app");
  const longDir = "d".repeat(60);
  const longFile = `${"f".repeat(120)}.txt`;
  await Deno.mkdir(join(app, "bin"), { recursive: true });
  await Deno.mkdir(join(app, "conf", "private"), { recursive: true });
  await Deno.mkdir(join(app, "data", longDir), { recursive: true });
  await Deno.mkdir(join(app, "ünïcødé"), { recursive: true });
  await Deno.writeTextFile(join(app, "bin", "run.sh"), "#!/bin/sh\necho hi\n", { mode: 0o755 });
  await Deno.chmod(join(app, "bin", "run.sh"), 0o755);
  await Deno.writeTextFile(join(app, "conf", "private", "key"), "secret\n");
  await Deno.chmod(join(app, "conf", "private", "key"), 0o600);
  await Deno.chmod(join(app, "conf", "private"), 0o750);
  await Deno.writeFile(join(app, "conf", "blob.bin"), new Uint8Array(70_000).map((_, i) => (i * 7919) % 256));
  await Deno.chmod(join(app, "conf", "blob.bin"), 0o640);
  await Deno.writeTextFile(join(app, "empty"), "");
  await Deno.writeTextFile(join(app, "data", longDir, longFile), "long name\n");
  await Deno.writeTextFile(join(app, "ünïcødé", "日本語 ファイル.txt"), "こんにちは\n");
  await Deno.symlink("bin/run.sh", join(app, "current"));
  await Deno.symlink("conf", join(app, "link-dir"));
  await Deno.symlink(`data/${longDir}/${longFile}`, join(app, "long-link"));
  await Deno.link(join(app, "bin", "run.sh"), join(app, "bin", "run-hard"));
  const old = new Date("2020-01-02T03:04:05Z");
  await Deno.utime(join(app, "conf", "private", "key"), old, old);
  await Deno.utime(join(app, "conf", "private"), old, old);
}

for (const format of ["gnu", "pax"]) {
  Deno.test(`extractTarGz() gives the same tree as tar -xzf (${format} format)`, async () => {
    await using b = await box();
    const { parent, archive, target } = b;
    const source = join(parent, "source");
    const reference = join(parent, "reference");
    await Deno.mkdir(source);
    await Deno.mkdir(reference);
    await sourceTree(source);
    await run("tar", `--format=${format}`, "-czf", archive, "-C", source, "app");
    const summary = await extractTarGz(archive, target);
    // -p: keep modes exactly (the default when root), not masked by the umask.
    await run("tar", "-xzpf", archive, "-C", reference);
    const ours = await listTree(target, { times: true });
    assert.deepEqual(ours, await listTree(reference, { times: true }));
    assert.deepEqual(ours, await listTree(source, { times: true }));
    assert.deepEqual(summary, { files: 6, directories: 7, symlinks: 3, hardlinks: 1, skipped: [], bytes: 70_051 });
    assert.ok(ours.some((line) => line.startsWith("app/bin/run.sh 755 18 ")));
    assert.ok(ours.some((line) => line.startsWith("app/empty 644 0 ")));
    assert.ok(ours.includes(`app/conf/private/ 750 @${Date.UTC(2020, 0, 2, 3, 4, 5) / 1000}`));
    assert.ok(ours.includes("hard links: app/bin/run-hard = app/bin/run.sh"));
    assert.ok(ours.includes(`app/long-link -> data/${"d".repeat(60)}/${"f".repeat(120)}.txt`));
    assert.equal(await Deno.readTextFile(join(target, "app/ünïcødé/日本語 ファイル.txt")), "こんにちは\n");
  });
}

Deno.test("extractTarGz() with a ustar name split into prefix and name", async () => {
  await using b = await box();
  const { parent, archive, target } = b;
  const path = `${"p".repeat(80)}/${"q".repeat(60)}`;
  await Deno.mkdir(join(parent, "source", "p".repeat(80)), { recursive: true });
  await Deno.writeTextFile(join(parent, "source", path), "split\n");
  await run("tar", "--format=ustar", "-czf", archive, "-C", join(parent, "source"), path);
  await extractTarGz(archive, target);
  assert.equal(await Deno.readTextFile(join(target, path)), "split\n");
});

Deno.test("extractTarGz() keeps permission bits only; directories stay writable by the owner", async () => {
  await using b = await box();
  const { archive, target } = b;
  await Deno.writeFile(
    archive,
    await tgz([
      { name: "./", type: "5", mode: 0o500 }, // the target itself: left as it is
      { name: "setuid", content: "x", mode: 0o4755 },
      { name: "setgid", content: "x", mode: 0o2750 },
      { name: "shared/", type: "5", mode: 0o1777 },
      { name: "readonly/", type: "5", mode: 0o555 },
      { name: "readonly/file", content: "still written", mode: 0o444 },
    ]),
  );
  await extractTarGz(archive, target);
  const mode = async (name: string) => ((await Deno.lstat(join(target, name))).mode! & 0o7777).toString(8);
  const names = [".", "setuid", "setgid", "shared", "readonly", "readonly/file"];
  assert.deepEqual(await Promise.all(names.map(mode)), ["755", "755", "750", "777", "755", "444"]);
  assert.equal(await Deno.readTextFile(join(target, "readonly/file")), "still written");
});

Deno.test("extractTarGz() reads concatenated gzip members", async () => {
  await using b = await box();
  const { parent, archive, target } = b;
  const source = join(parent, "source");
  await Deno.mkdir(source);
  await sourceTree(source);
  const tarFile = join(parent, "plain.tar");
  await run("tar", "-cf", tarFile, "-C", source, "app");
  const tar = await Deno.readFile(tarFile);
  // Members split at awkward places: one byte, mid-header, mid-content, plus an empty member.
  const cuts = [0, 1, 300, 512, 4000, 4001, 40_000, 100_000, tar.length];
  const members = [await gzip(new Uint8Array())];
  for (let i = 0; i + 1 < cuts.length; i++) members.push(await gzip(tar.slice(cuts[i], cuts[i + 1])));
  await Deno.writeFile(archive, new Uint8Array(await new Blob(members).arrayBuffer()));
  const summary = await extractTarGz(archive, target);
  assert.equal(summary.files, 6);
  assert.deepEqual(await listTree(target, { times: true }), await listTree(source, { times: true }));
});

Deno.test("extractTarGz() applies pax global and per-entry headers", async () => {
  await using b = await box();
  const { archive, target } = b;
  await Deno.writeFile(
    archive,
    await tgz([
      { name: "pax_global_header", type: "g", content: "20 mtime=1234567890\n" },
      { name: "global-time", content: "g" },
      { name: "short", content: "hello", size: 0, pax: { path: "renamed/by/pax.txt", size: "5" } },
      { name: "own-time", content: "o", pax: { mtime: "1600000000.75" } },
      { name: "link", type: "2", linkname: "short", pax: { linkpath: "renamed/by/pax.txt" } },
    ]),
  );
  await extractTarGz(archive, target);
  assert.equal((await Deno.stat(join(target, "global-time"))).mtime!.getTime(), 1234567890_000);
  assert.equal((await Deno.stat(join(target, "own-time"))).mtime!.getTime(), 1600000000_750);
  assert.equal(await Deno.readTextFile(join(target, "renamed/by/pax.txt")), "hello");
  assert.equal(await Deno.readLink(join(target, "link")), "renamed/by/pax.txt");
});

Deno.test("extractTarGz() lets later duplicates win", async () => {
  await using b = await box();
  const { archive, target } = b;
  await Deno.writeFile(
    archive,
    await tgz([
      { name: "dup", content: "one" },
      { name: "dup", content: "two" },
      { name: "was-link", type: "2", linkname: "dup" },
      { name: "was-link", content: "now a file" },
      { name: "was-file", content: "x" },
      { name: "was-file/", type: "5" },
      { name: "was-dir/", type: "5" },
      { name: "was-dir", content: "the empty directory went" },
    ]),
  );
  await extractTarGz(archive, target);
  assert.equal(await Deno.readTextFile(join(target, "dup")), "two");
  assert.equal(await Deno.readTextFile(join(target, "was-link")), "now a file");
  assert.ok((await Deno.lstat(join(target, "was-link"))).isFile);
  assert.ok((await Deno.lstat(join(target, "was-file"))).isDirectory);
  assert.equal(await Deno.readTextFile(join(target, "was-dir")), "the empty directory went");
});

Deno.test("extractTarGz() skips devices and FIFOs and lists them", async () => {
  await using b = await box();
  const { parent, archive, target } = b;
  await run("mkfifo", join(parent, "pipe"));
  await run("tar", "-czf", archive, "-C", parent, "pipe");
  assert.deepEqual((await extractTarGz(archive, target)).skipped, ["pipe"]);
  await Deno.writeFile(
    archive,
    await tgz([
      { name: "dev/null", type: "3" },
      { name: "dev/sda", type: "4" },
      { name: "fifo", type: "6" },
      { name: "after", content: "ok" },
    ]),
  );
  const summary = await extractTarGz(archive, target);
  assert.deepEqual(summary, {
    files: 1,
    directories: 0,
    symlinks: 0,
    hardlinks: 0,
    skipped: ["dev/null", "dev/sda", "fifo"],
    bytes: 2,
  });
  assert.deepEqual((await listTree(target)).map((line) => line.split(" ")[0]), ["after"]);
});

Deno.test("extractTarGz() replaces a symlink already in the target instead of writing through it", async () => {
  await using b = await box();
  await Deno.symlink("../canary/secret.txt", join(b.target, "config"));
  await Deno.writeFile(b.archive, await tgz([{ name: "config", content: "from the archive" }]));
  const before = await outside(b);
  await extractTarGz(b.archive, b.target);
  assert.deepEqual(await outside(b), before);
  assert.ok((await Deno.lstat(join(b.target, "config"))).isFile);
  assert.equal(await Deno.readTextFile(join(b.target, "config")), "from the archive");
  assert.equal(await Deno.readTextFile(join(b.canary, "secret.txt")), "canary\n");
});

/** A hostile or broken archive: extraction must fail with `error` and leave everything outside the target alone. */
interface BadCase {
  name: string;
  archive: (box: Box) => Promise<Uint8Array<ArrayBuffer>>;
  setup?: (box: Box) => Promise<void>;
  error: typeof UnsafeArchiveError | typeof ArchiveFormatError;
  /** UnsafeArchiveError: the entry named. */
  entry?: string | ((box: Box) => string);
  /** ArchiveFormatError: where. */
  at?: { layer: "gzip" | "tar"; offset: number };
  message: RegExp;
}

/** 3000 bytes of "big" (content up to offset 3584), then "next". */
function plainTar(): Uint8Array<ArrayBuffer> {
  return tarBytes([{ name: "big", content: "b".repeat(3000) }, { name: "next", content: "n" }]);
}

const BAD_CASES: BadCase[] = [
  {
    name: "a ../ slip",
    archive: () => tgz([{ name: "ok", content: "fine" }, { name: "../escape", content: "x" }]),
    error: UnsafeArchiveError,
    entry: "../escape",
    message: /its name has a "\.\." component/,
  },
  {
    name: "a .. in the middle",
    archive: () => tgz([{ name: "a/../../escape", content: "x" }]),
    error: UnsafeArchiveError,
    entry: "a/../../escape",
    message: /"\.\." component/,
  },
  {
    name: "an absolute name",
    archive: (b) => tgz([{ name: join(b.parent, "x"), content: "x" }]),
    error: UnsafeArchiveError,
    entry: (b) => join(b.parent, "x"),
    message: /its name is an absolute path/,
  },
  {
    name: "a NUL in a pax path",
    archive: () => tgz([{ name: "placeholder", content: "x", pax: { path: "a\0b" } }]),
    error: UnsafeArchiveError,
    entry: "a\0b",
    message: /"a\\u0000b": its name contains a NUL byte/,
  },
  {
    name: "a symlink to /etc, then a file through it",
    archive: () => tgz([{ name: "etc", type: "2", linkname: "/etc" }, { name: "etc/evil", content: "x" }]),
    error: UnsafeArchiveError,
    entry: "etc",
    message: /its link target "\/etc" is absolute/,
  },
  {
    name: "a symlink to ../..",
    archive: () => tgz([{ name: "up", type: "2", linkname: "../.." }, { name: "up/evil", content: "x" }]),
    error: UnsafeArchiveError,
    entry: "up",
    message: /its link target "\.\.\/\.\." leaves the target directory/,
  },
  {
    name: "a symlink to the canary (absolute), then a file through it",
    archive: (b) => tgz([{ name: "evil", type: "2", linkname: b.canary }, { name: "evil/x", content: "x" }]),
    error: UnsafeArchiveError,
    entry: "evil",
    message: /is absolute/,
  },
  {
    name: "a deeper symlink to ../../canary",
    archive: () => tgz([{ name: "a/evil", type: "2", linkname: "../../canary" }, { name: "a/evil/x", content: "x" }]),
    error: UnsafeArchiveError,
    entry: "a/evil",
    message: /leaves the target directory/,
  },
  {
    name: "the chain a -> ., b -> a/.., b/x",
    archive: () =>
      tgz([
        { name: "a", type: "2", linkname: "." },
        { name: "b", type: "2", linkname: "a/.." },
        { name: "b/x", content: "x" },
      ]),
    error: UnsafeArchiveError,
    entry: "b",
    message: /its link target "a\/\.\." resolves to .*, outside the target/,
  },
  {
    // c is harmless when created; d turning into a link to . sends c outside: caught at c/x.
    name: "the reordered chain d/, c -> d/.., d -> ., c/x",
    archive: () =>
      tgz([
        { name: "d/", type: "5" },
        { name: "c", type: "2", linkname: "d/.." },
        { name: "d", type: "2", linkname: "." },
        { name: "c/x", content: "x" },
      ]),
    error: UnsafeArchiveError,
    entry: "c/x",
    message: /its parent c resolves to .*, outside the target/,
  },
  {
    name: "a symlink already in the target pointing outside, then a file through it",
    setup: (b) => Deno.symlink("../canary", join(b.target, "pre")),
    archive: () => tgz([{ name: "pre/secret.txt", content: "overwritten" }]),
    error: UnsafeArchiveError,
    entry: "pre/secret.txt",
    message: /its parent pre resolves to .*canary, outside the target/,
  },
  {
    name: "a hard link to /etc/passwd",
    archive: () => tgz([{ name: "pw", type: "1", linkname: "/etc/passwd" }]),
    error: UnsafeArchiveError,
    entry: "pw",
    message: /its hard link target "\/etc\/passwd" is an absolute path/,
  },
  {
    name: "a hard link to ../outside",
    archive: () => tgz([{ name: "out", type: "1", linkname: "../canary/secret.txt" }]),
    error: UnsafeArchiveError,
    entry: "out",
    message: /its hard link target "\.\.\/canary\/secret\.txt" has a "\.\." component/,
  },
  {
    name: "a hard link through a symlink already in the target",
    setup: (b) => Deno.symlink("../canary", join(b.target, "pre")),
    archive: () => tgz([{ name: "h", type: "1", linkname: "pre/secret.txt" }]),
    error: UnsafeArchiveError,
    entry: "h",
    message: /its hard link target "pre\/secret\.txt" resolves to .*canary\/secret\.txt, outside the target/,
  },
  {
    name: "a hard link to a symlink already in the target pointing outside",
    setup: (b) => Deno.symlink("../canary/secret.txt", join(b.target, "pre")),
    archive: () => tgz([{ name: "h", type: "1", linkname: "pre" }]),
    error: UnsafeArchiveError,
    entry: "h",
    message: /its hard link target "pre" resolves to .*canary\/secret\.txt, outside the target/,
  },
  {
    name: "a hard link to a missing entry",
    archive: () => tgz([{ name: "h", type: "1", linkname: "missing" }]),
    error: UnsafeArchiveError,
    entry: "h",
    message: /its hard link target "missing" does not exist/,
  },
  {
    name: "a truncated gzip stream",
    archive: async () => {
      const whole = await gzip(plainTar());
      return whole.slice(0, whole.length / 2);
    },
    error: ArchiveFormatError,
    message: /corrupt or truncated gzip data in the gzip member starting at gzip offset 0/,
  },
  {
    name: "a truncated tar stream",
    archive: () => gzip(plainTar().slice(0, 1536)),
    error: ArchiveFormatError,
    at: { layer: "tar", offset: 1536 },
    message: /unexpected end of archive inside the content of entry "big" \(at tar offset 1536\)/,
  },
  {
    name: "a bad header checksum",
    archive: () => {
      const tar = plainTar();
      tar[512 * 7] = "N".charCodeAt(0); // the second header ("next" -> "Next")
      return gzip(tar);
    },
    error: ArchiveFormatError,
    at: { layer: "tar", offset: 3584 },
    message: /bad header checksum \(stored 0o\d+, computed 0o\d+\) \(at tar offset 3584\)/,
  },
  {
    name: "a tar file that is not gzipped",
    archive: () => Promise.resolve(plainTar()),
    error: ArchiveFormatError,
    at: { layer: "gzip", offset: 0 },
    message: /not gzip data \(starts with 0x62 0x69 0x67\) \(at gzip offset 0\)/,
  },
  {
    name: "garbage after the gzip stream",
    archive: async () => new Uint8Array(await new Blob([await gzip(plainTar()), "garbage"]).arrayBuffer()),
    error: ArchiveFormatError,
    message: /data after the end of the member/,
  },
];

Deno.test("extractTarGz() refuses hostile and broken archives, touching nothing outside the target", async (t) => {
  for (const bad of BAD_CASES) {
    await t.step(bad.name, async () => {
      await using b = await box();
      await bad.setup?.(b);
      await Deno.writeFile(b.archive, await bad.archive(b));
      const before = await outside(b);
      const error = await extractTarGz(b.archive, b.target).then(() => undefined, (error: unknown) => error);
      // First: whatever happened, nothing outside the target changed.
      assert.deepEqual(await outside(b), before, "something outside the target changed");
      assert.equal(await Deno.readTextFile(join(b.canary, "secret.txt")), "canary\n");
      assert.ok(error instanceof bad.error, `expected ${bad.error.name}, got ${error}`);
      assert.match(error.message, bad.message);
      assert.ok(error.message.startsWith(`${b.archive}: `), error.message);
      if (error instanceof UnsafeArchiveError) {
        const entry = typeof bad.entry === "function" ? bad.entry(b) : bad.entry;
        assert.equal(error.entry, entry);
        assert.ok(error.message.includes(`refusing entry ${JSON.stringify(entry)}: `), error.message);
      }
      if (error instanceof ArchiveFormatError && bad.at !== undefined) {
        assert.deepEqual({ layer: error.layer, offset: error.offset }, bad.at);
      }
    });
  }
});

Deno.test("extractTarGz() with an already aborted signal creates nothing", async () => {
  await using b = await box();
  const { archive, target } = b;
  await Deno.writeFile(archive, await tgz([{ name: "a", content: "a" }]));
  const controller = new AbortController();
  controller.abort();
  await assert.rejects(extractTarGz(archive, target, { signal: controller.signal }), { name: "AbortError" });
  assert.deepEqual(await listTree(target), []);
});

Deno.test("extractTarGz() stops promptly when aborted inside a large file", async () => {
  await using b = await box();
  const { archive, target } = b;
  // 1 GiB of zeros as 64 identical gzip members of 16 MiB each: a 1 MiB archive.
  const size = 2 ** 30;
  const zeros = await gzip(new Uint8Array(16 * 2 ** 20));
  const parts = [await gzip(tarBytes([{ name: "big", size }], { end: false }))];
  for (let i = 0; i < size / (16 * 2 ** 20); i++) parts.push(zeros);
  parts.push(await gzip(new Uint8Array(1024)));
  await Deno.writeFile(archive, new Uint8Array(await new Blob(parts).arrayBuffer()));
  const controller = new AbortController();
  const extraction = extractTarGz(archive, target, { signal: controller.signal });
  let abortedAt = 0;
  const aborter = (async () => {
    while (((await Deno.stat(join(target, "big")).catch(() => undefined))?.size ?? 0) === 0) {
      await new Promise((resolve) => setTimeout(resolve, 2));
    }
    abortedAt = performance.now();
    controller.abort();
  })();
  await assert.rejects(extraction, { name: "AbortError" });
  const latency = performance.now() - abortedAt;
  await aborter;
  assert.ok(latency < 1000, `rejected ${latency} ms after the abort`);
  assert.ok((await Deno.stat(join(target, "big"))).size < size);
});
