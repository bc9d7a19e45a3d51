/**
 * A fake Mesos agent for tests that run a real executor as a child process.
 * It serves the v1 executor API (`/api/v1/executor` and
 * `/slave(1)/api/v1/executor`) with the agent's check order, status codes and
 * validation messages, keeps the agent's view of the executor and its tasks,
 * sends events as a RecordIO stream, acknowledges updates by the agent's rules,
 * emulates its timers (registration, shutdown grace, re-registration after a
 * restart) and records everything for assertions. The behaviour follows
 * `mesos-executor-api.md` §1.2, §5, §6 and §9.
 *
 * @example
 * ```ts
 * await using agent = await FakeAgent.start({ capabilities: ["TASK_KILLING_STATE"] });
 * const executor = await agent.launchExecutor({ command: ["deno", "run", "-A", "tests/support/test_executor.ts"] });
 * agent.launch(taskInfo({ id: "t1", command: "true" }));
 * await agent.waitFor(() => agent.taskState("t1") === "TASK_FINISHED", 5000, "t1 finished");
 * await executor.status;
 * ```
 *
 * @module
 */
import protobuf from "protobufjs";
import { CALL, EVENT, JSON_FORM, TASK_INFO } from "../../lib/mesos/schema.ts";
import { encodeRecord } from "../../lib/mesos/recordio.ts";
import { parseMesosDuration } from "../../lib/mesos/environment.ts";

/** Framework id the fake knows (calls with another one get 400 "Framework cannot be found"). */
export const DEFAULT_FRAMEWORK_ID = "fake-framework-0001";
/** Executor id the fake knows (calls with another one get 400 "Executor cannot be found"). */
export const DEFAULT_EXECUTOR_ID = "fake-executor";
/** The fake agent's id, sent in SUBSCRIBED and put into TaskInfos. */
export const DEFAULT_AGENT_ID = "fake-agent-S0";
/** The executor's container id, sent in SUBSCRIBED. */
export const DEFAULT_CONTAINER_ID = "fake-container-1";

const PROTOBUF_MEDIA_TYPE = "application/x-protobuf";
const JSON_MEDIA_TYPE = "application/json";
const EXECUTOR_PATHS = new Set(["/api/v1/executor", "/slave(1)/api/v1/executor"]);
const AUTH_REALM = "mesos-agent-executor";
/** The agent's `isTerminalState`. */
const TERMINAL_STATES = new Set([
  "TASK_FINISHED",
  "TASK_FAILED",
  "TASK_KILLED",
  "TASK_LOST",
  "TASK_ERROR",
  "TASK_DROPPED",
  "TASK_GONE",
  "TASK_GONE_BY_OPERATOR",
]);
/** A timer handle. */
type Timer = ReturnType<typeof setTimeout>;
/**
 * Deno's global `setImmediate` (a next-turn callback without the timer clamp),
 * reached without importing `node:timers`, whose types would change the global
 * `setTimeout` type for every module checked together with this one.
 */
const nextTurn: (callback: () => void) => void =
  (globalThis as { setImmediate?: (callback: () => void) => void }).setImmediate ??
    ((callback) => setTimeout(callback, 0));

/** JSON output options: the agent writes 64-bit integers as JSON numbers. */
const JSON_OUTPUT: protobuf.IConversionOptions = { enums: String, bytes: String, longs: Number };

/** The agent process: listener closed, up but not recovered (503 to all), recovering (SUBSCRIBE only), running. */
export type AgentState = "DOWN" | "NOT_READY" | "RECOVERING" | "RUNNING";
/** The agent's `Executor::State`. */
export type ExecutorState = "REGISTERING" | "RUNNING" | "TERMINATING" | "TERMINATED";
/** How event bytes are cut into writes: one write per record, one byte per write, or random cuts across records. */
export type Rechunk = "none" | "bytewise" | "random";
/** The event encoding of a subscription stream. */
export type EventEncoding = "protobuf" | "json";
/** Where a task is from the agent's point of view. */
export type TaskPhase = "queued" | "launched" | "terminated";
/** What the agent did with an update. */
export type UpdateOutcome =
  /** State applied; ACKed. */
  | "applied"
  /** Same uuid seen before for that task; ACKed only. */
  | "duplicate"
  /** Refused by `updateTaskState` (queued + non-terminal, or task already terminated); ACKed. */
  | "dropped"
  /** `status.agent_id` is another agent's: silently dropped, never ACKed. */
  | "foreign-agent"
  /** Task unknown to the agent: forwarded, never ACKed. */
  | "unknown-task"
  /** An `unacknowledged_updates` entry without uuid: ignored, never ACKed. */
  | "no-uuid"
  /** TASK_STAGING in `unacknowledged_updates`: the agent shuts the executor down. */
  | "staging";
/** Why the fake SIGKILLed the executor's process group. */
export type KillReason =
  | "registration-timeout"
  | "shutdown-grace"
  | "reregistration-timeout"
  | "leftover-processes"
  | "close";

/** A `TaskStatus` in Mesos' JSON form. */
export interface StatusJson {
  task_id: { value: string };
  state: string;
  message?: string;
  source?: string;
  reason?: string;
  data?: string;
  agent_id?: { value: string };
  executor_id?: { value: string };
  timestamp?: number;
  uuid?: string;
  healthy?: boolean;
  check_status?: { type?: string; command?: unknown; http?: unknown; tcp?: unknown };
  labels?: { labels?: { key: string; value?: string }[] };
}

/** A `TaskInfo` in Mesos' JSON form (bytes as base64, enums as names). */
export interface TaskInfoJson {
  name: string;
  task_id: { value: string };
  agent_id: { value: string };
  [field: string]: unknown;
}

/** A call in Mesos' JSON form, as the fake decoded it. */
export interface ReceivedCall {
  executor_id: { value: string };
  framework_id: { value: string };
  type?: string;
  subscribe?: { unacknowledged_tasks?: TaskInfoJson[]; unacknowledged_updates?: { status: StatusJson }[] };
  update?: { status: StatusJson };
  message?: { data: string };
}

/** One HTTP request the fake answered. */
export interface RecordedRequest {
  method: string;
  path: string;
  /** Request headers, names in lower case. */
  headers: Record<string, string>;
  /** Status code returned. */
  status: number;
  /** Body returned (empty for the SUBSCRIBE stream). */
  responseBody: string;
  /** The decoded call, when the body parsed. */
  call?: ReceivedCall;
  /** `Date.now()` on arrival. */
  at: number;
}

/** One event the fake sent (or tried to send: `delivered` is false without a subscription stream). */
export interface RecordedEvent {
  /** Number of the subscription stream (1 for the first SUBSCRIBE), 0 when there was none. */
  stream: number;
  /** Event type name, or the number for unknown types, `RAW` for raw bytes. */
  type: string;
  /** The event in Mesos' JSON form (as given for raw events, absent for raw bytes). */
  event?: Record<string, unknown>;
  /** The record payload. */
  payload: Uint8Array;
  delivered: boolean;
  at: number;
}

/** A status update the fake received from the executor or generated itself. */
export interface RecordedUpdate {
  taskId: string;
  state: string;
  /** The 16 raw uuid bytes (absent if the status had none). */
  uuid?: Uint8Array;
  /** Canonical text form of the uuid. */
  uuidText?: string;
  message?: string;
  /** `status.source` as sent (undefined = unset, which the agent reads as SOURCE_MASTER). */
  source?: string;
  reason?: string;
  timestamp?: number;
  agentId?: string;
  executorId?: string;
  data?: Uint8Array;
  healthy?: boolean;
  /** The full status as received, in JSON form. */
  status: StatusJson;
  /** UPDATE call, SUBSCRIBE's `unacknowledged_updates`, or generated by the agent. */
  via: "update" | "subscribe" | "agent";
  outcome: UpdateOutcome;
  /** ACKNOWLEDGED was written on a subscription stream. */
  acked: boolean;
  ackedAt?: number;
  /** The ACK is held back by {@linkcode FakeAgent.withholdAcks}. */
  ackWithheld?: boolean;
  /** The ACK was dropped by {@linkcode FakeAgent.dropUpdateAcks}. */
  ackDropped?: boolean;
  /** The ACK was due but there was no stream to send it on. */
  ackLost?: boolean;
  at: number;
}

/** A framework message (MESSAGE call) the executor sent. */
export interface ReceivedMessage {
  data: Uint8Array;
  /** `data` decoded as UTF-8. */
  text: string;
  at: number;
}

/** A SIGKILL of the executor's process group by the fake. */
export interface RecordedKill {
  reason: KillReason;
  /** The process group id (the executor's pid). */
  pgid: number;
  /** Live members of the group at the time, when known. */
  pids: number[];
  at: number;
}

