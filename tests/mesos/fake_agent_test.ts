/**
 * Tests of the fake Mesos agent itself, with raw HTTP requests: the handler's
 * check order and messages (reference §1.2, §9.2), the event stream, update
 * acknowledgement rules (§5), the test knobs, restart and the timers.
 */
import assert from "node:assert/strict";
import protobuf from "protobufjs";
import { CALL, TASK_INFO } from "../../lib/mesos/schema.ts";
import { decodeRecords } from "../../lib/mesos/recordio.ts";
import { codecFor, type Encoding } from "../../lib/mesos/codec.ts";
import type { Event } from "../../lib/mesos/messages.ts";
import {
  DEFAULT_AGENT_ID,
  DEFAULT_CONTAINER_ID,
  DEFAULT_EXECUTOR_ID,
  DEFAULT_FRAMEWORK_ID,
  FakeAgent,
  type StatusJson,
  taskInfo,
} from "../support/fake_agent.ts";

const FRAMEWORK = DEFAULT_FRAMEWORK_ID;
const EXECUTOR = DEFAULT_EXECUTOR_ID;
const PROTOBUF = "application/x-protobuf";
const JSON_TYPE = "application/json";

interface Reply {
  status: number;
  text: string;
  headers: Headers;
}

interface PostOptions {
  /** `null` sends no Content-Type (with a byte body). */
  contentType?: string | null;
  accept?: string;
  method?: string;
  path?: string;
  headers?: Record<string, string>;
}

/** A call in JSON form → JSON text, or protobuf bytes with `encoding: "protobuf"`. */
function body(call: Record<string, unknown>, encoding: Encoding): Uint8Array<ArrayBuffer> {
  if (encoding === "json") return new TextEncoder().encode(JSON.stringify(call));
  return new Uint8Array(CALL.encode(CALL.fromObject(call)).finish());
}

async function post(agent: FakeAgent, payload: Uint8Array | string, options: PostOptions = {}): Promise<Reply> {
  const headers = new Headers(options.headers);
  if (options.contentType !== null) {
    headers.set("Content-Type", options.contentType ?? (typeof payload === "string" ? JSON_TYPE : PROTOBUF));
  }
  if (options.accept !== undefined) headers.set("Accept", options.accept);
  const method = options.method ?? "POST";
  const response = await fetch(`http://127.0.0.1:${agent.port}${options.path ?? "/api/v1/executor"}`, {
    method,
    headers,
    body: method === "GET" || method === "HEAD" ? undefined : payload as BodyInit,
  });
  return { status: response.status, text: await response.text(), headers: response.headers };
}

/** Sends a JSON-form call in `encoding`. */
function send(agent: FakeAgent, call: Record<string, unknown>, encoding: Encoding = "json"): Promise<Reply> {
  return post(agent, body(call, encoding), { contentType: encoding === "json" ? JSON_TYPE : PROTOBUF });
}

function ids(fields: Record<string, unknown>): Record<string, unknown> {
  return { executor_id: { value: EXECUTOR }, framework_id: { value: FRAMEWORK }, ...fields };
}

function uuidV4(): Uint8Array {
  const bytes = crypto.getRandomValues(new Uint8Array(16));
  bytes[6] = (bytes[6] & 0x0f) | 0x40;
  bytes[8] = (bytes[8] & 0x3f) | 0x80;
  return bytes;
}

function base64(bytes: Uint8Array): string {
  return btoa(String.fromCharCode(...bytes));
}

function status(taskId: string, state: string, fields: Partial<StatusJson> = {}): StatusJson {
  return {
    task_id: { value: taskId },
    state,
    source: "SOURCE_EXECUTOR",
    executor_id: { value: EXECUTOR },
    timestamp: Date.now() / 1000,
    uuid: base64(uuidV4()),
    ...fields,
  };
}

function update(taskStatus: StatusJson): Record<string, unknown> {
  return ids({ type: "UPDATE", update: { status: taskStatus } });
}

/** A SUBSCRIBE stream read the way an executor reads it: bytes → RecordIO → codec. */
class Subscription {
  chunks = 0;
  readonly #abort: AbortController;
  readonly #iterator: AsyncIterator<Uint8Array>;
  readonly #encoding: Encoding;
  #pending?: Promise<IteratorResult<Uint8Array>>;

  private constructor(readonly response: Response, abort: AbortController, encoding: Encoding) {
    this.#abort = abort;
    this.#encoding = encoding;
    this.#iterator = decodeRecords(this.#count(response.body!))[Symbol.asyncIterator]();
  }

  static async open(
    agent: FakeAgent,
    encoding: Encoding,
    subscribe: Record<string, unknown> = {},
  ): Promise<Subscription> {
    const abort = new AbortController();
    const response = await fetch(agent.url, {
      method: "POST",
      headers: { "Content-Type": encoding === "json" ? JSON_TYPE : PROTOBUF, Accept: codecFor(encoding).mediaType },
      body: body(ids({ type: "SUBSCRIBE", subscribe }), encoding),
      signal: abort.signal,
    });
    if (response.status !== 200) {
      assert.fail(`SUBSCRIBE answered ${response.status}: ${await response.text()}`);
    }
    return new Subscription(response, abort, encoding);
  }

  /** The next raw record, or an error after `timeoutMs` (the pending read is kept for the next call). */
  async record(timeoutMs = 2000): Promise<Uint8Array> {
    this.#pending ??= this.#iterator.next();
    const pending = this.#pending;
    let timer: ReturnType<typeof setTimeout> | undefined;
    const timeout = new Promise<"timeout">((resolve) => timer = setTimeout(() => resolve("timeout"), timeoutMs));
    try {
      const result = await Promise.race([pending, timeout]);
      if (result === "timeout") throw new Error(`no event within ${timeoutMs} ms`);
      this.#pending = undefined;
      if (result.done) throw new Error("the stream ended");
      return result.value;
    } finally {
      clearTimeout(timer);
    }
  }

  /** The next decoded event. */
  async next(timeoutMs = 2000): Promise<Event> {
    return codecFor(this.#encoding).decodeEvent(await this.record(timeoutMs));
  }

  /** Resolves to "eof" on a clean end, or the error that ended the stream. */
  async end(timeoutMs = 2000): Promise<"eof" | Error> {
    try {
      const record = await this.record(timeoutMs);
      return new Error(`expected the end of the stream, got a ${record.length}-byte record`);
    } catch (error) {
      return (error as Error).message === "the stream ended" ? "eof" : error as Error;
    }
  }

  async close(): Promise<void> {
    this.#abort.abort();
    await this.#pending?.catch(() => {});
    await this.#iterator.return?.().catch(() => {});
  }

  async *#count(stream: AsyncIterable<Uint8Array>): AsyncGenerator<Uint8Array> {
    for await (const chunk of stream) {
      this.chunks++;
      yield chunk;
    }
  }
}

