/**
 * singularity-s3-uploader: uploads the files named by upload metadata files
 * (lib/s3/upload_metadata.ts) to S3 and deletes each local file only once
 * S3 holds it with the expected size and ETag, exactly once across crashes
 * (the journal). The daemon is {@linkcode UploaderService}; `--status` is
 * {@linkcode printUploaderStatus}.
 *
 * @example
 * ```ts
 * import { UploaderService } from "./lib/s3/uploader/mod.ts";
 * const service = new UploaderService(config, log);
 * await service.start();
 * ```
 *
 * @module
 */
export * from "./service.ts";
export * from "./status.ts";
