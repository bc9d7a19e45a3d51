/**
 * singularity-s3-uploader: flags, configuration, run.
 *
 * @module
 */
import { runProgram } from "./lib/cli/run_program.ts";
import { UPLOADER, type UploaderKeys } from "./lib/config/mod.ts";

if (import.meta.main) {
  Deno.exit(
    await runProgram<UploaderKeys>({
      program: UPLOADER,
      run({ log }) {
        // The work itself lands with issue #7.
        log.error("uploader behaviour is not implemented yet (issue #7)");
        return Promise.resolve(1);
      },
    }, Deno.args),
  );
}
