/**
 * Cross-checks the hand-written schema (lib/mesos/mesos.proto.ts) against an
 * independent copy of the Mesos v1 protos: mesos-go's, from the Debian package
 * golang-github-mesos-mesos-go-dev (installed by scripts/setup.sh). Also checks
 * that the Raw* views are wire-compatible with the messages they stand for.
 */
import assert from "node:assert/strict";
import protobuf from "protobufjs";
import { CALL, EVENT, MESOS_ROOT, mesosType, TASK_INFO } from "../../lib/mesos/schema.ts";

const MESOS_GO = "/usr/share/gocode/src/github.com/mesos/mesos-go/api/v1/lib";

/**
 * What our schema has and mesos-go 0.0.6 (which predates Mesos 1.6) lacks, by
 * name relative to the package (`executor.` for mesos.v1.executor).
 */
const NEWER_THAN_MESOS_GO = [
  "TaskInfo.max_completion_time", // Mesos 1.6
  "TaskStatus.Reason.REASON_MAX_COMPLETION_TIME_REACHED", // 1.6
  "TaskStatus.Reason.REASON_AGENT_DRAINING", // 1.9
  "TaskStatus.Reason.REASON_AGENT_REMOVED_BY_OPERATOR", // 1.7
  "TaskStatus.Reason.REASON_AGENT_REREGISTERED", // 1.7
  "executor.Call.Type.HEARTBEAT", // 1.8
  "executor.Event.Type.HEARTBEAT", // 1.8
];

/** mesos-go's protos without the gogoproto import and options, which only steer Go code generation. */
function withoutGogoproto(text: string): string {
  return text
    .replace(/^import "github\.com\/.*";$/gm, "")
    .replace(/^\s*option \(gogoproto\.[^;]*;/gm, "")
    .replace(/\[([^\]]*)\]/g, (all, inner: string) => {
      if (!inner.includes("(gogoproto.")) return all;
      const kept = inner.split(",").map((option) => option.trim()).filter((option) =>
        !option.startsWith("(gogoproto.")
      );
      return kept.length === 0 ? "" : `[${kept.join(", ")}]`;
    });
}

function loadMesosGo(): protobuf.Root {
  const root = new protobuf.Root();
  for (const file of ["mesos.proto", "executor/executor.proto"]) {
    let text: string;
    try {
      text = Deno.readTextFileSync(`${MESOS_GO}/${file}`);
    } catch (error) {
      throw new Error(
        `cannot read ${MESOS_GO}/${file} (${(error as Error).message}): install the Debian package ` +
          `golang-github-mesos-mesos-go-dev (bash scripts/setup.sh does)`,
      );
    }
    protobuf.parse(withoutGogoproto(text), root, { keepCase: true });
  }
  root.resolveAll();
  return root;
}

/** `.mesos.v1.TaskInfo` and `.mesos.TaskInfo` → `TaskInfo`; `.mesos[.v1].executor.Call` → `executor.Call`. */
function relativeName(object: protobuf.ReflectionObject): string {
  return object.fullName.replace(/^\.mesos\.(v1\.)?/, "");
}

/** Every message type and enum under `namespace`, nested ones included. */
function typesAndEnums(namespace: protobuf.NamespaceBase): (protobuf.Type | protobuf.Enum)[] {
  const found: (protobuf.Type | protobuf.Enum)[] = [];
  for (const object of namespace.nestedArray) {
    if (object instanceof protobuf.Type || object instanceof protobuf.Enum) found.push(object);
    if (object instanceof protobuf.Namespace) found.push(...typesAndEnums(object));
  }
  return found;
}

function label(field: protobuf.Field): string {
  if (field instanceof protobuf.MapField) return "map";
  return field.repeated ? "repeated" : field.required ? "required" : "optional";
}

function typeName(field: protobuf.Field): string {
  const base = field.resolvedType ? relativeName(field.resolvedType) : field.type;
  return field instanceof protobuf.MapField ? `map<${field.keyType}, ${base}>` : base;
}

/** A field's shape, everything that must agree between the two schemas. */
function shape(field: protobuf.Field): Record<string, unknown> {
  return { id: field.id, label: label(field), type: typeName(field), default: field.options?.default };
}

const OURS = typesAndEnums(MESOS_ROOT).filter((object) => !relativeName(object).startsWith("executor.Raw"));