/** An agent whose executor has subscribed, with the stream open. */
async function subscribed(
  options: Parameters<typeof FakeAgent.start>[0] = {},
  encoding: Encoding = "protobuf",
): Promise<{ agent: FakeAgent; stream: Subscription } & AsyncDisposable> {
  const agent = await FakeAgent.start(options);
  const stream = await Subscription.open(agent, encoding);
  assert.equal((await stream.next()).type, "SUBSCRIBED");
  return {
    agent,
    stream,
    async [Symbol.asyncDispose]() {
      await stream.close();
      await agent.close();
    },
  };
}

Deno.test("FakeAgent serves /api/v1/executor and /slave(1)/api/v1/executor, nothing else", async () => {
  await using agent = await FakeAgent.start();
  const heartbeat = JSON.stringify(ids({ type: "HEARTBEAT" }));
  assert.equal((await post(agent, heartbeat)).status, 202);
  assert.equal((await post(agent, heartbeat, { path: "/slave(1)/api/v1/executor" })).status, 202);
  assert.equal((await post(agent, heartbeat, { path: "/api/v1/scheduler" })).status, 404);
  assert.deepEqual(agent.requests.map((request) => [request.path, request.status]), [
    ["/api/v1/executor", 202],
    ["/slave(1)/api/v1/executor", 202],
    ["/api/v1/scheduler", 404],
  ]);
});

Deno.test("FakeAgent check 1: 503 before recovery, whatever the request", async () => {
  await using agent = await FakeAgent.start({ agentState: "NOT_READY" });
  for (const reply of [await post(agent, "{}", { method: "GET" }), await post(agent, "not json")]) {
    assert.equal(reply.status, 503);
    assert.equal(reply.text, "Agent has not finished recovery");
  }
});

Deno.test("FakeAgent check 2: 405 with Allow: POST for other methods", async () => {
  await using agent = await FakeAgent.start();
  const reply = await post(agent, "", { method: "GET" });
  assert.equal(reply.status, 405);
  assert.equal(reply.headers.get("allow"), "POST");
  assert.equal(reply.text, "405 Method Not Allowed. Expecting one of { 'POST' }, but received 'GET'.");
});

Deno.test("FakeAgent check 3: 400 without Content-Type", async () => {
  await using agent = await FakeAgent.start();
  const reply = await post(agent, body(ids({ type: "HEARTBEAT" }), "protobuf"), { contentType: null });
  assert.equal(reply.status, 400);
  assert.equal(reply.text, "Expecting 'Content-Type' to be present");
});

Deno.test("FakeAgent check 4: protobuf that does not parse or lacks a required field", async () => {
  await using agent = await FakeAgent.start();
  // framework_id {value "f"}, type HEARTBEAT: executor_id (required) missing.
  const noExecutorId = new Uint8Array([0x12, 0x03, 0x0a, 0x01, 0x66, 0x18, 0x04]);
  // A TaskStatus.state number the schema does not know: the required field reads as unset.
  const taskStatus = protobuf.Writer.create()
    .uint32(0x0a).fork().uint32(0x0a).string("t1").ldelim() // task_id
    .uint32(0x10).uint32(99) // state
    .uint32(0x48).uint32(2) // source = SOURCE_EXECUTOR
    .uint32(0x5a).bytes(uuidV4()) // uuid
    .finish();
  const unknownState = protobuf.Writer.create()
    .uint32(0x0a).fork().uint32(0x0a).string(EXECUTOR).ldelim() // executor_id
    .uint32(0x12).fork().uint32(0x0a).string(FRAMEWORK).ldelim() // framework_id
    .uint32(0x18).uint32(2) // type = UPDATE
    .uint32(0x2a).bytes(protobuf.Writer.create().uint32(0x0a).bytes(taskStatus).finish()) // update.status
    .finish();
  // The same bytes with state RUNNING are a valid call (it stops at "not subscribed").
  const valid = new Uint8Array(unknownState);
  valid[valid.findIndex((byte, index) => byte === 0x10 && valid[index + 1] === 99) + 1] = 1;
  assert.equal((await post(agent, valid, { contentType: PROTOBUF })).status, 403);
  for (const payload of [new Uint8Array([0xff, 0xff, 0xff]), noExecutorId, unknownState, new Uint8Array(0)]) {
    const reply = await post(agent, payload, { contentType: PROTOBUF });
    assert.equal(reply.status, 400);
    assert.equal(reply.text, "Failed to parse body into Call protobuf");
  }
});

Deno.test("FakeAgent check 4': invalid JSON", async () => {
  await using agent = await FakeAgent.start();
  const reply = await post(agent, "{not json", { contentType: JSON_TYPE });
  assert.equal(reply.status, 400);
  assert.match(reply.text, /^Failed to parse body into JSON: ./);
});

Deno.test("FakeAgent check 4'': JSON that does not convert into a Call", async () => {
  await using agent = await FakeAgent.start();
  const cases: [unknown, string | RegExp][] = [
    [{ executor_id: { value: EXECUTOR }, type: "HEARTBEAT" }, "Missing required fields: framework_id"],
    [{ type: "HEARTBEAT" }, "Missing required fields: executor_id, framework_id"],
    [
      update({ state: "TASK_RUNNING", uuid: base64(uuidV4()), source: "SOURCE_EXECUTOR" } as unknown as StatusJson),
      "Missing required fields: update.status.task_id",
    ],
    [ids({ type: "SUBSCRIBE", subscribe: { unacknowledged_tasks: [{ name: "t" }] } }), /task_id, .*agent_id/],
    [{ ...ids({ type: "HEARTBEAT" }), executor_id: "not an object" }, /for field 'executor_id'/],
    [update(status("t1", "TASK_NOT_A_STATE")), /TASK_NOT_A_STATE/],
    [update(status("t1", "TASK_RUNNING", { uuid: "***" })), /base64/],
    [[1, 2], /Expecting a JSON object/],
  ];
  for (const [call, expected] of cases) {
    const reply = await post(agent, JSON.stringify(call));
    assert.equal(reply.status, 400, JSON.stringify(call));
    const prefix = "Failed to convert JSON into Call protobuf: ";
    assert.ok(reply.text.startsWith(prefix), reply.text);
    if (typeof expected === "string") assert.equal(reply.text, prefix + expected);
    else assert.match(reply.text, expected);
  }
  // An unknown name of an optional enum is dropped: the call then has no type.
  const reply = await post(agent, JSON.stringify(ids({ type: "HEARTBEAT_V2" })));
  assert.equal(reply.status, 400);
  assert.equal(reply.text, "Failed to validate Executor::Call: Expecting 'type' to be present");
});

