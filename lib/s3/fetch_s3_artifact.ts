/**
 * An S3 artifact into the shared cache, downloaded in parallel ranged chunks
 * with the `s3.downloader.*` settings. Used in-process by the executor and by
 * the downloader service.
 *
 * @module
 */
import type { S3Artifact } from "../artifacts/artifact.ts";
import { type CacheCheck, fetchIntoCache } from "../artifacts/cache.ts";
import type { Config } from "../config/config.ts";
import { downloadS3Object } from "./chunked_download.ts";
import { type S3BaseKeys, s3DownloadClientFor } from "./client.ts";

/**
 * The verified cache path of an S3 artifact (downloaded on a cache miss).
 *
 * @example
 * ```ts
 * const { path } = await fetchS3Artifact(config, artifact, { signal });
 * ```
 */
export function fetchS3Artifact(
  config: Config<S3BaseKeys>,
  artifact: S3Artifact,
  options: { signal?: AbortSignal; log?: (line: string) => void } = {},
): Promise<{ path: string; check: CacheCheck }> {
  return fetchIntoCache(
    artifact,
    config.text("artifact.cache.directory"),
    (destination, signal) =>
      downloadS3Object({
        client: s3DownloadClientFor(config, artifact.s3Bucket),
        bucket: artifact.s3Bucket,
        key: artifact.s3ObjectKey,
        destination,
        size: artifact.filesize,
        chunkSize: config.get("s3.downloader.chunk.size"),
        chunkTimeoutMs: config.get("s3.downloader.chunk.timeout.millis"),
        chunkRetries: config.get("s3.downloader.chunk.retries"),
        totalTimeoutMs: config.get("s3.downloader.timeout.millis"),
        signal,
        log: options.log,
      }),
    options,
  );
}