/** The agent's view of one task. */
export interface TaskRecord {
  id: string;
  /** The TaskInfo, normalised to Mesos' JSON form. */
  info: TaskInfoJson;
  phase: TaskPhase;
  /** Latest state: TASK_STAGING until the first applied update. */
  state: string;
  /** Uuids (text) of every update received for the task. */
  uuids: Set<string>;
}

/** Options of {@linkcode FakeAgent.start}. */
export interface FakeAgentOptions {
  frameworkId?: string;
  executorId?: string;
  agentId?: string;
  containerId?: string;
  /** `agent_info.hostname` (default `localhost`). */
  hostname?: string;
  /** `framework_info.user` (default `root`). */
  frameworkUser?: string;
  /** `framework_info.name` (default `Singularity`). */
  frameworkName?: string;
  /** `framework_info.capabilities`, e.g. `["TASK_KILLING_STATE", "PARTITION_AWARE"]`. */
  capabilities?: string[];
  /** `framework_info.checkpoint` and `MESOS_CHECKPOINT` (default true). */
  checkpoint?: boolean;
  /** State the agent starts in (default RUNNING). */
  agentState?: AgentState;
  /** Time a launched executor has to SUBSCRIBE (default 10 000 ms). */
  registrationTimeoutMs?: number;
  /** Shutdown grace when no executor was launched (default 2000 ms; launched: its `shutdownGracePeriod`). */
  shutdownGracePeriodMs?: number;
  /** Interval of HEARTBEAT events on each stream (default: none). */
  heartbeatIntervalMs?: number;
  /** Re-chunking of the event stream (default `none`). */
  rechunk?: Rechunk;
  /** Seed of the `random` re-chunking (default 1). */
  seed?: number;
}

/** Options of {@linkcode FakeAgent.launchExecutor}. */
export interface LaunchExecutorOptions {
  /** Program and arguments. */
  command: string[];
  /** Extra environment variables, added after the Mesos ones. */
  env?: Record<string, string>;
  /** `MESOS_CHECKPOINT` (default: the agent's `checkpoint` option). */
  checkpoint?: boolean;
  /** `MESOS_RECOVERY_TIMEOUT` when checkpointing (default `3secs`). */
  recoveryTimeout?: string;
  /** `MESOS_SUBSCRIPTION_BACKOFF_MAX` when checkpointing (default `500ms`). */
  backoffMax?: string;
  /** `MESOS_EXECUTOR_SHUTDOWN_GRACE_PERIOD`, also the fake's shutdown grace (default `2secs`). */
  shutdownGracePeriod?: string;
  /** `MESOS_EXECUTOR_AUTHENTICATION_TOKEN`; also makes the fake require it (see {@linkcode FakeAgent.requireAuth}). */
  token?: string;
  /** Where the sandbox is made (default the system's temporary directory), e.g. below `mesos.work.directory`. */
  sandboxParent?: string;
}

/** The executor process the fake started. */
export interface LaunchedExecutor {
  pid: number;
  /** The sandbox (cwd, `MESOS_DIRECTORY`, `MESOS_SANDBOX`). */
  sandbox: string;
  /** The exact environment it was given. */
  env: Record<string, string>;
  /** Resolves when it exited and the fake has handled the exit. */
  status: Promise<Deno.CommandStatus>;
  /** Its standard output so far. */
  readonly stdout: string;
  /** Its standard error so far. */
  readonly stderr: string;
}

/** Options of {@linkcode FakeAgent.restart}; every phase is timed from the end of the previous one. */
export interface RestartOptions {
  /** Listener closed, connections refused (default 200 ms). */
  downForMs?: number;
  /** Listening, 503 to everything (default 200 ms). */
  notReadyForMs?: number;
  /** RECOVERING: SUBSCRIBE accepted, other calls 503 (default: `reregistrationTimeoutMs`). */
  recoveringForMs?: number;
  /** From the start of RECOVERING, time the executor has to SUBSCRIBE again (default 1000 ms). */
  reregistrationTimeoutMs?: number;
}

/** Options of {@linkcode taskInfo}. */
export interface TaskInfoOptions {
  id: string;
  /** Default `task <id>`. */
  name?: string;
  /** `command.value` (run by `/bin/sh -c` unless `shell` is false). */
  command?: string;
  shell?: boolean;
  arguments?: string[];
  /** `command.environment.variables`. */
  environment?: Record<string, string>;
  /** `data`: bytes, or a string sent as UTF-8. */
  data?: Uint8Array | string;
  /** `kill_policy.grace_period` in milliseconds. */
  killPolicyGraceMs?: number;
  labels?: Record<string, string>;
  agentId?: string;
  executorId?: string;
  frameworkId?: string;
  cpus?: number;
  memMb?: number;
}

/** A JSON body the fake could not turn into a Call (stout's `protobuf::parse` error). */
class ConversionError extends Error {
  constructor(message: string) {
    super(message);
    this.name = "ConversionError";
  }
}

/** The reason a stream was reset on purpose (not logged as a server error). */
class StreamReset extends Error {
  constructor() {
    super("stream reset by the fake agent");
    this.name = "StreamReset";
  }
}

/**
 * A fake Mesos agent. Create it with {@linkcode FakeAgent.start}; `await using`
 * (or {@linkcode FakeAgent.close}) kills the executor's process group and
 * stops the server.
 *
 * @example
 * ```ts
 * await using agent = await FakeAgent.start();
 * agent.launch(taskInfo({ id: "t1", command: "sleep 1" }));
 * const headers = { "Content-Type": "application/json" };
 * const response = await fetch(agent.url, { method: "POST", headers, body: "{}" });
 * ```
 */
export class FakeAgent implements AsyncDisposable {
  /** Every request answered, in order. */
  readonly requests: RecordedRequest[] = [];
  /** Every event sent (or due without a stream), in order. */
  readonly events: RecordedEvent[] = [];
  /** Updates received from the executor (UPDATE calls and resent ones in SUBSCRIBE). */
  readonly updates: RecordedUpdate[] = [];
  /** Updates the agent generated itself (TASK_LOST/DROPPED/FAILED/KILLED with SOURCE_AGENT). */
  readonly agentUpdates: RecordedUpdate[] = [];
  /** Framework messages the executor sent. */
  readonly messages: ReceivedMessage[] = [];
  /** Process-group kills the fake performed. */
  readonly kills: RecordedKill[] = [];
  /** Errors the HTTP server reported (other than deliberate stream resets). */
  readonly serverErrors: unknown[] = [];
  /** Re-chunking of event writes; can be changed at any time. */
  rechunk: Rechunk;
  /** Successful SUBSCRIBE calls (200 responses). */
  subscribeCount = 0;
  /** HEARTBEAT calls received. */
  heartbeatCalls = 0;
  /** True once the shutdown grace period elapsed with the executor still running. */
  shutdownGraceExpired = false;

  readonly frameworkId: string;
  readonly executorId: string;
  readonly agentId: string;
  readonly containerId: string;

  #options: FakeAgentOptions;
  #capabilities: string[];
  #checkpoint: boolean;
  #server?: Deno.HttpServer<Deno.NetAddr>;
  #port = 0;
  #agentState: AgentState;
  #executorState: ExecutorState = "REGISTERING";
  #tasks = new Map<string, TaskRecord>();
  #stream?: EventStream;
  #streams: EventStream[] = [];
  #streamCount = 0;
  #random: () => number;
  #authToken?: string;
  #withhold = false;
  #withheld: RecordedUpdate[] = [];
  #ackDelayMs = 0;
  #dropAck?: (update: RecordedUpdate) => boolean;
  #timers = new Set<Timer>();
  #ackTimers = new Map<Timer, RecordedUpdate>();
  #heartbeatTimer?: ReturnType<typeof setInterval>;
  #registrationTimer?: Timer;
  #shutdownTimer?: Timer;
  #reregistrationTimer?: Timer;
  #termination?: { state: string; reason: string; message: string };
  #shutdownGraceMs: number;
  #process?: Deno.ChildProcess;
  #processExited = false;
  #launched?: LaunchedExecutor;
  #commandLine?: string;
  #output: OutputCollector[] = [];
  #closed?: Promise<void>;

  private constructor(options: FakeAgentOptions) {
    this.#options = options;
    this.frameworkId = options.frameworkId ?? DEFAULT_FRAMEWORK_ID;
    this.executorId = options.executorId ?? DEFAULT_EXECUTOR_ID;
    this.agentId = options.agentId ?? DEFAULT_AGENT_ID;
    this.containerId = options.containerId ?? DEFAULT_CONTAINER_ID;
    this.#capabilities = options.capabilities ?? [];
    this.#checkpoint = options.checkpoint ?? true;
    this.#agentState = options.agentState ?? "RUNNING";
    this.#shutdownGraceMs = options.shutdownGracePeriodMs ?? 2000;
    this.rechunk = options.rechunk ?? "none";
    this.#random = mulberry32(options.seed ?? 1);
  }

