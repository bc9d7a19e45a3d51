import assert from "node:assert/strict";
import { processTree } from "../../lib/executor/process_tree.ts";
import { TaskProcess, type TaskProcessOptions } from "../../lib/executor/task_process.ts";

async function withSandbox(body: (dir: string) => Promise<void>): Promise<void> {
  const dir = await Deno.makeTempDir({ prefix: "task-process-" });
  try {
    await body(dir);
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
}

function options(dir: string, script: string, extra: Partial<TaskProcessOptions> = {}): TaskProcessOptions {
  return {
    command: ["bash", "-c", script],
    cwd: dir,
    killAfterMs: 60_000,
    checkThreadsEveryMs: 100,
    successfulExitCodes: [],
    log: () => {},
    ...extra,
  };
}

Deno.test("TaskProcess: exit codes map to FINISHED / FAILED, with successfulExitCodes", async () => {
  await withSandbox(async (dir) => {
    assert.deepEqual(await TaskProcess.start(options(dir, "exit 0")).finished, {
      state: "TASK_FINISHED",
      message: "Process exited normally with code 0",
      exitCode: 0,
    });
    assert.deepEqual(await TaskProcess.start(options(dir, "exit 3")).finished, {
      state: "TASK_FAILED",
      message: "Process failed with code 3",
      exitCode: 3,
    });
    const custom = await TaskProcess.start(options(dir, "exit 3", { successfulExitCodes: [0, 3] })).finished;
    assert.equal(custom.state, "TASK_FINISHED");
    const zeroNotListed = await TaskProcess.start(options(dir, "exit 0", { successfulExitCodes: [3] })).finished;
    assert.equal(zeroNotListed.state, "TASK_FAILED");
  });
});

Deno.test("TaskProcess: a task that exits on SIGTERM is KILLED 'gracefully'", async () => {
  await withSandbox(async (dir) => {
    const task = TaskProcess.start(options(dir, "sleep 30 & wait"));
    await new Promise((r) => setTimeout(r, 200));
    task.kill();
    assert.deepEqual(await task.finished, {
      state: "TASK_KILLED",
      message: "Task killed. Process exited gracefully with code 143",
      exitCode: 143,
    });
  });
});

Deno.test("TaskProcess: a SIGTERM-ignoring tree is SIGKILLed after the grace period, grandchildren included", async () => {
  await withSandbox(async (dir) => {
    const task = TaskProcess.start(
      options(dir, "trap '' TERM; (trap '' TERM; setsid sleep 60 & sleep 60) & sleep 60; wait", { killAfterMs: 400 }),
    );
    // Children exist only after the traps are set.
    let before = await processTree(task.pid);
    for (let i = 0; i < 100 && before.length < 4; i++) {
      await new Promise((r) => setTimeout(r, 50));
      before = await processTree(task.pid);
    }
    assert.ok(before.length >= 4, `tree of ${before.length}`);
    const started = Date.now();
    task.kill();
    const end = await task.finished;
    assert.ok(Date.now() - started >= 380);
    assert.deepEqual(end, {
      state: "TASK_KILLED",
      message: "Task killed forcibly after waiting at least 400 ms",
      exitCode: 137,
    });
    assert.deepEqual(await processTree(task.pid), []);
  });
});

Deno.test("TaskProcess: a second kill escalates to SIGKILL at once", async () => {
  await withSandbox(async (dir) => {
    const task = TaskProcess.start(
      options(dir, "trap '' TERM; touch trapped; sleep 60 & wait", { killAfterMs: 60_000 }),
    );
    for (let i = 0; i < 100 && !(await Deno.stat(`${dir}/trapped`).then(() => true, () => false)); i++) {
      await new Promise((r) => setTimeout(r, 20));
    }
    task.kill();
    await new Promise((r) => setTimeout(r, 200));
    const started = Date.now();
    task.kill();
    const end = await task.finished;
    assert.ok(Date.now() - started < 2000);
    assert.deepEqual(end, {
      state: "TASK_KILLED",
      message: "Task killed forcibly after multiple kill requests from framework",
      exitCode: 137,
    });
  });
});

Deno.test("TaskProcess: a thread bomb over maxThreads is killed and reported FAILED with the count", async () => {
  await withSandbox(async (dir) => {
    const task = TaskProcess.start(options(dir, "for i in $(seq 1 12); do sleep 60 & done; wait", { maxThreads: 5 }));
    const end = await task.finished;
    assert.equal(end.state, "TASK_FAILED");
    const match = end.message.match(/^Task used (\d+) threads and was killed \(max 5\)$/);
    assert.ok(match, end.message);
    assert.ok(Number(match[1]) > 5 && Number(match[1]) <= 13, end.message);
    assert.deepEqual(await processTree(task.pid), []);
  });
});

Deno.test("TaskProcess: background children left when the task exits are killed with it", async () => {
  await withSandbox(async (dir) => {
    const task = TaskProcess.start(options(dir, "sleep 60 & echo $! > child; exit 0"));
    const end = await task.finished;
    assert.equal(end.state, "TASK_FINISHED");
    assert.deepEqual(await processTree(task.pid), []);
  });
});
