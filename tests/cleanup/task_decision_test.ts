import assert from "node:assert/strict";
import type { TaskHistory } from "../../lib/cleanup/singularity_api.ts";
import { decideTask, ignoreReason, latestUpdate, type TaskFacts } from "../../lib/cleanup/task_decision.ts";
import type { TaskDefinition } from "../../lib/executor/task_definition.ts";

const TASK = "web-deploy1-1700000000000-1-host1-DEFAULT";
const SANDBOX = `/var/lib/mesos/slaves/S1/frameworks/F1/executors/E1/runs/latest/${TASK}`;
const NOW = Date.UTC(2024, 0, 2, 12, 0, 0);
const HOUR = 3_600_000;
const DAY = 24 * HOUR;
const GONE = "not active on this agent and executor pid 4242 is gone";

/** A task definition as the executor writes it. */
function definition(executorData: Record<string, unknown> = { cmd: "./run.sh" }): TaskDefinition {
  return {
    taskId: TASK,
    executorData,
    taskDirectory: SANDBOX,
    executorPid: "4242",
    serviceLogOut: `${SANDBOX}/service.log`,
    serviceLogOutExtension: "log",
    serviceFinishedTailLog: `${SANDBOX}/tail_of_finished_service.log`,
    taskAppDirectory: `${SANDBOX}/app`,
    executorBashOut: `${SANDBOX}/executor.bash.log`,
    logrotateStateFile: `${SANDBOX}/logrotate.status`,
  };
}

/** A history ending (in time) with `state` at `msAgo` before NOW. */
function endedWith(state: string, msAgo: number): TaskHistory {
  return {
    taskUpdates: [
      { taskState: "TASK_LAUNCHED", timestamp: NOW - msAgo - 2000 },
      { taskState: "TASK_RUNNING", timestamp: NOW - msAgo - 1000 },
      { taskState: state, timestamp: NOW - msAgo },
    ],
  };
}

/** Facts of a dead task with `history`. */
function facts(history: TaskHistory | undefined, changes: Partial<TaskFacts> = {}): TaskFacts {
  return {
    runningTaskIds: new Set(["other-d-1-1-host1-DEFAULT"]),
    executorAlive: false,
    history,
    nowMs: NOW,
    keepFailedAppDirectoryMs: DAY,
    ...changes,
  };
}

/** When `msAgo` before NOW was, as the reasons print it. */
function at(msAgo: number): string {
  return new Date(NOW - msAgo).toISOString();
}

Deno.test("decideTask() leaves a task alone that Singularity reports active, whatever its history", () => {
  assert.deepEqual(
    decideTask(definition(), facts(endedWith("TASK_FINISHED", DAY), { runningTaskIds: new Set([TASK]) })),
    { action: "ignore", reason: "Singularity reports the task active on this agent" },
  );
});

Deno.test("decideTask() leaves a task alone whose executor pid is alive", () => {
  assert.deepEqual(decideTask(definition(), facts(undefined, { executorAlive: true })), {
    action: "ignore",
    reason: "its executor (pid 4242) is still running",
  });
});

Deno.test("ignoreReason() answers before any history is known", () => {
  assert.equal(ignoreReason(definition(), { runningTaskIds: new Set(), executorAlive: false }), undefined);
  assert.equal(
    ignoreReason(definition(), { runningTaskIds: new Set([TASK]), executorAlive: true }),
    "Singularity reports the task active on this agent",
  );
  assert.equal(
    ignoreReason(definition(), { runningTaskIds: new Set(), executorAlive: true }),
    "its executor (pid 4242) is still running",
  );
});

Deno.test("decideTask() cleans a dead task, keeping or removing the app directory", () => {
  const cases: [string, TaskHistory | undefined, Record<string, unknown> | undefined, boolean, string][] = [
    ["no history", undefined, undefined, true, `${GONE}; Singularity has no history of it; remove the app directory`],
    [
      "empty history",
      { taskUpdates: [] },
      undefined,
      true,
      `${GONE}; its history has no updates; remove the app directory`,
    ],
    [
      "finished",
      endedWith("TASK_FINISHED", 20 * 60_000),
      undefined,
      true,
      `${GONE}; latest update TASK_FINISHED at ${at(20 * 60_000)}; remove the app directory`,
    ],
    [
      "killed",
      endedWith("TASK_KILLED", 15 * 60_000),
      undefined,
      true,
      `${GONE}; latest update TASK_KILLED at ${at(15 * 60_000)}; remove the app directory`,
    ],
    [
      "lost",
      endedWith("TASK_LOST", HOUR),
      undefined,
      true,
      `${GONE}; latest update TASK_LOST at ${at(HOUR)}; remove the app directory`,
    ],
    [
      "failed an hour ago",
      endedWith("TASK_FAILED", HOUR),
      undefined,
      false,
      `${GONE}; latest update TASK_FAILED at ${at(HOUR)}; keep the app directory (failed 1h ago, less than 24h)`,
    ],
    [
      "failed a millisecond short of the limit",
      endedWith("TASK_FAILED", DAY - 1),
      undefined,
      false,
      `${GONE}; latest update TASK_FAILED at ${
        at(DAY - 1)
      }; keep the app directory (failed 23h 59m ago, less than 24h)`,
    ],
    [
      "failed exactly the limit ago",
      endedWith("TASK_FAILED", DAY),
      undefined,
      true,
      `${GONE}; latest update TASK_FAILED at ${at(DAY)}; remove the app directory (failed 24h ago, at least 24h)`,
    ],
    [
      "failed two days ago",
      endedWith("TASK_FAILED", 2 * DAY + 61_000),
      undefined,
      true,
      `${GONE}; latest update TASK_FAILED at ${
        at(2 * DAY + 61_000)
      }; remove the app directory (failed 48h 1m ago, at least 24h)`,
    ],
    [
      "preserveTaskSandboxAfterFinish, finished long ago",
      endedWith("TASK_FINISHED", 3 * DAY),
      { cmd: "./run.sh", preserveTaskSandboxAfterFinish: true },
      false,
      `${GONE}; latest update TASK_FINISHED at ${at(3 * DAY)}; keep the app directory (preserveTaskSandboxAfterFinish)`,
    ],
    [
      "preserveTaskSandboxAfterFinish false",
      endedWith("TASK_FINISHED", 3 * DAY),
      { cmd: "./run.sh", preserveTaskSandboxAfterFinish: false },
      true,
      `${GONE}; latest update TASK_FINISHED at ${at(3 * DAY)}; remove the app directory`,
    ],
    [
      "preserveTaskSandboxAfterFinish not a boolean",
      undefined,
      { cmd: "./run.sh", preserveTaskSandboxAfterFinish: "yes" },
      false,
      `${GONE}; Singularity has no history of it; keep the app directory (preserveTaskSandboxAfterFinish is "yes", not a boolean)`,
    ],
  ];
  for (const [name, history, executorData, cleanupAppDirectory, reason] of cases) {
    assert.deepEqual(
      decideTask(definition(executorData), facts(history)),
      { action: "clean", cleanupAppDirectory, reason },
      name,
    );
  }
});

