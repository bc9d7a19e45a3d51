import assert from "node:assert/strict";
import { join } from "node:path";
import { md5OfBytes } from "../../lib/artifacts/md5.ts";
import { openDirectWriter, openPageCacheDropper } from "../../lib/artifacts/page_cache.ts";
import { libcPath } from "../../lib/packaging/machine.ts";
import { mountRamfs, RAMFS_MOUNTABLE } from "../support/ramfs.ts";
import { randomBytes } from "../support/s3_server.ts";

const MIB = 1024 * 1024;

/** Bytes of `path` in the page cache, from util-linux `fincore`. */
async function residentBytes(path: string): Promise<number> {
  const { stdout } = await new Deno.Command("fincore", { args: ["--bytes", "--noheadings", "--output", "RES", path] })
    .output();
  return Number(new TextDecoder().decode(stdout).trim());
}

/** The address of `bytes`' first byte. */
function address(bytes: Uint8Array): bigint {
  return BigInt(Deno.UnsafePointer.value(Deno.UnsafePointer.of(bytes)));
}

/**
 * Runs `source` as a module allowed to read and write `dir` and, as the
 * downloader is, FFI on the C library only when `ffi` (else no FFI at all);
 * parses what it prints.
 */
async function runScoped(dir: string, source: string, ffi = false): Promise<unknown> {
  const script = join(dir, "scoped.ts");
  await Deno.writeTextFile(script, source);
  const flags = [`--allow-read=${dir}`, `--allow-write=${dir}`, ...(ffi ? [`--allow-ffi=${libcPath()}`] : [])];
  const output = await new Deno.Command(Deno.execPath(), {
    args: ["run", "--no-prompt", "--no-lock", ...flags, script],
    env: { NO_COLOR: "1", DENO_NO_UPDATE_CHECK: "1" },
  }).output();
  assert.equal(output.code, 0, new TextDecoder().decode(output.stderr));
  return JSON.parse(new TextDecoder().decode(output.stdout));
}

const MODULE = new URL("../../lib/artifacts/page_cache.ts", import.meta.url).href;