  /**
   * Starts a fake agent on 127.0.0.1 with a free port.
   *
   * @example
   * ```ts
   * await using agent = await FakeAgent.start({ heartbeatIntervalMs: 100 });
   * ```
   */
  static start(options: FakeAgentOptions = {}): Promise<FakeAgent> {
    const agent = new FakeAgent(options);
    agent.#listen(0);
    return Promise.resolve(agent);
  }

  /** The port the agent listens on (kept across {@linkcode FakeAgent.restart}). */
  get port(): number {
    return this.#port;
  }

  /** `http://127.0.0.1:<port>/api/v1/executor`. */
  get url(): string {
    return `http://127.0.0.1:${this.#port}/api/v1/executor`;
  }

  /** The agent process state. */
  get agentState(): AgentState {
    return this.#agentState;
  }

  /** The executor state. */
  get executorState(): ExecutorState {
    return this.#executorState;
  }

  /** The executor process, once launched. */
  get executor(): LaunchedExecutor | undefined {
    return this.#launched;
  }

  /** Every task the agent knows, by id. */
  get tasks(): ReadonlyMap<string, TaskRecord> {
    return this.#tasks;
  }

  /** Encoding of the current subscription stream, if any. */
  get streamEncoding(): EventEncoding | undefined {
    return this.#stream?.encoding;
  }

  /** The latest state of a task, or undefined if the agent does not know it. */
  taskState(taskId: string): string | undefined {
    return this.#tasks.get(taskId)?.state;
  }

  /** Forces the agent state (503 / RECOVERING rows of the handler); {@linkcode FakeAgent.restart} is more realistic. */
  setAgentState(state: Exclude<AgentState, "DOWN">): void {
    this.#agentState = state;
  }

  /**
   * Requires `Authorization: Bearer <token>` on every executor API request
   * (401 with `WWW-Authenticate: Bearer realm="mesos-agent-executor"` otherwise);
   * `undefined` turns authentication off.
   */
  requireAuth(token: string | undefined): void {
    this.#authToken = token;
  }

  /** While on, updates are recorded and processed but their ACKs are held back (never sent automatically). */
  withholdAcks(on: boolean): void {
    this.#withhold = on;
  }

  /** Sends every ACK held back by {@linkcode FakeAgent.withholdAcks}; returns how many. */
  releaseWithheldAcks(): number {
    const held = this.#withheld.splice(0);
    for (const update of held) {
      update.ackWithheld = false;
      this.#sendAck(update);
    }
    return held.length;
  }

  /** Sends each ACK `ms` after its update was processed (0 = immediately). */
  delayAcks(ms: number): void {
    this.#ackDelayMs = ms;
  }

  /** ACKs of updates matching `predicate` are never sent; `undefined` clears it. */
  dropUpdateAcks(predicate: ((update: RecordedUpdate) => boolean) | undefined): void {
    this.#dropAck = predicate;
  }

  /** Live (non-zombie) processes of the executor's process group (Linux `/proc`). */
  executorGroupMembers(): number[] {
    return this.#launched === undefined ? [] : liveGroupMembers(this.#launched.pid);
  }

