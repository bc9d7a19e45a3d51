/**
 * singularity-executor: flags, configuration, run.
 *
 * @module
 */
import { runProgram } from "./lib/cli/run_program.ts";
import { EXECUTOR, type ExecutorKeys } from "./lib/config/mod.ts";

if (import.meta.main) {
  Deno.exit(
    await runProgram<ExecutorKeys>({
      program: EXECUTOR,
      run({ log }) {
        // The work itself lands with issue #5.
        log.error("executor behaviour is not implemented yet (issue #5)");
        return Promise.resolve(1);
      },
    }, Deno.args),
  );
}
