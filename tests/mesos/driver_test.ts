/**
 * The driver (lib/mesos/driver.ts) end to end: the real driver in a real
 * executor process (tests/support/test_executor.ts) under the fake agent,
 * running real task processes.
 */
import assert from "node:assert/strict";
import { resolve } from "node:path";
import { FakeAgent, type FakeAgent as Agent, type FakeAgentOptions, taskInfo } from "../support/fake_agent.ts";

const EXECUTOR = resolve(import.meta.dirname!, "../support/test_executor.ts");

interface Start {
  agent?: FakeAgentOptions;
  encoding?: "protobuf" | "json";
  checkpoint?: boolean;
  ackTimeoutMs?: number;
  killGraceMs?: number;
  recoveryTimeout?: string;
  token?: string;
}

async function start(options: Start = {}) {
  const agent = await FakeAgent.start(options.agent);
  const executor = await agent.launchExecutor({
    command: [Deno.execPath(), "run", "-A", "--no-lock", EXECUTOR],
    env: {
      TEST_EXECUTOR_ENCODING: options.encoding ?? "protobuf",
      TEST_TERMINAL_ACK_TIMEOUT_MS: String(options.ackTimeoutMs ?? 10_000),
      TEST_DEFAULT_KILL_GRACE_MS: String(options.killGraceMs ?? 3000),
      NO_COLOR: "1",
      DENO_NO_UPDATE_CHECK: "1",
      ...(Deno.env.get("DENO_DIR") ? { DENO_DIR: Deno.env.get("DENO_DIR")! } : {}),
    },
    checkpoint: options.checkpoint,
    recoveryTimeout: options.recoveryTimeout,
    token: options.token,
  });
  await agent.waitFor(() => agent.subscribeCount >= 1, 15_000, "the executor subscribed");
  return { agent, executor };
}

/** Whether a process is gone (a zombie waiting for a reaper counts as gone). */
function processGone(pid: number): boolean {
  try {
    return Deno.readTextFileSync(`/proc/${pid}/stat`).split(") ")[1].startsWith("Z");
  } catch {
    return true;
  }
}

/** Waits until the executor's output (stdout and stderr, read asynchronously) matches. */
async function outputMatches(agent: Agent, executor: { stdout: string; stderr: string }, pattern: RegExp) {
  await agent.waitFor(
    () => pattern.test(executor.stdout + executor.stderr),
    3000,
    `executor output matching ${pattern}`,
  );
}

/** No call the driver sent was refused for being malformed (503 while an agent recovers is fine). */
function assertNoRefusedCalls(agent: Agent): void {
  const refused = agent.requests.filter((request) => request.status >= 400 && request.status !== 503);
  assert.deepEqual(refused.map((r) => `${r.status} ${r.call?.type}: ${r.responseBody}`), []);
}

function states(agent: Agent, taskId: string): string[] {
  return agent.updates.filter((update) => update.taskId === taskId && update.outcome === "applied").map((u) => u.state);
}

for (const encoding of ["protobuf", "json"] as const) {
  Deno.test(`driver (${encoding}): subscribe, launch, RUNNING, FINISHED, acknowledgements, exit 0`, async () => {
    const { agent, executor } = await start({ encoding });
    try {
      const subscribe = agent.requests.find((request) => request.call?.type === "SUBSCRIBE")!;
      const mediaType = encoding === "json" ? "application/json" : "application/x-protobuf";
      assert.equal(subscribe.headers["content-type"], mediaType);
      assert.equal(subscribe.headers["accept"], mediaType);
      assert.equal(agent.streamEncoding, encoding);
      assert.equal(subscribe.headers["authorization"], undefined);

      agent.launch(taskInfo({ id: "t1", command: "echo hello" }));
      assert.equal((await executor.status).code, 0, executor.stderr);
      assert.deepEqual(states(agent, "t1"), ["TASK_RUNNING", "TASK_FINISHED"]);
      for (const update of agent.updates) {
        assert.equal(update.source, "SOURCE_EXECUTOR");
        assert.equal(update.executorId, agent.executorId);
        assert.equal(update.agentId, undefined);
        assert.equal(update.uuid!.length, 16);
        assert.equal(update.uuid![6] >> 4, 4);
        assert.ok(Math.abs(update.timestamp! - Date.now() / 1000) < 60, `timestamp ${update.timestamp}`);
        assert.equal(update.acked, true);
      }
      assert.match(agent.updates[0].message!, /^pid \d+$/);
      assert.deepEqual(agent.agentUpdates, []);
      assertNoRefusedCalls(agent);
    } finally {
      await agent.close();
    }
  });
}

