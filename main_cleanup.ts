/**
 * singularity-executor-cleanup: flags, configuration, run.
 *
 * @module
 */
import { runProgram } from "./lib/cli/run_program.ts";
import { CLEANUP, type CleanupKeys } from "./lib/config/mod.ts";

if (import.meta.main) {
  Deno.exit(
    await runProgram<CleanupKeys>({
      program: CLEANUP,
      run({ log }) {
        // The work itself lands with issue #8.
        log.error("cleanup behaviour is not implemented yet (issue #8)");
        return Promise.resolve(1);
      },
    }, Deno.args),
  );
}
