/**
 * The executor side of the Mesos v1 executor HTTP API: subscribe, dispatch
 * events to the task layer, send status updates reliably (each kept until the
 * agent acknowledges it and resent on resubscription with the same uuid), and
 * reconnect after an agent restart when the framework checkpoints.
 *
 * The whole lifecycle is one loop over subscriptions and a switch over event
 * types, after Mesos' own command executor. The task layer sees only
 * {@linkcode TaskHandler} and {@linkcode ExecutorDriver}: no protobuf.
 *
 * @module
 */
import type { Logger } from "@logtape/logtape";
import { type Codec, codecFor, type Encoding } from "./codec.ts";
import type { ExecutorEnvironment } from "./environment.ts";
import {
  type Call,
  type Event,
  type TaskEcho,
  type TaskInfo,
  TERMINAL_STATES,
  type UpdateMessage,
} from "./messages.ts";
import { decodeRecords } from "./recordio.ts";
import { newUpdateUuid, uuidText } from "./uuid.ts";

/** A task to launch, as the task layer sees it. */
export interface LaunchedTask {
  taskId: string;
  name: string;
  /** `TaskInfo.data` (Singularity puts its executor data JSON here). */
  data?: Uint8Array;
  /** `TaskInfo.kill_policy.grace_period`, in milliseconds. */
  killPolicyGracePeriodMs?: number;
  /** `TaskInfo.command`, when the scheduler sent one. */
  command?: { value?: string; shell: boolean; arguments: string[]; user?: string; environment: Record<string, string> };
  labels: Record<string, string>;
}

/** What the driver asks of the task layer. */
export interface TaskHandler {
  /** Start the task; report its states through {@linkcode ExecutorDriver.sendStatus}. */
  launch(task: LaunchedTask): void;
  /** Kill the task; `gracePeriodMs` comes from the KILL's kill policy when it has one. */
  kill(taskId: string, options: { gracePeriodMs?: number }): void;
  /** Opaque bytes from the scheduler. */
  frameworkMessage(data: Uint8Array): void;
  /**
   * Kill every task and report their terminal states; resolves when done.
   * `gracePeriodMs` is what is left before the agent destroys the container.
   */
  shutdown(options: { gracePeriodMs: number; reason: string }): Promise<void>;
}

/** Optional parts of a status update. */
export interface StatusDetails {
  message?: string;
  /** A `TaskStatus.Reason` name, e.g. `REASON_COMMAND_EXECUTOR_FAILED`. */
  reason?: string;
  data?: Uint8Array;
  healthy?: boolean;
}

/** The driver as the task layer uses it. */
export interface ExecutorDriver {
  /** Sends a status update reliably: kept and resent until the agent acknowledges it. */
  sendStatus(taskId: string, state: string, details?: StatusDetails): void;
  /** Sends opaque bytes to the scheduler (unreliable, like Mesos framework messages). */
  sendMessage(data: Uint8Array): Promise<void>;
  /** Ends the executor in order: waits for the ACKs of terminal updates (with a fail-safe), then stops. */
  stop(reason: string): void;
  /** Like a SHUTDOWN from the agent: kill every task, report, wait for ACKs, stop. */
  requestShutdown(reason: string): void;
  /** The framework's capabilities from SUBSCRIBED (e.g. `TASK_KILLING_STATE`). */
  readonly frameworkCapabilities: readonly string[];
}

/** Options of {@linkcode MesosExecutorDriver}. */
export interface DriverOptions {
  environment: ExecutorEnvironment;
  /** Wire encoding of calls and events (default protobuf). */
  encoding?: Encoding;
  log: Logger;
  /** Longest wait for the ACKs of terminal updates before exiting (default 60 s). */
  terminalAckTimeoutMs?: number;
  /** Pause between SUBSCRIBE attempts while the agent answers 503/404 (default 1 s). */
  subscribeRetryMs?: number;
  /** Longest time to keep trying the first subscription (default 60 s, the agent's registration timeout). */
  initialSubscribeTimeoutMs?: number;
  /** Resubscribe when no event arrived for this long (default 35 min; the agent sends a HEARTBEAT every 30). */
  eventWatchdogMs?: number;
  /** Resend an unacknowledged update this long after its last send while subscribed (default 10 s). */
  resendUnacknowledgedAfterMs?: number;
}

