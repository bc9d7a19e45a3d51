/**
 * What the cleanup does with one task definition it found: leave it alone
 * (Singularity says the task is active here, or its executor still runs), or
 * clean it up, removing the app directory or keeping it. Pure logic: whether
 * the executor lives comes from lib/cleanup/live_pids.ts.
 *
 * The app directory is kept when the task asked for its sandbox to be
 * preserved, or when its latest update is TASK_FAILED and younger than
 * `executor.cleanup.cleanup.app.directory.of.failed.tasks.after.millis`, so
 * people can look at what failed. "Latest" is the update with the greatest
 * timestamp: the originals took the last element of the list, which is not
 * guaranteed to be the newest.
 *
 * @module
 */
import { describe } from "../artifacts/artifact.ts";
import type { TaskDefinition } from "../executor/task_definition.ts";
import type { TaskHistory, TaskUpdate } from "./singularity_api.ts";

/** Leave the task alone, or clean it up. The reason is one line for logs and `--dry-run`. */
export type TaskDecision =
  | { action: "ignore"; reason: string }
  | { action: "wait"; reason: string }
  | { action: "clean"; cleanupAppDirectory: boolean; reason: string };

/** Singularity's terminal task states (its "done" set). */
export const TERMINAL_STATES: ReadonlySet<string> = new Set([
  "TASK_FINISHED",
  "TASK_FAILED",
  "TASK_KILLED",
  "TASK_LOST",
  "TASK_LOST_WHILE_DOWN",
  "TASK_ERROR",
  "TASK_DROPPED",
  "TASK_GONE",
  "TASK_UNREACHABLE",
  "TASK_GONE_BY_OPERATOR",
  "TASK_UNKNOWN",
]);

/** A task that ended less than this long ago is left for a later run, as the later originals do. */
export const SETTLE_MS = 15 * 60 * 1000;

/** What is known about a task before its history is asked for. */
export interface LivenessFacts {
  /** Ids of the tasks Singularity reports active on this agent. */
  runningTaskIds: ReadonlySet<string>;
  /** Whether the definition's executor pid is a live process (`pidAlive` in live_pids.ts). */
  executorAlive: boolean;
}

/** Everything {@linkcode decideTask} weighs. */
export interface TaskFacts extends LivenessFacts {
  /** The task's history; undefined when Singularity has none. */
  history: TaskHistory | undefined;
  /** Milliseconds since the epoch. */
  nowMs: number;
  /** `executor.cleanup.cleanup.app.directory.of.failed.tasks.after.millis`. */
  keepFailedAppDirectoryMs: number;
}

/**
 * Why the task must be left alone, or undefined when it may be cleaned. Ask
 * this before fetching the history: a task left alone needs none.
 *
 * @example
 * ```ts
 * ignoreReason(definition, { runningTaskIds: new Set([definition.taskId]), executorAlive: false });
 * // "Singularity reports the task active on this agent"
 * ```
 */
export function ignoreReason(definition: TaskDefinition, facts: LivenessFacts): string | undefined {
  if (facts.runningTaskIds.has(definition.taskId)) return "Singularity reports the task active on this agent";
  if (facts.executorAlive) return `its executor (pid ${definition.executorPid}) is still running`;
  return undefined;
}

/**
 * The decision for one task.
 *
 * @example
 * ```ts
 * decideTask(definition, {
 *   runningTaskIds: new Set(),
 *   executorAlive: false,
 *   history: { taskUpdates: [{ taskState: "TASK_FAILED", timestamp: Date.now() - 60_000 }] },
 *   nowMs: Date.now(),
 *   keepFailedAppDirectoryMs: 86_400_000,
 * });
 * // { action: "clean", cleanupAppDirectory: false,
 * //   reason: "not active on this agent and executor pid 4242 is gone; latest update TASK_FAILED at ...; keep the app directory (failed 1m ago, less than 24h)" }
 * ```
 */