Deno.test("FakeAgent check 4''': 415 unless Content-Type is exactly one of the two", async () => {
  await using agent = await FakeAgent.start();
  const json = JSON.stringify(ids({ type: "HEARTBEAT" }));
  const replies = [
    await post(agent, json, { contentType: "application/json; charset=utf-8" }),
    await post(agent, json, { contentType: "application/json;charset=UTF-8" }),
    await post(agent, json, { contentType: "Application/JSON" }),
    await post(agent, body(ids({ type: "HEARTBEAT" }), "protobuf"), { contentType: "application/protobuf" }),
    await fetch(agent.url, { method: "POST", body: json }).then(async (response) => ({
      status: response.status,
      text: await response.text(),
    })),
  ];
  for (const reply of replies) {
    assert.equal(reply.status, 415);
    assert.equal(reply.text, "Expecting 'Content-Type' of application/json or application/x-protobuf");
  }
});

Deno.test("FakeAgent check 5: every validateExecutorCall message, in both encodings", async () => {
  await using agent = await FakeAgent.start();
  const v7 = uuidV4();
  v7[6] = (v7[6] & 0x0f) | 0x70;
  const textUuid = new TextEncoder().encode("d40f3f3e-bbe3-44af-a230-4cb1eae72f67\n");
  const on = `from executor ${EXECUTOR} of framework ${FRAMEWORK}`;
  const cases: [Record<string, unknown>, string][] = [
    [ids({}), "Expecting 'type' to be present"],
    [ids({ type: "SUBSCRIBE" }), "Expecting 'subscribe' to be present"],
    [ids({ type: "UPDATE" }), "Expecting 'update' to be present"],
    [ids({ type: "MESSAGE" }), "Expecting 'message' to be present"],
    [update(status("t1", "TASK_RUNNING", { uuid: undefined })), "Expecting 'uuid' to be present"],
    [update(status("t1", "TASK_RUNNING", { uuid: base64(uuidV4().subarray(0, 15)) })), "Not a valid UUID"],
    [update(status("t1", "TASK_RUNNING", { uuid: base64(v7) })), "Not a valid UUID"],
    [update(status("t1", "TASK_RUNNING", { uuid: base64(textUuid) })), "Not a valid UUID"],
    [update(status("t1", "TASK_RUNNING", { uuid: "" })), "Not a valid UUID"],
    [
      update(status("t1", "TASK_RUNNING", { executor_id: { value: "someone-else" } })),
      `ExecutorID in Call: ${EXECUTOR} does not match ExecutorID in TaskStatus: someone-else`,
    ],
    [
      update(status("t1", "TASK_RUNNING", { source: undefined })),
      `Received Call ${on} with invalid source, expecting 'SOURCE_EXECUTOR'`,
    ],
    [
      update(status("t1", "TASK_RUNNING", { source: "SOURCE_AGENT" })),
      `Received Call ${on} with invalid source, expecting 'SOURCE_EXECUTOR'`,
    ],
    [update(status("t1", "TASK_STAGING")), `Received TASK_STAGING ${on} which is not allowed`],
    [update(status("t1", "TASK_RUNNING", { check_status: {} })), "CheckStatusInfo must specify 'type'"],
    [
      update(status("t1", "TASK_RUNNING", { check_status: { type: "COMMAND" } })),
      "Expecting 'command' to be set for COMMAND check's status",
    ],
    [
      update(status("t1", "TASK_RUNNING", { check_status: { type: "HTTP", tcp: {} } })),
      "Expecting 'http' to be set for HTTP check's status",
    ],
    [
      update(status("t1", "TASK_RUNNING", { check_status: { type: "TCP" } })),
      "Expecting 'tcp' to be set for TCP check's status",
    ],
    [
      update(status("t1", "TASK_RUNNING", { check_status: { type: "UNKNOWN" } })),
      "'UNKNOWN' is not a valid check's status type",
    ],
  ];
  for (const encoding of ["json", "protobuf"] as const) {
    for (const [call, reason] of cases) {
      const reply = await send(agent, call, encoding);
      assert.equal(reply.status, 400, `${encoding} ${JSON.stringify(call)}`);
      assert.equal(reply.text, `Failed to validate Executor::Call: ${reason}`, `${encoding} ${JSON.stringify(call)}`);
    }
    // Valid calls pass validation and stop at the subscription check.
    const valid = update(
      status("t1", "TASK_RUNNING", { check_status: { type: "COMMAND", command: { exit_code: 0 } } }),
    );
    assert.equal((await send(agent, valid, encoding)).status, 403);
  }
});

Deno.test("FakeAgent check 6a: SUBSCRIBE events in JSON if acceptable, else protobuf, else 406", async () => {
  await using agent = await FakeAgent.start();
  const cases: [string, string | undefined][] = [
    ["*/*", JSON_TYPE],
    ["application/*", JSON_TYPE],
    [JSON_TYPE, JSON_TYPE],
    [`${PROTOBUF}, ${JSON_TYPE}`, JSON_TYPE],
    [PROTOBUF, PROTOBUF],
    [`${JSON_TYPE};q=0, ${PROTOBUF}`, PROTOBUF],
    ["text/plain", undefined],
    [`${JSON_TYPE};q=0`, undefined],
  ];
  for (const [accept, expected] of cases) {
    const abort = new AbortController();
    const response = await fetch(agent.url, {
      method: "POST",
      headers: { "Content-Type": JSON_TYPE, Accept: accept },
      body: JSON.stringify(ids({ type: "SUBSCRIBE", subscribe: {} })),
      signal: abort.signal,
    });
    if (expected === undefined) {
      assert.equal(response.status, 406, accept);
      assert.equal(await response.text(), "Expecting 'Accept' to allow 'application/x-protobuf' or 'application/json'");
    } else {
      assert.equal(response.status, 200, accept);
      assert.equal(response.headers.get("content-type"), expected, accept);
      assert.equal(agent.streamEncoding, expected === JSON_TYPE ? "json" : "protobuf");
      abort.abort();
      await response.body?.cancel().catch(() => {});
    }
  }
});

