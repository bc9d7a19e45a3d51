import assert from "node:assert/strict";
import {
  SingularityApi,
  SingularityApiError,
  type SingularityApiOptions,
  singularityApiOptions,
} from "../../lib/cleanup/singularity_api.ts";
import { CLEANUP, type CleanupKeys, formatConfig } from "../../lib/config/mod.ts";
import { FakeSingularity } from "../support/fake_singularity.ts";
import { loadTestConfig } from "../support/s3_server.ts";

const TASK_A = "web-deploy1-1700000000000-1-host1-DEFAULT";
const TASK_B = "worker-deploy7-1700000000500-2-host1-DEFAULT";

/** A client of `hosts` with the default context path and a short timeout. */
function client(hosts: string[], options: Partial<SingularityApiOptions> = {}): SingularityApi {
  return new SingularityApi({ hosts, contextPath: "singularity/api", timeoutMs: 2000, ...options });
}

/** The message of the SingularityApiError `promise` rejects with. */
async function failure(promise: Promise<unknown>): Promise<string> {
  const error = await promise.then(() => undefined, (error) => error);
  assert.ok(error instanceof SingularityApiError, `expected a SingularityApiError, got ${error}`);
  return error.message;
}

/** A `host:port` where nothing listens. */
async function refusingHost(): Promise<string> {
  const stopped = FakeSingularity.start();
  await stopped.stop();
  return stopped.host;
}

Deno.test("activeTaskIds() returns the taskId.id of each active task on the agent", async () => {
  await using singularity = FakeSingularity.start();
  singularity.setActiveTasks("agent-S1", [TASK_A, TASK_B]);
  singularity.setActiveTasks("agent-S2", ["other-d-1-1-host2-DEFAULT"]);
  assert.deepEqual(await client([singularity.host]).activeTaskIds("agent-S1"), new Set([TASK_A, TASK_B]));
  assert.deepEqual(await client([singularity.host]).activeTaskIds("agent-S9"), new Set());
  assert.deepEqual(singularity.paths, [
    "/singularity/api/tasks/active/slave/agent-S1",
    "/singularity/api/tasks/active/slave/agent-S9",
  ]);
  assert.equal(singularity.requests[0].headers.accept, "application/json");
});

Deno.test("activeTaskIds() and taskHistory() URL-encode their path parts", async () => {
  await using singularity = FakeSingularity.start();
  singularity.setActiveTasks("agent/S1 ü", [TASK_A]);
  singularity.setHistory("task?#1", [{ taskState: "TASK_FINISHED", timestamp: 5 }]);
  const api = client([singularity.host]);
  assert.deepEqual(await api.activeTaskIds("agent/S1 ü"), new Set([TASK_A]));
  assert.deepEqual(await api.taskHistory("task?#1"), { taskUpdates: [{ taskState: "TASK_FINISHED", timestamp: 5 }] });
  assert.deepEqual(singularity.paths, [
    "/singularity/api/tasks/active/slave/agent%2FS1%20%C3%BC",
    "/singularity/api/history/task/task%3F%231",
  ]);
});

Deno.test("the context path is used with or without slashes, and may be empty", async () => {
  for (
    const [served, configured, expected] of [
      ["api/v2", "/api/v2/", "/api/v2/tasks/active/slave/S1"],
      ["", "", "/tasks/active/slave/S1"],
      ["", "/", "/tasks/active/slave/S1"],
    ]
  ) {
    await using singularity = FakeSingularity.start({ contextPath: served });
    singularity.setActiveTasks("S1", [TASK_A]);
    assert.deepEqual(
      await client([singularity.host], { contextPath: configured }).activeTaskIds("S1"),
      new Set([TASK_A]),
    );
    assert.deepEqual(singularity.paths, [expected]);
  }
});

Deno.test("taskHistory() returns the updates as listed; 404 is no history", async () => {
  await using singularity = FakeSingularity.start();
  singularity.setHistory(TASK_A, [
    { taskState: "TASK_LAUNCHED", timestamp: 1700000000100 },
    { taskState: "TASK_FAILED", timestamp: 1700000009000, statusMessage: "exit 1" },
    { taskState: "TASK_RUNNING", timestamp: 1700000000200 },
  ]);
  const api = client([singularity.host]);
  assert.deepEqual(await api.taskHistory(TASK_A), {
    taskUpdates: [
      { taskState: "TASK_LAUNCHED", timestamp: 1700000000100 },
      { taskState: "TASK_FAILED", timestamp: 1700000009000 },
      { taskState: "TASK_RUNNING", timestamp: 1700000000200 },
    ],
  });
  assert.equal(await api.taskHistory(TASK_B), undefined);
  assert.deepEqual(singularity.paths, [
    `/singularity/api/history/task/${TASK_A}`,
    `/singularity/api/history/task/${TASK_B}`,
  ]);
});

