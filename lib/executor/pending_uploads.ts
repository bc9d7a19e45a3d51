/**
 * Upload metadata of a task still waiting for the uploader below a
 * directory: the executor and the cleanup job keep a task's `app/` while one
 * of the task's metadata files points inside it (a task may ask for files
 * under `app/` to be uploaded; removing `app/` first would delete them before
 * S3 holds them). The uploader deletes a metadata file after its final pass.
 *
 * @module
 */
import { basename } from "node:path";
import { pathExists } from "../path_exists.ts";

/** One of the task's metadata files and the directory it names. */
export interface TaskMetadataFile {
  path: string;
  directory: string;
}

/**
 * Names of the files among `files` that still exist and name `directory` or a directory below it.
 *
 * @example
 * ```ts
 * await pendingUploadsUnder("/sandbox/app", [{ path: "/meta/t1-file1.s3.json", directory: "/sandbox/app/logs" }]);
 * // ["t1-file1.s3.json"] while the uploader has not finished with it
 * ```
 */
export async function pendingUploadsUnder(directory: string, files: readonly TaskMetadataFile[]): Promise<string[]> {
  const pending: string[] = [];
  for (const file of files) {
    const inside = file.directory === directory || file.directory.startsWith(`${directory}/`);
    if (inside && await pathExists(file.path)) pending.push(basename(file.path));
  }
  return pending.sort();
}
