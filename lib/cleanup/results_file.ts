/**
 * The results file every cleanup run leaves, aborted runs included:
 * `<executor.cleanup.results.directory>/<nowMillis><executor.cleanup.results.suffix>`
 * holding the run's counters and, when it stopped early, why. Written
 * atomically, so monitoring that reads the newest file never sees half of one.
 *
 * @module
 */
import { join } from "node:path";
import { writeAtomically } from "../write_atomically.ts";

/** The counters of one run, in the originals' field names and order. */
export interface CleanupResults {
  /** Files in the task definition directory with the definition suffix. */
  totalTaskFiles: number;
  /** Tasks Singularity reported active on this agent. */
  mesosRunningTasks: number;
  /** Tasks whose cleanup must wait for a later run (their definition is kept). */
  waitingTasks: number;
  /** Tasks left alone: active in Singularity, or their executor still runs. */
  runningTasksIgnored: number;
  successfullyCleanedTasks: number;
  /** Tasks whose files could not be read or written. */
  ioErrorTasks: number;
  /** Tasks whose cleanup failed otherwise (their history could not be had, a step failed). */
  errorTasks: number;
  /** Files that are not task definitions, or not valid ones. */
  invalidTasks: number;
  /** Why the run stopped early; absent when it ran to the end. */
  errorMessage?: string;
}

/** Where results files go. */
export interface ResultsFileOptions {
  /** `executor.cleanup.results.directory`. */
  directory: string;
  /** `executor.cleanup.results.suffix`. */
  suffix: string;
  /** Milliseconds since the epoch, the file's name; default now. */
  nowMs?: number;
}

/**
 * Counters all zero and no error message, for a run to count into.
 *
 * @example
 * ```ts
 * const results = emptyResults();
 * results.totalTaskFiles++;
 * ```
 */
export function emptyResults(): CleanupResults {
  return {
    totalTaskFiles: 0,
    mesosRunningTasks: 0,
    waitingTasks: 0,
    runningTasksIgnored: 0,
    successfullyCleanedTasks: 0,
    ioErrorTasks: 0,
    errorTasks: 0,
    invalidTasks: 0,
  };
}

/**
 * The file's JSON text: the counters in the originals' order, `errorMessage` only when set.
 *
 * @example
 * ```ts
 * cleanupResultsJson({ ...emptyResults(), errorMessage: "no host answered" });
 * // '{"totalTaskFiles":0,...,"invalidTasks":0,"errorMessage":"no host answered"}'
 * ```
 */
export function cleanupResultsJson(results: CleanupResults): string {
  const json: Record<string, number | string> = {
    totalTaskFiles: results.totalTaskFiles,
    mesosRunningTasks: results.mesosRunningTasks,
    waitingTasks: results.waitingTasks,
    runningTasksIgnored: results.runningTasksIgnored,
    successfullyCleanedTasks: results.successfullyCleanedTasks,
    ioErrorTasks: results.ioErrorTasks,
    errorTasks: results.errorTasks,
    invalidTasks: results.invalidTasks,
  };
  if (results.errorMessage !== undefined) json.errorMessage = results.errorMessage;
  return JSON.stringify(json);
}

/**
 * Writes `results` atomically (mode 0644) to `<directory>/<nowMs><suffix>` and returns the path.
 *
 * @example
 * ```ts
 * await writeCleanupResults(results, { directory: "/var/lib/singularity/cleanup", suffix: ".cleanup.json" });
 * // "/var/lib/singularity/cleanup/1700000000000.cleanup.json"
 * ```
 */
export async function writeCleanupResults(results: CleanupResults, options: ResultsFileOptions): Promise<string> {
  const nowMs = options.nowMs ?? Date.now();
  if (!Number.isSafeInteger(nowMs) || nowMs < 0) {
    throw new RangeError(`results file time ${nowMs}: expected whole milliseconds since the epoch`);
  }
  const path = join(options.directory, `${nowMs}${options.suffix}`);
  try {
    await writeAtomically(path, cleanupResultsJson(results) + "\n", { mode: 0o644 });
  } catch (error) {
    throw new Error(`results file ${path}: cannot be written (${(error as Error).message})`, { cause: error });
  }
  return path;
}
