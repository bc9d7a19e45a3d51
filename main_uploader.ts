/**
 * singularity-s3-uploader: flags, configuration, run.
 *
 * @module
 */
import { runProgram } from "./lib/cli/run_program.ts";
import { untilTerminated } from "./lib/cli/signals.ts";
import { UPLOADER, type UploaderKeys } from "./lib/config/mod.ts";
import { printUploaderStatus, UploaderService } from "./lib/s3/uploader/mod.ts";
import { UploaderSettingsError } from "./lib/s3/uploader/settings.ts";

if (import.meta.main) {
  Deno.exit(
    await runProgram<UploaderKeys>({
      program: UPLOADER,
      description: [
        "Watches s3uploader.metadata.directory for *<s3uploader.metadata.suffix> upload metadata files and uploads",
        "the files they name to S3, deleting each only after S3 confirms its size and ETag. Uploads in progress are",
        "journaled in <metadata directory>/.s3uploader-journal and resumed, to the same key, after a restart.",
        "GET http://127.0.0.1:<s3uploader.metrics.port>/metrics gives Prometheus metrics. SIGTERM stops it.",
      ],
      status: printUploaderStatus,
      async run({ config, log }) {
        let service: UploaderService;
        try {
          service = new UploaderService(config, log);
        } catch (error) {
          if (!(error instanceof UploaderSettingsError)) throw error;
          log.error(`invalid configuration: ${error.message}`);
          console.error(`${UPLOADER.binary}: invalid configuration: ${error.message}`);
          return 1;
        }
        const terminated = untilTerminated();
        await service.start();
        const signal = await terminated;
        log.info(`${signal}: stopping`);
        await service.stop();
        return 0;
      },
    }, Deno.args),
  );
}