Deno.test("FakeAgent check 6b: HEARTBEAT is 202 with dummy ids, even while recovering", async () => {
  await using agent = await FakeAgent.start({ agentState: "RECOVERING" });
  const call = { executor_id: { value: "unused" }, framework_id: { value: "unused" }, type: "HEARTBEAT" };
  for (const encoding of ["json", "protobuf"] as const) {
    const reply = await send(agent, call, encoding);
    assert.equal(reply.status, 202);
    assert.equal(reply.text, "");
  }
  assert.equal(agent.heartbeatCalls, 2);
});

Deno.test("FakeAgent checks 6c-13: recovering, unknown ids, not subscribed, 202s and 501", async () => {
  await using agent = await FakeAgent.start({ agentState: "RECOVERING" });
  agent.launch(taskInfo({ id: "t1" }));
  const running = update(status("t1", "TASK_RUNNING"));
  assert.deepEqual(await send(agent, running).then((r) => [r.status, r.text]), [
    503,
    "Agent has not finished recovery",
  ]);
  agent.setAgentState("RUNNING");
  const otherFramework = { ...running, framework_id: { value: "other" } };
  assert.deepEqual(await send(agent, otherFramework).then((r) => [r.status, r.text]), [
    400,
    "Framework cannot be found",
  ]);
  const otherExecutor = { ...running, executor_id: { value: "other" } };
  const reply = await send(agent, {
    ...otherExecutor,
    update: { status: status("t1", "TASK_RUNNING", { executor_id: undefined }) },
  });
  assert.deepEqual([reply.status, reply.text], [400, "Executor cannot be found"]);
  for (const call of [running, ids({ type: "MESSAGE", message: { data: "aGk=" } }), ids({ type: "UNKNOWN" })]) {
    assert.deepEqual(await send(agent, call).then((r) => [r.status, r.text]), [403, "Executor is not subscribed"]);
  }
  const stream = await Subscription.open(agent, "json");
  try {
    assert.equal((await send(agent, running, "protobuf")).status, 202);
    assert.equal((await send(agent, ids({ type: "MESSAGE", message: { data: "aGk=" } }))).status, 202);
    const unknown = await send(agent, ids({ type: "UNKNOWN" }), "protobuf");
    assert.deepEqual([unknown.status, unknown.text], [501, "501 Not Implemented."]);
    assert.deepEqual(agent.messages.map((message) => message.text), ["hi"]);
  } finally {
    await stream.close();
  }
});

Deno.test("FakeAgent requireAuth(): 401 with the Bearer challenge without or with a wrong token", async () => {
  await using agent = await FakeAgent.start();
  agent.requireAuth("s3cret");
  const heartbeat = JSON.stringify(ids({ type: "HEARTBEAT" }));
  const missing = await post(agent, heartbeat);
  assert.equal(missing.status, 401);
  assert.equal(missing.headers.get("www-authenticate"), 'Bearer realm="mesos-agent-executor"');
  const wrong = await post(agent, heartbeat, { headers: { Authorization: "Bearer nope" } });
  assert.equal(wrong.status, 401);
  assert.ok(wrong.headers.get("www-authenticate")!.startsWith('Bearer realm="mesos-agent-executor"'));
  assert.equal((await post(agent, heartbeat, { headers: { Authorization: "Bearer s3cret" } })).status, 202);
  agent.requireAuth(undefined);
  assert.equal((await post(agent, heartbeat)).status, 202);
});

for (const encoding of ["protobuf", "json"] as const) {
  Deno.test(`FakeAgent SUBSCRIBE (${encoding}) → SUBSCRIBED, then LAUNCH of the queued task`, async () => {
    await using agent = await FakeAgent.start({ capabilities: ["TASK_KILLING_STATE"], frameworkName: "Singularity" });
    agent.launch(taskInfo({ id: "t1", command: "echo hi", data: "payload", killPolicyGraceMs: 1500 }));
    assert.equal(agent.tasks.get("t1")?.phase, "queued");
    const stream = await Subscription.open(agent, encoding);
    try {
      assert.equal(stream.response.headers.get("content-type"), codecFor(encoding).mediaType);
      const first = await stream.next();
      assert.deepEqual(first, {
        type: "SUBSCRIBED",
        agentId: DEFAULT_AGENT_ID,
        agentHostname: "localhost",
        frameworkName: "Singularity",
        frameworkCapabilities: ["TASK_KILLING_STATE"],
        containerId: DEFAULT_CONTAINER_ID,
      });
      const launch = await stream.next();
      assert.equal(launch.type, "LAUNCH");
      if (launch.type !== "LAUNCH") return;
      assert.equal(launch.task.task_id.value, "t1");
      assert.equal(launch.task.command?.value, "echo hi");
      assert.equal(new TextDecoder().decode(launch.task.data), "payload");
      assert.equal(String(launch.task.kill_policy?.grace_period?.nanoseconds), "1500000000");
      if (encoding === "protobuf") {
        const echoed = TASK_INFO.toObject(TASK_INFO.decode(launch.echo as Uint8Array), { longs: String });
        assert.equal(echoed.task_id.value, "t1");
      } else {
        assert.equal((launch.echo as { task_id: { value: string } }).task_id.value, "t1");
        // The agent's JSON carries unset fields with explicit defaults.
        const event = JSON.parse(new TextDecoder().decode(agent.events[1].payload));
        assert.equal(event.launch.task.command.shell, true);
        const subscribedJson = JSON.parse(new TextDecoder().decode(agent.events[0].payload)).subscribed;
        assert.equal(subscribedJson.framework_info.failover_timeout, 0);
        assert.equal(subscribedJson.agent_info.port, agent.port);
      }
      assert.equal(agent.taskState("t1"), "TASK_STAGING");
      assert.equal(agent.tasks.get("t1")?.phase, "launched");
      assert.equal(agent.executorState, "RUNNING");
      assert.equal(agent.subscribeCount, 1);
      assert.deepEqual(agent.events.map((event) => [event.type, event.stream, event.delivered]), [
        ["SUBSCRIBED", 1, true],
        ["LAUNCH", 1, true],
      ]);
      assert.equal(agent.requests[0].call?.type, "SUBSCRIBE");
    } finally {
      await stream.close();
    }
  });

  Deno.test(`FakeAgent UPDATE (${encoding}) → 202 and ACKNOWLEDGED; duplicates re-ACKed, late terminals dropped`, async () => {
    await using agent = await FakeAgent.start();
    agent.launch(taskInfo({ id: "t1" }));
    const stream = await Subscription.open(agent, encoding);
    try {
      assert.equal((await stream.next()).type, "SUBSCRIBED");
      assert.equal((await stream.next()).type, "LAUNCH");
      const running = status("t1", "TASK_RUNNING");
      assert.equal((await send(agent, update(running), encoding)).status, 202);
      const ack = await stream.next();
      assert.deepEqual(ack, {
        type: "ACKNOWLEDGED",
        taskId: "t1",
        uuid: Uint8Array.from(atob(running.uuid!), (c) => c.charCodeAt(0)),
      });
      assert.equal(agent.taskState("t1"), "TASK_RUNNING");
      assert.equal(await send(agent, update(running), encoding).then((r) => r.status), 202);
      assert.equal((await stream.next()).type, "ACKNOWLEDGED");
      const finished = status("t1", "TASK_FINISHED", { message: "done" });
      await send(agent, update(finished), encoding);
      assert.equal((await stream.next()).type, "ACKNOWLEDGED");
      await send(agent, update(status("t1", "TASK_FAILED")), encoding);
      assert.equal((await stream.next()).type, "ACKNOWLEDGED");
      assert.equal(agent.taskState("t1"), "TASK_FINISHED");
      assert.deepEqual(agent.updates.map((u) => [u.state, u.outcome, u.acked, u.via, u.source]), [
        ["TASK_RUNNING", "applied", true, "update", "SOURCE_EXECUTOR"],
        ["TASK_RUNNING", "duplicate", true, "update", "SOURCE_EXECUTOR"],
        ["TASK_FINISHED", "applied", true, "update", "SOURCE_EXECUTOR"],
        ["TASK_FAILED", "dropped", true, "update", "SOURCE_EXECUTOR"],
      ]);
      assert.equal(agent.updates[2].message, "done");
      assert.equal(agent.updates[0].uuidText?.[14], "4");
      assert.deepEqual(agent.agentUpdates, []);
    } finally {
      await stream.close();
    }
  });
}

