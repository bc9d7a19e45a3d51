/**
 * Idempotent file writes for build and install: a file is replaced (atomically)
 * only when its bytes or mode differ, so running an install twice changes
 * nothing.
 *
 * @module
 */
import { dirname } from "node:path";

/** What happened to one file. */
export interface FileChange {
  path: string;
  state: "created" | "updated" | "unchanged" | "kept" | "removed";
}

/**
 * Writes `bytes` to `path` with `mode` unless the file already holds exactly that.
 *
 * @example
 * ```ts
 * await writeIfChanged("/usr/local/bin/x", new TextEncoder().encode("#!/bin/sh\n"), 0o755);
 * ```
 */
export async function writeIfChanged(path: string, bytes: Uint8Array, mode: number): Promise<FileChange> {
  const existing = await Deno.readFile(path).catch(() => undefined);
  const info = existing ? await Deno.stat(path) : undefined;
  if (existing && equal(existing, bytes) && info && ((info.mode ?? 0) & 0o777) === mode) {
    return { path, state: "unchanged" };
  }
  await Deno.mkdir(dirname(path), { recursive: true });
  const temporary = `${path}.tmp-${Deno.pid}`;
  await Deno.writeFile(temporary, bytes, { mode });
  await Deno.chmod(temporary, mode);
  await Deno.rename(temporary, path);
  return { path, state: existing ? "updated" : "created" };
}

/** Byte equality. */
function equal(a: Uint8Array, b: Uint8Array): boolean {
  if (a.length !== b.length) return false;
  for (let i = 0; i < a.length; i++) if (a[i] !== b[i]) return false;
  return true;
}
