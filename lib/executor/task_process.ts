/**
 * Supervising a task's process: the kill sequence (SIGTERM to the whole
 * tree, SIGKILL after the grace period, at once on a second kill or a
 * destroy), the thread limit, and the terminal state with the originals'
 * status messages. Nothing of the tree outlives the task.
 *
 * @module
 */
import { processTree, signalTree, type StartedProcess, startProcessGroup } from "./process_tree.ts";

/** How a task's process ended, as a Mesos state and the originals' message. */
export interface TaskEnd {
  state: "TASK_FINISHED" | "TASK_FAILED" | "TASK_KILLED";
  message: string;
  exitCode: number;
}

/** Options of {@linkcode TaskProcess.start}. */
export interface TaskProcessOptions {
  command: string[];
  cwd: string;
  env?: Record<string, string>;
  /** Default delay between SIGTERM and SIGKILL. */
  killAfterMs: number;
  /** Thread limit of the whole tree; undefined = none. */
  maxThreads?: number;
  checkThreadsEveryMs: number;
  /** Exit codes that count as success (empty: only 0). */
  successfulExitCodes: readonly number[];
  log: (line: string) => void;
}

/**
 * One running task process.
 *
 * @example
 * ```ts
 * const task = TaskProcess.start({ command: ["bash", "runner.sh"], cwd: sandbox, killAfterMs: 180_000, ... });
 * task.kill();
 * const end = await task.finished; // { state: "TASK_KILLED", message: "Task killed. Process exited gracefully with code 143", ... }
 * ```
 */
export class TaskProcess {
  readonly pid: number;
  readonly finished: Promise<TaskEnd>;
  readonly #options: TaskProcessOptions;
  #killedAt?: number;
  #escalation?: ReturnType<typeof setTimeout>;
  #forcedAfterWaitingMs?: number;
  #destroyed = false;
  #threads?: { count: number; max: number };
  #checker?: ReturnType<typeof setInterval>;

  private constructor(process: StartedProcess, options: TaskProcessOptions) {
    this.pid = process.pid;
    this.#options = options;
    if (options.maxThreads !== undefined) {
      const max = options.maxThreads;
      this.#checker = setInterval(() => void this.#checkThreads(max), options.checkThreadsEveryMs);
    }
    this.finished = process.exited.then(async (exitCode) => {
      clearInterval(this.#checker);
      clearTimeout(this.#escalation);
      // Whatever is left of the tree (background children, daemons) goes with the task.
      await signalTree(this.pid, "KILL").catch(() => 0);
      return this.#end(exitCode);
    });
  }

  /** Starts `options.command` in its own process group. */
  static start(options: TaskProcessOptions): TaskProcess {
    return new TaskProcess(startProcessGroup(options.command, { cwd: options.cwd, env: options.env }), options);
  }

  /**
   * The kill sequence: SIGTERM to the tree, SIGKILL after `gracePeriodMs` (default `killAfterMs`).
   * A second kill, or `destroy`, sends SIGKILL at once.
   */
  kill(options: { gracePeriodMs?: number; destroy?: boolean } = {}): void {
    if (this.#killedAt !== undefined || options.destroy) {
      this.#destroyed = true;
      clearTimeout(this.#escalation);
      this.#options.log(`killing process group ${this.pid} with SIGKILL now`);
      void signalTree(this.pid, "KILL");
      this.#killedAt ??= Date.now();
      return;
    }
    this.#killedAt = Date.now();
    const grace = options.gracePeriodMs ?? this.#options.killAfterMs;
    this.#options.log(`sending SIGTERM to process group ${this.pid}; SIGKILL in ${grace} ms`);
    void signalTree(this.pid, "TERM");
    this.#escalation = setTimeout(() => {
      this.#forcedAfterWaitingMs = grace;
      this.#options.log(`process group ${this.pid} still running ${grace} ms after SIGTERM: SIGKILL`);
      void signalTree(this.pid, "KILL");
    }, grace);
  }

  async #checkThreads(max: number): Promise<void> {
    if (this.#killedAt !== undefined) return;
    let count: number;
    try {
      count = (await processTree(this.pid)).reduce((sum, process) => sum + process.threads, 0);
    } catch (error) {
      this.#options.log(`thread count failed: ${(error as Error).message}`);
      return;
    }
    if (count > max && this.#killedAt === undefined) {
      this.#threads = { count, max };
      this.#options.log(`task uses ${count} threads, over its limit of ${max}: killing it`);
      this.kill();
    }
  }

  /** The terminal state, checked in the originals' order. */
  #end(exitCode: number): TaskEnd {
    if (this.#threads) {
      return {
        state: "TASK_FAILED",
        message: `Task used ${this.#threads.count} threads and was killed (max ${this.#threads.max})`,
        exitCode,
      };
    }
    if (this.#killedAt !== undefined) {
      if (this.#forcedAfterWaitingMs !== undefined) {
        return {
          state: "TASK_KILLED",
          message: `Task killed forcibly after waiting at least ${this.#forcedAfterWaitingMs} ms`,
          exitCode,
        };
      }
      if (this.#destroyed) {
        return {
          state: "TASK_KILLED",
          message: "Task killed forcibly after multiple kill requests from framework",
          exitCode,
        };
      }
      return {
        state: "TASK_KILLED",
        message: `Task killed. Process exited gracefully with code ${exitCode}`,
        exitCode,
      };
    }
    const successful = this.#options.successfulExitCodes.length === 0 ? [0] : this.#options.successfulExitCodes;
    if (successful.includes(exitCode)) {
      return { state: "TASK_FINISHED", message: `Process exited normally with code ${exitCode}`, exitCode };
    }
    return { state: "TASK_FAILED", message: `Process failed with code ${exitCode}`, exitCode };
  }
}