Deno.test("FakeAgent never ACKs an update with another agent's id, nor one for an unknown task", async () => {
  await using setup = await subscribed();
  const { agent, stream } = setup;
  agent.launch(taskInfo({ id: "t1" }));
  assert.equal((await stream.next()).type, "LAUNCH");
  await send(agent, update(status("t1", "TASK_RUNNING", { agent_id: { value: "another-agent" } })));
  await send(agent, update(status("nobody", "TASK_RUNNING")));
  const own = status("t1", "TASK_RUNNING", { agent_id: { value: DEFAULT_AGENT_ID } });
  await send(agent, update(own));
  const ack = await stream.next();
  assert.equal(ack.type === "ACKNOWLEDGED" && btoa(String.fromCharCode(...ack.uuid)), own.uuid);
  await assert.rejects(stream.next(200), /no event within 200 ms/);
  assert.deepEqual(agent.updates.map((u) => [u.taskId, u.outcome, u.acked]), [
    ["t1", "foreign-agent", false],
    ["nobody", "unknown-task", false],
    ["t1", "applied", true],
  ]);
});

Deno.test("FakeAgent ACK knobs: withhold and release, drop by predicate, delay", async () => {
  await using setup = await subscribed();
  const { agent, stream } = setup;
  agent.launch(taskInfo({ id: "t1" }));
  agent.launch(taskInfo({ id: "t2" }));
  await stream.next();
  await stream.next();
  agent.withholdAcks(true);
  await send(agent, update(status("t1", "TASK_RUNNING")));
  await assert.rejects(stream.next(200), /no event/);
  assert.equal(agent.taskState("t1"), "TASK_RUNNING");
  agent.withholdAcks(false);
  const second = status("t2", "TASK_RUNNING");
  await send(agent, update(second));
  const ack = await stream.next();
  assert.ok(ack.type === "ACKNOWLEDGED" && ack.taskId === "t2");
  await assert.rejects(stream.next(100), /no event/, "switching withholding off does not send held ACKs");
  assert.equal(agent.releaseWithheldAcks(), 1);
  const released = await stream.next();
  assert.ok(released.type === "ACKNOWLEDGED" && released.taskId === "t1");

  agent.dropUpdateAcks((u) => u.state === "TASK_FINISHED");
  await send(agent, update(status("t1", "TASK_FINISHED")));
  await assert.rejects(stream.next(200), /no event/);
  assert.equal(agent.updates.at(-1)?.ackDropped, true);
  agent.dropUpdateAcks(undefined);

  agent.delayAcks(300);
  const started = Date.now();
  await send(agent, update(status("t2", "TASK_FINISHED")));
  assert.equal((await stream.next()).type, "ACKNOWLEDGED");
  assert.ok(Date.now() - started >= 280, `ACK came after ${Date.now() - started} ms`);
  assert.deepEqual(agent.updates.map((u) => [u.taskId, u.state, u.acked]), [
    ["t1", "TASK_RUNNING", true],
    ["t2", "TASK_RUNNING", true],
    ["t1", "TASK_FINISHED", false],
    ["t2", "TASK_FINISHED", true],
  ]);
});

Deno.test("FakeAgent rechunk bytewise: one byte per write, and the stream still decodes", async () => {
  await using agent = await FakeAgent.start({ rechunk: "bytewise" });
  agent.launch(taskInfo({ id: "t1", command: "true" }));
  const stream = await Subscription.open(agent, "protobuf");
  try {
    assert.equal((await stream.next()).type, "SUBSCRIBED");
    const launch = await stream.next();
    assert.ok(launch.type === "LAUNCH" && launch.task.task_id.value === "t1");
    const bytes = agent.events.reduce((total, event) => total + event.payload.length, 0);
    assert.ok(stream.chunks > bytes / 8, `${stream.chunks} chunks for ${bytes} payload bytes`);
  } finally {
    await stream.close();
  }
});

Deno.test("FakeAgent rechunk random: records split and coalesced across writes still decode", async () => {
  await using agent = await FakeAgent.start({ rechunk: "random", seed: 7 });
  const big = new Uint8Array(200_000).map((_, index) => index % 251);
  agent.launch(taskInfo({ id: "big", data: big }));
  const stream = await Subscription.open(agent, "json");
  try {
    for (let index = 0; index < 20; index++) agent.frameworkMessage(`message ${index}`);
    assert.equal((await stream.next()).type, "SUBSCRIBED");
    const launch = await stream.next();
    assert.ok(launch.type === "LAUNCH");
    assert.deepEqual(new Uint8Array(launch.task.data!), big);
    for (let index = 0; index < 20; index++) {
      const message = await stream.next();
      assert.ok(message.type === "MESSAGE");
      assert.equal(new TextDecoder().decode(message.data), `message ${index}`);
    }
    assert.notEqual(stream.chunks, agent.events.length);
  } finally {
    await stream.close();
  }
});