  /**
   * Starts the executor like the agent does: a fresh sandbox as cwd, its own
   * process group, and exactly the environment of the reference's §2.
   *
   * @example
   * ```ts
   * const executor = await agent.launchExecutor({ command: ["sleep", "60"], checkpoint: false });
   * ```
   */
  async launchExecutor(options: LaunchExecutorOptions): Promise<LaunchedExecutor> {
    if (this.#launched !== undefined) {
      throw new Error(`launchExecutor(): executor ${this.executorId} was already launched (pid ${this.#launched.pid})`);
    }
    if (options.command.length === 0) throw new Error("launchExecutor(): command is empty");
    const checkpoint = options.checkpoint ?? this.#checkpoint;
    this.#checkpoint = checkpoint;
    const grace = options.shutdownGracePeriod ?? "2secs";
    this.#shutdownGraceMs = durationMs("shutdownGracePeriod", grace);
    const sandbox = await Deno.makeTempDir({ prefix: "fake-agent-sandbox-", dir: options.sandboxParent });
    const endpoint = `127.0.0.1:${this.#port}`;
    const env: Record<string, string> = {
      MESOS_FRAMEWORK_ID: this.frameworkId,
      MESOS_EXECUTOR_ID: this.executorId,
      MESOS_DIRECTORY: sandbox,
      MESOS_SANDBOX: sandbox,
      MESOS_AGENT_ENDPOINT: endpoint,
      MESOS_SLAVE_PID: `slave(1)@${endpoint}`,
      MESOS_SLAVE_ID: this.agentId,
      MESOS_CHECKPOINT: checkpoint ? "1" : "0",
      MESOS_HTTP_COMMAND_EXECUTOR: "0",
      MESOS_EXECUTOR_SHUTDOWN_GRACE_PERIOD: grace,
      LIBPROCESS_PORT: "0",
      PATH: Deno.env.get("PATH") ?? "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin",
      HOME: Deno.env.get("HOME") ?? sandbox,
    };
    if (checkpoint) {
      env.MESOS_RECOVERY_TIMEOUT = options.recoveryTimeout ?? "3secs";
      env.MESOS_SUBSCRIPTION_BACKOFF_MAX = options.backoffMax ?? "500ms";
      durationMs("recoveryTimeout", env.MESOS_RECOVERY_TIMEOUT);
      durationMs("backoffMax", env.MESOS_SUBSCRIPTION_BACKOFF_MAX);
    }
    Object.assign(env, options.env ?? {});
    if (options.token !== undefined) {
      env.MESOS_EXECUTOR_AUTHENTICATION_TOKEN = options.token;
      this.requireAuth(options.token);
    }
    let child: Deno.ChildProcess;
    try {
      child = new Deno.Command(options.command[0], {
        args: options.command.slice(1),
        cwd: sandbox,
        env,
        clearEnv: true,
        detached: true,
        stdin: "null",
        stdout: "piped",
        stderr: "piped",
      }).spawn();
    } catch (error) {
      await Deno.remove(sandbox, { recursive: true });
      throw new Error(`launchExecutor(): cannot start ${JSON.stringify(options.command)}: ${(error as Error).message}`);
    }
    this.#process = child;
    this.#commandLine = options.command.join(" ");
    const stdout = new OutputCollector(child.stdout);
    const stderr = new OutputCollector(child.stderr);
    this.#output.push(stdout, stderr);
    const status = child.status.then(async (status) => {
      await this.#executorExited(child.pid);
      return status;
    });
    this.#launched = {
      pid: child.pid,
      sandbox,
      env,
      status,
      get stdout() {
        return stdout.text;
      },
      get stderr() {
        return stderr.text;
      },
    };
    const timeoutMs = this.#options.registrationTimeoutMs ?? 10_000;
    this.#registrationTimer = this.#later(timeoutMs, () => {
      this.#registrationTimer = undefined;
      if (this.#executorState !== "REGISTERING") return;
      this.#termination = {
        state: "TASK_FAILED",
        reason: "REASON_EXECUTOR_REGISTRATION_TIMEOUT",
        message: `Executor did not register within ${timeoutMs}ms`,
      };
      this.#executorState = "TERMINATING";
      this.#destroyContainer("registration-timeout");
    });
    return this.#launched;
  }

  /**
   * Gives the executor a task (a TaskInfo in JSON form, see {@linkcode taskInfo}):
   * queued until the executor subscribes, else sent as LAUNCH right away (and
   * lost if there is no stream, as with a real agent).
   */
  launch(task: Record<string, unknown>): void {
    let info: TaskInfoJson;
    try {
      const converted = convertJson(TASK_INFO, task, "");
      const missing = missingRequired(TASK_INFO, converted, "");
      if (missing.length > 0) throw new ConversionError(`missing required fields: ${missing.join(", ")}`);
      info = TASK_INFO.toObject(TASK_INFO.fromObject(converted), JSON_FORM) as TaskInfoJson;
    } catch (error) {
      throw new Error(`launch(): invalid TaskInfo ${JSON.stringify(task).slice(0, 200)}: ${(error as Error).message}`);
    }
    const id = info.task_id.value;
    if (this.#tasks.has(id)) throw new Error(`launch(): task "${id}" is already known to the agent`);
    if (this.#executorState === "TERMINATING" || this.#executorState === "TERMINATED") {
      throw new Error(`launch(): task "${id}" cannot be launched on a ${this.#executorState} executor`);
    }
    const record: TaskRecord = { id, info, phase: "queued", state: "TASK_STAGING", uuids: new Set() };
    this.#tasks.set(id, record);
    if (this.#executorState === "RUNNING") {
      record.phase = "launched";
      this.#send({ type: "LAUNCH", launch: { task: info } });
    }
  }

  /**
   * Kills a task: KILL event (with `kill_policy.grace_period` when `gracePeriodMs`
   * is given), also for tasks the executor should not know or has finished; a task
   * still queued is killed by the agent itself (TASK_KILLED, SOURCE_AGENT).
   */
  kill(taskId: string, gracePeriodMs?: number): void {
    const task = this.#tasks.get(taskId);
    if (task?.phase === "queued") {
      this.#agentUpdate(
        task,
        "TASK_KILLED",
        "REASON_TASK_KILLED_DURING_LAUNCH",
        "Killed before delivery to the executor",
      );
      return;
    }
    const kill: Record<string, unknown> = { task_id: { value: taskId } };
    if (gracePeriodMs !== undefined) {
      kill.kill_policy = { grace_period: { nanoseconds: String(Math.round(gracePeriodMs * 1e6)) } };
    }
    this.#send({ type: "KILL", kill });
  }

  /**
   * Shuts the executor down: TERMINATING, SHUTDOWN on the stream (or on the next
   * SUBSCRIBE), and SIGKILL of its process group when the grace period elapses.
   */
  shutdown(): void {
    if (this.#executorState === "TERMINATED") return;
    this.#executorState = "TERMINATING";
    this.#send({ type: "SHUTDOWN" });
    if (this.#shutdownTimer !== undefined) return;
    this.#shutdownTimer = this.#later(this.#shutdownGraceMs, () => {
      this.#shutdownTimer = undefined;
      if (this.#executorState === "TERMINATED") return;
      this.shutdownGraceExpired = true;
      this.#destroyContainer("shutdown-grace");
    });
  }

  /** MESSAGE event with opaque bytes (a string is sent as UTF-8). */
  frameworkMessage(data: Uint8Array | string): void {
    const bytes = typeof data === "string" ? new TextEncoder().encode(data) : data;
    this.#send({ type: "MESSAGE", message: { data: encodeBase64(bytes) } });
  }

  /** ERROR event. */
  error(message: string): void {
    this.#send({ type: "ERROR", error: { message } });
  }

  /** HEARTBEAT event now. */
  heartbeat(): void {
    this.#send({ type: "HEARTBEAT" });
  }

  /**
   * Sends an event as is: an object (JSON form; numbers allowed for unknown
   * types, e.g. `{ type: 42 }`) encoded in the stream's encoding without
   * checks, or a ready payload (framed as one record).
   */
  sendRawEvent(event: Record<string, unknown> | Uint8Array): void {
    if (event instanceof Uint8Array) {
      this.#write("RAW", undefined, () => event);
      return;
    }
    this.#write(String(event.type ?? "UNKNOWN"), event, (encoding) => {
      if (encoding === "json") return new TextEncoder().encode(JSON.stringify(event));
      if (typeof event.type !== "number") return EVENT.encode(EVENT.fromObject(event)).finish();
      // protobufjs treats proto2 enums as closed and would drop an unknown type: write field 1 by hand.
      const rest = EVENT.encode(EVENT.fromObject({ ...event, type: undefined })).finish();
      return concat([protobuf.Writer.create().uint32(0x08).int32(event.type).finish(), rest]);
    });
  }

  /** Writes bytes on the stream without RecordIO framing (to produce malformed streams). */
  sendRawBytes(bytes: Uint8Array): boolean {
    const stream = this.#stream;
    return stream !== undefined && stream.write(bytes);
  }

  /** Ends the current stream cleanly (EOF after the last record). */
  dropStream(): void {
    this.#stream?.close();
    this.#detachStream();
  }

  /** Aborts the current stream (the client sees a read error). */
  resetStream(): void {
    this.#stream?.reset();
    this.#detachStream();
  }

  /**
   * Simulates an agent restart: the listener closes (connections refused, the
   * stream breaks), then the agent answers 503, then it is RECOVERING (only
   * SUBSCRIBE accepted; the executor must resubscribe within the
   * re-registration timeout or its tasks become TASK_LOST/TASK_GONE and its
   * process group is killed), then RUNNING. Resolves once the listener is closed.
   *
   * @example
   * ```ts
   * await agent.restart({ downForMs: 300, notReadyForMs: 300, reregistrationTimeoutMs: 2000 });
   * await agent.waitFor(() => agent.subscribeCount === 2, 5000, "the executor resubscribed");
   * ```
   */
  async restart(options: RestartOptions = {}): Promise<void> {
    const downForMs = options.downForMs ?? 200;
    const notReadyForMs = options.notReadyForMs ?? 200;
    const reregistrationTimeoutMs = options.reregistrationTimeoutMs ?? 1000;
    const recoveringForMs = options.recoveringForMs ?? reregistrationTimeoutMs;
    this.resetStream();
    for (const [timer, update] of this.#ackTimers) {
      clearTimeout(timer);
      this.#timers.delete(timer);
      update.ackLost = true;
    }
    this.#ackTimers.clear();
    this.#agentState = "DOWN";
    await this.#server?.shutdown();
    this.#server = undefined;
    this.#later(downForMs, () => {
      try {
        this.#listen(this.#port);
      } catch (error) {
        this.serverErrors.push(error);
        return;
      }
      this.#agentState = "NOT_READY";
      this.#later(notReadyForMs, () => {
        this.#agentState = "RECOVERING";
        if (this.#executorState === "RUNNING" || this.#executorState === "REGISTERING") {
          this.#reregistrationTimer = this.#later(
            reregistrationTimeoutMs,
            () => this.#reregistrationTimedOut(reregistrationTimeoutMs),
          );
        }
        this.#later(recoveringForMs, () => {
          this.#agentState = "RUNNING";
        });
      });
    });
  }

  /**
   * Polls `predicate` every 10 ms until it returns a truthy value, which it
   * resolves to; after `timeoutMs` throws an error naming `description` and
   * summarising the agent's state.
   *
   * @example
   * ```ts
   * const running = () => agent.updates.find((update) => update.state === "TASK_RUNNING");
   * const update = await agent.waitFor(running, 2000, "a TASK_RUNNING update");
   * ```
   */
  async waitFor<T>(predicate: () => T | undefined | null | false, timeoutMs: number, description: string): Promise<T> {
    const deadline = Date.now() + timeoutMs;
    while (true) {
      const value = predicate();
      if (value) return value;
      if (Date.now() >= deadline) {
        throw new Error(`timed out after ${timeoutMs} ms waiting for ${description}; ${this.#summary()}`);
      }
      await new Promise((resolve) => setTimeout(resolve, 10));
    }
  }

  /** Kills the executor's process group, stops the server and removes the sandbox. */
  close(): Promise<void> {
    this.#closed ??= this.#close();
    return this.#closed;
  }

  /** Same as {@linkcode FakeAgent.close}. */
  [Symbol.asyncDispose](): Promise<void> {
    return this.close();
  }

  async #close(): Promise<void> {
    this.#clearTimers();
    if (this.#process !== undefined && !this.#processExited) this.#killGroup("close");
    if (this.#launched !== undefined) await this.#launched.status;
    for (const stream of this.#streams) stream.reset();
    this.#stream = undefined;
    await Promise.all(this.#streams.map((stream) => stream.settled()));
    await this.#server?.shutdown();
    this.#server = undefined;
    this.#agentState = "DOWN";
    await Promise.all(this.#output.map((output) => output.finish(1000)));
    this.#clearTimers();
    if (this.#launched !== undefined) await Deno.remove(this.#launched.sandbox, { recursive: true }).catch(() => {});
  }

  #listen(port: number): void {
    const server = Deno.serve({
      hostname: "127.0.0.1",
      port,
      onListen: () => {},
      onError: (error) => {
        if (!(error instanceof StreamReset)) this.serverErrors.push(error);
        return new Response("500 Internal Server Error.", { status: 500 });
      },
    }, (request) => this.#handle(request));
    this.#server = server;
    this.#port = server.addr.port;
  }

  async #handle(request: Request): Promise<Response> {
    const url = new URL(request.url);
    const record: RecordedRequest = {
      method: request.method,
      path: url.pathname,
      headers: Object.fromEntries(request.headers),
      status: 0,
      responseBody: "",
      at: Date.now(),
    };
    this.requests.push(record);
    const response = await this.#route(request, url.pathname, record);
    record.status = response.status;
    if (response.status !== 200) record.responseBody = await response.clone().text();
    return response;
  }

  /** The agent's `Http::executor`, in the order of the reference's §1.2. */
  async #route(request: Request, path: string, record: RecordedRequest): Promise<Response> {
    if (!EXECUTOR_PATHS.has(path)) return text(404, "404 Not Found.");
    if (this.#authToken !== undefined) {
      const authorization = request.headers.get("authorization");
      if (authorization === null) {
        return text(401, "401 Unauthorized.", { "WWW-Authenticate": `Bearer realm="${AUTH_REALM}"` });
      }
      if (authorization !== `Bearer ${this.#authToken}`) {
        return text(401, "401 Unauthorized.", {
          "WWW-Authenticate": `Bearer realm="${AUTH_REALM}", error="invalid_token"`,
        });
      }
    }
    if (this.#agentState === "NOT_READY") return text(503, "Agent has not finished recovery");
    if (request.method !== "POST") {
      return text(405, `405 Method Not Allowed. Expecting one of { 'POST' }, but received '${request.method}'.`, {
        Allow: "POST",
      });
    }
    const contentType = request.headers.get("content-type");
    if (contentType === null) return text(400, "Expecting 'Content-Type' to be present");
    const body = await readBody(request);
    let call: ReceivedCall;
    if (contentType === PROTOBUF_MEDIA_TYPE) {
      const parsed = parseProtobufCall(body);
      if (parsed === undefined) return text(400, "Failed to parse body into Call protobuf");
      call = parsed;
    } else if (contentType === JSON_MEDIA_TYPE) {
      let json: unknown;
      try {
        json = JSON.parse(new TextDecoder().decode(body));
      } catch (error) {
        return text(400, `Failed to parse body into JSON: ${(error as Error).message}`);
      }
      try {
        call = parseJsonCall(json);
      } catch (error) {
        if (!(error instanceof ConversionError)) throw error;
        return text(400, `Failed to convert JSON into Call protobuf: ${error.message}`);
      }
    } else {
      return text(415, `Expecting 'Content-Type' of ${JSON_MEDIA_TYPE} or ${PROTOBUF_MEDIA_TYPE}`);
    }
    record.call = call;
    const invalid = validateCall(call);
    if (invalid !== undefined) return text(400, `Failed to validate Executor::Call: ${invalid}`);
    let encoding: EventEncoding = "json";
    if (call.type === "SUBSCRIBE") {
      const accept = request.headers.get("accept");
      if (acceptsMediaType(accept, JSON_MEDIA_TYPE)) encoding = "json";
      else if (acceptsMediaType(accept, PROTOBUF_MEDIA_TYPE)) encoding = "protobuf";
      else {
        return text(406, `Expecting 'Accept' to allow '${PROTOBUF_MEDIA_TYPE}' or '${JSON_MEDIA_TYPE}'`);
      }
    } else if (call.type === "HEARTBEAT") {
      this.heartbeatCalls++;
      return text(202, "");
    } else if (this.#agentState === "RECOVERING") {
      return text(503, "Agent has not finished recovery");
    }
    if (call.framework_id.value !== this.frameworkId) return text(400, "Framework cannot be found");
    if (call.executor_id.value !== this.executorId) return text(400, "Executor cannot be found");
    if (this.#executorState === "REGISTERING" && call.type !== "SUBSCRIBE") {
      return text(403, "Executor is not subscribed");
    }
    switch (call.type) {
      case "SUBSCRIBE":
        return this.#subscribe(call, encoding);
      case "UPDATE": {
        const status = call.update!.status;
        queueMicrotask(() => {
          const { update, ack } = this.#processUpdate(status, "update");
          if (ack) this.#deliverAck(update);
        });
        return text(202, "");
      }
      case "MESSAGE": {
        const data = decodeBase64(call.message!.data);
        this.messages.push({ data, text: new TextDecoder().decode(data), at: Date.now() });
        return text(202, "");
      }
      default:
        return text(501, "501 Not Implemented.");
    }
  }

  /** `Slave::subscribe`. */
  #subscribe(call: ReceivedCall, encoding: EventEncoding): Response {
    this.subscribeCount++;
    this.#stream?.close();
    this.#detachStream();
    const stream = new EventStream(
      ++this.#streamCount,
      encoding,
      () => this.rechunk,
      this.#random,
      (ended) => {
        if (this.#stream === ended) this.#detachStream();
      },
    );
    this.#streams.push(stream);
    this.#stream = stream;
    const response = new Response(stream.body, {
      status: 200,
      headers: { "Content-Type": encoding === "json" ? JSON_MEDIA_TYPE : PROTOBUF_MEDIA_TYPE },
    });
    if (this.#executorState === "TERMINATING" || this.#executorState === "TERMINATED") {
      this.#send({ type: "SHUTDOWN" });
      this.dropStream();
      return response;
    }
    this.#cancel(this.#registrationTimer);
    this.#registrationTimer = undefined;
    this.#cancel(this.#reregistrationTimer);
    this.#reregistrationTimer = undefined;
    this.#executorState = "RUNNING";
    const subscribe = call.subscribe ?? {};
    const known = new Set((subscribe.unacknowledged_tasks ?? []).map((task) => task.task_id.value));
    for (const task of this.#tasks.values()) {
      if (task.phase === "launched" && task.state === "TASK_STAGING" && !known.has(task.id)) {
        const state = this.#capabilities.includes("PARTITION_AWARE") ? "TASK_DROPPED" : "TASK_LOST";
        this.#agentUpdate(task, state, "REASON_AGENT_RESTARTED", "Task launched during agent restart");
      }
    }
    const acks: RecordedUpdate[] = [];
    for (const update of subscribe.unacknowledged_updates ?? []) {
      const processed = this.#processUpdate(update.status, "subscribe");
      if (processed.ack) acks.push(processed.update);
    }
    this.#send(this.#subscribedEvent());
    for (const task of this.#tasks.values()) {
      if (task.phase !== "queued") continue;
      task.phase = "launched";
      this.#send({ type: "LAUNCH", launch: { task: task.info } });
    }
    for (const update of acks) this.#deliverAck(update);
    const interval = this.#options.heartbeatIntervalMs;
    if (interval !== undefined && interval > 0) {
      this.#heartbeatTimer = setInterval(() => this.heartbeat(), interval);
    }
    return response;
  }

  #subscribedEvent(): Record<string, unknown> {
    return {
      type: "SUBSCRIBED",
      subscribed: {
        executor_info: {
          executor_id: { value: this.executorId },
          framework_id: { value: this.frameworkId },
          command: { value: this.#commandLine ?? "fake-executor" },
          resources: scalarResources(0.1, 32),
          name: "fake executor",
        },
        framework_info: {
          user: this.#options.frameworkUser ?? "root",
          name: this.#options.frameworkName ?? "Singularity",
          id: { value: this.frameworkId },
          checkpoint: this.#checkpoint,
          capabilities: this.#capabilities.map((type) => ({ type })),
        },
        agent_info: {
          hostname: this.#options.hostname ?? "localhost",
          port: this.#port,
          id: { value: this.agentId },
        },
        container_id: { value: this.containerId },
      },
    };
  }

  /** The agent's handling of one update (§5 and §9.1 item 3); says whether an ACK is due. */
  #processUpdate(status: StatusJson, via: "update" | "subscribe"): { update: RecordedUpdate; ack: boolean } {
    const update = recordUpdate(status, via);
    this.updates.push(update);
    const finish = (outcome: UpdateOutcome, ack: boolean) => {
      update.outcome = outcome;
      return { update, ack };
    };
    if (status.uuid === undefined) return finish("no-uuid", false);
    if (status.agent_id !== undefined && status.agent_id.value !== this.agentId) return finish("foreign-agent", false);
    if (status.state === "TASK_STAGING") {
      this.shutdown();
      return finish("staging", false);
    }
    const task = this.#tasks.get(update.taskId);
    if (task === undefined) return finish("unknown-task", false);
    const key = update.uuidText!;
    if (task.uuids.has(key)) return finish("duplicate", true);
    task.uuids.add(key);
    const terminal = TERMINAL_STATES.has(status.state);
    if ((task.phase === "queued" && !terminal) || task.phase === "terminated") return finish("dropped", true);
    task.state = status.state;
    if (terminal) task.phase = "terminated";
    return finish("applied", true);
  }

  #deliverAck(update: RecordedUpdate): void {
    if (this.#dropAck?.(update)) {
      update.ackDropped = true;
      return;
    }
    if (this.#withhold) {
      update.ackWithheld = true;
      this.#withheld.push(update);
      return;
    }
    if (this.#ackDelayMs > 0) {
      const timer = this.#later(this.#ackDelayMs, () => {
        this.#ackTimers.delete(timer);
        this.#sendAck(update);
      });
      this.#ackTimers.set(timer, update);
      return;
    }
    this.#sendAck(update);
  }

  #sendAck(update: RecordedUpdate): void {
    const event = this.#send({
      type: "ACKNOWLEDGED",
      acknowledged: { task_id: { value: update.taskId }, uuid: update.status.uuid },
    });
    update.acked = event.delivered;
    if (event.delivered) update.ackedAt = event.at;
    else update.ackLost = true;
  }

  /** An update generated by the agent (SOURCE_AGENT), applied to the task. */
  #agentUpdate(task: TaskRecord, state: string, reason: string, message: string): void {
    const uuid = crypto.getRandomValues(new Uint8Array(16));
    uuid[6] = (uuid[6] & 0x0f) | 0x40;
    uuid[8] = (uuid[8] & 0x3f) | 0x80;
    const status: StatusJson = {
      task_id: { value: task.id },
      state,
      message,
      source: "SOURCE_AGENT",
      reason,
      agent_id: { value: this.agentId },
      executor_id: { value: this.executorId },
      timestamp: Date.now() / 1000,
      uuid: encodeBase64(uuid),
    };
    const update = recordUpdate(status, "agent");
    update.outcome = "applied";
    this.agentUpdates.push(update);
    task.state = state;
    if (TERMINAL_STATES.has(state)) task.phase = "terminated";
  }

  /** Encodes and writes an event of the fake's own making. */
  #send(event: Record<string, unknown>): RecordedEvent {
    return this.#write(String(event.type), jsonForm(event), (encoding) => encodeEvent(event, encoding));
  }

  #write(
    type: string,
    event: Record<string, unknown> | undefined,
    encode: (encoding: EventEncoding) => Uint8Array,
  ): RecordedEvent {
    const stream = this.#stream;
    const payload = encode(stream?.encoding ?? "protobuf");
    const record: RecordedEvent = {
      stream: stream?.id ?? 0,
      type,
      event,
      payload,
      delivered: stream !== undefined && stream.write(encodeRecord(payload)),
      at: Date.now(),
    };
    this.events.push(record);
    return record;
  }

  #detachStream(): void {
    this.#stream = undefined;
    if (this.#heartbeatTimer !== undefined) clearInterval(this.#heartbeatTimer);
    this.#heartbeatTimer = undefined;
  }

  #reregistrationTimedOut(timeoutMs: number): void {
    this.#reregistrationTimer = undefined;
    if (this.#executorState !== "RUNNING" && this.#executorState !== "REGISTERING") return;
    this.#termination = {
      state: this.#capabilities.includes("PARTITION_AWARE") ? "TASK_GONE" : "TASK_LOST",
      reason: "REASON_EXECUTOR_REREGISTRATION_TIMEOUT",
      message: `Executor did not reregister within ${timeoutMs}ms`,
    };
    this.#executorState = "TERMINATING";
    this.#destroyContainer("reregistration-timeout");
  }

  /** The containerizer's destroy: SIGKILL the group; the exit handler then finalizes the tasks. */
  #destroyContainer(reason: KillReason): void {
    if (this.#process !== undefined && !this.#processExited) this.#killGroup(reason);
    else this.#executorTerminated();
  }

  #killGroup(reason: KillReason): void {
    const pgid = this.#process!.pid;
    const pids = liveGroupMembers(pgid);
    try {
      Deno.kill(-pgid, "SIGKILL");
    } catch {
      // The group is already gone.
    }
    this.kills.push({ reason, pgid, pids, at: Date.now() });
  }

  /** The executor process exited: kill what is left of its group, then `Slave::executorTerminated`. */
  async #executorExited(pgid: number): Promise<void> {
    this.#processExited = true;
    // After the fake's own SIGKILL the rest of the group is dying anyway; otherwise give members that are
    // already on their way out (signalled by the executor itself) a moment before calling them leftovers.
    const killed = this.kills.some((kill) => kill.pgid === pgid);
    let leftovers = killed ? [] : liveGroupMembers(pgid);
    for (let attempt = 0; leftovers.length > 0 && attempt < 5; attempt++) {
      await new Promise((resolve) => setTimeout(resolve, 20));
      leftovers = liveGroupMembers(pgid);
    }
    if (leftovers.length > 0) {
      try {
        Deno.kill(-pgid, "SIGKILL");
      } catch {
        // Gone in between.
      }
      this.kills.push({ reason: "leftover-processes", pgid, pids: leftovers, at: Date.now() });
    }
    this.#executorTerminated();
  }

  /** Every task not terminal gets the agent's terminal update; the stream ends. */
  #executorTerminated(): void {
    if (this.#executorState === "TERMINATED") return;
    this.#executorState = "TERMINATED";
    for (const timer of [this.#registrationTimer, this.#shutdownTimer, this.#reregistrationTimer]) this.#cancel(timer);
    this.#registrationTimer = this.#shutdownTimer = this.#reregistrationTimer = undefined;
    const termination = this.#termination ??
      { state: "TASK_FAILED", reason: "REASON_EXECUTOR_TERMINATED", message: "Executor terminated" };
    for (const task of this.#tasks.values()) {
      if (task.phase !== "terminated") {
        this.#agentUpdate(task, termination.state, termination.reason, termination.message);
      }
    }
    this.dropStream();
  }

  #later(ms: number, run: () => void): Timer {
    const timer = setTimeout(() => {
      this.#timers.delete(timer);
      run();
    }, ms);
    this.#timers.add(timer);
    return timer;
  }

  #cancel(timer: Timer | undefined): void {
    if (timer === undefined) return;
    clearTimeout(timer);
    this.#timers.delete(timer);
  }

  #clearTimers(): void {
    for (const timer of this.#timers) clearTimeout(timer);
    this.#timers.clear();
    this.#ackTimers.clear();
    this.#detachStream();
  }

  #summary(): string {
    const tasks = [...this.#tasks.values()].map((task) => `${task.id}=${task.state}/${task.phase}`).join(", ");
    const requests = this.requests.slice(-5).map((r) => `${r.call?.type ?? r.method} ${r.status}`).join(", ");
    const updates = this.updates.slice(-5).map((u) => `${u.taskId}:${u.state}:${u.outcome}${u.acked ? "+ack" : ""}`);
    return `agent ${this.#agentState}, executor ${this.#executorState}, tasks [${tasks}], ` +
      `${this.subscribeCount} subscriptions, last requests [${requests}], last updates [${updates.join(", ")}], ` +
      `events [${this.events.slice(-8).map((e) => e.type).join(", ")}]` +
      (this.#launched === undefined
        ? ""
        : `, executor stderr tail: ${JSON.stringify(this.#launched.stderr.slice(-600))}`);
  }
}