/** How the driver ended: 0 after an orderly stop, 1 when it gave up or failed. */
export type ExitCode = 0 | 1;

interface PendingUpdate {
  update: UpdateMessage;
  terminal: boolean;
  lastSentAt: number;
}

/**
 * The driver. `run()` resolves with the exit code once the executor may exit.
 *
 * @example
 * ```ts
 * const driver = new MesosExecutorDriver({ environment: readExecutorEnvironment(), log });
 * Deno.exit(await driver.run(handlerFor(driver)));
 * ```
 */
export class MesosExecutorDriver implements ExecutorDriver {
  readonly #env: ExecutorEnvironment;
  readonly #codec: Codec;
  readonly #log: Logger;
  readonly #url: string;
  readonly #options: Required<Omit<DriverOptions, "environment" | "encoding" | "log">>;
  readonly #unackedUpdates = new Map<string, PendingUpdate>();
  readonly #unackedTasks = new Map<string, TaskEcho>();
  #handler?: TaskHandler;
  #subscribed = false;
  #everSubscribed = false;
  #stream?: AbortController;
  #stopping?: { reason: string; code: ExitCode };
  #shutdown?: Promise<void>;
  #capabilities: string[] = [];
  #disconnectedSince?: number;
  #ackWaiters: (() => void)[] = [];
  #wake?: () => void;