for (const encoding of ["protobuf", "json"] as const) {
  Deno.test(`FakeAgent test controls (${encoding}): KILL, MESSAGE, ERROR, HEARTBEAT, unknown type 42`, async () => {
    await using setup = await subscribed({}, encoding);
    const { agent, stream } = setup;
    agent.launch(taskInfo({ id: "t1" }));
    assert.equal((await stream.next()).type, "LAUNCH");
    agent.kill("t1", 250);
    assert.deepEqual(await stream.next(), { type: "KILL", taskId: "t1", gracePeriodMs: 250 });
    agent.kill("t1");
    assert.deepEqual(await stream.next(), { type: "KILL", taskId: "t1", gracePeriodMs: undefined });
    agent.frameworkMessage(new Uint8Array([0, 1, 255]));
    assert.deepEqual(await stream.next(), { type: "MESSAGE", data: new Uint8Array([0, 1, 255]) });
    agent.error("boom");
    assert.deepEqual(await stream.next(), { type: "ERROR", message: "boom" });
    agent.heartbeat();
    assert.deepEqual(await stream.next(), { type: "HEARTBEAT" });
    // A newer agent's event type: a number in protobuf, a name in JSON.
    agent.sendRawEvent({ type: encoding === "protobuf" ? 42 : "FUTURE_EVENT", future: { x: 1 } });
    assert.deepEqual(await stream.next(), { type: "UNKNOWN", name: encoding === "protobuf" ? "42" : "FUTURE_EVENT" });
    agent.sendRawBytes(new TextEncoder().encode("0\n"));
    assert.equal((await stream.record()).length, 0);
    assert.deepEqual(agent.events.map((event) => event.type), [
      "SUBSCRIBED",
      "LAUNCH",
      "KILL",
      "KILL",
      "MESSAGE",
      "ERROR",
      "HEARTBEAT",
      encoding === "protobuf" ? "42" : "FUTURE_EVENT",
    ]);
  });
}

Deno.test("FakeAgent heartbeatIntervalMs sends HEARTBEAT events on the stream", async () => {
  await using setup = await subscribed({ heartbeatIntervalMs: 50 });
  assert.equal((await setup.stream.next()).type, "HEARTBEAT");
  assert.equal((await setup.stream.next()).type, "HEARTBEAT");
});

Deno.test("FakeAgent dropStream() ends the stream cleanly, resetStream() aborts it", async () => {
  await using agent = await FakeAgent.start();
  const first = await Subscription.open(agent, "protobuf");
  const second = await Subscription.open(agent, "json");
  try {
    assert.equal((await first.next()).type, "SUBSCRIBED");
    assert.equal(await first.end(), "eof", "a new SUBSCRIBE closes the previous stream");
    assert.equal((await second.next()).type, "SUBSCRIBED");
    agent.dropStream();
    assert.equal(await second.end(), "eof");
    const third = await Subscription.open(agent, "protobuf");
    try {
      assert.equal((await third.next()).type, "SUBSCRIBED");
      agent.resetStream();
      const ended = await third.end();
      assert.ok(ended instanceof Error && ended.message !== "eof", String(ended));
    } finally {
      await third.close();
    }
    agent.heartbeat();
    assert.equal(agent.events.at(-1)?.delivered, false);
    assert.equal(agent.subscribeCount, 3);
  } finally {
    await first.close();
    await second.close();
  }
});

Deno.test("FakeAgent resubscription: resent updates processed after SUBSCRIBED, unlisted STAGING tasks lost", async () => {
  for (const partitionAware of [false, true]) {
    await using agent = await FakeAgent.start({ capabilities: partitionAware ? ["PARTITION_AWARE"] : [] });
    agent.launch(taskInfo({ id: "t1" }));
    const first = await Subscription.open(agent, "protobuf");
    let launchEcho: Uint8Array;
    try {
      assert.equal((await first.next()).type, "SUBSCRIBED");
      const launch = await first.next();
      assert.ok(launch.type === "LAUNCH");
      launchEcho = launch.echo as Uint8Array;
      agent.dropStream();
      assert.equal(await first.end(), "eof");
    } finally {
      await first.close();
    }
    agent.launch(taskInfo({ id: "t2" }));
    assert.deepEqual(agent.events.at(-1)?.delivered, false, "LAUNCH without a stream is lost");
    const resent = status("t1", "TASK_RUNNING");
    const second = await Subscription.open(agent, "protobuf", {
      unacknowledged_tasks: [TASK_INFO.toObject(TASK_INFO.decode(launchEcho), { bytes: String, longs: String })],
      unacknowledged_updates: [{ status: resent }],
    });
    try {
      assert.equal((await second.next()).type, "SUBSCRIBED");
      const ack = await second.next();
      assert.ok(ack.type === "ACKNOWLEDGED" && ack.taskId === "t1");
      assert.deepEqual(agent.updates.map((u) => [u.taskId, u.state, u.via, u.outcome, u.acked]), [
        ["t1", "TASK_RUNNING", "subscribe", "applied", true],
      ]);
      const lost = partitionAware ? "TASK_DROPPED" : "TASK_LOST";
      assert.deepEqual(agent.agentUpdates.map((u) => [u.taskId, u.state, u.source, u.reason, u.message]), [
        ["t2", lost, "SOURCE_AGENT", "REASON_AGENT_RESTARTED", "Task launched during agent restart"],
      ]);
      assert.equal(agent.taskState("t2"), lost);
      assert.equal(agent.taskState("t1"), "TASK_RUNNING");
    } finally {
      await second.close();
    }
  }
});

Deno.test("FakeAgent kill() of a task still queued: the agent answers TASK_KILLED itself", async () => {
  await using agent = await FakeAgent.start();
  agent.launch(taskInfo({ id: "t1" }));
  agent.kill("t1");
  assert.deepEqual(agent.agentUpdates.map((u) => [u.state, u.reason]), [
    ["TASK_KILLED", "REASON_TASK_KILLED_DURING_LAUNCH"],
  ]);
  assert.equal(agent.events.length, 0);
  assert.throws(() => agent.launch({ name: "no ids" }), /launch\(\): invalid TaskInfo .*task_id, agent_id/);
});