Deno.test("schema: every message and enum shared with mesos-go has the same numbers, types, labels", () => {
  const theirs = new Map(typesAndEnums(loadMesosGo()).map((object) => [relativeName(object), object]));
  const onlyOurs: string[] = [];
  let compared = 0;
  for (const ours of OURS) {
    const name = relativeName(ours);
    const other = theirs.get(name);
    if (other === undefined) {
      onlyOurs.push(name);
      continue;
    }
    compared++;
    if (ours instanceof protobuf.Type) {
      assert.ok(other instanceof protobuf.Type, `${name} is a message here, an enum in mesos-go`);
      for (const field of ours.fieldsArray) {
        const counterpart: protobuf.Field | undefined = other.fields[field.name];
        if (counterpart === undefined) {
          onlyOurs.push(`${name}.${field.name}`);
          assert.equal(other.fieldsById[field.id], undefined, `${name}.${field.name}: number ${field.id} is taken`);
          continue;
        }
        assert.deepEqual(shape(field), shape(counterpart), `${name}.${field.name}`);
      }
      for (const field of other.fieldsArray) {
        // A required field we left out would make our strict decoding accept what the agent refuses.
        if (field.required) assert.ok(ours.fields[field.name], `${name}.${field.name} is required in mesos-go`);
      }
    } else {
      assert.ok(other instanceof protobuf.Enum, `${name} is an enum here, a message in mesos-go`);
      for (const [value, number] of Object.entries(ours.values)) {
        if (other.values[value] === undefined) {
          onlyOurs.push(`${name}.${value}`);
          assert.equal(other.valuesById[number], undefined, `${name}.${value}: number ${number} is taken`);
          continue;
        }
        assert.equal(number, other.values[value], `${name}.${value}`);
      }
    }
  }
  assert.deepEqual(onlyOurs.sort(), [...NEWER_THAN_MESOS_GO].sort(), "what only our schema has");
  assert.ok(compared >= 40, `only ${compared} messages and enums compared`);
});

Deno.test("schema: the executor API's own messages all exist in mesos-go", () => {
  const theirs = new Set(typesAndEnums(loadMesosGo()).map(relativeName));
  const executorApi = OURS.map(relativeName).filter((name) => name.startsWith("executor."));
  assert.deepEqual(executorApi.filter((name) => !theirs.has(name)), []);
  for (const name of ["executor.Call", "executor.Event", "executor.Call.Update", "executor.Event.Launch"]) {
    assert.ok(executorApi.includes(name), name);
  }
});

/** Protobuf wire type of a field: what makes two declarations interchangeable on the wire. */
function wireType(field: protobuf.Field): number {
  if (field.resolvedType instanceof protobuf.Type) return 2;
  if (field.resolvedType instanceof protobuf.Enum) return 0;
  switch (field.type) {
    case "string":
    case "bytes":
      return 2;
    case "double":
    case "fixed64":
    case "sfixed64":
      return 1;
    case "float":
    case "fixed32":
    case "sfixed32":
      return 5;
    default:
      return 0;
  }
}

/** Each field of a Raw view matches the real message's field of the same number (recursively). */
function assertWireCompatible(raw: protobuf.Type, real: protobuf.Type, path: string): void {
  for (const field of raw.fieldsArray) {
    const counterpart = real.fieldsById[field.id];
    const where = `${path}.${field.name} (${field.id})`;
    assert.ok(counterpart, `${where} has no counterpart in ${real.fullName}`);
    assert.equal(field.name, counterpart.name, where);
    assert.equal(wireType(field), wireType(counterpart), `${where}: wire type`);
    assert.equal(field.repeated, counterpart.repeated, `${where}: repeated`);
    // A view may read a required field leniently (optional), never demand one the real message does not.
    assert.ok(!field.required || counterpart.required, `${where}: required here, not in ${real.fullName}`);
    const rawType = field.resolvedType;
    const realType = counterpart.resolvedType;
    if (rawType instanceof protobuf.Type && realType instanceof protobuf.Type && rawType !== realType) {
      assertWireCompatible(rawType, realType, where);
    }
  }
}

Deno.test("schema: every Raw* view declares the real messages' numbers and wire types", () => {
  const raws = typesAndEnums(MESOS_ROOT.lookup("mesos.v1.executor") as protobuf.Namespace)
    .filter((object): object is protobuf.Type =>
      object instanceof protobuf.Type && object.parent?.fullName === ".mesos.v1.executor" &&
      object.name.startsWith("Raw")
    );
  assert.ok(raws.length >= 2, `Raw views: ${raws.map((raw) => raw.name)}`);
  for (const raw of raws) {
    const real = raw.name.includes("Call") ? CALL : EVENT;
    assertWireCompatible(raw, real, raw.name);
  }
});