Deno.test("a refused, failing or hanging host is skipped for the next one, which later calls start with", async () => {
  const refused = await refusingHost();
  await using failing = FakeSingularity.start();
  failing.failure = { status: 503, body: "not the leader" };
  await using hanging = FakeSingularity.start();
  hanging.failure = "hang";
  await using good = FakeSingularity.start();
  good.setActiveTasks("S1", [TASK_A]);
  good.setHistory(TASK_A, [{ taskState: "TASK_KILLED", timestamp: 9 }]);
  const api = client([refused, failing.host, hanging.host, good.host], { timeoutMs: 300 });
  assert.deepEqual(await api.activeTaskIds("S1"), new Set([TASK_A]));
  assert.deepEqual(await api.taskHistory(TASK_A), { taskUpdates: [{ taskState: "TASK_KILLED", timestamp: 9 }] });
  assert.equal(await api.taskHistory(TASK_B), undefined);
  assert.deepEqual(failing.paths, ["/singularity/api/tasks/active/slave/S1"]);
  assert.deepEqual(hanging.paths, ["/singularity/api/tasks/active/slave/S1"]);
  assert.deepEqual(good.paths, [
    "/singularity/api/tasks/active/slave/S1",
    `/singularity/api/history/task/${TASK_A}`,
    `/singularity/api/history/task/${TASK_B}`,
  ]);
});

Deno.test("after the preferred host fails, the client wraps around to the first", async () => {
  await using first = FakeSingularity.start();
  await using second = FakeSingularity.start();
  first.failure = { status: 500 };
  const api = client([first.host, second.host]);
  assert.deepEqual(await api.activeTaskIds("S1"), new Set());
  first.failure = undefined;
  second.failure = { status: 502 };
  assert.deepEqual(await api.activeTaskIds("S1"), new Set());
  assert.equal(first.paths.length, 2);
  assert.equal(second.paths.length, 2);
});

Deno.test("when no host answers, the error lists each host and why", async () => {
  const refused = await refusingHost();
  await using failing = FakeSingularity.start();
  failing.failure = { status: 500, body: '{"message":"database down"}' };
  await using hanging = FakeSingularity.start();
  hanging.failure = "hang";
  const message = await failure(client([refused, failing.host, hanging.host], { timeoutMs: 200 }).activeTaskIds("S1"));
  const open = message.indexOf(" (");
  const [head, rest] = [message.slice(0, open), message.slice(open + 2)];
  assert.equal(head, "Singularity GET /singularity/api/tasks/active/slave/S1: no host answered");
  const reasons = rest.slice(0, -1).split("; ");
  assert.equal(reasons.length, 3);
  assert.match(reasons[0], new RegExp(`^${RegExp.escape(refused)}: .*Connection refused`));
  assert.equal(reasons[1], `${failing.host}: HTTP 500 Internal Server Error: {"message":"database down"}`);
  assert.equal(reasons[2], `${hanging.host}: no complete answer within 200 ms`);
});

Deno.test("a 4xx answer is final: no other host is asked", async () => {
  await using first = FakeSingularity.start();
  await using second = FakeSingularity.start();
  first.failure = { status: 403, body: "forbidden" };
  const api = client([first.host, second.host]);
  assert.equal(
    await failure(api.taskHistory(TASK_A)),
    `Singularity ${first.host} GET /singularity/api/history/task/${TASK_A}: HTTP 403 Forbidden: forbidden`,
  );
  first.failure = { status: 404, body: "no such agent" };
  assert.equal(
    await failure(api.activeTaskIds("S1")),
    `Singularity ${first.host} GET /singularity/api/tasks/active/slave/S1: HTTP 404 Not Found: no such agent`,
  );
  assert.deepEqual(second.paths, []);
});

Deno.test("malformed answers are errors naming the host, the path and the field", async () => {
  await using singularity = FakeSingularity.start();
  const api = client([singularity.host]);
  const active = `Singularity ${singularity.host} GET /singularity/api/tasks/active/slave/S1`;
  const history = `Singularity ${singularity.host} GET /singularity/api/history/task/${TASK_A}`;
  const cases: [string, string, () => Promise<unknown>, string][] = [
    [
      "/tasks/active/slave/S1",
      '{"tasks":[]}',
      () => api.activeTaskIds("S1"),
      `${active}: expected a JSON array, got {"tasks":[]}`,
    ],
    ["/tasks/active/slave/S1", "[null]", () => api.activeTaskIds("S1"), `${active}: [0]: expected an object, got null`],
    [
      "/tasks/active/slave/S1",
      `[{"taskId":{"id":"${TASK_A}"}},{"taskId":{"requestId":"web"}}]`,
      () => api.activeTaskIds("S1"),
      `${active}: [1].taskId.id: expected a non-empty string, got nothing`,
    ],
    [
      "/tasks/active/slave/S1",
      '[{"taskId":"web"}]',
      () => api.activeTaskIds("S1"),
      `${active}: [0].taskId: expected an object, got "web"`,
    ],
    [`/history/task/${TASK_A}`, "[]", () => api.taskHistory(TASK_A), `${history}: expected an object, got []`],
    [
      `/history/task/${TASK_A}`,
      "{}",
      () => api.taskHistory(TASK_A),
      `${history}: taskUpdates: expected an array, got nothing`,
    ],
    [
      `/history/task/${TASK_A}`,
      '{"taskUpdates":[{"taskState":"TASK_RUNNING","timestamp":1},{"taskState":"TASK_FAILED","timestamp":"yesterday"}]}',
      () => api.taskHistory(TASK_A),
      `${history}: taskUpdates[1].timestamp: expected milliseconds since the epoch (a number), got "yesterday"`,
    ],
    [
      `/history/task/${TASK_A}`,
      '{"taskUpdates":[{"timestamp":1}]}',
      () => api.taskHistory(TASK_A),
      `${history}: taskUpdates[0].taskState: expected a non-empty string, got nothing`,
    ],
  ];
  for (const [path, body, call, expected] of cases) {
    singularity.respond(path, { status: 200, body });
    assert.equal(await failure(call()), expected, body);
  }
  singularity.respond("/tasks/active/slave/S1", { status: 200, body: "<html>proxy error</html>" });
  assert.match(
    await failure(api.activeTaskIds("S1")),
    new RegExp(`^${RegExp.escape(active)}: not valid JSON \\(.*\\); the body starts "<html>proxy error</html>"$`),
  );
});

