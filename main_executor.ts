/**
 * singularity-executor: flags, configuration, run.
 *
 * @module
 */
import { runProgram } from "./lib/cli/run_program.ts";
import { EXECUTOR, type ExecutorKeys } from "./lib/config/mod.ts";
import { SingularityExecutor } from "./lib/executor/singularity_executor.ts";
import { MesosExecutorDriver } from "./lib/mesos/driver.ts";
import { ExecutorEnvironmentError, readExecutorEnvironment } from "./lib/mesos/environment.ts";

if (import.meta.main) {
  Deno.exit(
    await runProgram<ExecutorKeys>({
      program: EXECUTOR,
      description: [
        "Started by the Mesos agent as a custom executor (it reads MESOS_FRAMEWORK_ID, MESOS_EXECUTOR_ID,",
        "MESOS_AGENT_ENDPOINT, MESOS_SANDBOX, ...). Each task runs in <MESOS_SANDBOX>/<task id>; its logs are rotated",
        "with executor.logrotate.command and handed to singularity-s3-uploader through metadata files in",
        "s3uploader.metadata.directory; its definition in executor.global.task.definition.directory lets",
        "singularity-executor-cleanup finish it if this executor dies. Exit codes: 0 after an orderly stop, 1 when",
        "it gave up.",
      ],
      async run({ config, log }) {
        let environment;
        try {
          environment = readExecutorEnvironment();
        } catch (error) {
          if (!(error instanceof ExecutorEnvironmentError)) throw error;
          log.error(error.message);
          console.error(`singularity-executor: ${error.message}`);
          return 1;
        }
        const encoding = config.get("executor.mesos.encoding") === "json" ? "json" : "protobuf";
        const driver = new MesosExecutorDriver({ environment, encoding, log });
        const executor = new SingularityExecutor({
          config,
          sandbox: environment.sandbox,
          executorUser: Deno.uid() === 0 ? "root" : Deno.env.get("USER") ?? String(Deno.uid()),
          log: (line, taskId) => taskId ? log.with({ taskId }).info(line) : log.info(line),
        });
        Deno.addSignalListener("SIGTERM", () => driver.requestShutdown("SIGTERM"));
        return await driver.run(executor.handlerFor(driver));
      },
    }, Deno.args),
  );
}