/**
 * A valid TaskInfo in Mesos' JSON form for {@linkcode FakeAgent.launch}: name,
 * task_id, agent_id, cpus/mem resources, the fake's ExecutorInfo, and the
 * optional command, data, kill policy, labels.
 *
 * @example
 * ```ts
 * agent.launch(taskInfo({ id: "t1", command: "echo hi", killPolicyGraceMs: 500, data: '{"a":1}' }));
 * ```
 */
export function taskInfo(options: TaskInfoOptions): TaskInfoJson {
  const task: TaskInfoJson = {
    name: options.name ?? `task ${options.id}`,
    task_id: { value: options.id },
    agent_id: { value: options.agentId ?? DEFAULT_AGENT_ID },
    resources: scalarResources(options.cpus ?? 0.1, options.memMb ?? 32),
    executor: {
      executor_id: { value: options.executorId ?? DEFAULT_EXECUTOR_ID },
      framework_id: { value: options.frameworkId ?? DEFAULT_FRAMEWORK_ID },
      command: { value: "singularity-executor" },
    },
  };
  if (options.command !== undefined || options.arguments !== undefined || options.environment !== undefined) {
    const command: Record<string, unknown> = {};
    if (options.command !== undefined) command.value = options.command;
    if (options.shell !== undefined) command.shell = options.shell;
    if (options.arguments !== undefined) command.arguments = options.arguments;
    if (options.environment !== undefined) {
      command.environment = {
        variables: Object.entries(options.environment).map(([name, value]) => ({ name, value })),
      };
    }
    task.command = command;
  }
  if (options.data !== undefined) {
    task.data = encodeBase64(typeof options.data === "string" ? new TextEncoder().encode(options.data) : options.data);
  }
  if (options.killPolicyGraceMs !== undefined) {
    task.kill_policy = { grace_period: { nanoseconds: String(Math.round(options.killPolicyGraceMs * 1e6)) } };
  }
  if (options.labels !== undefined) {
    task.labels = { labels: Object.entries(options.labels).map(([key, value]) => ({ key, value })) };
  }
  return task;
}

