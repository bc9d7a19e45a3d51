import assert from "node:assert/strict";
import { codecFor, InvalidCallError } from "../../lib/mesos/codec.ts";
import type { UpdateMessage } from "../../lib/mesos/messages.ts";
import { CALL, EVENT, JSON_FORM, RAW_SUBSCRIBE_CALL, TASK_INFO } from "../../lib/mesos/schema.ts";
import { newUpdateUuid } from "../../lib/mesos/uuid.ts";

const ids = { executorId: "ex-1", frameworkId: "fw-1" };
const hex = (bytes: Uint8Array) => [...bytes].map((b) => b.toString(16).padStart(2, "0")).join("");

function update(overrides: Partial<UpdateMessage["status"]> = {}): UpdateMessage {
  return {
    status: {
      task_id: { value: "task-1" },
      state: "TASK_RUNNING",
      source: "SOURCE_EXECUTOR",
      executor_id: { value: "ex-1" },
      timestamp: 1700000000.5,
      uuid: newUpdateUuid(),
      ...overrides,
    },
  };
}

const TASK = {
  name: "task one",
  task_id: { value: "task-1" },
  agent_id: { value: "agent-1" },
  resources: [{ name: "cpus", type: "SCALAR", scalar: { value: 0.5 } }],
  command: { value: "echo hi", environment: { variables: [{ name: "A", value: "1" }] } },
  kill_policy: { grace_period: { nanoseconds: "2500000000" } },
  data: new TextEncoder().encode('{"cmd":"x"}'),
};

Deno.test("codecFor('protobuf').encodeCall() SUBSCRIBE carries an empty subscribe (22 00) and the raw tasks", () => {
  const codec = codecFor("protobuf");
  assert.equal(
    hex(codec.encodeCall({ type: "SUBSCRIBE", unacknowledged_tasks: [], unacknowledged_updates: [] }, ids)),
    "0a060a0465782d3112060a0466772d3118012200",
  );
  const raw = TASK_INFO.encode(TASK_INFO.fromObject(TASK)).finish();
  const pending = update();
  const bytes = codec.encodeCall(
    { type: "SUBSCRIBE", unacknowledged_tasks: [raw], unacknowledged_updates: [pending] },
    ids,
  );
  const call = CALL.toObject(CALL.decode(bytes), JSON_FORM);
  assert.equal(call.type, "SUBSCRIBE");
  assert.equal(call.subscribe.unacknowledged_tasks[0].name, "task one");
  assert.equal(call.subscribe.unacknowledged_updates[0].status.uuid, btoa(String.fromCharCode(...pending.status.uuid)));
  const echoed = RAW_SUBSCRIBE_CALL.decode(bytes) as unknown as { subscribe: { unacknowledged_tasks: Uint8Array[] } };
  assert.deepEqual(new Uint8Array(echoed.subscribe.unacknowledged_tasks[0]), new Uint8Array(raw));
});

Deno.test("codecFor('json').encodeCall() UPDATE uses Mesos JSON: enum names, base64 bytes, snake_case", () => {
  const pending = update({ message: "pid 42" });
  const json = JSON.parse(
    new TextDecoder().decode(codecFor("json").encodeCall({ type: "UPDATE", update: pending }, ids)),
  );
  assert.deepEqual(json, {
    executor_id: { value: "ex-1" },
    framework_id: { value: "fw-1" },
    type: "UPDATE",
    update: {
      status: {
        task_id: { value: "task-1" },
        state: "TASK_RUNNING",
        message: "pid 42",
        source: "SOURCE_EXECUTOR",
        executor_id: { value: "ex-1" },
        timestamp: 1700000000.5,
        uuid: btoa(String.fromCharCode(...pending.status.uuid)),
      },
    },
  });
});

Deno.test("encodeCall() MESSAGE puts the data in field 2", () => {
  const bytes = codecFor("protobuf").encodeCall({ type: "MESSAGE", data: new Uint8Array([1, 2, 3]) }, ids);
  assert.ok(hex(bytes).endsWith("32051203010203"), hex(bytes));
});

Deno.test("encodeCall() refuses updates the agent would refuse", () => {
  for (const codec of [codecFor("protobuf"), codecFor("json")]) {
    assert.throws(
      () => codec.encodeCall({ type: "UPDATE", update: update({ state: "TASK_STAGING" }) }, ids),
      InvalidCallError,
    );
    assert.throws(() => codec.encodeCall({ type: "UPDATE", update: update({ uuid: new Uint8Array(15) }) }, ids), {
      message: "TaskStatus.uuid must be 16 bytes of a version 1-5 UUID",
    });
    const v7 = newUpdateUuid();
    v7[6] = (v7[6] & 0x0f) | 0x70;
    assert.throws(() => codec.encodeCall({ type: "UPDATE", update: update({ uuid: v7 }) }, ids), InvalidCallError);
    assert.throws(
      () => codec.encodeCall({ type: "UPDATE", update: update({ source: "SOURCE_MASTER" as "SOURCE_EXECUTOR" }) }, ids),
      { message: "TaskStatus.source must be SOURCE_EXECUTOR" },
    );
  }
});

