/**
 * singularity-s3-downloader: flags, configuration, run.
 *
 * @module
 */
import { runProgram } from "./lib/cli/run_program.ts";
import { DOWNLOADER, type DownloaderKeys } from "./lib/config/mod.ts";
import { DownloadService } from "./lib/s3/download_service.ts";
import { printDownloaderStatus } from "./lib/s3/download_status.ts";
import { untilTerminated } from "./lib/cli/signals.ts";

if (import.meta.main) {
  Deno.exit(
    await runProgram<DownloaderKeys>({
      program: DOWNLOADER,
      description: [
        "Serves POST http://127.0.0.1:<s3.downloader.http.port><s3.downloader.http.download.path> with an",
        "ArtifactDownloadRequest {targetDirectory, s3Artifact, timeoutMillis?}; answers 200 once the artifact is in",
        "artifact.cache.directory and placed; GET /metrics gives Prometheus metrics. SIGTERM stops it.",
      ],
      status: printDownloaderStatus,
      async run({ config, log }) {
        const service = new DownloadService(config, log);
        await service.start();
        const signal = await untilTerminated();
        log.info(`${signal}: stopping`);
        await service.stop();
        return 0;
      },
    }, Deno.args),
  );
}
