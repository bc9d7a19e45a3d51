/**
 * Encoding of calls and decoding of events, in protobuf (the default) or JSON.
 * Calls are checked before they are encoded, so the driver never sends one
 * the agent would refuse.
 *
 * @module
 */
import {
  CALL,
  EVENT,
  JSON_FORM,
  MESOS_ROOT,
  RAW_EVENT_TYPE,
  RAW_LAUNCH_EVENT,
  RAW_SUBSCRIBE_CALL,
  TASK_INFO,
} from "./schema.ts";
import type { Call, Event, TaskEcho, TaskInfo, UpdateMessage } from "./messages.ts";
import { isValidUpdateUuid } from "./uuid.ts";

const EVENT_TYPES = MESOS_ROOT.lookupEnum("mesos.v1.executor.Event.Type");

/** The two encodings the agent speaks. */
export type Encoding = "protobuf" | "json";

/** The ids every call carries. */
export interface CallIds {
  executorId: string;
  frameworkId: string;
}

/** Encodes calls and decodes events in one encoding. */
export interface Codec {
  readonly encoding: Encoding;
  /** The exact `Content-Type` (and `Accept`) value the agent compares against. */
  readonly mediaType: "application/x-protobuf" | "application/json";
  encodeCall(call: Call, ids: CallIds): Uint8Array<ArrayBuffer>;
  decodeEvent(record: Uint8Array): Event;
}

/** A call that the agent would refuse; says which field and why. */
export class InvalidCallError extends Error {
  constructor(message: string) {
    super(message);
    this.name = "InvalidCallError";
  }
}

/**
 * The codec for `encoding`.
 *
 * @example
 * ```ts
 * const codec = codecFor("protobuf");
 * const body = codec.encodeCall({ type: "HEARTBEAT" }, { executorId: "e", frameworkId: "f" });
 * ```
 */
export function codecFor(encoding: Encoding): Codec {
  return encoding === "protobuf" ? PROTOBUF : JSON_CODEC;
}

const PROTOBUF: Codec = {
  encoding: "protobuf",
  mediaType: "application/x-protobuf",
  encodeCall(call, ids) {
    checkCall(call);
    if (call.type === "SUBSCRIBE") {
      const tasks = call.unacknowledged_tasks.map((task) => {
        if (!(task instanceof Uint8Array)) throw new InvalidCallError("a JSON TaskInfo cannot be resent as protobuf");
        return task;
      });
      const object = {
        ...envelope(call, ids),
        subscribe: { unacknowledged_tasks: tasks, unacknowledged_updates: call.unacknowledged_updates },
      };
      return new Uint8Array(RAW_SUBSCRIBE_CALL.encode(RAW_SUBSCRIBE_CALL.fromObject(object)).finish());
    }
    return new Uint8Array(CALL.encode(CALL.fromObject(callObject(call, ids))).finish());
  },
  decodeEvent(record) {
    const plain = EVENT.toObject(EVENT.decode(record), { enums: String, longs: String });
    const number = (RAW_EVENT_TYPE.decode(record) as unknown as { type?: number }).type ?? 0;
    let echo: TaskEcho | undefined;
    if (plain.type === "LAUNCH") {
      const raw = RAW_LAUNCH_EVENT.decode(record) as unknown as { launch?: { task?: Uint8Array } };
      echo = raw.launch?.task;
    }
    return toEvent(plain, EVENT_TYPES.valuesById[number] ?? String(number), echo);
  },
};

const JSON_CODEC: Codec = {
  encoding: "json",
  mediaType: "application/json",
  encodeCall(call, ids) {
    checkCall(call);
    const object = CALL.toObject(CALL.fromObject(callObject(call, ids)), JSON_FORM);
    if (call.type === "SUBSCRIBE") {
      for (const task of call.unacknowledged_tasks) {
        if (task instanceof Uint8Array) throw new InvalidCallError("a protobuf TaskInfo cannot be resent as JSON");
      }
      object.subscribe = { ...object.subscribe, unacknowledged_tasks: call.unacknowledged_tasks };
      if (call.unacknowledged_tasks.length === 0) delete object.subscribe.unacknowledged_tasks;
    }
    return new TextEncoder().encode(JSON.stringify(object));
  },
  decodeEvent(record) {
    const json = JSON.parse(new TextDecoder().decode(record));
    if (json === null || typeof json !== "object") throw new Error("event is not a JSON object");
    const plain = EVENT.toObject(EVENT.fromObject(json), { enums: String, longs: String });
    const name = typeof json.type === "string" || typeof json.type === "number"
      ? String(json.type)
      : String(plain.type ?? "UNKNOWN");
    return toEvent(plain, name, json.type === "LAUNCH" ? json.launch?.task : undefined);
  },
};