Deno.test("credentials are sent as the configured header, and never appear in errors", async () => {
  const credentials = { header: "X-Singularity-Token", secret: "s3cr3t-t0ken-value" };
  await using singularity = FakeSingularity.start({ credentials });
  singularity.setActiveTasks("S1", [TASK_A]);
  assert.deepEqual(await client([singularity.host], { credentials }).activeTaskIds("S1"), new Set([TASK_A]));
  assert.equal(singularity.requests[0].headers["x-singularity-token"], "s3cr3t-t0ken-value");
  const message = await failure(client([singularity.host]).activeTaskIds("S1"));
  assert.equal(
    message,
    `Singularity ${singularity.host} GET /singularity/api/tasks/active/slave/S1: HTTP 401 Unauthorized: {"message":"Unauthorized"}`,
  );
  singularity.failure = { status: 500 };
  const down = await failure(client([singularity.host], { credentials }).activeTaskIds("S1"));
  assert.ok(!down.includes(credentials.secret), down);
});

Deno.test("singularityApiOptions() reads the hosts, the context path, the timeout and no credentials by default", async () => {
  await using setup = await loadTestConfig<CleanupKeys>(CLEANUP, {
    validate: false,
    properties: { "singularity.hosts": "sing1:7099, sing2:7099" },
  });
  assert.deepEqual(singularityApiOptions(setup.config), {
    hosts: ["sing1:7099", "sing2:7099"],
    contextPath: "singularity/api",
    timeoutMs: 10000,
  });
});

Deno.test("singularityApiOptions() takes a credential header and masks its secret in --print-config", async () => {
  await using setup = await loadTestConfig<CleanupKeys>(CLEANUP, {
    validate: false,
    properties: {
      "singularity.hosts": "sing1:7099",
      "singularity.context.path": "api",
      "executor.cleanup.http.timeout.millis": "3000",
      "singularity.client.credentials.header": "Authorization",
      "singularity.client.credentials.secret": "Bearer abcdefgh1234",
    },
  });
  assert.deepEqual(singularityApiOptions(setup.config), {
    hosts: ["sing1:7099"],
    contextPath: "api",
    timeoutMs: 3000,
    credentials: { header: "Authorization", secret: "Bearer abcdefgh1234" },
  });
  const printed = formatConfig(setup.config).filter((line) => line.startsWith("singularity.client.credentials."));
  assert.deepEqual(printed.map((line) => line.split("  (")[0]), [
    "singularity.client.credentials.header=Authorization",
    "singularity.client.credentials.secret=***************1234",
  ]);
});

Deno.test("singularityApiOptions() refuses half a credential or a bad header name, without showing the secret", async () => {
  const cases: [Record<string, string>, string][] = [
    [
      { "singularity.client.credentials.secret": "abcdefgh1234" },
      "singularity.client.credentials.secret is set but singularity.client.credentials.header is empty; set both or neither",
    ],
    [
      { "singularity.client.credentials.header": "Authorization" },
      "singularity.client.credentials.header is set but singularity.client.credentials.secret is empty; set both or neither",
    ],
    [
      { "singularity.client.credentials.header": "X Token", "singularity.client.credentials.secret": "abcdefgh1234" },
      'singularity.client.credentials.header = "X Token": not a valid HTTP header name',
    ],
  ];
  for (const [properties, expected] of cases) {
    await using setup = await loadTestConfig<CleanupKeys>(CLEANUP, {
      validate: false,
      properties: { "singularity.hosts": "sing1:7099", ...properties },
    });
    assert.throws(() => singularityApiOptions(setup.config), new SingularityApiError(expected));
  }
});