Deno.test("driver: a failing task is TASK_FAILED with its exit status", async () => {
  const { agent, executor } = await start();
  try {
    agent.launch(taskInfo({ id: "bad", command: "exit 3" }));
    assert.equal((await executor.status).code, 0);
    const failed = agent.updates.find((update) => update.state === "TASK_FAILED")!;
    assert.equal(failed.message, "exited with status 3");
    assert.equal(failed.reason, "REASON_COMMAND_EXECUTOR_FAILED");
  } finally {
    await agent.close();
  }
});

Deno.test("driver: KILL without a policy uses the default grace; SIGTERM-ignoring tree is SIGKILLed, grandchildren too", async () => {
  const { agent, executor } = await start({ killGraceMs: 700 });
  try {
    const pidFile = `${executor.sandbox}/grandchild.pid`;
    agent.launch(taskInfo({
      id: "stubborn",
      command: `trap '' TERM; (trap '' TERM; sleep 60 & echo $! > ${pidFile}; wait) & wait`,
    }));
    await agent.waitFor(() => agent.taskState("stubborn") === "TASK_RUNNING", 5000, "RUNNING");
    await agent.waitFor(() => Deno.statSync(pidFile).size > 0, 5000, "grandchild started");
    const grandchild = Number(Deno.readTextFileSync(pidFile).trim());
    const killedAt = Date.now();
    agent.kill("stubborn");
    await agent.waitFor(() => agent.taskState("stubborn") === "TASK_KILLED", 5000, "KILLED");
    const elapsed = Date.now() - killedAt;
    assert.ok(elapsed >= 650, `killed after ${elapsed} ms, before the 700 ms grace`);
    assert.ok(processGone(grandchild), "the grandchild survived");
    assert.equal((await executor.status).code, 0);
    assert.deepEqual(states(agent, "stubborn"), ["TASK_RUNNING", "TASK_KILLED"]);
  } finally {
    await agent.close();
  }
});

Deno.test("driver: KILL with a kill policy overrides the default grace; TASK_KILLING only with the capability", async () => {
  const { agent, executor } = await start({ killGraceMs: 30_000, agent: { capabilities: ["TASK_KILLING_STATE"] } });
  try {
    agent.launch(taskInfo({ id: "k", command: "trap '' TERM; sleep 60 & wait" }));
    await agent.waitFor(() => agent.taskState("k") === "TASK_RUNNING", 5000, "RUNNING");
    const killedAt = Date.now();
    agent.kill("k", 300);
    await agent.waitFor(() => agent.taskState("k") === "TASK_KILLED", 5000, "KILLED");
    assert.ok(Date.now() - killedAt < 5000);
    assert.deepEqual(states(agent, "k"), ["TASK_RUNNING", "TASK_KILLING", "TASK_KILLED"]);
    assert.equal((await executor.status).code, 0);
  } finally {
    await agent.close();
  }
});

