import assert from "node:assert/strict";
import {
  parseTaskId,
  parseTaskIdObject,
  sandboxName,
  sanitizeIdPart,
  TaskIdError,
} from "../../lib/executor/task_id.ts";

Deno.test("parseTaskId() splits from the right into six parts", () => {
  assert.deepEqual(parseTaskId("my-web-request-deploy_1-1428000000000-3-agent_1.example.com-us_east_1a"), {
    id: "my-web-request-deploy_1-1428000000000-3-agent_1.example.com-us_east_1a",
    requestId: "my-web-request",
    deployId: "deploy_1",
    startedAt: 1428000000000,
    instanceNo: 3,
    sanitizedHost: "agent_1.example.com",
    sanitizedRackId: "us_east_1a",
  });
});

Deno.test("parseTaskId() keeps a request id without '-' and one with ':'", () => {
  assert.equal(parseTaskId("r-d-0-1-h-k").requestId, "r");
  assert.equal(parseTaskId("r-d-0-1-h-k").startedAt, 0);
  assert.equal(parseTaskId("team:web-d-1-1-h-k").requestId, "team:web");
});

Deno.test("parseTaskId() names the id and the part that is wrong", () => {
  const shape = "expected <requestId>-<deployId>-<startedAt>-<instanceNo>-<sanitizedHost>-<sanitizedRackId> " +
    '(6 parts separated by "-")';
  const cases: [string, string][] = [
    ["abc", `task id "abc": ${shape}, got 1 part`],
    ["a-b-c-d-e", `task id "a-b-c-d-e": ${shape}, got 5 parts`],
    ["-d-1-1-h-k", 'task id "-d-1-1-h-k": the requestId part is empty'],
    ["r--1-1-h-k", 'task id "r--1-1-h-k": the deployId part is empty'],
    ["r-d--1-h-k", 'task id "r-d--1-h-k": the startedAt part is empty'],
    ["r-d-1--h-k", 'task id "r-d-1--h-k": the instanceNo part is empty'],
    ["r-d-1-1--k", 'task id "r-d-1-1--k": the sanitizedHost part is empty'],
    ["r-d-1-1-h-", 'task id "r-d-1-1-h-": the sanitizedRackId part is empty'],
    ["r-d-soon-1-h-k", 'task id "r-d-soon-1-h-k": startedAt "soon" is not a whole number of milliseconds'],
    [
      "r-d-99999999999999999-1-h-k",
      'task id "r-d-99999999999999999-1-h-k": startedAt "99999999999999999" is not a whole number of milliseconds',
    ],
    ["r-d-1-1.5-h-k", 'task id "r-d-1-1.5-h-k": instanceNo "1.5" is not a whole number'],
    ["r-d-1-2147483648-h-k", 'task id "r-d-1-2147483648-h-k": instanceNo "2147483648" is not a whole number'],
    ["r-d-1-+1-h-k", 'task id "r-d-1-+1-h-k": instanceNo "+1" is not a whole number'],
    [
      "../r-d-1-1-h-k",
      'task id "../r-d-1-1-h-k": not usable as a file name (empty, "." or "..", or contains "/" or NUL)',
    ],
    ["", 'task id "": not usable as a file name (empty, "." or "..", or contains "/" or NUL)'],
  ];
  for (const [id, message] of cases) {
    assert.throws(() => parseTaskId(id), (error: unknown) => {
      assert.ok(error instanceof TaskIdError);
      assert.equal(error.message, message);
      return true;
    });
  }
});

Deno.test("sandboxName() replaces ':' with '_' and refuses ids that are not one file name", () => {
  assert.equal(sandboxName("team:web:api-d-1-1-h-k"), "team_web_api-d-1-1-h-k");
  assert.equal(sandboxName(parseTaskId("a:b-d-1-1-h-k")), "a_b-d-1-1-h-k");
  assert.equal(sandboxName("plain-d-1-1-h-k"), "plain-d-1-1-h-k");
  assert.throws(
    () => sandboxName("a/b"),
    new TaskIdError('task id "a/b": not usable as a file name (empty, "." or "..", or contains "/" or NUL)'),
  );
  assert.throws(
    () => sandboxName(".."),
    new TaskIdError('task id "..": not usable as a file name (empty, "." or "..", or contains "/" or NUL)'),
  );
});

