/**
 * Writing a file so that readers see the old content or the whole new one,
 * never half of it, even across a crash: a temporary dot file beside the
 * target (so directory watchers matching a suffix never take it for the real
 * thing), fsync, chmod (umask-proof), rename over the target, fsync of the
 * directory.
 *
 * @module
 */
import { basename, dirname, join } from "node:path";

/**
 * Replaces `path` with `content` atomically.
 *
 * @example
 * ```ts
 * await writeAtomically("/var/lib/singularity/s3uploader/t1.s3.json", '{"finished":false}', { mode: 0o644 });
 * ```
 */
export async function writeAtomically(
  path: string,
  content: string | Uint8Array,
  options: { mode: number },
): Promise<void> {
  const bytes = typeof content === "string" ? new TextEncoder().encode(content) : content;
  const directory = dirname(path);
  const temporary = join(directory, `.${basename(path)}.${crypto.randomUUID()}.tmp`);
  try {
    {
      using file = await Deno.open(temporary, { write: true, createNew: true, mode: options.mode });
      await Deno.chmod(temporary, options.mode);
      let written = 0;
      while (written < bytes.length) written += await file.write(bytes.subarray(written));
      await file.sync();
    }
    await Deno.rename(temporary, path);
  } catch (error) {
    await Deno.remove(temporary).catch(() => {});
    throw error;
  }
  using dir = await Deno.open(directory, { read: true });
  await dir.sync();
}