/** One subscription stream: RecordIO bytes written as is, byte by byte, or cut at random across records. */
class EventStream {
  readonly body: ReadableStream<Uint8Array>;
  #controller!: ReadableStreamDefaultController<Uint8Array>;
  #pending: Uint8Array[] = [];
  #pump?: Promise<void>;
  #ended = false;
  #closing = false;

  constructor(
    readonly id: number,
    readonly encoding: EventEncoding,
    private readonly mode: () => Rechunk,
    private readonly random: () => number,
    private readonly onEnd: (stream: EventStream) => void,
  ) {
    this.body = new ReadableStream<Uint8Array>({
      start: (controller) => {
        this.#controller = controller;
      },
      cancel: () => this.#end(),
    });
  }

  /** Queues bytes; false if the stream has ended. */
  write(bytes: Uint8Array): boolean {
    if (this.#ended || this.#closing) return false;
    if (this.mode() === "none" && this.#pump === undefined) return this.#enqueue(bytes);
    this.#pending.push(bytes);
    this.#pump ??= this.#run();
    return true;
  }

  /** Clean EOF once the queued bytes are out. */
  close(): void {
    if (this.#ended || this.#closing) return;
    this.#closing = true;
    if (this.#pump !== undefined) return;
    this.#finish();
  }

  /** Aborts at once; queued bytes are dropped. */
  reset(): void {
    if (this.#ended) return;
    this.#pending = [];
    try {
      this.#controller.error(new StreamReset());
    } catch {
      // Already closed by the client.
    }
    this.#end();
  }

  /** Resolves when no write is in progress. */
  settled(): Promise<void> {
    return this.#pump ?? Promise.resolve();
  }

  async #run(): Promise<void> {
    let buffer: Uint8Array = new Uint8Array(0);
    let offset = 0;
    while (!this.#ended) {
      if (this.#pending.length > 0) {
        // Coalesce: what is left of the current bytes and everything queued since become one buffer.
        buffer = concat([buffer.subarray(offset), ...this.#pending.splice(0)]);
        offset = 0;
      }
      if (offset >= buffer.length) break;
      const remaining = buffer.length - offset;
      const size = this.mode() === "bytewise"
        ? 1
        : this.mode() === "random"
        ? Math.min(remaining, 1 + Math.floor(this.random() ** 3 * Math.min(remaining, 65_536)))
        : remaining;
      if (!this.#enqueue(buffer.slice(offset, offset + size))) break;
      offset += size;
      // One piece per event-loop turn, so that each piece is its own HTTP chunk.
      await new Promise<void>((resolve) => nextTurn(resolve));
    }
    this.#pump = undefined;
    if (this.#closing) this.#finish();
  }

  #enqueue(bytes: Uint8Array): boolean {
    if (this.#ended) return false;
    try {
      this.#controller.enqueue(bytes);
      return true;
    } catch {
      this.#end();
      return false;
    }
  }

  #finish(): void {
    if (this.#ended) return;
    try {
      this.#controller.close();
    } catch {
      // Already cancelled by the client.
    }
    this.#end();
  }

  #end(): void {
    if (this.#ended) return;
    this.#ended = true;
    this.#pending = [];
    this.onEnd(this);
  }
}

/** Reads a child's output into a string. */
class OutputCollector {
  text = "";
  #reader: ReadableStreamDefaultReader<Uint8Array>;
  #done: Promise<void>;

  constructor(stream: ReadableStream<Uint8Array>) {
    const reader = stream.getReader();
    this.#reader = reader;
    const decoder = new TextDecoder();
    this.#done = (async () => {
      try {
        while (true) {
          const { value, done } = await reader.read();
          if (done) break;
          this.text += decoder.decode(value, { stream: true });
        }
      } catch {
        // Cancelled.
      }
    })();
  }

  /** Waits up to `ms` for EOF (grandchildren may hold the pipe), then cancels. */
  async finish(ms: number): Promise<void> {
    let timer: Timer | undefined;
    const timeout = new Promise<boolean>((resolve) => timer = setTimeout(() => resolve(false), ms));
    const ended = await Promise.race([this.#done.then(() => true), timeout]);
    clearTimeout(timer);
    if (!ended) await this.#reader.cancel().catch(() => {});
    await this.#done;
  }
}

/** A Response with a text body. */
function text(status: number, body: string, headers: Record<string, string> = {}): Response {
  return new Response(status === 202 && body === "" ? null : body, { status, headers });
}

/** The request body, gunzipped when `Content-Encoding: gzip` (the agent accepts that). */
async function readBody(request: Request): Promise<Uint8Array> {
  if (request.body === null) return new Uint8Array(0);
  if (request.headers.get("content-encoding") === "gzip") {
    return new Uint8Array(await new Response(request.body.pipeThrough(new DecompressionStream("gzip"))).arrayBuffer());
  }
  return new Uint8Array(await request.arrayBuffer());
}

/** C++ `ParseFromString` with required-field checks; undefined if it would fail. */
function parseProtobufCall(body: Uint8Array): ReceivedCall | undefined {
  let message: protobuf.Message;
  try {
    message = CALL.decode(body);
  } catch {
    return undefined;
  }
  const plain = CALL.toObject(message, JSON_FORM);
  return dropUnknownEnums(CALL, plain) ? plain as ReceivedCall : undefined;
}

/**
 * proto2 enums are closed: an unknown value is kept as an unknown field, so the
 * field reads as unset. False if that leaves a required field unset.
 */
function dropUnknownEnums(type: protobuf.Type, object: Record<string, unknown>): boolean {
  for (const field of type.fieldsArray) {
    const value = object[field.name];
    if (value === undefined) continue;
    const resolved = field.resolvedType;
    if (resolved instanceof protobuf.Enum) {
      if (field.repeated) object[field.name] = (value as unknown[]).filter((item) => typeof item === "string");
      else if (typeof value !== "string") {
        if (field.required) return false;
        delete object[field.name];
      }
    } else if (resolved instanceof protobuf.Type) {
      const items = field.repeated ? value as Record<string, unknown>[] : [value as Record<string, unknown>];
      if (!items.every((item) => dropUnknownEnums(resolved, item))) return false;
    }
  }
  return true;
}

/** stout's `protobuf::parse<Call>(JSON)`, then the required-field check. */
function parseJsonCall(json: unknown): ReceivedCall {
  const object = convertJson(CALL, json, "");
  const missing = missingRequired(CALL, object, "");
  if (missing.length > 0) throw new ConversionError(`Missing required fields: ${missing.join(", ")}`);
  return CALL.toObject(CALL.fromObject(object), JSON_FORM) as ReceivedCall;
}

/**
 * Checks a JSON value against a message type the way stout does: field names
 * only, JSON types must fit, bytes are base64, enums are names (an unknown
 * name drops an optional field and fails a required one), unknown keys ignored.
 */
function convertJson(type: protobuf.Type, json: unknown, path: string): Record<string, unknown> {
  if (json === null || typeof json !== "object" || Array.isArray(json)) {
    throw new ConversionError(`Expecting a JSON object${path === "" ? "" : ` for field '${path}'`}`);
  }
  const source = json as Record<string, unknown>;
  const out: Record<string, unknown> = {};
  for (const field of type.fieldsArray) {
    const value = source[field.name];
    if (value === undefined || value === null) continue;
    const fieldPath = path === "" ? field.name : `${path}.${field.name}`;
    if (field.repeated) {
      if (!Array.isArray(value)) throw new ConversionError(`Expecting a JSON array for field '${fieldPath}'`);
      out[field.name] = value.map((item) => convertValue(field, item, fieldPath)).filter((item) => item !== DROP);
    } else {
      const converted = convertValue(field, value, fieldPath);
      if (converted !== DROP) out[field.name] = converted;
    }
  }
  return out;
}

const DROP = Symbol("drop");

function convertValue(field: protobuf.Field, value: unknown, path: string): unknown {
  const resolved = field.resolvedType;
  if (resolved instanceof protobuf.Type) return convertJson(resolved, value, path);
  const wrong = () => new ConversionError(`Not expecting a JSON ${jsonKind(value)} for field '${path}'`);
  if (resolved instanceof protobuf.Enum) {
    if (typeof value !== "string") throw wrong();
    if (resolved.values[value] !== undefined) return value;
    if (field.required) throw new ConversionError(`Failed to find enum for '${value}' of field '${path}'`);
    return DROP;
  }
  switch (field.type) {
    case "string":
      if (typeof value !== "string") throw wrong();
      return value;
    case "bytes":
      if (typeof value !== "string") throw wrong();
      if (!/^(?:[A-Za-z0-9+/]{4})*(?:[A-Za-z0-9+/]{2}==|[A-Za-z0-9+/]{3}=)?$/.test(value)) {
        throw new ConversionError(`Failed to base64 decode field '${path}': ${JSON.stringify(value.slice(0, 40))}`);
      }
      return value;
    case "bool":
      if (typeof value !== "boolean") throw wrong();
      return value;
    case "double":
    case "float": {
      const number = typeof value === "string" ? Number(value) : value;
      if (typeof number !== "number" || (Number.isNaN(number) && value !== "NaN")) throw wrong();
      return number;
    }
    default: {
      const digits = typeof value === "number" ? (Number.isInteger(value) ? String(value) : "") : value;
      if (typeof digits !== "string" || !/^-?\d+$/.test(digits)) throw wrong();
      return /64$/.test(field.type) ? digits : Number(digits);
    }
  }
}

function jsonKind(value: unknown): string {
  if (Array.isArray(value)) return "array";
  if (typeof value === "object") return "object";
  return typeof value;
}

/** Paths of missing required fields, as `InitializationErrorString()` lists them. */
function missingRequired(type: protobuf.Type, object: Record<string, unknown>, prefix: string): string[] {
  const missing: string[] = [];
  for (const field of type.fieldsArray) {
    const value = object[field.name];
    if (value === undefined) {
      if (field.required) missing.push(prefix + field.name);
      continue;
    }
    const resolved = field.resolvedType;
    if (!(resolved instanceof protobuf.Type)) continue;
    if (field.repeated) {
      (value as Record<string, unknown>[]).forEach((item, index) =>
        missing.push(...missingRequired(resolved, item, `${prefix}${field.name}[${index}].`))
      );
    } else {
      missing.push(...missingRequired(resolved, value as Record<string, unknown>, `${prefix}${field.name}.`));
    }
  }
  return missing;
}

/** `validateExecutorCall` (§9.2): the reason, or undefined when the call is valid. */
function validateCall(call: ReceivedCall): string | undefined {
  if (call.type === undefined) return "Expecting 'type' to be present";
  if (call.executor_id === undefined) return "Expecting 'executor_id' to be present";
  if (call.framework_id === undefined) return "Expecting 'framework_id' to be present";
  const executor = call.executor_id.value;
  const framework = call.framework_id.value;
  switch (call.type) {
    case "SUBSCRIBE":
      return call.subscribe === undefined ? "Expecting 'subscribe' to be present" : undefined;
    case "UPDATE": {
      if (call.update === undefined) return "Expecting 'update' to be present";
      const status = call.update.status;
      if (status.uuid === undefined) return "Expecting 'uuid' to be present";
      if (!isBoostValidUuid(decodeBase64(status.uuid))) return "Not a valid UUID";
      if (status.executor_id !== undefined && status.executor_id.value !== executor) {
        return `ExecutorID in Call: ${executor} does not match ExecutorID in TaskStatus: ${status.executor_id.value}`;
      }
      if ((status.source ?? "SOURCE_MASTER") !== "SOURCE_EXECUTOR") {
        return `Received Call from executor ${executor} of framework ${framework} ` +
          `with invalid source, expecting 'SOURCE_EXECUTOR'`;
      }
      if (status.state === "TASK_STAGING") {
        return `Received TASK_STAGING from executor ${executor} of framework ${framework} which is not allowed`;
      }
      if (status.check_status !== undefined) return checkStatusError(status.check_status);
      return undefined;
    }
    case "MESSAGE":
      return call.message === undefined ? "Expecting 'message' to be present" : undefined;
    default:
      return undefined;
  }
}

/** `validateCheckStatusInfo`. */
function checkStatusError(check: NonNullable<StatusJson["check_status"]>): string | undefined {
  switch (check.type) {
    case undefined:
      return "CheckStatusInfo must specify 'type'";
    case "COMMAND":
      return check.command === undefined ? "Expecting 'command' to be set for COMMAND check's status" : undefined;
    case "HTTP":
      return check.http === undefined ? "Expecting 'http' to be set for HTTP check's status" : undefined;
    case "TCP":
      return check.tcp === undefined ? "Expecting 'tcp' to be set for TCP check's status" : undefined;
    default:
      return `'${check.type}' is not a valid check's status type`;
  }
}

/** stout `UUID::fromBytes`: 16 bytes and a Boost-known version (byte 6 high nibble 1..5). */
function isBoostValidUuid(bytes: Uint8Array): boolean {
  if (bytes.length !== 16) return false;
  const version = bytes[6] >> 4;
  return version >= 1 && version <= 5;
}

/** libprocess `Request::acceptsMediaType`: absent header accepts all; the most specific range decides. */
function acceptsMediaType(accept: string | null, mediaType: string): boolean {
  if (accept === null) return true;
  const [type, subtype] = mediaType.split("/");
  let best: { specificity: number; q: number } | undefined;
  for (const range of accept.split(",")) {
    const [name, ...parameters] = range.split(";").map((part) => part.trim());
    const [rangeType, rangeSubtype] = name.toLowerCase().split("/");
    const specificity = rangeType === type && rangeSubtype === subtype
      ? 2
      : rangeType === type && rangeSubtype === "*"
      ? 1
      : rangeType === "*" && rangeSubtype === "*"
      ? 0
      : -1;
    if (specificity < 0) continue;
    const qParameter = parameters.find((parameter) => parameter.toLowerCase().startsWith("q="));
    const q = qParameter === undefined ? 1 : Number(qParameter.slice(2));
    if (best === undefined || specificity > best.specificity) best = { specificity, q };
  }
  return best !== undefined && best.q > 0;
}

/** Event payload in `encoding`; JSON carries unset fields that have explicit defaults, as the agent's does. */
function encodeEvent(event: Record<string, unknown>, encoding: EventEncoding): Uint8Array {
  const message = EVENT.fromObject(event);
  if (encoding === "protobuf") return EVENT.encode(message).finish();
  const object = EVENT.toObject(message, JSON_OUTPUT);
  addExplicitDefaults(EVENT, object);
  return new TextEncoder().encode(JSON.stringify(object));
}

function addExplicitDefaults(type: protobuf.Type, object: Record<string, unknown>): void {
  for (const field of type.fieldsArray) {
    const value = object[field.name];
    const resolved = field.resolvedType;
    if (value === undefined) {
      const fallback = field.options?.default;
      if (!field.repeated && fallback !== undefined) object[field.name] = fallback;
    } else if (resolved instanceof protobuf.Type) {
      const items = field.repeated ? value as Record<string, unknown>[] : [value as Record<string, unknown>];
      for (const item of items) addExplicitDefaults(resolved, item);
    }
  }
}

/** An event object normalised to Mesos' JSON form, for the record. */
function jsonForm(event: Record<string, unknown>): Record<string, unknown> {
  return EVENT.toObject(EVENT.fromObject(event), JSON_FORM);
}

function recordUpdate(status: StatusJson, via: RecordedUpdate["via"]): RecordedUpdate {
  const uuid = status.uuid === undefined ? undefined : decodeBase64(status.uuid);
  return {
    taskId: status.task_id.value,
    state: status.state,
    uuid,
    uuidText: uuid === undefined ? undefined : uuidText(uuid),
    message: status.message,
    source: status.source,
    reason: status.reason,
    timestamp: status.timestamp,
    agentId: status.agent_id?.value,
    executorId: status.executor_id?.value,
    data: status.data === undefined ? undefined : decodeBase64(status.data),
    healthy: status.healthy,
    status,
    via,
    outcome: "applied",
    acked: false,
    at: Date.now(),
  };
}

function scalarResources(cpus: number, memMb: number): Record<string, unknown>[] {
  return [
    { name: "cpus", type: "SCALAR", scalar: { value: cpus } },
    { name: "mem", type: "SCALAR", scalar: { value: memMb } },
  ];
}

function durationMs(option: string, value: string): number {
  const ms = parseMesosDuration(value);
  if (ms === undefined) {
    throw new Error(`launchExecutor(): ${option} "${value}" is not a Mesos duration (expected e.g. 2secs, 500ms)`);
  }
  return ms;
}

/** Live (non-zombie) members of a process group, from `/proc` (empty where there is none). */
function liveGroupMembers(pgid: number): number[] {
  const pids: number[] = [];
  let entries: Deno.DirEntry[];
  try {
    entries = [...Deno.readDirSync("/proc")];
  } catch {
    return pids;
  }
  for (const entry of entries) {
    if (!/^\d+$/.test(entry.name)) continue;
    let stat: string;
    try {
      stat = Deno.readTextFileSync(`/proc/${entry.name}/stat`);
    } catch {
      continue;
    }
    // After "pid (comm) ": state ppid pgrp ...
    const [state, , pgrp] = stat.slice(stat.lastIndexOf(")") + 2).split(" ");
    if (Number(pgrp) === pgid && state !== "Z" && state !== "X") pids.push(Number(entry.name));
  }
  return pids;
}

function uuidText(bytes: Uint8Array): string {
  const hex = [...bytes].map((byte) => byte.toString(16).padStart(2, "0")).join("");
  if (bytes.length !== 16) return hex;
  return `${hex.slice(0, 8)}-${hex.slice(8, 12)}-${hex.slice(12, 16)}-${hex.slice(16, 20)}-${hex.slice(20)}`;
}

function encodeBase64(bytes: Uint8Array): string {
  let binary = "";
  for (let offset = 0; offset < bytes.length; offset += 0x8000) {
    binary += String.fromCharCode(...bytes.subarray(offset, offset + 0x8000));
  }
  return btoa(binary);
}

function decodeBase64(text: string): Uint8Array {
  return Uint8Array.from(atob(text), (char) => char.charCodeAt(0));
}

function concat(parts: Uint8Array[]): Uint8Array {
  const out = new Uint8Array(parts.reduce((total, part) => total + part.length, 0));
  let offset = 0;
  for (const part of parts) {
    out.set(part, offset);
    offset += part.length;
  }
  return out;
}

/** A small seeded PRNG, so that `random` re-chunking is reproducible. */
function mulberry32(seed: number): () => number {
  let state = seed >>> 0;
  return () => {
    state = (state + 0x6d2b79f5) >>> 0;
    let t = state;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}