Deno.test("FakeAgent a TERMINATING executor that subscribes gets SHUTDOWN, then EOF", async () => {
  await using agent = await FakeAgent.start({ shutdownGracePeriodMs: 5000 });
  agent.shutdown();
  const stream = await Subscription.open(agent, "json");
  try {
    assert.deepEqual(await stream.next(), { type: "SHUTDOWN" });
    assert.equal(await stream.end(), "eof");
    assert.equal(agent.executorState, "TERMINATING");
  } finally {
    await stream.close();
  }
});

Deno.test("FakeAgent accepts gzip-compressed request bodies", async () => {
  await using agent = await FakeAgent.start();
  const plain = new Blob([JSON.stringify(ids({ type: "HEARTBEAT" }))]);
  const gzipped = new Uint8Array(
    await new Response(plain.stream().pipeThrough(new CompressionStream("gzip"))).arrayBuffer(),
  );
  const reply = await post(agent, gzipped, { contentType: JSON_TYPE, headers: { "Content-Encoding": "gzip" } });
  assert.equal(reply.status, 202);
});

Deno.test("FakeAgent restart(): refused, then 503, then SUBSCRIBE only, then running", async () => {
  await using agent = await FakeAgent.start();
  agent.launch(taskInfo({ id: "t1" }));
  const before = await Subscription.open(agent, "protobuf");
  try {
    await before.next();
    await before.next();
    await agent.restart({ downForMs: 300, notReadyForMs: 300, recoveringForMs: 500, reregistrationTimeoutMs: 2000 });
    assert.equal(agent.agentState, "DOWN");
    const broken = await before.end();
    assert.ok(broken instanceof Error, "the stream broke with the agent");
  } finally {
    await before.close();
  }
  const running = update(status("t1", "TASK_RUNNING"));
  await assert.rejects(send(agent, running), TypeError, "connections are refused while down");
  await agent.waitFor(() => agent.agentState === "NOT_READY", 1000, "the agent to listen again");
  assert.deepEqual(await send(agent, running).then((r) => [r.status, r.text]), [
    503,
    "Agent has not finished recovery",
  ]);
  await agent.waitFor(() => agent.agentState === "RECOVERING", 1000, "the agent to recover");
  assert.deepEqual(await send(agent, running).then((r) => [r.status, r.text]), [
    503,
    "Agent has not finished recovery",
  ]);
  const after = await Subscription.open(agent, "protobuf", { unacknowledged_tasks: [taskInfo({ id: "t1" })] });
  try {
    assert.equal((await after.next()).type, "SUBSCRIBED");
    await agent.waitFor(() => agent.agentState === "RUNNING", 1000, "the agent to run");
    assert.equal((await send(agent, running)).status, 202);
    assert.equal((await after.next()).type, "ACKNOWLEDGED");
  } finally {
    await after.close();
  }
  assert.equal(agent.subscribeCount, 2);
  assert.deepEqual(agent.agentUpdates, []);
  assert.deepEqual(agent.serverErrors, []);
});

Deno.test("FakeAgent restart(): no resubscription in time → TASK_LOST, REASON_EXECUTOR_REREGISTRATION_TIMEOUT", async () => {
  await using setup = await subscribed();
  const { agent, stream } = setup;
  agent.launch(taskInfo({ id: "t1" }));
  await stream.next();
  await agent.restart({ downForMs: 50, notReadyForMs: 50, reregistrationTimeoutMs: 200 });
  const lost = await agent.waitFor(() => agent.agentUpdates[0], 2000, "the re-registration timeout");
  assert.deepEqual([lost.taskId, lost.state, lost.reason, lost.source], [
    "t1",
    "TASK_LOST",
    "REASON_EXECUTOR_REREGISTRATION_TIMEOUT",
    "SOURCE_AGENT",
  ]);
  assert.equal(agent.executorState, "TERMINATED");
});

Deno.test("FakeAgent registration timeout: kills the executor's process group, tasks fail", async () => {
  await using agent = await FakeAgent.start({ registrationTimeoutMs: 300 });
  agent.launch(taskInfo({ id: "t1" }));
  const started = Date.now();
  const executor = await agent.launchExecutor({ command: ["sh", "-c", "sleep 60 & sleep 60"], checkpoint: false });
  await agent.waitFor(() => agent.executorGroupMembers().length === 3, 2000, "sh and its two sleeps");
  const exit = await executor.status;
  assert.equal(exit.signal, "SIGKILL");
  assert.ok(Date.now() - started >= 290);
  assert.equal(agent.kills.length, 1);
  assert.equal(agent.kills[0].reason, "registration-timeout");
  assert.equal(agent.kills[0].pgid, executor.pid);
  assert.equal(agent.kills[0].pids.length, 3);
  await agent.waitFor(() => agent.executorGroupMembers().length === 0, 2000, "the whole group to be gone");
  assert.deepEqual(agent.agentUpdates.map((u) => [u.taskId, u.state, u.reason, u.source]), [
    ["t1", "TASK_FAILED", "REASON_EXECUTOR_REGISTRATION_TIMEOUT", "SOURCE_AGENT"],
  ]);
  assert.equal(agent.executorState, "TERMINATED");
});

