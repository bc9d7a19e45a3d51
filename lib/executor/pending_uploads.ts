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
import type { Config, ExecutorKeys } from "../config/mod.ts";
import { pathExists } from "../path_exists.ts";
import type { ExecutorData } from "./executor_data.ts";
import type { TaskDefinition } from "./task_definition.ts";
import { taskMetadataFiles } from "./task_logs.ts";

/** One of the task's metadata files and the directory it names. */
export interface TaskMetadataFile {
  path: string;
  directory: string;
}

/** Names of the files among `files` that still exist and name `directory` or a directory below it. */
async function pendingUploadsUnder(directory: string, files: readonly TaskMetadataFile[]): Promise<string[]> {
  const pending: string[] = [];
  for (const file of files) {
    const inside = file.directory === directory || file.directory.startsWith(`${directory}/`);
    if (inside && await pathExists(file.path)) pending.push(basename(file.path));
  }
  return pending.sort();
}

/**
 * Removes the task's `app/` unless one of its metadata files still points inside it; returns those
 * metadata file names (empty: removed, or already gone). Throws when the removal fails.
 *
 * @example
 * ```ts
 * const keptFor = await removeAppDirectory(definition, data, config);
 * if (keptFor.length > 0) console.log(`app/ stays until the uploader has taken ${keptFor.join(", ")}`);
 * ```
 */
export async function removeAppDirectory(
  definition: TaskDefinition,
  data: ExecutorData,
  config: Config<ExecutorKeys>,
): Promise<string[]> {
  const pending = await pendingUploadsUnder(definition.taskAppDirectory, taskMetadataFiles(definition, data, config));
  if (pending.length > 0) return pending;
  try {
    await Deno.remove(definition.taskAppDirectory, { recursive: true });
  } catch (error) {
    if (!(error instanceof Deno.errors.NotFound)) throw error;
  }
  return [];
}
