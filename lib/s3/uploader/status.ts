/**
 * `singularity-s3-uploader --status`: what is on disk (metadata files, and
 * uploads planned but not yet confirmed, from the journal) and, when
 * `s3uploader.metrics.port` is set, what the running daemon reports. No
 * credentials are printed.
 *
 * @module
 */
import { join } from "node:path";
import type { Config, UploaderKeys } from "../../config/mod.ts";
import { fetchMetrics } from "../../metrics.ts";
import { JOURNAL_DIRECTORY, parsePlan } from "./journal.ts";

/** Journal entries listed at most. */
const MAX_LISTED = 20;

/**
 * Prints the uploader's state; resolves to 0 when the daemon answered (or
 * no metrics port is configured and the directories could be read), 1 when not.
 *
 * @example
 * ```ts
 * Deno.exit(await printUploaderStatus(config));
 * ```
 */
export async function printUploaderStatus(config: Config<UploaderKeys>): Promise<number> {
  const directory = config.text("s3uploader.metadata.directory");
  const suffix = config.get("s3uploader.metadata.suffix");
  let code = 0;
  try {
    let metadataFiles = 0;
    for await (const entry of Deno.readDir(directory)) {
      if (entry.name.endsWith(suffix) && !entry.name.startsWith(".")) metadataFiles++;
    }
    console.log(`metadata directory ${directory}: ${metadataFiles} metadata file(s)`);
    const journal = join(directory, JOURNAL_DIRECTORY);
    const lines: string[] = [];
    let entries = 0;
    try {
      for await (const entry of Deno.readDir(journal)) {
        if (!entry.isFile || !entry.name.endsWith(".json") || entry.name.startsWith(".")) continue;
        entries++;
        if (lines.length >= MAX_LISTED) continue;
        const file = join(journal, entry.name);
        try {
          const plan = parsePlan(await Deno.readTextFile(file), file);
          const parts = plan.multipart?.uploadId === undefined ? "" : " (multipart upload in progress)";
          lines.push(`  ${plan.path} -> s3://${plan.bucket}/${plan.key}${parts}, planned ${plan.createdAt}`);
        } catch (error) {
          lines.push(`  unreadable: ${(error as Error).message}`);
        }
      }
    } catch (error) {
      if (!(error instanceof Deno.errors.NotFound)) throw error;
    }
    console.log(`uploads planned, not yet confirmed in S3: ${entries}`);
    for (const line of lines) console.log(line);
    if (entries > lines.length) console.log(`  ... and ${entries - lines.length} more`);
  } catch (error) {
    console.log(`cannot read ${directory}: ${(error as Error).message}`);
    code = 1;
  }
  const port = config.get("s3uploader.metrics.port");
  if (port === 0) {
    console.log("s3uploader.metrics.port is 0: the running daemon cannot be asked (set it to see its counters)");
    return code;
  }
  const url = `http://127.0.0.1:${port}/metrics`;
  const answer = await fetchMetrics(url);
  if (!answer.ok) {
    console.log(`singularity-s3-uploader is not answering at ${url}: ${answer.problem}`);
    return 1;
  }
  const metrics = answer.metrics;
  const value = (name: string) => metrics.get(`singularity_s3_uploader_${name}`) ?? 0;
  const removed = [...metrics].filter(([key]) => key.startsWith("singularity_s3_uploader_uploaders_removed_total{"))
    .map(([key, count]) => `${key.match(/reason="([^"]*)"/)?.[1]}: ${count}`).join(", ");
  const lastPass = value("last_pass_timestamp_seconds");
  console.log(`singularity-s3-uploader answering at ${url}`);
  console.log(`  uploaders:          ${value("uploaders")} (${value("uploaders_immediate")} immediate)`);
  console.log(`  files uploaded:     ${value("uploads_total")} (${value("uploaded_bytes_total")} bytes)`);
  console.log(`  failed uploads:     ${value("upload_errors_total")}`);
  console.log(`  files skipped:      ${value("files_skipped_total")}`);
  console.log(`  bad metadata files: ${value("metadata_errors_total")}`);
  console.log(`  uploaders removed:  ${removed || "none"}`);
  console.log(
    `  passes:             ${value("passes_total")}, last ${
      lastPass === 0 ? "never" : new Date(lastPass * 1000).toISOString()
    }`,
  );
  return code;
}
