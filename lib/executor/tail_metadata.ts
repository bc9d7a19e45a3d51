/**
 * Tail metadata for a log watcher (Singularity's `TailMetadata`): when a task
 * has a `loggingTag`, the executor writes
 * `<logwatcher.metadata.directory>/<sha256-hex of the service log path><suffix>`
 * holding `{filename, tag, extraFields, finished}`, with `finished` false at
 * set-up and true at teardown.
 *
 * @module
 */
import { createHash } from "node:crypto";
import { join } from "node:path";
import { writeAtomically } from "../write_atomically.ts";

/** The tail metadata of one service log. */
export interface TailMetadata {
  /** Absolute path of the service log. */
  filename: string;
  tag: string;
  extraFields: Record<string, string>;
  finished: boolean;
}

/**
 * Writes `metadata` atomically into `directory` and returns its path.
 *
 * @example
 * ```ts
 * await writeTailMetadata("/var/lib/singularity/logwatcher", ".tail.json",
 *   { filename: "/sandbox/service.log", tag: "web", extraFields: {}, finished: false });
 * ```
 */
export async function writeTailMetadata(directory: string, suffix: string, metadata: TailMetadata): Promise<string> {
  const name = createHash("sha256").update(metadata.filename).digest("hex");
  const path = join(directory, `${name}${suffix}`);
  const { filename, tag, extraFields, finished } = metadata;
  await writeAtomically(path, JSON.stringify({ filename, tag, extraFields, finished }), { mode: 0o644 });
  return path;
}
