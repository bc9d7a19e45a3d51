/**
 * Repairing what a logrotate run killed mid-way leaves in a task's rotated
 * logs directory. With `compress` (and no `delaycompress`) logrotate copies
 * the log to `<name>-<date>`, gzips it to `<name>-<date>.gz` and only then
 * deletes the copy; so an uncompressed `<name>-<date>` is an abandoned copy,
 * and a `.gz` beside it is incomplete. The originals only handled empty
 * `.gz` files; a half-written one would have been uploaded as is.
 *
 * @module
 */
import { join } from "node:path";

/** What was repaired. */
export interface CompressionRepair {
  /** Incomplete archives deleted. */
  removed: string[];
  /** Abandoned copies compressed. */
  compressed: string[];
}

/**
 * In `logsDirectory`, for each uncompressed `<serviceLogName>-*` older than `minAgeMs` (a younger one may
 * belong to a logrotate run in progress): delete its `.gz` if any, then `gzip` it. Empty `.gz` files with no
 * copy are deleted too. A missing directory is nothing to repair.
 *
 * @example
 * ```ts
 * const repair = await repairAbandonedCompression("/sandbox/logs", "service.log", { minAgeMs: 600_000 });
 * ```
 */
export async function repairAbandonedCompression(
  logsDirectory: string,
  serviceLogName: string,
  options: { minAgeMs: number; now?: number },
): Promise<CompressionRepair> {
  const repair: CompressionRepair = { removed: [], compressed: [] };
  const names = new Map<string, Deno.FileInfo>();
  try {
    for await (const entry of Deno.readDir(logsDirectory)) {
      if (!entry.isFile || !entry.name.startsWith(`${serviceLogName}-`)) continue;
      names.set(entry.name, await Deno.lstat(join(logsDirectory, entry.name)));
    }
  } catch (error) {
    if (error instanceof Deno.errors.NotFound) return repair;
    throw error;
  }
  const now = options.now ?? Date.now();
  const old = (info: Deno.FileInfo) => now - (info.mtime?.getTime() ?? now) >= options.minAgeMs;
  for (const [name, info] of names) {
    if (name.endsWith(".gz")) {
      if (info.size === 0 && !names.has(name.slice(0, -3)) && old(info)) {
        await Deno.remove(join(logsDirectory, name));
        repair.removed.push(name);
      }
      continue;
    }
    if (!old(info)) continue;
    if (names.has(`${name}.gz`)) {
      await Deno.remove(join(logsDirectory, `${name}.gz`));
      repair.removed.push(`${name}.gz`);
    }
    const gzip = await new Deno.Command("gzip", {
      args: ["--", join(logsDirectory, name)],
      stdin: "null",
      stdout: "null",
      stderr: "piped",
    }).output();
    if (!gzip.success) {
      throw new Error(
        `gzip ${join(logsDirectory, name)} exited with ${gzip.code}: ${new TextDecoder().decode(gzip.stderr).trim()}`,
      );
    }
    repair.compressed.push(name);
  }
  return repair;
}