Deno.test("driver: SHUTDOWN with running tasks kills them, reports TASK_KILLED and exits before the grace period", async () => {
  const { agent, executor } = await start();
  try {
    agent.launch(taskInfo({ id: "a", command: "sleep 60" }));
    agent.launch(taskInfo({ id: "b", command: "sleep 60" }));
    await agent.waitFor(
      () => agent.taskState("a") === "TASK_RUNNING" && agent.taskState("b") === "TASK_RUNNING",
      5000,
      "both running",
    );
    agent.shutdown();
    assert.equal((await executor.status).code, 0);
    assert.equal(agent.taskState("a"), "TASK_KILLED");
    assert.equal(agent.taskState("b"), "TASK_KILLED");
    assert.equal(agent.shutdownGraceExpired, false);
    assert.deepEqual(agent.kills.filter((kill) => kill.reason === "shutdown-grace"), []);
    assertNoRefusedCalls(agent);
  } finally {
    await agent.close();
  }
});

Deno.test("driver: a SHUTDOWN as the first event (no SUBSCRIBED) makes the executor exit 0 at once", async () => {
  const agent = await FakeAgent.start();
  try {
    agent.shutdown();
    const executor = await agent.launchExecutor({
      command: [Deno.execPath(), "run", "-A", "--no-lock", EXECUTOR],
      env: { NO_COLOR: "1", DENO_NO_UPDATE_CHECK: "1" },
    });
    assert.equal((await executor.status).code, 0);
    assert.ok(agent.events.some((event) => event.type === "SHUTDOWN" && event.delivered));
    assert.equal(agent.events.some((event) => event.type === "SUBSCRIBED"), false);
    assert.equal(agent.shutdownGraceExpired, false);
    await outputMatches(agent, executor, /SHUTDOWN from the agent/);
  } finally {
    await agent.close();
  }
});

Deno.test("driver: a LAUNCH_GROUP is answered with TASK_ERROR per task", async () => {
  // The fake never launched these tasks, so it does not acknowledge their updates: keep the fail-safe short.
  const { agent, executor } = await start({ ackTimeoutMs: 1000 });
  try {
    agent.sendRawEvent({
      type: "LAUNCH_GROUP",
      launch_group: { task_group: { tasks: [taskInfo({ id: "g1" }), taskInfo({ id: "g2" })] } },
    });
    await agent.waitFor(
      () => agent.updates.filter((u) => u.state === "TASK_ERROR").length === 2,
      5000,
      "two TASK_ERROR",
    );
    for (const update of agent.updates.filter((u) => u.state === "TASK_ERROR")) {
      assert.equal(update.message, "Task groups (LAUNCH_GROUP) are not supported by singularity-executor");
      assert.equal(update.reason, "REASON_TASK_GROUP_INVALID");
    }
    agent.launch(taskInfo({ id: "after", command: "true" }));
    assert.equal((await executor.status).code, 0);
  } finally {
    await agent.close();
  }
});

Deno.test("driver: withheld ACKs keep the executor alive until the terminal ACK arrives", async () => {
  const { agent, executor } = await start();
  try {
    agent.withholdAcks(true);
    agent.launch(taskInfo({ id: "w", command: "true" }));
    await agent.waitFor(() => agent.updates.some((u) => u.state === "TASK_FINISHED"), 5000, "FINISHED received");
    const exited = await Promise.race([
      executor.status.then(() => true),
      new Promise((r) => setTimeout(() => r(false), 1500)),
    ]);
    assert.equal(exited, false, "the executor exited before its terminal update was acknowledged");
    agent.withholdAcks(false);
    assert.ok(agent.releaseWithheldAcks() >= 1);
    assert.equal((await executor.status).code, 0);
  } finally {
    await agent.close();
  }
});

Deno.test("driver: without the terminal ACK the executor exits after the fail-safe", async () => {
  const { agent, executor } = await start({ ackTimeoutMs: 1500 });
  try {
    agent.withholdAcks(true);
    agent.launch(taskInfo({ id: "never", command: "true" }));
    await agent.waitFor(() => agent.updates.some((u) => u.state === "TASK_FINISHED"), 5000, "FINISHED received");
    const finishedAt = Date.now();
    await executor.status;
    const waited = Date.now() - finishedAt;
    assert.ok(waited >= 1300 && waited < 6000, `exited ${waited} ms after the terminal update`);
    await outputMatches(agent, executor, /no acknowledgement of the final update\(s\) within 1500 ms/);
  } finally {
    await agent.close();
  }
});

