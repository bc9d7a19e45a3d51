/**
 * The last lines of a file, read backwards in blocks (a service log may be
 * gigabytes; only the end is read).
 *
 * @module
 */
import { Buffer } from "node:buffer";

const BLOCK = 64 * 1024;

/**
 * The bytes of the last `count` lines of `path` (as `tail -n` gives them: a last line without a newline counts).
 *
 * @example
 * ```ts
 * new TextDecoder().decode(await lastLines("/sandbox/service.log", 500));
 * ```
 */
export async function lastLines(path: string, count: number): Promise<Uint8Array> {
  using file = await Deno.open(path, { read: true });
  const size = (await file.stat()).size;
  if (size === 0 || count <= 0) return new Uint8Array(0);
  let start = size;
  let newlines = 0;
  const chunks: Uint8Array[] = [];
  // A trailing newline ends the last line; it does not start another.
  let skipTrailing = true;
  while (start > 0) {
    const length = Math.min(BLOCK, start);
    start -= length;
    const block = new Uint8Array(length);
    await file.seek(start, Deno.SeekMode.Start);
    let read = 0;
    while (read < length) {
      const n = await file.read(block.subarray(read));
      if (n === null) break;
      read += n;
    }
    for (let i = length - 1; i >= 0; i--) {
      if (block[i] !== 0x0a) continue;
      if (skipTrailing && start + i === size - 1) continue;
      newlines++;
      if (newlines === count) {
        chunks.unshift(block.subarray(i + 1));
        return Buffer.concat(chunks);
      }
    }
    skipTrailing = false;
    chunks.unshift(block);
  }
  return Buffer.concat(chunks);
}
