/**
 * `singularity-s3-downloader --status`: asks the running service for its
 * metrics and prints them for a person.
 *
 * @module
 */
import type { Config, DownloaderKeys } from "../config/mod.ts";
import { fetchMetrics } from "../metrics.ts";

/**
 * Prints the running service's state; resolves to 0 when it answered, 1 when not.
 *
 * @example
 * ```ts
 * Deno.exit(await printDownloaderStatus(config));
 * ```
 */
export async function printDownloaderStatus(config: Config<DownloaderKeys>): Promise<number> {
  const url = `http://127.0.0.1:${config.get("s3.downloader.http.port")}/metrics`;
  const answer = await fetchMetrics(url);
  if (!answer.ok) {
    console.log(`singularity-s3-downloader is not answering at ${url}: ${answer.problem}`);
    return 1;
  }
  const metrics = answer.metrics;
  const value = (name: string) => metrics.get(`singularity_s3_downloader_${name}`) ?? 0;
  const byCode = [...metrics].filter(([key]) => key.startsWith("singularity_s3_downloader_requests_total{"))
    .map(([key, count]) => `${key.match(/code="(\d+)"/)?.[1]}: ${count}`).join(", ");
  console.log(`singularity-s3-downloader answering at ${url}`);
  console.log(`  requests answered:  ${byCode || "none"}`);
  console.log(`  downloads:          ${value("downloads_total")} (${value("downloaded_bytes_total")} bytes)`);
  console.log(`  cache hits:         ${value("cache_hits_total")}`);
  console.log(`  failures:           ${value("download_errors_total")}`);
  console.log(`  active / queued:    ${value("downloads_active")} / ${value("downloads_queued")}`);
  return 0;
}