Deno.test("driver: agent restart with checkpointing resubscribes with exactly the unacknowledged updates; the task keeps running", async () => {
  const { agent, executor } = await start({ checkpoint: true, recoveryTimeout: "10secs" });
  try {
    const marker = `${executor.sandbox}/ran-to-the-end`;
    // A task whose RUNNING is acknowledged before the restart: not resent.
    agent.launch(taskInfo({ id: "first", command: "sleep 3" }));
    await agent.waitFor(
      () => agent.updates.some((u) => u.taskId === "first" && u.acked),
      5000,
      "first RUNNING acknowledged",
    );
    // From here on the agent records updates without acknowledging them; the restart loses those ACKs.
    agent.withholdAcks(true);
    agent.launch(taskInfo({ id: "long", command: `sleep 2.5; touch ${marker}` }));
    await agent.waitFor(
      () => agent.updates.some((u) => u.taskId === "long" && u.state === "TASK_RUNNING"),
      5000,
      "RUNNING",
    );
    const running = agent.updates.find((u) => u.taskId === "long" && u.state === "TASK_RUNNING")!;
    await agent.restart({ downForMs: 300, notReadyForMs: 300, reregistrationTimeoutMs: 1500 });
    agent.withholdAcks(false);
    await agent.waitFor(() => agent.subscribeCount === 2, 8000, "the executor resubscribed");
    const resubscribe = agent.requests.filter((r) => r.call?.type === "SUBSCRIBE" && r.status === 200)[1];
    assert.deepEqual(resubscribe.call!.subscribe?.unacknowledged_updates?.map((u) => u.status.uuid), [
      running.status.uuid,
    ]);
    assert.deepEqual(resubscribe.call!.subscribe?.unacknowledged_tasks?.map((t) => t.task_id.value), ["long"]);
    assert.equal((await executor.status).code, 0, executor.stderr);
    assert.ok(Deno.statSync(marker).isFile, "the task ran to its end across the restart");
    assert.equal(agent.taskState("long"), "TASK_FINISHED");
    assert.equal(agent.taskState("first"), "TASK_FINISHED");
    assert.deepEqual(agent.agentUpdates, []);
    assertNoRefusedCalls(agent);
  } finally {
    await agent.close();
  }
});

Deno.test("driver: an unacknowledged RUNNING is resent in the resubscription with its uuid", async () => {
  const { agent, executor } = await start({ checkpoint: true, recoveryTimeout: "10secs" });
  try {
    agent.withholdAcks(true);
    agent.launch(taskInfo({ id: "r", command: "sleep 2" }));
    await agent.waitFor(() => agent.updates.some((u) => u.state === "TASK_RUNNING"), 5000, "RUNNING received");
    const running = agent.updates.find((u) => u.state === "TASK_RUNNING")!;
    assert.equal(running.acked, false);
    agent.dropStream();
    agent.withholdAcks(false);
    await agent.waitFor(() => agent.subscribeCount === 2, 8000, "resubscribed");
    const resubscribe = agent.requests.filter((r) => r.call?.type === "SUBSCRIBE" && r.status === 200)[1];
    assert.deepEqual(resubscribe.call!.subscribe?.unacknowledged_updates?.map((u) => u.status.uuid), [
      running.status.uuid,
    ]);
    assert.deepEqual(resubscribe.call!.subscribe?.unacknowledged_tasks?.map((t) => t.task_id.value), ["r"]);
    assert.equal((await executor.status).code, 0);
    assert.equal(agent.taskState("r"), "TASK_FINISHED");
  } finally {
    await agent.close();
  }
});

