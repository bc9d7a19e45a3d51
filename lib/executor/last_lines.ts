/**
 * The last lines of a file, read backwards in blocks (a service log may be
 * gigabytes; only the end is read). The file is opened without following a
 * symlink and without blocking (a FIFO put in its place by a task cannot
 * hang the reader), and must be a regular file.
 *
 * @module
 */
import { Buffer } from "node:buffer";
import { constants, promises as fs } from "node:fs";

const BLOCK = 64 * 1024;

/**
 * The bytes of the last `count` lines of `path` (as `tail -n` gives them: a last line without a newline counts).
 * Throws when `path` is a symlink or not a regular file.
 *
 * @example
 * ```ts
 * new TextDecoder().decode(await lastLines("/sandbox/service.log", 500));
 * ```
 */
export async function lastLines(path: string, count: number): Promise<Uint8Array> {
  let file: fs.FileHandle;
  try {
    file = await fs.open(path, constants.O_RDONLY | constants.O_NOFOLLOW | constants.O_NONBLOCK);
  } catch (error) {
    if ((error as { code?: string }).code === "ELOOP") throw new Error(`${path} is a symlink; not read`);
    throw error;
  }
  try {
    const info = await file.stat();
    if (!info.isFile()) throw new Error(`${path} is not a regular file; not read`);
    const size = info.size;
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
      let read = 0;
      while (read < length) {
        const { bytesRead } = await file.read(block, read, length - read, start + read);
        if (bytesRead === 0) break;
        read += bytesRead;
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
  } finally {
    await file.close();
  }
}
