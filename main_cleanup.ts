/**
 * singularity-executor-cleanup: flags, configuration, run.
 *
 * @module
 */
import { runProgram } from "./lib/cli/run_program.ts";
import { CLEANUP, type CleanupKeys } from "./lib/config/mod.ts";
import { runCleanup } from "./lib/cleanup/cleanup_pass.ts";

if (import.meta.main) {
  Deno.exit(
    await runProgram<CleanupKeys>({
      program: CLEANUP,
      options: {
        "dry-run": { type: "boolean", help: "print, per task, what would be done and why; change nothing" },
      },
      description: [
        "Run hourly from cron. Finishes tasks whose executor died: asks the Mesos agent for its id and Singularity",
        "for the tasks active on it, then for each task definition that is neither active nor has a live executor:",
        "final logrotate, S3 upload metadata finished, app/ removed (kept for a while after TASK_FAILED), definition",
        "deleted. Writes <millis>.cleanup.json to executor.cleanup.results.directory on every run.",
        "Exit codes: 0 after a completed run or a safely aborted one (API down, safe mode, another run holding",
        "the lock; the results file says why), 1 on an unexpected error.",
      ],
      async run({ config, log, options }) {
        const { results } = await runCleanup({ config, log, dryRun: options["dry-run"] === true });
        if (results.errorMessage !== undefined) log.warn(`run aborted: ${results.errorMessage}`);
        return 0;
      },
    }, Deno.args),
  );
}