Deno.test("openPageCacheDropper() evicts written ranges, and is a logged no-op without --allow-ffi", async () => {
  const dir = await Deno.makeTempDir({ prefix: "page-cache-test-" });
  try {
    const path = join(dir, "file.bin");
    await Deno.writeFile(path, randomBytes(4 * MIB));
    using dropper = openPageCacheDropper(path);
    assert.equal(dropper.active, true);
    assert.ok(await residentBytes(path) >= 4 * MIB);

    await dropper.drop(0, 2 * MIB);
    assert.equal(await residentBytes(path), 2 * MIB);
    await dropper.drop(0, 4 * MIB);
    assert.equal(await residentBytes(path), 0);

    const seen = await runScoped(
      dir,
      `import { openPageCacheDropper } from "${MODULE}";
const lines = [];
const first = openPageCacheDropper("${path}", { log: (line) => lines.push(line) });
const second = openPageCacheDropper("${path}", { log: (line) => lines.push(line) });
await first.drop(0, 1024);
console.log(JSON.stringify({ active: [first.active, second.active], lines }));`,
    ) as { active: boolean[]; lines: string[] };
    assert.deepEqual(seen.active, [false, false]);
    assert.equal(seen.lines.length, 1);
    assert.match(seen.lines[0], /page cache of downloads is not dropped: no --allow-ffi permission/);
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("openDirectWriter() writes aligned blocks past the page cache and refuses unaligned ones", async () => {
  const dir = await Deno.makeTempDir({ prefix: "direct-writer-test-" });
  try {
    const path = join(dir, "file.bin");
    await Deno.writeFile(path, new Uint8Array(0));
    const opening = await openDirectWriter(path);
    assert.ok("writer" in opening, `O_DIRECT unavailable in ${dir}: ${JSON.stringify(opening)}`);
    using writer = opening.writer;
    assert.equal(writer.alignment, 4096);
    // The probe block was truncated away again.
    assert.equal((await Deno.stat(path)).size, 0);

    const buffer = new ArrayBuffer(MIB + writer.alignment);
    for (const position of [0, 1, 4095, 4096, 100_000, 8 * MIB]) {
      const view = writer.alignedView(buffer, { length: MIB, position });
      assert.equal(view.buffer, buffer);
      assert.equal(view.length, MIB);
      assert.equal(address(view) % 4096n, BigInt(position % 4096), `view for position ${position}`);
    }
    assert.throws(
      () => writer.alignedView(new ArrayBuffer(MIB), { length: MIB }),
      /1048576 bytes aligned to 4096 need a buffer of 1052672, not 1048576/,
    );

    const data = randomBytes(2 * MIB);
    for (const offset of [MIB, 0]) {
      const piece = writer.alignedView(buffer, { length: MIB, position: offset });
      piece.set(data.subarray(offset, offset + MIB));
      await writer.write(offset, piece);
    }

    assert.equal(await residentBytes(path), 0);
    assert.equal(md5OfBytes(await Deno.readFile(path)), md5OfBytes(data));
    const unaligned = writer.alignedView(buffer, { length: MIB, position: 512 });
    await assert.rejects(
      writer.write(0, unaligned),
      /O_DIRECT write of 1048576 bytes at offset 0 of .*file\.bin: the address is not a multiple of 4096/,
    );
    const aligned = writer.alignedView(buffer, { length: 4096 });
    await assert.rejects(writer.write(100, aligned), /at offset 100 .*: the offset is not a multiple of 4096/);
    await assert.rejects(writer.write(0, aligned.subarray(0, 1000)), /the length is not a multiple of 4096/);
    writer.close();
    await assert.rejects(writer.write(0, aligned), /O_DIRECT write to .*file\.bin after close/);
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("openDirectWriter() works with FFI allowed for the C library only, as the downloader runs", async () => {
  const dir = await Deno.makeTempDir({ prefix: "direct-writer-test-" });
  try {
    const path = join(dir, "file.bin");
    await Deno.writeFile(path, new Uint8Array(0));

    const seen = await runScoped(
      dir,
      `import { openDirectWriter } from "${MODULE}";
const opening = await openDirectWriter("${path}");
if ("unavailable" in opening) throw new Error(opening.unavailable);
const writer = opening.writer;
const block = writer.alignedView(new ArrayBuffer(3 * writer.alignment), { length: 2 * writer.alignment });
block.fill(7);
await writer.write(writer.alignment, block);
const refused = await writer.write(1, block).catch((error) => error.message);
writer.close();
console.log(JSON.stringify({ refused }));`,
      true,
    ) as { refused: string };

    assert.match(seen.refused, /at offset 1 of .*: the offset is not a multiple of 4096/);
    const written = await Deno.readFile(path);
    assert.equal(written.length, 3 * 4096);
    assert.ok(written.subarray(0, 4096).every((byte) => byte === 0));
    assert.ok(written.subarray(4096).every((byte) => byte === 7));
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test({
  name: "openDirectWriter() says why O_DIRECT is unavailable: ramfs refuses it",
  ignore: !RAMFS_MOUNTABLE,
  fn: async () => {
    await using ramfs = await mountRamfs();
    const path = join(ramfs.path, "file.bin");
    await Deno.writeFile(path, new Uint8Array(0));

    const opening = await openDirectWriter(path);

    assert.deepEqual(opening, { unavailable: `open(${path}, O_DIRECT) failed: errno 22 (EINVAL)` });
  },
});

Deno.test("openDirectWriter() says why O_DIRECT is unavailable: no --allow-ffi", async () => {
  const dir = await Deno.makeTempDir({ prefix: "direct-writer-test-" });
  try {
    const path = join(dir, "file.bin");
    await Deno.writeFile(path, new Uint8Array(0));

    const seen = await runScoped(
      dir,
      `import { openDirectWriter } from "${MODULE}";
console.log(JSON.stringify(await openDirectWriter("${path}")));`,
    ) as { unavailable: string };

    assert.match(seen.unavailable, /^no --allow-ffi permission for the C library \(\/lib\/x86_64-linux-gnu/);
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});
