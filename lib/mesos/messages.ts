/**
 * The executor API as plain TypeScript data: what the driver sends and
 * receives, independent of the wire encoding. Field names follow Mesos
 * (snake_case) for the protocol objects; the task layer never sees them.
 *
 * @module
 */

/** Task states an executor may report (the agent refuses TASK_STAGING). */
export type TaskState =
  | "TASK_STARTING"
  | "TASK_RUNNING"
  | "TASK_KILLING"
  | "TASK_FINISHED"
  | "TASK_FAILED"
  | "TASK_KILLED"
  | "TASK_ERROR"
  | "TASK_LOST";

/** States after which a task never changes again. */
export const TERMINAL_STATES: ReadonlySet<string> = new Set([
  "TASK_FINISHED",
  "TASK_FAILED",
  "TASK_KILLED",
  "TASK_ERROR",
  "TASK_LOST",
  "TASK_DROPPED",
  "TASK_GONE",
  "TASK_GONE_BY_OPERATOR",
]);

/** A `mesos.v1.TaskStatus` as the driver builds it. */
export interface TaskStatusMessage {
  task_id: { value: string };
  state: string;
  message?: string;
  source: "SOURCE_EXECUTOR";
  reason?: string;
  data?: Uint8Array;
  executor_id: { value: string };
  timestamp: number;
  uuid: Uint8Array;
  healthy?: boolean;
}

/** A `mesos.v1.executor.Call.Update`. */
export interface UpdateMessage {
  status: TaskStatusMessage;
}

/**
 * A TaskInfo as it arrived, kept to be echoed in SUBSCRIBE: the raw protobuf
 * bytes, or the JSON object.
 */
export type TaskEcho = Uint8Array | Record<string, unknown>;

/** A call, before encoding. */
export type Call =
  | { type: "SUBSCRIBE"; unacknowledged_tasks: TaskEcho[]; unacknowledged_updates: UpdateMessage[] }
  | { type: "UPDATE"; update: UpdateMessage }
  | { type: "MESSAGE"; data: Uint8Array }
  | { type: "HEARTBEAT" };

/** What the executor is told about a task to launch (decoded TaskInfo, plain data). */
export interface TaskInfo {
  name: string;
  task_id: { value: string };
  agent_id: { value: string };
  executor?: {
    executor_id: { value: string };
    data?: Uint8Array;
    command?: { environment?: { variables?: { name: string; value?: string; type?: string }[] } };
  };
  command?: {
    value?: string;
    shell?: boolean;
    arguments?: string[];
    user?: string;
    environment?: { variables?: { name: string; value?: string; type?: string }[] };
  };
  kill_policy?: { grace_period?: { nanoseconds: string | number } };
  data?: Uint8Array;
  labels?: { labels?: { key: string; value?: string }[] };
  resources?: { name: string; type: string; scalar?: { value: number } }[];
}

/** A decoded event. */
export type Event =
  | {
    type: "SUBSCRIBED";
    agentId: string;
    frameworkCapabilities: string[];
    containerId?: string;
    frameworkName: string;
    agentHostname: string;
  }
  | { type: "LAUNCH"; task: TaskInfo; echo: TaskEcho }
  | { type: "LAUNCH_GROUP"; tasks: TaskInfo[] }
  | { type: "KILL"; taskId: string; gracePeriodMs?: number }
  | { type: "ACKNOWLEDGED"; taskId: string; uuid: Uint8Array }
  | { type: "MESSAGE"; data: Uint8Array }
  | { type: "ERROR"; message: string }
  | { type: "SHUTDOWN" }
  | { type: "HEARTBEAT" }
  | { type: "UNKNOWN"; name: string };