/** The ids and type of a call. */
function envelope(call: Call, ids: CallIds): Record<string, unknown> {
  return { executor_id: { value: ids.executorId }, framework_id: { value: ids.frameworkId }, type: call.type };
}

/** A call as the protobufjs object form of `mesos.v1.executor.Call`. */
function callObject(call: Call, ids: CallIds): Record<string, unknown> {
  switch (call.type) {
    case "SUBSCRIBE":
      return { ...envelope(call, ids), subscribe: { unacknowledged_updates: call.unacknowledged_updates } };
    case "UPDATE":
      return { ...envelope(call, ids), update: call.update };
    case "MESSAGE":
      return { ...envelope(call, ids), message: { data: call.data } };
    case "HEARTBEAT":
      return envelope(call, ids);
  }
}

/** The checks of the agent's `validateExecutorCall` that a call could fail. */
function checkCall(call: Call): void {
  if (call.type === "UPDATE") checkUpdate(call.update);
  if (call.type === "SUBSCRIBE") call.unacknowledged_updates.forEach(checkUpdate);
}

/** An update the agent accepts: task id, a state other than STAGING, source EXECUTOR, a v1-v5 uuid. */
function checkUpdate(update: UpdateMessage): void {
  const status = update.status;
  if (!status.task_id?.value) throw new InvalidCallError("TaskStatus.task_id is missing");
  if (!status.state || status.state === "TASK_STAGING") {
    throw new InvalidCallError(`TaskStatus.state "${status.state}" cannot be sent by an executor`);
  }
  if (status.source !== "SOURCE_EXECUTOR") throw new InvalidCallError("TaskStatus.source must be SOURCE_EXECUTOR");
  if (!(status.uuid instanceof Uint8Array) || !isValidUpdateUuid(status.uuid)) {
    throw new InvalidCallError("TaskStatus.uuid must be 16 bytes of a version 1-5 UUID");
  }
}

/** Plain decoded object → {@linkcode Event}. */
// deno-lint-ignore no-explicit-any
function toEvent(plain: Record<string, any>, name: string, echo: TaskEcho | undefined): Event {
  switch (name) {
    case "SUBSCRIBED": {
      const subscribed = plain.subscribed ?? {};
      return {
        type: "SUBSCRIBED",
        agentId: subscribed.agent_info?.id?.value ?? "",
        agentHostname: subscribed.agent_info?.hostname ?? "",
        frameworkName: subscribed.framework_info?.name ?? "",
        frameworkCapabilities: (subscribed.framework_info?.capabilities ?? []).map((c: { type?: string }) =>
          String(c.type)
        ),
        containerId: subscribed.container_id?.value,
      };
    }
    case "LAUNCH": {
      const task = normaliseTask(plain.launch?.task);
      return { type: "LAUNCH", task, echo: echo ?? TASK_INFO.encode(TASK_INFO.fromObject(task)).finish() };
    }
    case "LAUNCH_GROUP":
      return { type: "LAUNCH_GROUP", tasks: (plain.launch_group?.task_group?.tasks ?? []).map(normaliseTask) };
    case "KILL": {
      const nanoseconds = plain.kill?.kill_policy?.grace_period?.nanoseconds;
      return {
        type: "KILL",
        taskId: plain.kill?.task_id?.value ?? "",
        gracePeriodMs: nanoseconds === undefined ? undefined : Number(nanoseconds) / 1e6,
      };
    }
    case "ACKNOWLEDGED":
      return {
        type: "ACKNOWLEDGED",
        taskId: plain.acknowledged?.task_id?.value ?? "",
        uuid: new Uint8Array(plain.acknowledged?.uuid ?? []),
      };
    case "MESSAGE":
      return { type: "MESSAGE", data: new Uint8Array(plain.message?.data ?? []) };
    case "ERROR":
      return { type: "ERROR", message: plain.error?.message ?? "" };
    case "SHUTDOWN":
      return { type: "SHUTDOWN" };
    case "HEARTBEAT":
      return { type: "HEARTBEAT" };
    default:
      return { type: "UNKNOWN", name };
  }
}

/** A decoded TaskInfo with bytes as Uint8Array and 64-bit numbers as strings. */
// deno-lint-ignore no-explicit-any
function normaliseTask(task: any): TaskInfo {
  const plain = TASK_INFO.toObject(TASK_INFO.fromObject(task ?? {}), { enums: String, longs: String });
  return plain as TaskInfo;
}
