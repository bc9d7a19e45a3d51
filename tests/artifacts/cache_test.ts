import assert from "node:assert/strict";
import { join, resolve } from "node:path";
import type { S3Artifact } from "../../lib/artifacts/artifact.ts";
import { ArtifactVerificationError, cacheName, checkCached, fetchIntoCache } from "../../lib/artifacts/cache.ts";
import { md5OfBytes } from "../../lib/artifacts/md5.ts";

const BYTES = new TextEncoder().encode("artifact bytes\n");
const MD5 = md5OfBytes(BYTES);

function artifact(overrides: Partial<S3Artifact> = {}): S3Artifact {
  return { kind: "s3", name: "app", filename: "app.bin", s3Bucket: "b", s3ObjectKey: "k", ...overrides };
}

/** A downloader that writes `bytes` and reports what it wrote; counts its calls. */
function writer(bytes: Uint8Array) {
  const calls: string[] = [];
  const download = async (destination: string) => {
    calls.push(destination);
    await Deno.writeFile(destination, bytes, { createNew: true });
    return { size: bytes.length, md5: md5OfBytes(bytes) };
  };
  return { calls, download };
}

async function listing(dir: string): Promise<string[]> {
  const names: string[] = [];
  for await (const entry of Deno.readDir(dir)) names.push(entry.name);
  return names.sort();
}

Deno.test("cacheName() is <md5>-<filename> with an md5, else the file name", () => {
  assert.equal(cacheName(artifact({ md5sum: MD5 })), `${MD5}-app.bin`);
  assert.equal(cacheName(artifact()), "app.bin");
});

Deno.test("fetchIntoCache() downloads on a miss, verifies, renames; a second fetch is a hit", async () => {
  const dir = await Deno.makeTempDir({ prefix: "cache-test-" });
  try {
    const { calls, download } = writer(BYTES);
    const wanted = artifact({ md5sum: MD5, filesize: BYTES.length });
    const first = await fetchIntoCache(wanted, dir, download);
    assert.equal(first.check, "DOES_NOT_EXIST");
    assert.equal(first.path, join(dir, `${MD5}-app.bin`));
    assert.deepEqual(await Deno.readFile(first.path), BYTES);
    assert.equal((await Deno.stat(first.path)).mode! & 0o777, 0o644);
    assert.match(calls[0], new RegExp(`^${dir}/${MD5}-app\\.bin\\.[0-9a-f-]+\\.tmp$`));
    const second = await fetchIntoCache(wanted, dir, download);
    assert.equal(second.check, "FOUND");
    assert.equal(calls.length, 1);
    assert.deepEqual(await listing(dir), [`${MD5}-app.bin`]);
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("fetchIntoCache() with a size or md5 mismatch caches nothing and says which", async () => {
  const dir = await Deno.makeTempDir({ prefix: "cache-test-" });
  try {
    await assert.rejects(
      fetchIntoCache(artifact({ filesize: 3 }), dir, writer(BYTES).download),
      new ArtifactVerificationError(
        `artifact app (s3://b/k): size mismatch: expected 3 bytes, downloaded ${BYTES.length}`,
      ),
    );
    const wrongMd5 = "0".repeat(32);
    await assert.rejects(
      fetchIntoCache(artifact({ md5sum: wrongMd5 }), dir, writer(BYTES).download),
      new ArtifactVerificationError(`artifact app (s3://b/k): md5 mismatch: expected ${wrongMd5}, downloaded ${MD5}`),
    );
    assert.deepEqual(await listing(dir), []);
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("checkCached() reports a stale entry, which fetchIntoCache() replaces", async () => {
  const dir = await Deno.makeTempDir({ prefix: "cache-test-" });
  try {
    const path = join(dir, "app.bin");
    await Deno.writeTextFile(path, "old and different");
    assert.equal(await checkCached(path, artifact({ filesize: BYTES.length })), "FILE_SIZE_MISMATCH");
    assert.equal(await checkCached(path, artifact({ md5sum: MD5 })), "MD5_MISMATCH");
    assert.equal(await checkCached(path, artifact()), "FOUND");
    const fetched = await fetchIntoCache(artifact({ filesize: BYTES.length }), dir, writer(BYTES).download);
    assert.equal(fetched.check, "FILE_SIZE_MISMATCH");
    assert.deepEqual(await Deno.readFile(path), BYTES);
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("two processes filling the same cache entry at once leave one intact copy and no temporary files", async () => {
  const dir = await Deno.makeTempDir({ prefix: "cache-race-" });
  try {
    const size = 8 * 1024 * 1024;
    const bytes = new Uint8Array(size).map((_, i) => (i * 7) % 256);
    const md5 = md5OfBytes(bytes);
    const script = join(dir, "fill.ts");
    const cacheModule = new URL("../../lib/artifacts/cache.ts", import.meta.url).href;
    const md5Module = new URL("../../lib/artifacts/md5.ts", import.meta.url).href;
    await Deno.writeTextFile(
      script,
      `import { fetchIntoCache } from ${JSON.stringify(cacheModule)};
import { md5OfBytes } from ${JSON.stringify(md5Module)};
const bytes = new Uint8Array(${size}).map((_, i) => (i * 7) % 256);
const artifact = { kind: "s3", name: "big", filename: "big.bin", md5sum: "${md5}", filesize: ${size}, s3Bucket: "b", s3ObjectKey: "k" };
await fetchIntoCache(artifact, ${JSON.stringify(join(dir, "cache"))}, async (destination) => {
  using file = await Deno.open(destination, { createNew: true, write: true });
  for (let offset = 0; offset < bytes.length; offset += 65536) {
    await file.write(bytes.subarray(offset, offset + 65536));
    await new Promise((r) => setTimeout(r, 1));
  }
  return { size: bytes.length, md5: md5OfBytes(bytes) };
});`,
    );
    await Deno.mkdir(join(dir, "cache"));
    const run = () =>
      new Deno.Command(Deno.execPath(), {
        args: ["run", "-A", "--config", resolve(import.meta.dirname!, "../../deno.json"), script],
      }).output();
    const results = await Promise.all([run(), run()]);
    for (const result of results) assert.equal(result.code, 0, new TextDecoder().decode(result.stderr));
    assert.deepEqual(await listing(join(dir, "cache")), [`${md5}-big.bin`]);
    assert.equal(md5OfBytes(await Deno.readFile(join(dir, "cache", `${md5}-big.bin`))), md5);
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});
