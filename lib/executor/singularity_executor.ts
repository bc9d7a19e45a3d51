/**
 * The Singularity task layer behind the Mesos driver: for each LAUNCH, parse
 * the executor data, write the task definition, stage the artifacts, write
 * deploy.env and runner.sh, run `bash runner.sh` as a supervised process
 * group, and report its end with the originals' messages; KILL runs the kill
 * sequence (or cancels staging); SHUTDOWN kills everything. The executor
 * exits after `executor.idle.shutdown.after.millis` without tasks.
 *
 * The task's logs (logrotate, tail and S3 upload metadata) are set up
 * before it starts and torn down after its terminal update, whatever the
 * state; the task definition is deleted only when that teardown and the
 * removal of `app/` succeeded, else the cleanup job finishes the work.
 *
 * @module
 */
import { join } from "node:path";
import type { Config, ExecutorKeys } from "../config/mod.ts";
import type { ExecutorDriver, LaunchedTask, TaskHandler } from "../mesos/driver.ts";
import type { S3Artifact } from "../artifacts/artifact.ts";
import { type ArtifactList, listedArtifacts } from "../artifacts/artifact_list.ts";
import { cacheName } from "../artifacts/cache.ts";
import { signatureSettings, verifyArtifactSignatures } from "../artifacts/signatures.ts";
import { stageArtifacts } from "../artifacts/stage.ts";
import { downloadThroughService } from "../s3/download_client.ts";
import { type ExecutorData, parseExecutorData } from "./executor_data.ts";
import { writeRunnerScripts } from "./runner_script.ts";
import {
  buildTaskDefinition,
  deleteTaskDefinition,
  type TaskDefinition,
  writeTaskDefinition,
} from "./task_definition.ts";
import { removeAppDirectory } from "./pending_uploads.ts";
import { setUpTaskLogs, tearDownTaskLogs } from "./task_logs.ts";
import {
  encodeShellCommandUpdate,
  parseFrameworkMessage,
  runShellCommand,
  type ShellCommandsConfig,
  shellCommandsConfig,
} from "./shell_commands.ts";
import { sandboxName } from "./task_id.ts";
import { TaskProcess } from "./task_process.ts";

/** What the executor needs besides its configuration. */
export interface ExecutorContext {
  config: Config<ExecutorKeys>;
  /** The Mesos sandbox (`MESOS_SANDBOX`). */
  sandbox: string;
  /** The OS user the executor runs as. */
  executorUser: string;
  log: (line: string, taskId?: string) => void;
}

interface TaskState {
  taskId: string;
  /** Known once the executor data is parsed and the definition written. */
  data?: ExecutorData;
  definition?: TaskDefinition;
  definitionPath?: string;
  /** The logrotate and metadata files exist: teardown is due. */
  logsSetUp: boolean;
  /** Known once the executor data is parsed. */
  sandbox?: string;
  user?: string;
  staging: AbortController;
  /** `TaskInfo.kill_policy`'s grace period, when the scheduler set one. */
  killPolicyGracePeriodMs?: number;
  /** The task's own executor log in its sandbox (`executor.task.java.log.path`). */
  logFile?: Deno.FsFile;
  process?: TaskProcess;
  killed: boolean;
  done: Promise<void>;
}

/**
 * The task handler for the driver.
 *
 * @example
 * ```ts
 * const executor = new SingularityExecutor(context);
 * await driver.run(executor.handlerFor(driver));
 * ```
 */
export class SingularityExecutor {
  readonly #context: ExecutorContext;
  readonly #tasks = new Map<string, TaskState>();
  #idleTimer?: ReturnType<typeof setTimeout>;

  readonly #shellCommands: ShellCommandsConfig;

  constructor(context: ExecutorContext) {
    this.#context = context;
    this.#shellCommands = shellCommandsConfig(context.config);
  }