  constructor(options: DriverOptions) {
    this.#env = options.environment;
    this.#codec = codecFor(options.encoding ?? "protobuf");
    this.#log = options.log;
    this.#url = `http://${options.environment.agentEndpoint}/api/v1/executor`;
    this.#options = {
      terminalAckTimeoutMs: options.terminalAckTimeoutMs ?? 60_000,
      subscribeRetryMs: options.subscribeRetryMs ?? 1000,
      initialSubscribeTimeoutMs: options.initialSubscribeTimeoutMs ?? 60_000,
      eventWatchdogMs: options.eventWatchdogMs ?? 35 * 60_000,
      resendUnacknowledgedAfterMs: options.resendUnacknowledgedAfterMs ?? 10_000,
    };
  }

  get frameworkCapabilities(): readonly string[] {
    return this.#capabilities;
  }

  /** Subscribes and serves events until the executor may exit; resolves with the exit code. */
  async run(handler: TaskHandler): Promise<ExitCode> {
    this.#handler = handler;
    const startedAt = Date.now();
    const resender = setInterval(
      () => this.#resendStale(),
      Math.max(1000, this.#options.resendUnacknowledgedAfterMs / 2),
    );
    try {
      while (this.#stopping === undefined || this.#hasPendingTerminalUpdates()) {
        const outcome = await this.#subscribeAndServe();
        if (this.#stopping !== undefined && (!this.#hasPendingTerminalUpdates() || outcome === "closed")) break;
        if (outcome === "fatal") {
          await this.#giveUp("the agent refused the subscription");
          break;
        }
        // Disconnected, or the agent is not ready yet.
        const now = Date.now();
        this.#disconnectedSince ??= now;
        if (!this.#everSubscribed) {
          if (now - startedAt > this.#options.initialSubscribeTimeoutMs) {
            this.#log.error(
              `could not subscribe to the agent at ${this.#url} within ${this.#options.initialSubscribeTimeoutMs} ms`,
            );
            await this.#giveUp("no subscription");
            break;
          }
          await this.#sleep(this.#options.subscribeRetryMs);
          continue;
        }
        if (!this.#env.checkpoint) {
          this.#log.warn(
            "disconnected from the agent and the framework does not checkpoint: killing tasks and exiting",
          );
          await this.#giveUp("disconnected from the agent (no checkpointing)");
          break;
        }
        const recoveryTimeout = this.#env.recoveryTimeoutMs ?? 15 * 60_000;
        if (now - this.#disconnectedSince > recoveryTimeout) {
          this.#log.error(
            `the agent did not come back within MESOS_RECOVERY_TIMEOUT (${recoveryTimeout} ms): killing tasks`,
          );
          await this.#giveUp("agent recovery timeout");
          break;
        }
        const backoffMax = this.#env.subscriptionBackoffMaxMs ?? 2000;
        await this.#sleep(
          outcome === "not-ready" ? Math.min(this.#options.subscribeRetryMs, backoffMax) : Math.random() * backoffMax,
        );
      }
    } finally {
      clearInterval(resender);
      this.#stream?.abort();
    }
    const stopping = this.#stopping ?? { reason: "stream closed", code: 1 as ExitCode };
    const left = [...this.#unackedUpdates.values()].filter((pending) => pending.terminal).length;
    if (left > 0) this.#log.warn(`exiting with ${left} terminal update(s) not acknowledged by the agent`);
    this.#log.info(`executor driver stopped: ${stopping.reason}`);
    return stopping.code;
  }

  sendStatus(taskId: string, state: string, details: StatusDetails = {}): void {
    const uuid = newUpdateUuid();
    const update: UpdateMessage = {
      status: {
        task_id: { value: taskId },
        state,
        source: "SOURCE_EXECUTOR",
        executor_id: { value: this.#env.executorId },
        timestamp: Date.now() / 1000,
        uuid,
        ...(details.message !== undefined ? { message: details.message } : {}),
        ...(details.reason !== undefined ? { reason: details.reason } : {}),
        ...(details.data !== undefined ? { data: details.data } : {}),
        ...(details.healthy !== undefined ? { healthy: details.healthy } : {}),
      },
    };
    const pending = { update, terminal: TERMINAL_STATES.has(state), lastSentAt: 0 };
    this.#unackedUpdates.set(uuidText(uuid), pending);
    this.#log.info(`status ${state} for ${taskId}${details.message ? `: ${details.message}` : ""}`, { taskId });
    if (this.#subscribed) void this.#postUpdate(pending);
  }

  async sendMessage(data: Uint8Array): Promise<void> {
    if (!this.#subscribed) {
      this.#log.warn(`framework message of ${data.length} bytes dropped: not subscribed`);
      return;
    }
    await this.#post({ type: "MESSAGE", data });
  }

  stop(reason: string): void {
    if (this.#stopping !== undefined) return;
    this.#log.info(`stopping: ${reason}`);
    this.#stopping = { reason, code: 0 };
    void this.#finishWhenAcknowledged();
  }

  requestShutdown(reason: string): void {
    void this.#shutdownThenStop(reason);
  }

  /** One subscription: SUBSCRIBE, then events until the stream ends. */
  async #subscribeAndServe(): Promise<"disconnected" | "not-ready" | "fatal" | "closed"> {
    const call: Call = {
      type: "SUBSCRIBE",
      unacknowledged_tasks: [...this.#unackedTasks.values()],
      unacknowledged_updates: [...this.#unackedUpdates.values()].map((pending) => pending.update),
    };
    const controller = new AbortController();
    this.#stream = controller;
    let response: Response;
    try {
      response = await fetch(this.#url, {
        method: "POST",
        headers: this.#headers({ Accept: this.#codec.mediaType }),
        body: this.#codec.encodeCall(call, this.#ids()),
        signal: controller.signal,
      });
    } catch (error) {
      if (controller.signal.aborted) return "closed";
      this.#log.debug(`SUBSCRIBE failed: ${(error as Error).message}`);
      return "disconnected";
    }
    if (response.status === 503 || response.status === 404) {
      await response.body?.cancel();
      this.#log.debug(`agent not ready (HTTP ${response.status}); retrying SUBSCRIBE`);
      return "not-ready";
    }
    if (response.status !== 200) {
      const text = await response.text().catch(() => "");
      this.#log.error(`SUBSCRIBE refused with HTTP ${response.status}: ${text}`);
      return "fatal";
    }
    let watchdog = setTimeout(() => controller.abort(), this.#options.eventWatchdogMs);
    try {
      for await (const record of decodeRecords(response.body!)) {
        clearTimeout(watchdog);
        watchdog = setTimeout(() => {
          this.#log.warn(`no event for ${this.#options.eventWatchdogMs} ms: resubscribing`);
          controller.abort();
        }, this.#options.eventWatchdogMs);
        let event: Event;
        try {
          event = this.#codec.decodeEvent(record);
        } catch (error) {
          this.#log.error(`undecodable event of ${record.length} bytes ignored: ${(error as Error).message}`);
          continue;
        }
        this.#handle(event);
      }
      this.#log.warn("the agent closed the event stream");
    } catch (error) {
      if (controller.signal.aborted && this.#stopping !== undefined && !this.#hasPendingTerminalUpdates()) {
        return "closed";
      }
      this.#log.warn(`event stream failed: ${(error as Error).message}`);
    } finally {
      clearTimeout(watchdog);
      this.#subscribed = false;
    }
    return "disconnected";
  }

  /** The switch over event types. */
  #handle(event: Event): void {
    const handler = this.#handler!;
    switch (event.type) {
      case "SUBSCRIBED": {
        const again = this.#everSubscribed;
        this.#subscribed = true;
        this.#everSubscribed = true;
        this.#disconnectedSince = undefined;
        this.#capabilities = event.frameworkCapabilities;
        this.#log.info(
          `${again ? "resubscribed" : "subscribed"} to agent ${event.agentId} (${event.agentHostname}) for ` +
            `framework ${event.frameworkName}; ${this.#unackedUpdates.size} update(s) awaiting acknowledgement`,
        );
        for (const pending of this.#unackedUpdates.values()) pending.lastSentAt = Date.now();
        return;
      }
      case "LAUNCH": {
        const task = toLaunchedTask(event.task);
        this.#unackedTasks.set(task.taskId, event.echo);
        if (this.#shutdown !== undefined || this.#stopping !== undefined) {
          this.sendStatus(task.taskId, "TASK_LOST", {
            message: "Task couldn't start because executor is shutting down",
          });
          return;
        }
        this.#log.info(`launch ${task.taskId}`, { taskId: task.taskId });
        handler.launch(task);
        return;
      }
      case "LAUNCH_GROUP":
        for (const task of event.tasks) {
          this.sendStatus(task.task_id.value, "TASK_ERROR", {
            message: "Task groups (LAUNCH_GROUP) are not supported by singularity-executor",
            reason: "REASON_TASK_GROUP_INVALID",
          });
        }
        return;
      case "KILL":
        this.#log.info(
          `kill ${event.taskId}${event.gracePeriodMs !== undefined ? ` (grace ${event.gracePeriodMs} ms)` : ""}`,
          {
            taskId: event.taskId,
          },
        );
        handler.kill(event.taskId, { gracePeriodMs: event.gracePeriodMs });
        return;
      case "ACKNOWLEDGED": {
        const pending = this.#unackedUpdates.get(uuidText(event.uuid));
        if (pending === undefined) return;
        this.#unackedUpdates.delete(uuidText(event.uuid));
        this.#unackedTasks.delete(event.taskId);
        if (pending.terminal) this.#notifyAckWaiters();
        return;
      }
      case "MESSAGE":
        handler.frameworkMessage(event.data);
        return;
      case "ERROR":
        this.#log.error(`agent reported an error: ${event.message}`);
        return;
      case "SHUTDOWN":
        this.#log.info("SHUTDOWN from the agent");
        void this.#shutdownThenStop("SHUTDOWN from the agent");
        return;
      case "HEARTBEAT":
        this.#log.debug("heartbeat");
        return;
      case "UNKNOWN":
        this.#log.debug(`ignoring event of unknown type ${event.name}`);
        return;
    }
  }

  /** Kill every task through the handler (once), then stop in order. */
  async #shutdownThenStop(reason: string): Promise<void> {
    await this.#shutdownTasks(reason);
    this.stop(reason);
  }

  /** Ends abnormally: kill every task (their updates cannot be delivered), exit 1. */
  async #giveUp(reason: string): Promise<void> {
    // Decided before the handler runs: its tasks ending must not turn this into an orderly stop.
    this.#stopping ??= { reason, code: 1 };
    await this.#shutdownTasks(reason);
  }

  /** Asks the handler to kill everything, once, within the agent's shutdown grace period. */
  #shutdownTasks(reason: string): Promise<void> {
    this.#shutdown ??= this.#handler!.shutdown({ gracePeriodMs: this.#env.shutdownGracePeriodMs, reason }).catch(
      (error) => this.#log.error(`shutting tasks down failed: ${(error as Error).message}`),
    );
    return this.#shutdown;
  }

  /** Waits for terminal ACKs (fail-safe), then ends the subscription. */
  async #finishWhenAcknowledged(): Promise<void> {
    const deadline = Date.now() + this.#options.terminalAckTimeoutMs;
    while (this.#hasPendingTerminalUpdates() && Date.now() < deadline) {
      await new Promise<void>((resolve) => {
        const timer = setTimeout(resolve, Math.max(0, deadline - Date.now()));
        this.#ackWaiters.push(() => {
          clearTimeout(timer);
          resolve();
        });
      });
    }
    if (this.#hasPendingTerminalUpdates()) {
      this.#log.warn(`no acknowledgement of the final update(s) within ${this.#options.terminalAckTimeoutMs} ms`);
      this.#unackedUpdates.forEach((pending, key) => pending.terminal && this.#unackedUpdates.delete(key));
    }
    this.#stream?.abort();
    this.#wake?.();
  }

  #hasPendingTerminalUpdates(): boolean {
    for (const pending of this.#unackedUpdates.values()) if (pending.terminal) return true;
    return false;
  }

  #notifyAckWaiters(): void {
    const waiters = this.#ackWaiters;
    this.#ackWaiters = [];
    for (const waiter of waiters) waiter();
  }

  /** Resends updates the agent has not acknowledged for a while (safe: the agent deduplicates by uuid). */
  #resendStale(): void {
    if (!this.#subscribed) return;
    const cutoff = Date.now() - this.#options.resendUnacknowledgedAfterMs;
    for (const pending of this.#unackedUpdates.values()) {
      if (pending.lastSentAt < cutoff) void this.#postUpdate(pending);
    }
  }

  async #postUpdate(pending: PendingUpdate): Promise<void> {
    pending.lastSentAt = Date.now();
    const status = await this.#post({ type: "UPDATE", update: pending.update });
    // 503: the agent is still recovering after a restart (it accepts only SUBSCRIBE): try again shortly.
    if (status === 503) {
      setTimeout(() => {
        if (this.#subscribed && this.#unackedUpdates.has(uuidText(pending.update.status.uuid))) {
          void this.#postUpdate(pending);
        }
      }, this.#options.subscribeRetryMs);
    }
  }

  /** POSTs a non-SUBSCRIBE call; failures are logged (updates stay queued for the next SUBSCRIBE). */
  async #post(call: Call): Promise<number | undefined> {
    try {
      const response = await fetch(this.#url, {
        method: "POST",
        headers: this.#headers({}),
        body: this.#codec.encodeCall(call, this.#ids()),
      });
      const text = await response.text();
      if (response.status !== 202) this.#log.warn(`${call.type} answered HTTP ${response.status}: ${text}`);
      return response.status;
    } catch (error) {
      this.#log.warn(`${call.type} failed: ${(error as Error).message}`);
      return undefined;
    }
  }

  #headers(extra: Record<string, string>): Record<string, string> {
    const headers: Record<string, string> = { "Content-Type": this.#codec.mediaType, ...extra };
    if (this.#env.authenticationToken) headers.Authorization = `Bearer ${this.#env.authenticationToken}`;
    return headers;
  }

  #ids() {
    return { executorId: this.#env.executorId, frameworkId: this.#env.frameworkId };
  }

  /** Sleeps, or returns early when the driver is told to finish. */
  #sleep(ms: number): Promise<void> {
    return new Promise((resolve) => {
      const timer = setTimeout(done, ms);
      this.#wake = done;
      function done() {
        clearTimeout(timer);
        resolve();
      }
    });
  }
}

/** A decoded TaskInfo as the task layer sees it. */
function toLaunchedTask(task: TaskInfo): LaunchedTask {
  const nanoseconds = task.kill_policy?.grace_period?.nanoseconds;
  const environment: Record<string, string> = {};
  // Singularity puts the task's environment on the executor's command; a task command's variables win.
  const variables = [
    ...(task.executor?.command?.environment?.variables ?? []),
    ...(task.command?.environment?.variables ?? []),
  ];
  for (const variable of variables) {
    // Unresolved secrets are not passed on.
    if (variable.type === "SECRET") continue;
    environment[variable.name] = variable.value ?? "";
  }
  const labels: Record<string, string> = {};
  for (const label of task.labels?.labels ?? []) labels[label.key] = label.value ?? "";
  return {
    taskId: task.task_id.value,
    name: task.name,
    data: task.data,
    killPolicyGracePeriodMs: nanoseconds === undefined ? undefined : Number(nanoseconds) / 1e6,
    command: {
      value: task.command?.value,
      shell: task.command?.shell ?? true,
      arguments: task.command?.arguments ?? [],
      user: task.command?.user,
      environment,
    },
    labels,
  };
}
