/**
 * One run of singularity-executor-cleanup: finish the tasks whose executor
 * died (OOM, crash, agent restart) and never ran its teardown, and never
 * touch a task that may still be alive.
 *
 * 1. Take the run lock (an overlapping cron run leaves everything alone).
 * 2. Ask the Mesos agent for its id, and Singularity for the tasks active on
 *    it. Any error, or no active task at all in safe mode, aborts the run
 *    before anything is touched.
 * 3. For each task definition: leave it alone when the task is active or its
 *    executor pid is alive; else ask for its history, repair rotated logs a
 *    killed logrotate left half-compressed, run the executor's own log
 *    teardown (final rotation, upload metadata finished), remove `app/`
 *    unless the task failed recently, and delete the definition when all of
 *    that succeeded.
 * 4. Write `<millis><suffix>` with the counts, aborted runs included.
 *
 * @module
 */
import { basename, dirname, join, resolve } from "node:path";
import type { CleanupKeys, Config, ExecutorKeys } from "../config/mod.ts";
import { type ExecutorData, parseExecutorDataObject } from "../executor/executor_data.ts";
import { deleteTaskDefinition, readTaskDefinition, type TaskDefinition } from "../executor/task_definition.ts";
import { removeAppDirectory } from "../executor/pending_uploads.ts";
import { logrotateSettings, tearDownTaskLogs } from "../executor/task_logs.ts";
import { existingLogrotateFiles } from "../logrotate/run.ts";
import { pathExists } from "../path_exists.ts";
import { repairAbandonedCompression } from "./abandoned_compression.ts";
import { agentStateOptions, fetchAgentId } from "./agent_state.ts";
import { type CleanupResults, emptyResults, writeCleanupResults } from "./results_file.ts";
import { acquireRunLock, type RunLock, RunLockHeldError } from "./run_lock.ts";
import { SingularityApi, singularityApiOptions } from "./singularity_api.ts";
import { livePids, pidAlive } from "./live_pids.ts";
import { decideTask, ignoreReason } from "./task_decision.ts";

/** A copy in the rotated-logs directory younger than this may belong to a logrotate run in progress. */
const ABANDONED_COPY_MIN_AGE_MS = 10 * 60 * 1000;

/** How many tasks are cleaned at once. */
const TASKS_AT_ONCE = 16;

/** What a run needs. */
export interface CleanupOptions {
  config: Config<CleanupKeys>;
  log: { info(message: string): void; warn(message: string): void; error(message: string): void };
  /** Print, per task, what would be done and why; change nothing (no lock, no results file). */
  dryRun?: boolean;
  /** Where `--dry-run` lines go; default `console.log`. */
  print?: (line: string) => void;
  /** This machine's non-loopback addresses, for an empty `mesos.agent.host`. */
  machine?: { localAddresses?: readonly string[] };
  /** Milliseconds since the epoch; default now. */
  nowMs?: number;
}

/** How a run ended. */
export interface CleanupOutcome {
  results: CleanupResults;
  /** The results file; undefined in a dry run. */
  resultsFile?: string;
}

/**
 * Runs the cleanup once. Resolves for completed and safely aborted runs (the reason in
 * `results.errorMessage`); rejects only on an unexpected error, after writing what it counted.
 *
 * @example
 * ```ts
 * const { results } = await runCleanup({ config, log });
 * console.log(results.successfullyCleanedTasks);
 * ```
 */