  /** The handler the driver calls; `driver` receives the status updates. */
  handlerFor(driver: ExecutorDriver): TaskHandler {
    this.#scheduleIdleExit(driver);
    return {
      launch: (task) => this.#launch(driver, task),
      kill: (taskId, { gracePeriodMs }) => this.#kill(taskId, { gracePeriodMs }),
      frameworkMessage: (data) => this.#frameworkMessage(driver, data),
      shutdown: async () => {
        for (const taskId of this.#tasks.keys()) this.#kill(taskId, {});
        await Promise.all([...this.#tasks.values()].map((task) => task.done));
      },
    };
  }

  #launch(driver: ExecutorDriver, task: LaunchedTask): void {
    const { config, log } = this.#context;
    if (this.#tasks.has(task.taskId)) {
      log(`duplicate launch of ${task.taskId} ignored`, task.taskId);
      return;
    }
    clearTimeout(this.#idleTimer);
    const state: TaskState = {
      taskId: task.taskId,
      staging: new AbortController(),
      killPolicyGracePeriodMs: task.killPolicyGracePeriodMs,
      killed: false,
      logsSetUp: false,
      done: Promise.resolve(),
    };
    this.#tasks.set(task.taskId, state);
    const send = (status: string, message: string) => {
      const cut = message.slice(0, config.get("executor.status.update.max.task.message.length"));
      this.#taskLog(task.taskId, `${status}: ${cut}`);
      driver.sendStatus(task.taskId, status, { message: cut });
    };
    state.done = this.#run(task, state, send).catch((error): string => {
      log(`launch of ${task.taskId} failed: ${(error as Error).message}`, task.taskId);
      if (state.killed) {
        send("TASK_KILLED", "Task killed before service process started");
        return "TASK_KILLED";
      }
      send("TASK_FAILED", `${(error as Error).message}`);
      return "TASK_FAILED";
    }).then((terminal) => this.#finish(state, terminal)).catch((error) => {
      log(`finishing ${task.taskId} failed (the cleanup job retries): ${(error as Error).message}`, task.taskId);
    }).finally(() => {
      state.logFile?.close();
      this.#tasks.delete(task.taskId);
      if (this.#tasks.size === 0) this.#scheduleIdleExit(driver);
    });
  }

  /** Runs the task to its end; returns the terminal state it reported. */
  async #run(task: LaunchedTask, state: TaskState, send: (status: string, message: string) => void): Promise<string> {
    const { config } = this.#context;
    let data: ExecutorData;
    try {
      data = parseExecutorData(task.data);
    } catch (error) {
      send("TASK_FAILED", `Invalid executor data: ${(error as Error).message}`);
      return "TASK_FAILED";
    }
    state.data = data;
    const sandbox = join(this.#context.sandbox, sandboxName(task.taskId));
    await Deno.mkdir(sandbox, { recursive: true });
    state.sandbox = sandbox;
    state.logFile = await Deno.open(join(sandbox, config.text("executor.task.java.log.path")), {
      append: true,
      create: true,
      mode: 0o644,
    });
    state.user = data.user ?? config.required("executor.default.user");
    const definition = buildTaskDefinition(task.taskId, data, {
      taskDirectory: sandbox,
      executorPid: Deno.pid,
      appDirectory: config.text("executor.task.app.directory"),
      serviceLog: config.text("executor.task.service.log.path"),
      serviceFinishedTailLog: config.text("executor.service.log.tail.file.name"),
      bashLog: config.text("executor.task.bash.log.path"),
      logrotateStateFile: config.text("executor.logrotate.state.file"),
    });
    state.definition = definition;
    state.definitionPath = await writeTaskDefinition(
      config.text("executor.global.task.definition.directory"),
      config.text("executor.global.task.definition.suffix"),
      definition,
    );
    send("TASK_STARTING", `Staging files... (executor pid: ${Deno.pid})`);
    await this.#stage(task.taskId, data, sandbox, state.staging.signal);
    const user = state.user!;
    await writeRunnerScripts(sandbox, {
      taskId: task.taskId,
      environment: Object.entries(task.command?.environment ?? {}).map(([name, value]) => ({ name, value })),
      user,
      executorUser: this.#context.executorUser,
      cmd: data.cmd,
      extraCmdLineArgs: data.extraCmdLineArgs,
      maxOpenFiles: data.maxOpenFiles,
      appDirectory: config.text("executor.task.app.directory"),
      logsDirectory: config.text("executor.logrotate.to.directory"),
      serviceLog: definition.serviceLogOut.slice(sandbox.length + 1),
    });
    state.logsSetUp = true;
    await setUpTaskLogs(definition, data, { config, log: (line) => this.#taskLog(task.taskId, line) });
    if (state.killed) {
      send("TASK_KILLED", "Task killed before service process started");
      return "TASK_KILLED";
    }
    const bashLog = config.text("executor.task.bash.log.path");
    const process = TaskProcess.start({
      command: ["bash", "-c", `exec bash runner.sh >> '${bashLog.replaceAll("'", `'\\''`)}' 2>&1`],
      cwd: sandbox,
      killAfterMs: data.sigKillProcessesAfterMillis ?? config.get("executor.hard.kill.after.millis"),
      maxThreads: data.maxTaskThreads ?? config.get("executor.max.task.threads"),
      checkThreadsEveryMs: config.get("executor.check.threads.every.millis"),
      successfulExitCodes: data.successfulExitCodes,
      log: (line) => this.#taskLog(task.taskId, line),
    });
    state.process = process;
    send("TASK_RUNNING", `Task running process bash - (pid: ${process.pid})`);
    const end = await process.finished;
    send(end.state, end.message);
    return end.state;
  }

  /**
   * After the terminal update: the log teardown, then `app/` removed unless the task failed (kept for
   * inspection; the cleanup job removes it later) or asked to keep it, then the task definition deleted
   * when all of that succeeded.
   */
  async #finish(state: TaskState, terminal: string): Promise<void> {
    const { config } = this.#context;
    const { data, definition, definitionPath } = state;
    if (data === undefined || definition === undefined || definitionPath === undefined) return;
    const log = (line: string) => this.#taskLog(state.taskId, line);
    const teardown = state.logsSetUp ? await tearDownTaskLogs(definition, data, { config, log }) : { ok: true };
    if (terminal === "TASK_FAILED") return;
    if (!data.preserveTaskSandboxAfterFinish) {
      let pending: string[];
      try {
        pending = await removeAppDirectory(definition, data, config);
      } catch (error) {
        log(`removing ${definition.taskAppDirectory} failed (the cleanup job retries): ${(error as Error).message}`);
        return;
      }
      if (pending.length > 0) {
        log(
          `${definition.taskAppDirectory} stays until the uploader has taken ${
            pending.join(", ")
          } (the cleanup job removes it)`,
        );
        return;
      }
    }
    if (teardown.ok) await deleteTaskDefinition(definitionPath);
  }

  /**
   * Artifacts in the originals' order, their signatures checked, then the
   * artifacts named by artifact lists (one level), checked the same way.
   */
  async #stage(taskId: string, data: ExecutorData, sandbox: string, signal: AbortSignal): Promise<void> {
    const { config } = this.#context;
    const useService = config.get("executor.use.local.download.service");
    const cacheDirectory = config.text("artifact.cache.directory");
    const services = {
      cacheDirectory,
      // Loaded on first use: the AWS SDK costs ~30 MB of memory, and most tasks never download from S3 in-process.
      fetchS3: async (artifact: S3Artifact, abort: AbortSignal) => {
        const { fetchS3Artifact } = await import("../s3/fetch_s3_artifact.ts");
        return fetchS3Artifact(config, artifact, { signal: abort, log: (line) => this.#taskLog(taskId, line) });
      },
      downloadService: useService
        ? (requests: { artifact: S3Artifact; targetDirectory: string }[], abort: AbortSignal) =>
          downloadThroughService(requests, {
            port: config.get("s3.downloader.http.port"),
            path: config.text("s3.downloader.http.download.path"),
            socket: config.text("s3.downloader.http.socket") || undefined,
            timeoutMs: config.get("executor.local.download.service.timeout.millis"),
          }, abort)
        : undefined,
      urlTimeoutMs: config.get("executor.external.artifact.timeout.millis"),
      log: (line: string) => this.#taskLog(taskId, line),
      warn: (line: string) => this.#taskLog(taskId, `WARN ${line}`),
    };
    const stageAndVerify = async (artifacts: ArtifactList) => {
      await stageArtifacts(
        {
          embedded: artifacts.embedded,
          s3: [...artifacts.s3, ...artifacts.s3Signatures],
          external: artifacts.external,
        },
        sandbox,
        services,
        signal,
      );
      const cached = (artifact: S3Artifact) => join(cacheDirectory, cacheName(artifact));
      await verifyArtifactSignatures({
        ...signatureSettings(config),
        artifacts: artifacts.s3.map((artifact) => ({ artifact, path: cached(artifact) })),
        signatures: artifacts.s3Signatures.map((signature) => ({ signature, path: cached(signature) })),
        sandbox,
        signal,
        log: services.log,
        warn: services.warn,
      });
    };
    await stageAndVerify({
      embedded: data.embeddedArtifacts,
      s3: data.s3Artifacts,
      s3Signatures: data.s3ArtifactSignatures,
      external: data.externalArtifacts,
    });
    const listed = await listedArtifacts(
      [...data.s3Artifacts, ...data.s3ArtifactSignatures, ...data.externalArtifacts],
      sandbox,
      {
        log: services.log,
        warn: services.warn,
      },
    );
    if (listed.embedded.length + listed.s3.length + listed.s3Signatures.length + listed.external.length > 0) {
      await stageAndVerify(listed);
    }
  }

  #kill(taskId: string, options: { gracePeriodMs?: number; destroy?: boolean }): void {
    const state = this.#tasks.get(taskId);
    if (state === undefined) {
      this.#context.log(`kill of unknown task ${taskId} ignored`, taskId);
      return;
    }
    const again = state.killed;
    state.killed = true;
    if (state.process) {
      state.process.kill(
        again
          ? { destroy: true }
          : { ...options, gracePeriodMs: options.gracePeriodMs ?? state.killPolicyGracePeriodMs },
      );
    } else {
      state.staging.abort(new Error("task killed during staging"));
    }
  }

  /** Singularity's framework messages: destroy a task, or run a shell command for it. */
  #frameworkMessage(driver: ExecutorDriver, data: Uint8Array): void {
    const { log } = this.#context;
    const message = parseFrameworkMessage(data);
    if (message.type === "invalid") {
      log(`framework message ignored: ${message.error}`);
      return;
    }
    if (message.type === "destroy") {
      log(`destroy requested${message.user ? ` by ${message.user}` : ""}`, message.taskId.id);
      this.#kill(message.taskId.id, { destroy: true });
      return;
    }
    const taskId = message.request.taskId.id;
    const state = this.#tasks.get(taskId);
    if (state?.sandbox === undefined || state.user === undefined) {
      log(`shell command ${message.request.shellCommand.name} for unknown task ignored`, taskId);
      return;
    }
    void runShellCommand(message.request, { sandbox: state.sandbox, pid: state.process?.pid, user: state.user }, {
      config: this.#shellCommands,
      send: (update) => driver.sendMessage(encodeShellCommandUpdate(update)),
      log: (line) => this.#taskLog(taskId, line),
    });
  }

  /** A line for the executor log and for the task's own log in its sandbox. */
  #taskLog(taskId: string, line: string): void {
    this.#context.log(line, taskId);
    const file = this.#tasks.get(taskId)?.logFile;
    if (file === undefined) return;
    try {
      file.writeSync(new TextEncoder().encode(`${new Date().toISOString()} ${line}\n`));
    } catch {
      // The task log is a convenience; the executor log has the line.
    }
  }

  #scheduleIdleExit(driver: ExecutorDriver): void {
    clearTimeout(this.#idleTimer);
    const after = this.#context.config.get("executor.idle.shutdown.after.millis");
    this.#idleTimer = setTimeout(() => {
      if (this.#tasks.size === 0) driver.stop(`no task for ${after} ms`);
    }, after);
  }
}
