import assert from "node:assert/strict";
import { AgentStateError, agentStateOptions, fetchAgentId } from "../../lib/cleanup/agent_state.ts";
import { CLEANUP, type CleanupKeys } from "../../lib/config/mod.ts";
import { FakeAgentState, STATE_JSON_PATH, STATE_PATH } from "../support/fake_agent_state.ts";
import { loadTestConfig } from "../support/s3_server.ts";

/** Options pointing at `agent` with a short timeout. */
function at(agent: FakeAgentState, timeoutMs = 2000) {
  return { host: "127.0.0.1", port: agent.port, timeoutMs };
}

/** The message of the AgentStateError `promise` rejects with. */
async function failure(promise: Promise<unknown>): Promise<string> {
  const error = await promise.then(() => undefined, (error) => error);
  assert.ok(error instanceof AgentStateError, `expected an AgentStateError, got ${error}`);
  return error.message;
}

Deno.test("fetchAgentId() reads id from /slave(1)/state.json", async () => {
  await using agent = FakeAgentState.start({ id: "20240101-000000-1-S7" });
  assert.equal(await fetchAgentId(at(agent)), "20240101-000000-1-S7");
  assert.deepEqual(agent.paths, [STATE_JSON_PATH]);
  assert.equal(agent.requests[0].headers.accept, "application/json");
});

Deno.test("fetchAgentId() falls back to /slave(1)/state when state.json is 404", async () => {
  await using agent = FakeAgentState.start({ id: "later-S1", paths: "state-only" });
  assert.equal(await fetchAgentId(at(agent)), "later-S1");
  assert.deepEqual(agent.paths, [STATE_JSON_PATH, STATE_PATH]);
});

Deno.test("fetchAgentId() with 404 on both paths names both URLs", async () => {
  await using agent = FakeAgentState.start();
  agent.failure = { status: 404 };
  const base = `http://127.0.0.1:${agent.port}`;
  assert.equal(
    await failure(fetchAgentId(at(agent))),
    `Mesos agent state: HTTP 404 Not Found from both ${base}/slave(1)/state.json and ${base}/slave(1)/state`,
  );
});

Deno.test("fetchAgentId() with HTTP 500 names the URL, the status and the body, and does not fall back", async () => {
  await using agent = FakeAgentState.start();
  agent.failure = { status: 500, body: "Agent is recovering\n", contentType: "text/plain" };
  assert.equal(
    await failure(fetchAgentId(at(agent))),
    `Mesos agent state http://127.0.0.1:${agent.port}/slave(1)/state.json: HTTP 500 Internal Server Error: Agent is recovering`,
  );
  assert.deepEqual(agent.paths, [STATE_JSON_PATH]);
});

Deno.test("fetchAgentId() gives up on an agent that does not answer after the timeout", async () => {
  await using agent = FakeAgentState.start();
  agent.failure = "hang";
  const started = performance.now();
  assert.equal(
    await failure(fetchAgentId(at(agent, 300))),
    `Mesos agent state: GET http://127.0.0.1:${agent.port}/slave(1)/state.json: no complete answer within 300 ms`,
  );
  const elapsed = performance.now() - started;
  assert.ok(elapsed >= 290 && elapsed < 2000, `took ${elapsed} ms`);
});

Deno.test("fetchAgentId() with the agent down says the connection was refused", async () => {
  const agent = FakeAgentState.start();
  await agent.stop();
  const message = await failure(fetchAgentId(at(agent)));
  assert.match(
    message,
    new RegExp(
      `^Mesos agent state: GET http://127\\.0\\.0\\.1:${agent.port}/slave\\(1\\)/state\\.json: .*Connection refused`,
    ),
  );
});

Deno.test("fetchAgentId() puts an IPv6 host in brackets", async () => {
  const agent = FakeAgentState.start();
  await agent.stop();
  const message = await failure(fetchAgentId({ host: "::1", port: agent.port, timeoutMs: 2000 }));
  assert.ok(message.startsWith(`Mesos agent state: GET http://[::1]:${agent.port}/slave(1)/state.json: `), message);
});

Deno.test("fetchAgentId() rejects malformed state, naming the URL and the field", async () => {
  await using agent = FakeAgentState.start();
  const where = `Mesos agent state http://127.0.0.1:${agent.port}/slave(1)/state.json`;
  agent.respond(STATE_JSON_PATH, { status: 200, body: "<html>login</html>" });
  assert.match(
    await failure(fetchAgentId(at(agent))),
    new RegExp(`^${RegExp.escape(where)}: not valid JSON \\(.*\\); the body starts "<html>login</html>"$`),
  );
  agent.respond(STATE_JSON_PATH, { status: 200, body: "[1,2]" });
  assert.equal(await failure(fetchAgentId(at(agent))), `${where}: expected a JSON object, got [1,2]`);
  agent.respond(STATE_JSON_PATH, { status: 200, body: '{"id":7}' });
  assert.equal(
    await failure(fetchAgentId(at(agent))),
    `${where}: id: expected the agent id (a non-empty string), got 7`,
  );
  agent.respond(STATE_JSON_PATH, { status: 200, body: '{"hostname":"h"}' });
  assert.equal(
    await failure(fetchAgentId(at(agent))),
    `${where}: id: expected the agent id (a non-empty string), got nothing (is the agent registered with a master?)`,
  );
});

Deno.test("agentStateOptions() takes mesos.agent.host/port and the cleanup's timeout", async () => {
  await using setup = await loadTestConfig<CleanupKeys>(CLEANUP, {
    validate: false,
    properties: {
      "mesos.agent.host": "agent1.example.com",
      "mesos.agent.port": "5052",
      "executor.cleanup.http.timeout.millis": "2500",
    },
  });
  assert.deepEqual(agentStateOptions(setup.config, { localAddresses: ["192.0.2.7"] }), {
    host: "agent1.example.com",
    port: 5052,
    timeoutMs: 2500,
  });
});

Deno.test("agentStateOptions() without a host uses the first non-loopback IPv4 address, port 5051, 10 s", async () => {
  await using setup = await loadTestConfig<CleanupKeys>(CLEANUP, { validate: false });
  assert.deepEqual(agentStateOptions(setup.config, { localAddresses: ["192.0.2.7", "198.51.100.1"] }), {
    host: "192.0.2.7",
    port: 5051,
    timeoutMs: 10000,
  });
  assert.throws(
    () => agentStateOptions(setup.config, { localAddresses: [] }),
    new AgentStateError(
      "mesos.agent.host is empty and this machine has no non-loopback IPv4 address to find the Mesos agent at; " +
        "set mesos.agent.host",
    ),
  );
});