Deno.test("decideTask() takes the latest update by timestamp, not by its place in the list", () => {
  // Listed failure last but older than the finish: the task finished.
  const finishedLast = {
    taskUpdates: [
      { taskState: "TASK_RUNNING", timestamp: NOW - 3 * HOUR },
      { taskState: "TASK_FINISHED", timestamp: NOW - HOUR },
      { taskState: "TASK_FAILED", timestamp: NOW - 2 * HOUR },
    ],
  };
  assert.deepEqual(decideTask(definition(), facts(finishedLast)), {
    action: "clean",
    cleanupAppDirectory: true,
    reason: `${GONE}; latest update TASK_FINISHED at ${at(HOUR)}; remove the app directory`,
  });
  // Listed first but newest: the task failed an hour ago, so its app directory stays.
  const failedFirst = {
    taskUpdates: [
      { taskState: "TASK_FAILED", timestamp: NOW - HOUR },
      { taskState: "TASK_LAUNCHED", timestamp: NOW - 3 * HOUR },
      { taskState: "TASK_RUNNING", timestamp: NOW - 2 * HOUR },
    ],
  };
  assert.deepEqual(decideTask(definition(), facts(failedFirst)), {
    action: "clean",
    cleanupAppDirectory: false,
    reason: `${GONE}; latest update TASK_FAILED at ${at(HOUR)}; keep the app directory (failed 1h ago, less than 24h)`,
  });
});

Deno.test("decideTask() with a keep time of 0 removes a failed task's app directory once it settled", () => {
  const ended = endedWith("TASK_FAILED", 20 * 60_000);
  assert.deepEqual(decideTask(definition(), facts(ended, { keepFailedAppDirectoryMs: 0 })), {
    action: "clean",
    cleanupAppDirectory: true,
    reason: `${GONE}; latest update TASK_FAILED at ${
      at(20 * 60_000)
    }; remove the app directory (failed 20m ago, at least 0ms)`,
  });
});

Deno.test("decideTask() waits while Singularity has not seen the task end, or saw it end less than 15 minutes ago", () => {
  const cases: [string, ReturnType<typeof endedWith>, string][] = [
    [
      "still running",
      endedWith("TASK_RUNNING", HOUR),
      `latest update TASK_RUNNING at ${at(HOUR)}, not a terminal state`,
    ],
    ["killing", endedWith("TASK_KILLING", 0), `latest update TASK_KILLING at ${at(0)}, not a terminal state`],
    [
      "finished 14 minutes ago",
      endedWith("TASK_FINISHED", 14 * 60_000),
      `latest update TASK_FINISHED at ${at(14 * 60_000)}, less than 15m ago`,
    ],
    [
      "failed at a time ahead of the clock",
      endedWith("TASK_FAILED", -5000),
      `latest update TASK_FAILED at ${at(-5000)}, less than 15m ago`,
    ],
    [
      "a timestamp no date can hold",
      { taskUpdates: [{ taskState: "TASK_FINISHED", timestamp: 1e20 }] },
      "latest update TASK_FINISHED at 100000000000000000000 ms after the epoch, less than 15m ago",
    ],
  ];
  for (const [name, history, state] of cases) {
    const decision = decideTask(definition(), facts(history));
    assert.equal(decision.action, "wait", name);
    assert.ok(decision.reason.startsWith(`${GONE}; ${state}`), `${name}: ${decision.reason}`);
  }
});

Deno.test("latestUpdate() picks the greatest timestamp, the later of equal ones, none of none", () => {
  assert.deepEqual(
    latestUpdate({
      taskUpdates: [
        { taskState: "TASK_FAILED", timestamp: 2 },
        { taskState: "TASK_RUNNING", timestamp: 1 },
      ],
    }),
    { taskState: "TASK_FAILED", timestamp: 2 },
  );
  assert.deepEqual(
    latestUpdate({
      taskUpdates: [
        { taskState: "TASK_KILLING", timestamp: 5 },
        { taskState: "TASK_KILLED", timestamp: 5 },
      ],
    }),
    { taskState: "TASK_KILLED", timestamp: 5 },
  );
  assert.equal(latestUpdate({ taskUpdates: [] }), undefined);
});