/** A TaskInfo with nested messages, bytes, a 64-bit integer, repeated fields and defaults. */
const TASK = {
  name: "task one",
  task_id: { value: "t1" },
  agent_id: { value: "agent-S0" },
  resources: [
    { name: "cpus", type: "SCALAR", scalar: { value: 0.5 } },
    { name: "ports", type: "RANGES", ranges: { range: [{ begin: "31000", end: "31001" }] } },
  ],
  executor: { executor_id: { value: "e1" }, command: { value: "run-executor", shell: false } },
  command: { value: "sleep 1", environment: { variables: [{ name: "A", value: "1" }] } },
  kill_policy: { grace_period: { nanoseconds: "9007199254740993" } },
  data: "eyJhIjoxfQ==",
  labels: { labels: [{ key: "k", value: "v" }] },
};

Deno.test("schema: RawLaunchEvent gives the exact TaskInfo bytes of a LAUNCH, unknown fields included", () => {
  const rawLaunch = mesosType("mesos.v1.executor.RawLaunchEvent");
  const taskBytes = TASK_INFO.encode(TASK_INFO.fromObject(TASK)).finish();
  const event = EVENT.encode(EVENT.fromObject({ type: "LAUNCH", launch: { task: TASK } })).finish();
  const raw = rawLaunch.decode(event) as unknown as { launch: { task: Uint8Array } };
  assert.deepEqual(new Uint8Array(raw.launch.task), new Uint8Array(taskBytes));
  // A field this schema does not know (number 99, varint 7) survives in the raw bytes.
  const withUnknown = new Uint8Array([...taskBytes, 0x98, 0x06, 0x07]);
  const launch = rawLaunch.encode(rawLaunch.fromObject({ launch: { task: withUnknown } })).finish();
  const typed = EVENT.toObject(EVENT.decode(launch), { longs: String });
  assert.equal(typed.launch.task.task_id.value, "t1");
  assert.equal(typed.launch.task.kill_policy.grace_period.nanoseconds, "9007199254740993");
  const again = rawLaunch.decode(launch) as unknown as { launch: { task: Uint8Array } };
  assert.deepEqual(new Uint8Array(again.launch.task), withUnknown);
});

Deno.test("schema: a Call built with RawSubscribeCall decodes with CALL, byte-identical to the typed encoding", () => {
  const rawSubscribe = mesosType("mesos.v1.executor.RawSubscribeCall");
  const taskBytes = TASK_INFO.encode(TASK_INFO.fromObject(TASK)).finish();
  const update = {
    status: {
      task_id: { value: "t1" },
      state: "TASK_RUNNING",
      source: "SOURCE_EXECUTOR",
      uuid: new Uint8Array(16).fill(0x41),
      timestamp: 1700000000.5,
    },
  };
  const ids = { executor_id: { value: "e1" }, framework_id: { value: "f1" }, type: "SUBSCRIBE" };
  const rawBytes = rawSubscribe.encode(rawSubscribe.fromObject({
    ...ids,
    subscribe: { unacknowledged_tasks: [taskBytes], unacknowledged_updates: [update] },
  })).finish();
  const typedBytes = CALL.encode(CALL.fromObject({
    ...ids,
    subscribe: { unacknowledged_tasks: [TASK], unacknowledged_updates: [update] },
  })).finish();
  assert.deepEqual(new Uint8Array(rawBytes), new Uint8Array(typedBytes));
  const decoded = CALL.toObject(CALL.decode(rawBytes), { enums: String, longs: String, bytes: String });
  assert.equal(decoded.type, "SUBSCRIBE");
  assert.deepEqual(
    decoded.subscribe.unacknowledged_tasks,
    [TASK_INFO.toObject(TASK_INFO.fromObject(TASK), { enums: String, longs: String, bytes: String })],
  );
  assert.equal(decoded.subscribe.unacknowledged_updates[0].status.state, "TASK_RUNNING");
  // An empty subscribe is still sent (22 00), as the agent requires.
  const empty = rawSubscribe.encode(rawSubscribe.fromObject({ ...ids, subscribe: {} })).finish();
  assert.deepEqual([...empty.slice(-2)], [0x22, 0x00]);
});

Deno.test("schema: an Event type number newer than the schema is visible through RawEventType", () => {
  const rawEventType = mesosType("mesos.v1.executor.RawEventType");
  // type = 42 (field 1), then an unknown length-delimited field 10.
  const event = new Uint8Array([0x08, 42, 0x52, 0x01, 0x00]);
  assert.equal((rawEventType.decode(event) as unknown as { type: number }).type, 42);
  const shutdown = EVENT.encode(EVENT.fromObject({ type: "SHUTDOWN" })).finish();
  assert.equal((rawEventType.decode(shutdown) as unknown as { type: number }).type, 7);
});