export async function runCleanup(options: CleanupOptions): Promise<CleanupOutcome> {
  const { config, log } = options;
  const nowMs = options.nowMs ?? Date.now();
  const results = emptyResults();
  const finish = async (): Promise<CleanupOutcome> => {
    if (options.dryRun) return { results };
    const resultsFile = await writeCleanupResults(results, {
      directory: config.text("executor.cleanup.results.directory"),
      suffix: config.text("executor.cleanup.results.suffix"),
      nowMs,
    });
    log.info(`results in ${resultsFile}: ${JSON.stringify(results)}`);
    return { results, resultsFile };
  };
  const abort = (message: string) => {
    results.errorMessage = message;
    log.error(`${message}; nothing was touched`);
    return finish();
  };
  let lock: RunLock | undefined;
  if (!options.dryRun) {
    try {
      lock = await acquireRunLock(config.text("executor.cleanup.results.directory"), { nowMs });
    } catch (error) {
      if (error instanceof RunLockHeldError) return abort(error.message);
      throw error;
    }
  }
  try {
    const api = new SingularityApi(singularityApiOptions(config));
    let running: Set<string>;
    try {
      const agentId = await fetchAgentId(agentStateOptions(config, options.machine));
      running = await api.activeTaskIds(agentId);
    } catch (error) {
      return await abort(`could not learn which tasks run on this agent: ${(error as Error).message}`);
    }
    results.mesosRunningTasks = running.size;
    if (running.size === 0) {
      if (config.get("executor.cleanup.safe.mode.wont.run.with.no.tasks")) {
        return await abort(
          "Running in safe mode (executor.cleanup.safe.mode.wont.run.with.no.tasks) and found 0 running tasks - aborting cleanup",
        );
      }
      log.warn("Singularity reports no active task on this agent; safe mode is off, so every task here is cleaned");
    }
    const paths = await definitionFiles(config, results);
    // After the listing: an executor that wrote a listed definition was started before this snapshot.
    const pids = await livePids();
    const lines: (string | undefined)[] = new Array(paths.length);
    // Tasks are independent and most of the time goes to waiting (logrotate, the API, fsync):
    // a few at once cut the wall time of a large pass several times over.
    let next = 0;
    const worker = async () => {
      while (next < paths.length) {
        const index = next++;
        lines[index] = await cleanOne(paths[index], { ...options, nowMs }, api, { running, pids }, results);
      }
    };
    await Promise.all(Array.from({ length: Math.min(TASKS_AT_ONCE, paths.length) }, worker));
    const print = options.print ?? console.log;
    for (const line of lines) if (line !== undefined) print(line);
    return await finish();
  } catch (error) {
    results.errorMessage = `unexpected error: ${(error as Error).message}`;
    await finish().catch(() => {});
    throw error;
  } finally {
    await lock?.release();
  }
}

/** The definition files to look at (sorted); other names are counted invalid, temporary dot files ignored. */
async function definitionFiles(config: Config<CleanupKeys>, results: CleanupResults): Promise<string[]> {
  const directory = config.text("executor.global.task.definition.directory");
  const suffix = config.text("executor.global.task.definition.suffix");
  const paths: string[] = [];
  for await (const entry of Deno.readDir(directory)) {
    if (entry.name.startsWith(".")) continue;
    if (!entry.name.endsWith(suffix) || !entry.isFile) {
      results.invalidTasks++;
      continue;
    }
    results.totalTaskFiles++;
    paths.push(join(directory, entry.name));
  }
  return paths.sort();
}

/**
 * Decides about one definition file and, unless it is left alone (or this is a dry run), cleans its task.
 * Returns the `--dry-run` line (undefined when not a dry run).
 */