export function decideTask(definition: TaskDefinition, facts: TaskFacts): TaskDecision {
  const ignore = ignoreReason(definition, facts);
  if (ignore !== undefined) return { action: "ignore", reason: ignore };
  const gone = `not active on this agent and executor pid ${definition.executorPid} is gone`;
  const latest = facts.history === undefined ? undefined : latestUpdate(facts.history);
  const state = facts.history === undefined
    ? "Singularity has no history of it"
    : latest === undefined
    ? "its history has no updates"
    : `latest update ${latest.taskState} at ${isoTime(latest.timestamp)}`;
  const clean = (cleanupAppDirectory: boolean, why: string): TaskDecision => ({
    action: "clean",
    cleanupAppDirectory,
    reason: `${gone}; ${state}; ${why}`,
  });
  // Dead executor, but Singularity has not seen the task end (or only just): its processes may still be
  // running, or the agent is still reporting; a later run finds it settled.
  if (latest !== undefined && !TERMINAL_STATES.has(latest.taskState)) {
    return { action: "wait", reason: `${gone}; ${state}, not a terminal state: wait for Singularity to see it end` };
  }
  if (latest !== undefined && facts.nowMs - latest.timestamp < SETTLE_MS) {
    return {
      action: "wait",
      reason: `${gone}; ${state}, less than ${formatDuration(SETTLE_MS)} ago: wait for it to settle`,
    };
  }
  const preserve = definition.executorData.preserveTaskSandboxAfterFinish;
  if (preserve === true) return clean(false, "keep the app directory (preserveTaskSandboxAfterFinish)");
  if (preserve !== undefined && preserve !== null && preserve !== false) {
    // Not written by any executor; keeping is the side that cannot lose anything.
    return clean(
      false,
      `keep the app directory (preserveTaskSandboxAfterFinish is ${describe(preserve)}, not a boolean)`,
    );
  }
  if (latest?.taskState === "TASK_FAILED") {
    const age = facts.nowMs - latest.timestamp;
    const keep = formatDuration(facts.keepFailedAppDirectoryMs);
    if (age < 0) return clean(false, "keep the app directory (failed at a time ahead of this machine's clock)");
    if (age < facts.keepFailedAppDirectoryMs) {
      return clean(false, `keep the app directory (failed ${formatDuration(age)} ago, less than ${keep})`);
    }
    return clean(true, `remove the app directory (failed ${formatDuration(age)} ago, at least ${keep})`);
  }
  return clean(true, "remove the app directory");
}

/**
 * The update with the greatest timestamp (of equal ones, the later in the list), or undefined for none.
 *
 * @example
 * ```ts
 * latestUpdate({ taskUpdates: [{ taskState: "TASK_FAILED", timestamp: 2 }, { taskState: "TASK_RUNNING", timestamp: 1 }] });
 * // { taskState: "TASK_FAILED", timestamp: 2 }
 * ```
 */
export function latestUpdate(history: TaskHistory): TaskUpdate | undefined {
  let latest: TaskUpdate | undefined;
  for (const update of history.taskUpdates) {
    if (latest === undefined || update.timestamp >= latest.timestamp) latest = update;
  }
  return latest;
}

/** `2024-01-02T12:00:00.000Z`, or the raw number when no date has it. */
function isoTime(ms: number): string {
  const date = new Date(ms);
  return Number.isNaN(date.getTime()) ? `${ms} ms after the epoch` : date.toISOString();
}

/** `25h 1m`, `3h`, `4m 10s`, `12s`, `250ms`: at most the two largest units, for reasons people read. */
function formatDuration(ms: number): string {
  if (ms < 1000) return `${Math.max(0, Math.round(ms))}ms`;
  const seconds = Math.floor(ms / 1000);
  const parts: [number, string][] = [
    [Math.floor(seconds / 3600), "h"],
    [Math.floor(seconds / 60) % 60, "m"],
    [seconds % 60, "s"],
  ];
  const first = parts.findIndex(([value]) => value > 0);
  return parts.slice(first, first + 2)
    .filter(([value]) => value > 0)
    .map(([value, unit]) => `${value}${unit}`)
    .join(" ");
}