Deno.test("sanitizeIdPart() replaces '-' with '_'", () => {
  assert.equal(sanitizeIdPart("agent-1.example-2.com"), "agent_1.example_2.com");
});

Deno.test("parseTaskIdObject() reads the object form and recomputes the id", () => {
  assert.deepEqual(
    parseTaskIdObject({
      id: "ignored",
      requestId: "my-request",
      deployId: "d1",
      startedAt: 1428000000000,
      instanceNo: 2,
      host: "agent-1",
      sanitizedHost: "agent_1",
      sanitizedRackId: "rack_a",
      rackId: "rack-a",
      somethingNew: true,
    }),
    {
      id: "my-request-d1-1428000000000-2-agent_1-rack_a",
      requestId: "my-request",
      deployId: "d1",
      startedAt: 1428000000000,
      instanceNo: 2,
      sanitizedHost: "agent_1",
      sanitizedRackId: "rack_a",
    },
  );
});

Deno.test("parseTaskIdObject() falls back to nextRunAt, host and rackId (sanitized)", () => {
  const taskId = parseTaskIdObject({
    requestId: "r",
    deployId: "d",
    nextRunAt: 5,
    startedAt: null,
    instanceNo: 1,
    host: "agent-1.example.com",
    rackId: "us-east-1a",
  });
  assert.equal(taskId.id, "r-d-5-1-agent_1.example.com-us_east_1a");
  assert.deepEqual(parseTaskId(taskId.id), taskId);
  assert.equal(
    parseTaskIdObject({
      requestId: "r",
      deployId: "d",
      startedAt: 7,
      nextRunAt: 5,
      instanceNo: 1,
      host: "h",
      rackId: "k",
    })
      .startedAt,
    7,
  );
});

Deno.test("parseTaskIdObject() parses an object that has only the id", () => {
  assert.deepEqual(parseTaskIdObject({ id: "r-d-1-2-h-k" }), parseTaskId("r-d-1-2-h-k"));
});

Deno.test("parseTaskIdObject() names the field and the bad value", () => {
  const base = { requestId: "r", deployId: "d", startedAt: 1, instanceNo: 1, sanitizedHost: "h", sanitizedRackId: "k" };
  const cases: [unknown, string][] = [
    ["r-d-1-1-h-k", 'taskId: expected an object, got "r-d-1-1-h-k"'],
    [null, "taskId: expected an object, got null"],
    [{ ...base, requestId: undefined }, "taskId.requestId: expected a non-empty string, got nothing"],
    [{ ...base, requestId: "" }, 'taskId.requestId: expected a non-empty string, got ""'],
    [{ ...base, deployId: 3 }, "taskId.deployId: expected a non-empty string, got 3"],
    [{ ...base, deployId: "d-2" }, 'taskId.deployId: "d-2" must not contain "-"'],
    [{ ...base, startedAt: undefined }, "taskId.startedAt: expected a whole number of at least 0, got nothing"],
    [{ ...base, startedAt: "1" }, 'taskId.startedAt: expected a whole number of at least 0, got "1"'],
    [{ ...base, startedAt: null, nextRunAt: -1 }, "taskId.nextRunAt: expected a whole number of at least 0, got -1"],
    [{ ...base, instanceNo: 1.5 }, "taskId.instanceNo: expected a whole number of at least 0, got 1.5"],
    [{ ...base, sanitizedHost: "a-b" }, 'taskId.sanitizedHost: "a-b" must not contain "-"'],
    [{ ...base, sanitizedHost: undefined }, "taskId.sanitizedHost: expected a non-empty string, got nothing"],
    [{ ...base, sanitizedRackId: undefined, rackId: 4 }, "taskId.rackId: expected a non-empty string, got 4"],
    [
      { ...base, requestId: "a/b" },
      'taskId: task id "a/b-d-1-1-h-k": not usable as a file name (empty, "." or "..", or contains "/" or NUL)',
    ],
    [
      { id: "r-d-x-1-h-k" },
      'taskId.id: task id "r-d-x-1-h-k": startedAt "x" is not a whole number of milliseconds',
    ],
  ];
  for (const [value, message] of cases) {
    assert.throws(() => parseTaskIdObject(value), (error: unknown) => {
      assert.ok(error instanceof TaskIdError);
      assert.equal(error.message, message);
      return true;
    });
  }
  assert.throws(
    () => parseTaskIdObject([], "message.taskId"),
    new TaskIdError("message.taskId: expected an object, got []"),
  );
});
