/**
 * A minimal executor for the driver tests: the real driver (lib/mesos) with
 * a small task handler that runs each task's command as a real process in
 * its own process group. Started by the fake agent with the Mesos
 * environment. Test knobs: TEST_EXECUTOR_ENCODING (protobuf|json),
 * TEST_TERMINAL_ACK_TIMEOUT_MS, TEST_DEFAULT_KILL_GRACE_MS.
 *
 * Commands come from TaskInfo.command.value; a framework message is echoed
 * back prefixed with "echo:"; the executor stops when its last task ended.
 *
 * @module
 */
import { configure, getConsoleSink, getLogger } from "@logtape/logtape";
import { readExecutorEnvironment } from "../../lib/mesos/environment.ts";
import { type LaunchedTask, MesosExecutorDriver, type TaskHandler } from "../../lib/mesos/driver.ts";

await configure({
  sinks: { console: getConsoleSink() },
  loggers: [
    { category: ["test-executor"], sinks: ["console"], lowestLevel: "debug" },
    { category: ["logtape", "meta"], sinks: ["console"], lowestLevel: "warning" },
  ],
});
const log = getLogger(["test-executor"]);

interface Running {
  child: Deno.ChildProcess;
  killed: boolean;
  escalation?: ReturnType<typeof setTimeout>;
  exited: Promise<void>;
}

const environment = readExecutorEnvironment();
const driver = new MesosExecutorDriver({
  environment,
  encoding: Deno.env.get("TEST_EXECUTOR_ENCODING") === "json" ? "json" : "protobuf",
  log,
  terminalAckTimeoutMs: Number(Deno.env.get("TEST_TERMINAL_ACK_TIMEOUT_MS") ?? 60_000),
  subscribeRetryMs: 200,
});
const defaultGraceMs = Number(Deno.env.get("TEST_DEFAULT_KILL_GRACE_MS") ?? 3000);
const running = new Map<string, Running>();
const graces = new Map<string, number | undefined>();

function signalGroup(pid: number, signal: Deno.Signal): void {
  try {
    Deno.kill(-pid, signal);
  } catch {
    // The group is already gone.
  }
}

const handler: TaskHandler = {
  launch(task: LaunchedTask) {
    const command = task.command?.value;
    if (!command) {
      driver.sendStatus(task.taskId, "TASK_ERROR", { message: "no command" });
      return;
    }
    graces.set(task.taskId, task.killPolicyGracePeriodMs);
    const child = new Deno.Command("bash", { args: ["-c", command], detached: true, cwd: environment.sandbox })
      .spawn();
    driver.sendStatus(task.taskId, "TASK_RUNNING", { message: `pid ${child.pid}` });
    const entry: Running = {
      child,
      killed: false,
      exited: child.status.then((status) => {
        if (entry.escalation !== undefined) clearTimeout(entry.escalation);
        signalGroup(child.pid, "SIGKILL");
        running.delete(task.taskId);
        if (entry.killed) {
          driver.sendStatus(task.taskId, "TASK_KILLED", { message: `killed (signal ${status.signal ?? "none"})` });
        } else if (status.code === 0) {
          driver.sendStatus(task.taskId, "TASK_FINISHED", { message: "exited with status 0" });
        } else {
          driver.sendStatus(task.taskId, "TASK_FAILED", {
            message: `exited with status ${status.code}`,
            reason: "REASON_COMMAND_EXECUTOR_FAILED",
          });
        }
        if (running.size === 0) driver.stop("no tasks left");
      }),
    };
    running.set(task.taskId, entry);
  },
  kill(taskId, { gracePeriodMs }) {
    const entry = running.get(taskId);
    if (entry === undefined) return;
    const grace = gracePeriodMs ?? graces.get(taskId) ?? defaultGraceMs;
    entry.killed = true;
    if (driver.frameworkCapabilities.includes("TASK_KILLING_STATE")) driver.sendStatus(taskId, "TASK_KILLING");
    signalGroup(entry.child.pid, "SIGTERM");
    if (entry.escalation !== undefined) clearTimeout(entry.escalation);
    entry.escalation = setTimeout(() => signalGroup(entry.child.pid, "SIGKILL"), grace);
  },
  frameworkMessage(data) {
    void driver.sendMessage(new TextEncoder().encode(`echo:${new TextDecoder().decode(data)}`));
  },
  async shutdown({ gracePeriodMs }) {
    for (const taskId of running.keys()) this.kill(taskId, { gracePeriodMs: Math.max(0, gracePeriodMs - 1000) });
    await Promise.all([...running.values()].map((entry) => entry.exited));
  },
};

Deno.addSignalListener("SIGTERM", () => driver.requestShutdown("SIGTERM"));
const code = await driver.run(handler);
log.info(`test executor exiting with ${code}`);
Deno.exit(code);
