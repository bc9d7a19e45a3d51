/**
 * A task's files as its executor leaves them right after the log set-up,
 * the executor long gone: what the cleanup job finds after an OOM kill. Made
 * with the executor's own code (definition, logrotate config, metadata).
 *
 * @module
 */
import { join } from "node:path";
import type { Config, ExecutorKeys } from "../../lib/config/mod.ts";
import { parseExecutorData } from "../../lib/executor/executor_data.ts";
import { buildTaskDefinition, writeTaskDefinition } from "../../lib/executor/task_definition.ts";
import { setUpTaskLogs } from "../../lib/executor/task_logs.ts";

/** No process has this id (Linux's pid limit on 64-bit). */
const DEAD_PID = 4_194_304;

/**
 * Makes `<sandboxes>/<taskId>` (with `app/` and `logs/`) and its definition in
 * `executor.global.task.definition.directory`; returns the sandbox.
 *
 * @example
 * ```ts
 * const sandbox = await makeDeadTask(config, "/tmp/sandboxes", "web-d1-1-0-host-rack", { cmd: "true" });
 * ```
 */
export async function makeDeadTask(
  config: Config<ExecutorKeys>,
  sandboxes: string,
  taskId: string,
  fields: Record<string, unknown> = {},
): Promise<string> {
  const data = parseExecutorData(new TextEncoder().encode(JSON.stringify({ cmd: "true", ...fields })));
  const sandbox = join(sandboxes, taskId);
  await Deno.mkdir(join(sandbox, "app"), { recursive: true });
  await Deno.mkdir(join(sandbox, "logs"));
  const definition = buildTaskDefinition(taskId, data, {
    taskDirectory: sandbox,
    executorPid: DEAD_PID,
    appDirectory: "app",
    serviceLog: "service.log",
    serviceFinishedTailLog: "tail_of_finished_service.log",
    bashLog: "executor.bash.log",
    logrotateStateFile: "logrotate.status",
  });
  await writeTaskDefinition(
    config.text("executor.global.task.definition.directory"),
    config.text("executor.global.task.definition.suffix"),
    definition,
  );
  await setUpTaskLogs(definition, data, { config, log: () => {} });
  return sandbox;
}