async function cleanOne(
  path: string,
  options: CleanupOptions & { nowMs: number },
  api: SingularityApi,
  alive: { running: ReadonlySet<string>; pids: ReadonlySet<number> },
  results: CleanupResults,
): Promise<string | undefined> {
  const dry = (line: string) => options.dryRun ? line : undefined;
  const { config, log } = options;
  let definition: TaskDefinition;
  let data: ExecutorData;
  try {
    definition = await readTaskDefinition(path);
    data = parseExecutorDataObject(definition.executorData);
  } catch (error) {
    if (error instanceof Deno.errors.NotFound) return undefined;
    results.invalidTasks++;
    log.warn(`${path}: not a usable task definition, left alone: ${(error as Error).message}`);
    return dry(`${basename(path)}: leave alone (not a usable task definition: ${(error as Error).message})`);
  }
  const taskId = definition.taskId;
  const ignore = ignoreReason(definition, {
    runningTaskIds: alive.running,
    executorAlive: pidAlive(definition.executorPid, alive.pids),
  });
  if (ignore !== undefined) {
    results.runningTasksIgnored++;
    return dry(`${taskId}: leave alone (${ignore})`);
  }
  let history;
  try {
    history = await api.taskHistory(taskId);
  } catch (error) {
    results.errorTasks++;
    log.error(`${taskId}: no history from Singularity, left for the next run: ${(error as Error).message}`);
    return dry(`${taskId}: leave alone (no history from Singularity: ${(error as Error).message})`);
  }
  const decision = decideTask(definition, {
    runningTaskIds: alive.running,
    executorAlive: false,
    history,
    nowMs: options.nowMs,
    keepFailedAppDirectoryMs: config.get("executor.cleanup.cleanup.app.directory.of.failed.tasks.after.millis"),
  });
  if (decision.action === "ignore") {
    results.runningTasksIgnored++;
    return dry(`${taskId}: leave alone (${decision.reason})`);
  }
  if (decision.action === "wait") {
    results.waitingTasks++;
    log.info(`${taskId}: left for a later run (${decision.reason})`);
    return dry(`${taskId}: leave for a later run (${decision.reason})`);
  }
  if (options.dryRun) {
    const sandboxGone = !await pathExists(definition.taskDirectory);
    const steps = sandboxGone
      ? "sandbox is gone: remove its logrotate files and the definition"
      : `final logrotate, upload metadata finished, ${
        decision.cleanupAppDirectory ? "remove" : "keep"
      } app/, delete the definition`;
    return `${taskId}: clean (${decision.reason}): ${steps}`;
  }
  const outcome = await cleanTask(definition, data, decision.cleanupAppDirectory, config, (line) => log.warn(line));
  if (outcome.problems.length > 0) {
    results.errorTasks++;
    log.error(`${taskId}: not fully cleaned, the definition stays for the next run: ${outcome.problems.join("; ")}`);
  } else if (outcome.appKeptFor.length > 0) {
    results.waitingTasks++;
    log.info(`${taskId}: logs handed over; app/ stays until the uploader has taken ${outcome.appKeptFor.join(", ")}`);
  } else {
    results.successfullyCleanedTasks++;
    log.info(`${taskId}: cleaned (${decision.reason})`);
    // A failed task kept for inspection keeps its definition, so a later run removes its app/.
    if (decision.cleanupAppDirectory || data.preserveTaskSandboxAfterFinish === true) await deleteTaskDefinition(path);
  }
  return undefined;
}

/** What {@linkcode cleanTask} left undone. */
interface CleanOutcome {
  /** What failed (the definition stays for the next run). */
  problems: string[];
  /** Upload metadata still pointing inside `app/`, which therefore stays. */
  appKeptFor: string[];
}

/** The executor's teardown for a task whose executor died. */
async function cleanTask(
  definition: TaskDefinition,
  data: ExecutorData,
  removeApp: boolean,
  config: Config<CleanupKeys>,
  log: (line: string) => void,
): Promise<CleanOutcome> {
  const executorConfig = config as unknown as Config<ExecutorKeys>;
  const problems: string[] = [];
  if (!await pathExists(definition.taskDirectory)) {
    const settings = logrotateSettings(executorConfig, definition.taskDirectory);
    const present = await existingLogrotateFiles(definition.taskId, settings);
    for (const file of present.all) {
      await Deno.remove(file).catch((error) => problems.push(`removing ${file}: ${(error as Error).message}`));
    }
    return { problems, appKeptFor: [] };
  }
  if (!data.skipLogrotateAndCompress) {
    const logs = resolve(dirname(definition.serviceLogOut), config.text("executor.logrotate.to.directory"));
    try {
      const repair = await repairAbandonedCompression(logs, basename(definition.serviceLogOut), {
        minAgeMs: ABANDONED_COPY_MIN_AGE_MS,
      });
      if (repair.removed.length + repair.compressed.length > 0) {
        log(
          `${definition.taskId}: repaired ${logs}: removed ${repair.removed.join(", ") || "nothing"}, compressed ${
            repair.compressed.join(", ") || "nothing"
          }`,
        );
      }
    } catch (error) {
      problems.push(`repairing ${logs}: ${(error as Error).message}`);
    }
  }
  const teardown = await tearDownTaskLogs(definition, data, { config: executorConfig, log });
  problems.push(...teardown.problems);
  let appKeptFor: string[] = [];
  if (removeApp) {
    try {
      appKeptFor = await removeAppDirectory(definition, data, executorConfig);
    } catch (error) {
      problems.push(`removing ${definition.taskAppDirectory}: ${(error as Error).message}`);
    }
  }
  return { problems, appKeptFor };
}