Deno.test("driver: agent gone past MESOS_RECOVERY_TIMEOUT: tasks killed, executor exits 1", async () => {
  const { agent, executor } = await start({ checkpoint: true, recoveryTimeout: "1secs" });
  try {
    const pidFile = `${executor.sandbox}/task.pid`;
    agent.launch(taskInfo({ id: "orphan", command: `echo $$ > ${pidFile}; exec sleep 60` }));
    await agent.waitFor(() => agent.taskState("orphan") === "TASK_RUNNING", 5000, "RUNNING");
    const pid = Number(Deno.readTextFileSync(pidFile).trim());
    void agent.restart({ downForMs: 6000 });
    assert.equal((await executor.status).code, 1);
    assert.ok(processGone(pid), "the task outlived its executor");
    await outputMatches(agent, executor, /did not come back within MESOS_RECOVERY_TIMEOUT \(1000 ms\)/);
  } finally {
    await agent.close();
  }
});

Deno.test("driver: disconnected without checkpointing: tasks killed and the executor exits promptly", async () => {
  const { agent, executor } = await start({ checkpoint: false });
  try {
    agent.launch(taskInfo({ id: "nc", command: "sleep 60" }));
    await agent.waitFor(() => agent.taskState("nc") === "TASK_RUNNING", 5000, "RUNNING");
    const droppedAt = Date.now();
    agent.dropStream();
    assert.equal((await executor.status).code, 1);
    assert.ok(Date.now() - droppedAt < 5000);
    await outputMatches(agent, executor, /does not checkpoint: killing tasks and exiting/);
  } finally {
    await agent.close();
  }
});

for (const [rechunk, size] of [["bytewise", 4096], ["random", 3 * 1024 * 1024]] as const) {
  Deno.test(`driver: RecordIO re-chunked ${rechunk}, a ${size}-byte TaskInfo.data, unknown events, heartbeats, errors`, async () => {
    const { agent, executor } = await start({ agent: { rechunk, heartbeatIntervalMs: 100 } });
    try {
      agent.sendRawEvent(new Uint8Array([0x08, 42]));
      agent.error("something odd");
      agent.launch(taskInfo({ id: "big", command: "true", data: new Uint8Array(size).fill(0x61) }));
      assert.equal((await executor.status).code, 0, executor.stderr);
      assert.deepEqual(states(agent, "big"), ["TASK_RUNNING", "TASK_FINISHED"]);
      await outputMatches(agent, executor, /agent reported an error: something odd/);
      await outputMatches(agent, executor, /ignoring event of unknown type 42/);
      await outputMatches(agent, executor, /heartbeat/);
    } finally {
      await agent.close();
    }
  });
}

Deno.test("driver: the authentication token goes in every call and never into the task's environment", async () => {
  const { agent, executor } = await start({ token: "secret-jwt-token" });
  try {
    const envFile = `${executor.sandbox}/task.env`;
    agent.launch(taskInfo({ id: "env", command: `env > ${envFile}` }));
    assert.equal((await executor.status).code, 0, executor.stderr);
    const calls = agent.requests.filter((request) => request.call !== undefined);
    assert.ok(calls.length >= 3);
    for (const call of calls) assert.equal(call.headers["authorization"], "Bearer secret-jwt-token");
    const taskEnv = Deno.readTextFileSync(envFile);
    assert.doesNotMatch(taskEnv, /secret-jwt-token/);
    assert.match(taskEnv, /^MESOS_FRAMEWORK_ID=/m);
  } finally {
    await agent.close();
  }
});

Deno.test("driver: framework messages both ways", async () => {
  const { agent, executor } = await start({ encoding: "json" });
  try {
    agent.launch(taskInfo({ id: "m", command: "sleep 1" }));
    await agent.waitFor(() => agent.taskState("m") === "TASK_RUNNING", 5000, "RUNNING");
    agent.frameworkMessage("hello \u00e9\u0000");
    await agent.waitFor(() => agent.messages.length === 1, 5000, "a message back");
    assert.equal(agent.messages[0].text, "echo:hello \u00e9\u0000");
    assert.equal((await executor.status).code, 0);
  } finally {
    await agent.close();
  }
});
