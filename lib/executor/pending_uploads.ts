/**
 * Upload metadata still waiting for the uploader below a directory: the
 * executor and the cleanup job keep a task's `app/` while any metadata file
 * points inside it (a task may ask for files under `app/` to be uploaded;
 * removing `app/` first would delete them before S3 holds them).
 *
 * @module
 */
import { join } from "node:path";
import { parseUploadMetadata } from "../s3/upload_metadata.ts";

/**
 * Names of the metadata files in `metadataDirectory` whose `directory` is `directory` or below it.
 * Unreadable or invalid files count as pending when they mention `directory` at all.
 *
 * @example
 * ```ts
 * await pendingUploadsUnder("/sandbox/app", "/var/lib/singularity/s3uploader", ".s3.json"); // ["t1-file1.s3.json"]
 * ```
 */
export async function pendingUploadsUnder(
  directory: string,
  metadataDirectory: string,
  suffix: string,
): Promise<string[]> {
  const pending: string[] = [];
  for await (const entry of Deno.readDir(metadataDirectory)) {
    if (entry.name.startsWith(".") || !entry.name.endsWith(suffix)) continue;
    let text: string;
    try {
      text = await Deno.readTextFile(join(metadataDirectory, entry.name));
    } catch (error) {
      if (error instanceof Deno.errors.NotFound) continue;
      throw error;
    }
    let target: string;
    try {
      target = parseUploadMetadata(text, entry.name).directory;
    } catch {
      // Half-written or invalid: keep the directory if the file could be about it.
      if (text.includes(directory)) pending.push(entry.name);
      continue;
    }
    if (target === directory || target.startsWith(`${directory}/`)) pending.push(entry.name);
  }
  return pending.sort();
}