Deno.test("FakeAgent launchExecutor(): exactly the Mesos environment, sandbox as cwd, own process group", async () => {
  await using agent = await FakeAgent.start();
  const executor = await agent.launchExecutor({
    command: ["sh", "-c", "cat /proc/$$/environ > environ; pwd > cwd; exec sleep 60"],
    env: { EXTRA: "yes" },
    recoveryTimeout: "4secs",
    backoffMax: "300ms",
    shutdownGracePeriod: "1secs",
    token: "jwt-token",
  });
  const environ = await agent.waitFor(
    () => {
      try {
        const text = Deno.readTextFileSync(`${executor.sandbox}/cwd`) &&
          Deno.readTextFileSync(`${executor.sandbox}/environ`);
        return text.length > 0 ? text : undefined;
      } catch {
        return undefined;
      }
    },
    2000,
    "the executor to write its environment",
  );
  const env = Object.fromEntries(
    environ.split("\0").filter((line) => line !== "").map((line) => {
      const index = line.indexOf("=");
      return [line.slice(0, index), line.slice(index + 1)];
    }),
  );
  const endpoint = `127.0.0.1:${agent.port}`;
  assert.deepEqual(env, {
    MESOS_FRAMEWORK_ID: FRAMEWORK,
    MESOS_EXECUTOR_ID: EXECUTOR,
    MESOS_DIRECTORY: executor.sandbox,
    MESOS_SANDBOX: executor.sandbox,
    MESOS_AGENT_ENDPOINT: endpoint,
    MESOS_SLAVE_PID: `slave(1)@${endpoint}`,
    MESOS_SLAVE_ID: DEFAULT_AGENT_ID,
    MESOS_CHECKPOINT: "1",
    MESOS_HTTP_COMMAND_EXECUTOR: "0",
    MESOS_EXECUTOR_SHUTDOWN_GRACE_PERIOD: "1secs",
    MESOS_RECOVERY_TIMEOUT: "4secs",
    MESOS_SUBSCRIPTION_BACKOFF_MAX: "300ms",
    LIBPROCESS_PORT: "0",
    PATH: Deno.env.get("PATH"),
    HOME: Deno.env.get("HOME"),
    EXTRA: "yes",
    MESOS_EXECUTOR_AUTHENTICATION_TOKEN: "jwt-token",
  });
  assert.deepEqual(env, executor.env);
  assert.equal(Deno.readTextFileSync(`${executor.sandbox}/cwd`).trim(), executor.sandbox);
  assert.deepEqual(agent.executorGroupMembers(), [executor.pid]);
  assert.equal((await post(agent, JSON.stringify(ids({ type: "HEARTBEAT" })))).status, 401, "the token is required");
  await assert.rejects(agent.launchExecutor({ command: ["true"] }), /already launched/);
  await agent.close();
  assert.equal((await executor.status).signal, "SIGKILL");
  assert.deepEqual(agent.kills.map((kill) => kill.reason), ["close"]);
});

Deno.test("FakeAgent launchExecutor() without checkpointing leaves out the recovery variables", async () => {
  await using agent = await FakeAgent.start({ checkpoint: false });
  const executor = await agent.launchExecutor({ command: ["sleep", "60"] });
  assert.equal(executor.env.MESOS_CHECKPOINT, "0");
  assert.equal(executor.env.MESOS_RECOVERY_TIMEOUT, undefined);
  assert.equal(executor.env.MESOS_SUBSCRIPTION_BACKOFF_MAX, undefined);
  assert.equal(executor.env.MESOS_EXECUTOR_AUTHENTICATION_TOKEN, undefined);
  await assert.rejects(
    FakeAgent.start().then(async (other) => {
      try {
        await other.launchExecutor({ command: ["true"], shutdownGracePeriod: "5 seconds" });
      } finally {
        await other.close();
      }
    }),
    /shutdownGracePeriod "5 seconds" is not a Mesos duration/,
  );
});

Deno.test("FakeAgent shutdown(): SHUTDOWN, then SIGKILL of the group when the grace period elapses", async () => {
  await using agent = await FakeAgent.start();
  const executor = await agent.launchExecutor({ command: ["sleep", "60"], shutdownGracePeriod: "300ms" });
  agent.launch(taskInfo({ id: "t1" }));
  const stream = await Subscription.open(agent, "protobuf");
  try {
    await stream.next();
    await stream.next();
    const started = Date.now();
    agent.shutdown();
    assert.deepEqual(await stream.next(), { type: "SHUTDOWN" });
    assert.equal((await executor.status).signal, "SIGKILL");
    assert.ok(Date.now() - started >= 290, `killed after ${Date.now() - started} ms`);
    assert.equal(agent.shutdownGraceExpired, true);
    assert.deepEqual(agent.kills.map((kill) => [kill.reason, kill.pids]), [["shutdown-grace", [executor.pid]]]);
    assert.deepEqual(agent.agentUpdates.map((u) => [u.taskId, u.state, u.source, u.reason, u.message]), [
      ["t1", "TASK_FAILED", "SOURCE_AGENT", "REASON_EXECUTOR_TERMINATED", "Executor terminated"],
    ]);
    assert.equal(await stream.end(), "eof");
  } finally {
    await stream.close();
  }
});

Deno.test("FakeAgent executor exit: non-terminal tasks get the agent's TASK_FAILED, terminal ones stand", async () => {
  await using agent = await FakeAgent.start();
  const executor = await agent.launchExecutor({
    command: ["sh", "-c", "while [ ! -e stop ]; do sleep 0.02; done"],
    checkpoint: false,
  });
  agent.launch(taskInfo({ id: "done" }));
  agent.launch(taskInfo({ id: "running" }));
  const stream = await Subscription.open(agent, "json");
  try {
    for (let index = 0; index < 3; index++) await stream.next();
    await send(agent, update(status("done", "TASK_FINISHED")));
    await send(agent, update(status("running", "TASK_RUNNING")));
    await stream.next();
    await stream.next();
    await Deno.writeTextFile(`${executor.sandbox}/stop`, "");
    assert.equal((await executor.status).code, 0);
    assert.deepEqual(agent.agentUpdates.map((u) => [u.taskId, u.state, u.source, u.reason]), [
      ["running", "TASK_FAILED", "SOURCE_AGENT", "REASON_EXECUTOR_TERMINATED"],
    ]);
    assert.equal(agent.taskState("done"), "TASK_FINISHED");
    assert.deepEqual(agent.kills, [], "nothing was left to kill");
    assert.equal(agent.executorState, "TERMINATED");
    assert.equal(await stream.end(), "eof");
  } finally {
    await stream.close();
  }
});

Deno.test("FakeAgent executor exit: processes left in its group are killed and recorded", async () => {
  await using agent = await FakeAgent.start();
  const executor = await agent.launchExecutor({ command: ["sh", "-c", "sleep 60 & echo $! > pid"], checkpoint: false });
  assert.equal((await executor.status).code, 0);
  const leftover = Number(Deno.readTextFileSync(`${executor.sandbox}/pid`));
  assert.deepEqual(agent.kills.map((kill) => [kill.reason, kill.pids]), [["leftover-processes", [leftover]]]);
  await agent.waitFor(() => agent.executorGroupMembers().length === 0, 2000, "the leftover to be gone");
});

Deno.test("FakeAgent waitFor() names what it waited for", async () => {
  await using agent = await FakeAgent.start();
  await assert.rejects(
    agent.waitFor(() => false, 50, "something that never happens"),
    /timed out after 50 ms waiting for something that never happens; agent RUNNING, executor REGISTERING/,
  );
  assert.equal(await agent.waitFor(() => 42, 50, "a value"), 42);
});
