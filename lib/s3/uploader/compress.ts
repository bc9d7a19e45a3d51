/**
 * `compressBeforeUpload`: the file is gzipped into a temporary file beside
 * it, which is uploaded as `<name>.gz`; the original and the temporary file
 * are deleted only once S3 holds the compressed object. Unlike the
 * originals' `gzip <file>`, nothing is renamed in the task's directory: a
 * crash leaves the original untouched and the journal names the temporary
 * file, and an existing `<name>.gz` is never overwritten.
 *
 * `gzip` is fed the file from a handle we opened and checked (so a path
 * swapped for a symlink or a FIFO is not read) and runs with `-n`, so the same input
 * always gives the same bytes.
 *
 * @module
 */
import type { FileHandle } from "node:fs/promises";
import { basename, dirname, join } from "node:path";
import { FileChangedError, type FileIdentity, identityOf, openExpected } from "./file_selection.ts";

/** Bytes read from the file per write to gzip. */
const CHUNK = 1024 * 1024;

/**
 * Where the compressed copy of `path` is written; `id` makes it unique. The
 * name matches `TEMPORARY_NAME`, so it is never taken for a log itself.
 *
 * @example
 * ```ts
 * compressedTemporaryPath("/s/logs/service.log", "3f2a"); // "/s/logs/.service.log.gz.3f2a.s3uploader.tmp"
 * ```
 */
export function compressedTemporaryPath(path: string, id: string): string {
  return join(dirname(path), `.${basename(path)}.gz.${id}.s3uploader.tmp`);
}

/**
 * Gzips the file at `source` (which must still be `expected`) into a new
 * file at `target`, synced to disk; resolves to the new file's identity. On
 * failure nothing is left at `target`.
 *
 * @example
 * ```ts
 * const gz = await gzipTo("/s/logs/service.log", candidate.identity, compressedTemporaryPath(path, id));
 * ```
 */
export async function gzipTo(
  source: string,
  expected: FileIdentity,
  target: string,
  signal?: AbortSignal,
): Promise<FileIdentity> {
  const input = await openExpected(source, expected);
  // createNew: never write through something a task put at this name.
  const output = await Deno.open(target, { write: true, createNew: true, mode: 0o600 }).catch(async (error) => {
    await input.close();
    throw error;
  });
  try {
    const child = new Deno.Command("gzip", {
      args: ["-c", "-n"],
      stdin: "piped",
      stdout: "piped",
      stderr: "piped",
      signal,
    }).spawn();
    const [, , status, stderr] = await Promise.all([
      feed(input, source, expected.size, child.stdin).catch((error) => {
        // gzip died early; its status says why.
        if (!(error instanceof Deno.errors.BrokenPipe)) throw error;
      }),
      writeAll(child.stdout, output),
      child.status,
      new Response(child.stderr).text(),
    ]);
    if (!status.success) {
      throw new Error(
        `gzip of ${source} failed (exit ${status.code}${status.signal ? `, ${status.signal}` : ""}): ${stderr.trim()}`,
      );
    }
    await output.sync();
    const identity = identityOf(await output.stat());
    output.close();
    return identity;
  } catch (error) {
    try {
      output.close();
    } catch {
      // Already closed.
    }
    await Deno.remove(target).catch(() => {});
    throw error;
  } finally {
    await input.close();
  }
}

/** Writes the `size` bytes of `file` (`path`, read through its checked handle) to `sink`, then closes it. */
async function feed(file: FileHandle, path: string, size: number, sink: WritableStream<Uint8Array>): Promise<void> {
  const writer = sink.getWriter();
  try {
    let done = 0;
    while (done < size) {
      const chunk = new Uint8Array(Math.min(CHUNK, size - done));
      const { bytesRead } = await file.read(chunk, 0, chunk.length, done);
      if (bytesRead === 0) throw new FileChangedError(path, "shorter than when it was selected");
      await writer.write(chunk.subarray(0, bytesRead));
      done += bytesRead;
    }
    await writer.close();
  } catch (error) {
    await writer.abort(error).catch(() => {});
    throw error;
  }
}

/** Writes everything `source` yields to `file` (which stays open, to be synced). */
async function writeAll(source: ReadableStream<Uint8Array>, file: Deno.FsFile): Promise<void> {
  // Not file.writable with preventClose: in Deno 2.9 its writes only land when the stream closes the file.
  for await (const chunk of source) {
    let written = 0;
    while (written < chunk.length) written += await file.write(chunk.subarray(written));
  }
}
