/**
 * One cleanup run at a time per agent, so an hourly run that overlaps a slow
 * one cannot work on the same tasks.
 *
 * The lock is an exclusive `flock` on
 * `<executor.cleanup.results.directory>/.singularity-executor-cleanup.lock`
 * (a dot file, never taken for a `<millis>.cleanup.json` results file). The
 * file holds the holder's pid and start time, for the message a refused run
 * leaves; the flock, not the content, is the lock. The kernel drops a flock
 * when its process ends, however it ends (SIGKILL, OOM, a crash), which
 * removes the usual hazards of a pid-file lock:
 *
 * - no stale locks to detect: a file left by a dead run is simply locked by
 *   the next one, and two runs racing for it cannot both win (flock is
 *   atomic), where a pid-file takeover needs rename or link tricks to get
 *   that right;
 * - no pid reuse: a new process that got the dead holder's pid does not hold
 *   the flock;
 * - no age limit: a run that hangs keeps the lock, and later runs are refused
 *   (with the holder's pid and age in their results file for monitoring to
 *   see) rather than working beside it, which is what the lock exists to
 *   prevent.
 *
 * The file is never deleted: a run that unlinked it on release could leave a
 * waiting run locking the removed file while a third locks a new one. Deno
 * opens files close-on-exec, so children (logrotate, gzip) do not inherit
 * the lock and cannot keep it past the run.
 *
 * @module
 */
import { join } from "node:path";
import { livePids, pidAlive } from "./live_pids.ts";

/** The lock file's name inside the results directory. */
export const RUN_LOCK_FILE = ".singularity-executor-cleanup.lock";

/** Who holds the lock, as the holder wrote it. */
export interface LockHolder {
  pid: number;
  /** Milliseconds since the epoch. */
  startedAtMs: number;
}

/** Another run holds the lock; the message says which and since when. */
export class RunLockHeldError extends Error {
  readonly path: string;
  /** Undefined when the holder had not written its details yet. */
  readonly holder: LockHolder | undefined;
  constructor(path: string, holder: LockHolder | undefined, nowMs: number) {
    const who = holder === undefined
      ? "a run that has not written its pid yet"
      : `pid ${holder.pid}, started ${new Date(holder.startedAtMs).toISOString()}, ` +
        `${Math.max(0, Math.round((nowMs - holder.startedAtMs) / 1000))} s ago`;
    super(`another cleanup run holds the lock ${path} (${who}); this run leaves every task alone`);
    this.name = "RunLockHeldError";
    this.path = path;
    this.holder = holder;
  }
}

/** The lock, held until {@linkcode RunLock.release} or the end of the process. */
export class RunLock implements AsyncDisposable {
  readonly path: string;
  readonly holder: LockHolder;
  #file: Deno.FsFile | undefined;

  /** Made by {@linkcode acquireRunLock} around the file it locked. */
  constructor(file: Deno.FsFile, path: string, holder: LockHolder) {
    this.#file = file;
    this.path = path;
    this.holder = holder;
  }

  /**
   * Empties the file and releases the lock; a second call does nothing.
   *
   * @example
   * ```ts
   * await lock.release();
   * ```
   */
  async release(): Promise<void> {
    const file = this.#file;
    if (file === undefined) return;
    this.#file = undefined;
    try {
      // An empty file says nobody holds it; a killed run's details stay until the next run replaces them.
      await file.truncate(0);
      await file.unlock();
    } finally {
      file.close();
    }
  }

  /** {@linkcode RunLock.release}. */
  [Symbol.asyncDispose](): Promise<void> {
    return this.release();
  }
}

/**
 * Takes the run lock in `directory`, or throws {@linkcode RunLockHeldError}
 * at once when another run holds it (no waiting: the next hourly run will
 * come).
 *
 * @example
 * ```ts
 * await using lock = await acquireRunLock("/var/lib/singularity/cleanup");
 * // ... the run ...
 * ```
 */
export async function acquireRunLock(directory: string, options: { nowMs?: number } = {}): Promise<RunLock> {
  const path = join(directory, RUN_LOCK_FILE);
  const nowMs = options.nowMs ?? Date.now();
  let file: Deno.FsFile;
  try {
    file = await Deno.open(path, { read: true, write: true, create: true, mode: 0o644 });
  } catch (error) {
    throw new Error(`run lock ${path}: cannot be opened (${(error as Error).message})`, { cause: error });
  }
  try {
    if (!await file.tryLock(true)) throw new RunLockHeldError(path, await readHolder(path), nowMs);
    const holder: LockHolder = { pid: Deno.pid, startedAtMs: nowMs };
    await file.truncate(0);
    const bytes = new TextEncoder().encode(JSON.stringify(holder) + "\n");
    let written = 0;
    while (written < bytes.length) written += await file.write(bytes.subarray(written));
    return new RunLock(file, path, holder);
  } catch (error) {
    // Closing drops the flock too, if it was taken.
    file.close();
    if (error instanceof RunLockHeldError) throw error;
    throw new Error(`run lock ${path}: ${(error as Error).message}`, { cause: error });
  }
}

/**
 * The holder's details, or undefined while it has not written them: the file
 * may still be half-written, or still name the dead run the holder has just
 * taken the lock over from (hence the liveness check, with the same `ps`
 * snapshot the cleanup checks executors with; when `ps` fails, the holder
 * counts as alive).
 */
async function readHolder(path: string): Promise<LockHolder | undefined> {
  let holder: LockHolder;
  try {
    const { pid, startedAtMs } = JSON.parse(await Deno.readTextFile(path)) ?? {};
    if (!Number.isSafeInteger(pid) || !Number.isSafeInteger(startedAtMs)) return undefined;
    holder = { pid, startedAtMs };
  } catch {
    return undefined;
  }
  const pids = await livePids().catch(() => undefined);
  return pids === undefined || pidAlive(String(holder.pid), pids) ? holder : undefined;
}
