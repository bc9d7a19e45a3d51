/**
 * Temporary configuration directories for the config tests.
 *
 * @module
 */
import { join } from "node:path";

/** A temporary directory removed when disposed. */
export interface TempConfigDir extends AsyncDisposable {
  path: string;
  /** The path of `file` inside the directory. */
  file(file: string): string;
}

/** Property file names, by layer. */
export const FILES = {
  base: "singularity.base.properties",
  s3base: "singularity.s3base.properties",
  executor: "singularity.executor.properties",
  cleanup: "singularity.executor.cleanup.properties",
  s3uploader: "singularity.s3uploader.properties",
  s3downloader: "singularity.s3downloader.properties",
} as const;

/** Creates a temporary directory holding `files` (name → text). */
export async function tempConfigDir(files: Record<string, string> = {}): Promise<TempConfigDir> {
  const path = await Deno.makeTempDir({ prefix: "config_test_" });
  for (const [name, text] of Object.entries(files)) await Deno.writeTextFile(join(path, name), text);
  return {
    path,
    file: (file) => join(path, file),
    [Symbol.asyncDispose]: () => Deno.remove(path, { recursive: true }),
  };
}

/**
 * Creates a directory for every key some program needs to exist, below `root`,
 * and returns the property lines (six of them) that point the keys there.
 */
export async function existingDirectoryLines(root: string): Promise<string> {
  const dirs: Record<string, string> = {
    "s3uploader.metadata.directory": "s3uploader",
    "root.log.directory": "log",
    "artifact.cache.directory": "artifacts",
    "executor.global.task.definition.directory": "tasks",
    "executor.logrotate.config.folder": "logrotate.d",
    "executor.cleanup.results.directory": "cleanup",
  };
  const lines: string[] = [];
  for (const [key, dir] of Object.entries(dirs)) {
    await Deno.mkdir(join(root, "dirs", dir), { recursive: true });
    lines.push(`${key}=${join(root, "dirs", dir)}`);
  }
  return lines.join("\n") + "\n";
}
