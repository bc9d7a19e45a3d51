/**
 * singularity-s3-downloader: flags, configuration, run.
 *
 * @module
 */
import { runProgram } from "./lib/cli/run_program.ts";
import { DOWNLOADER, type DownloaderKeys } from "./lib/config/mod.ts";

if (import.meta.main) {
  Deno.exit(
    await runProgram<DownloaderKeys>({
      program: DOWNLOADER,
      run({ log }) {
        // The work itself lands with issue #4.
        log.error("downloader behaviour is not implemented yet (issue #4)");
        return Promise.resolve(1);
      },
    }, Deno.args),
  );
}