Deno.test("decodeEvent() LAUNCH in both encodings: the task, and its echo for SUBSCRIBE", () => {
  const event = { type: "LAUNCH", launch: { task: TASK } };
  const bytes = EVENT.encode(EVENT.fromObject(event)).finish();
  const fromProtobuf = codecFor("protobuf").decodeEvent(bytes);
  assert.equal(fromProtobuf.type, "LAUNCH");
  if (fromProtobuf.type !== "LAUNCH") return;
  assert.equal(fromProtobuf.task.task_id.value, "task-1");
  assert.equal(fromProtobuf.task.kill_policy?.grace_period?.nanoseconds, "2500000000");
  assert.equal(new TextDecoder().decode(fromProtobuf.task.data), '{"cmd":"x"}');
  assert.deepEqual(
    new Uint8Array(fromProtobuf.echo as Uint8Array),
    new Uint8Array(TASK_INFO.encode(TASK_INFO.fromObject(TASK)).finish()),
  );

  const json = EVENT.toObject(EVENT.fromObject(event), JSON_FORM);
  const fromJson = codecFor("json").decodeEvent(new TextEncoder().encode(JSON.stringify(json)));
  assert.equal(fromJson.type, "LAUNCH");
  if (fromJson.type !== "LAUNCH") return;
  assert.equal(new TextDecoder().decode(fromJson.task.data), '{"cmd":"x"}');
  assert.deepEqual(fromJson.echo, json.launch.task);
});

Deno.test("decodeEvent() KILL with a kill policy, ACKNOWLEDGED, MESSAGE, ERROR, SHUTDOWN, HEARTBEAT and an unknown type", () => {
  const codec = codecFor("protobuf");
  const decode = (object: Record<string, unknown>) =>
    codec.decodeEvent(EVENT.encode(EVENT.fromObject(object)).finish());
  assert.deepEqual(
    decode({
      type: "KILL",
      kill: { task_id: { value: "t" }, kill_policy: { grace_period: { nanoseconds: 1500000000 } } },
    }),
    {
      type: "KILL",
      taskId: "t",
      gracePeriodMs: 1500,
    },
  );
  assert.deepEqual(decode({ type: "KILL", kill: { task_id: { value: "t" } } }), {
    type: "KILL",
    taskId: "t",
    gracePeriodMs: undefined,
  });
  const uuid = newUpdateUuid();
  const ack = decode({ type: "ACKNOWLEDGED", acknowledged: { task_id: { value: "t" }, uuid } });
  assert.deepEqual(ack, { type: "ACKNOWLEDGED", taskId: "t", uuid });
  assert.deepEqual(decode({ type: "MESSAGE", message: { data: new Uint8Array([9]) } }), {
    type: "MESSAGE",
    data: new Uint8Array([9]),
  });
  assert.deepEqual(decode({ type: "ERROR", error: { message: "boom" } }), { type: "ERROR", message: "boom" });
  assert.deepEqual(decode({ type: "SHUTDOWN" }), { type: "SHUTDOWN" });
  assert.deepEqual(decode({ type: "HEARTBEAT" }), { type: "HEARTBEAT" });
  assert.deepEqual(codec.decodeEvent(new Uint8Array([0x08, 42])), { type: "UNKNOWN", name: "42" });
  assert.deepEqual(codecFor("json").decodeEvent(new TextEncoder().encode('{"type":"SOMETHING_NEW"}')), {
    type: "UNKNOWN",
    name: "SOMETHING_NEW",
  });
});

Deno.test("decodeEvent() SUBSCRIBED gives the agent id and framework capabilities", () => {
  const bytes = EVENT.encode(EVENT.fromObject({
    type: "SUBSCRIBED",
    subscribed: {
      executor_info: { executor_id: { value: "ex-1" } },
      framework_info: {
        user: "root",
        name: "Singularity",
        capabilities: [{ type: "TASK_KILLING_STATE" }, { type: "PARTITION_AWARE" }],
      },
      agent_info: { hostname: "agent.example", id: { value: "agent-1" } },
      container_id: { value: "c-1" },
    },
  })).finish();
  assert.deepEqual(codecFor("protobuf").decodeEvent(bytes), {
    type: "SUBSCRIBED",
    agentId: "agent-1",
    agentHostname: "agent.example",
    frameworkName: "Singularity",
    frameworkCapabilities: ["TASK_KILLING_STATE", "PARTITION_AWARE"],
    containerId: "c-1",
  });
});
