/**
 * The uploader's settings, read once from its configuration: everything the
 * daemon, a pass and an upload need, typed, with the content-header rules of
 * `s3uploader.content.headers` parsed and checked.
 *
 * @module
 */
import type { Config, UploaderKeys } from "../../config/mod.ts";

const HOUR_MS = 3_600_000;

/** One `s3uploader.content.headers` rule: files whose name ends with `filenameEndsWith` get these headers. */
export interface ContentHeaderRule {
  filenameEndsWith: string;
  contentType?: string;
  contentEncoding?: string;
}

/** Everything the uploader reads from its configuration. */
export interface UploaderSettings {
  metadataDirectory: string;
  metadataSuffix: string;
  /** `mesos.work.directory`: uploaders' directories must lie below it; undefined when set empty. */
  workDirectory: string | undefined;
  /** For `%host`: `agent.hostname`, else the machine's host name. */
  host: string;
  checkEveryMs: number;
  rescanEveryMs: number;
  /** Default expiry without a matching file; negative: never. */
  expireAfterMs: number;
  maxUploadThreads: number;
  maxSingleUploadSize: number;
  partSize: number;
  partConcurrency: number;
  retryCount: number;
  retryWaitMs: number;
  /** Global switch of the open-file check (per-metadata `checkIfOpen` also has to allow it). */
  checkOpenFiles: boolean;
  openFileCheck: "lsof" | "fuser";
  contentHeaders: ContentHeaderRule[];
  stallTimeoutMs: number;
  shutdownGraceMs: number;
  /** 0: no metrics server. */
  metricsPort: number;
}

/** A configuration value the uploader cannot work with; the message names the key and the value. */
export class UploaderSettingsError extends Error {
  constructor(message: string) {
    super(message);
    this.name = "UploaderSettingsError";
  }
}

/**
 * The settings of `config`. Throws {@linkcode UploaderSettingsError} for a
 * bad `s3uploader.content.headers`.
 *
 * @example
 * ```ts
 * const settings = uploaderSettings(config);
 * settings.partSize; // 20971520
 * ```
 */
export function uploaderSettings(config: Config<UploaderKeys>): UploaderSettings {
  const hours = config.get("s3uploader.stop.checking.after.hours.without.new.file");
  return {
    metadataDirectory: config.required("s3uploader.metadata.directory"),
    metadataSuffix: config.get("s3uploader.metadata.suffix"),
    workDirectory: config.text("mesos.work.directory") || undefined,
    host: config.get("agent.hostname") || Deno.hostname(),
    checkEveryMs: config.get("s3uploader.check.uploads.every.seconds") * 1000,
    rescanEveryMs: config.get("s3uploader.recheck.files.every.seconds") * 1000,
    expireAfterMs: hours < 0 ? -1 : hours * HOUR_MS,
    maxUploadThreads: config.get("s3uploader.max.upload.threads"),
    maxSingleUploadSize: config.get("s3uploader.max.single.upload.size"),
    partSize: config.get("s3uploader.upload.part.size"),
    partConcurrency: config.get("s3uploader.upload.part.concurrency"),
    retryCount: config.get("s3uploader.retry.count"),
    retryWaitMs: config.get("s3uploader.retry.wait.ms"),
    checkOpenFiles: config.get("s3uploader.check.for.open.files"),
    openFileCheck: config.get("s3uploader.check.open.files.via.fuser") ? "fuser" : "lsof",
    contentHeaders: parseContentHeaderRules(config.get("s3uploader.content.headers")),
    stallTimeoutMs: config.get("s3uploader.stall.timeout.millis"),
    shutdownGraceMs: config.get("s3uploader.shutdown.grace.millis"),
    metricsPort: config.get("s3uploader.metrics.port"),
  };
}

const KEY = "s3uploader.content.headers";
const RULE_FIELDS = ["filenameEndsWith", "contentType", "contentEncoding"];

/**
 * Parses the value of `s3uploader.content.headers` (empty: no rules).
 *
 * @example
 * ```ts
 * parseContentHeaderRules('[{"filenameEndsWith":".gz","contentEncoding":"gzip"}]');
 * // [{ filenameEndsWith: ".gz", contentEncoding: "gzip" }]
 * ```
 */
export function parseContentHeaderRules(text: string): ContentHeaderRule[] {
  if (text.trim() === "") return [];
  const fail = (what: string): never => {
    const shown = text.length > 80 ? `${text.slice(0, 77)}...` : text;
    throw new UploaderSettingsError(
      `${KEY} = ${JSON.stringify(shown)}: ${what}; expected a JSON list like ` +
        `[{"filenameEndsWith":".log.gz","contentType":"text/plain","contentEncoding":"gzip"}]`,
    );
  };
  let json: unknown;
  try {
    json = JSON.parse(text);
  } catch (error) {
    return fail(`not valid JSON (${(error as Error).message})`);
  }
  if (!Array.isArray(json)) return fail("not a JSON list");
  return json.map((item, i): ContentHeaderRule => {
    if (item === null || typeof item !== "object" || Array.isArray(item)) return fail(`item ${i + 1} is not an object`);
    const raw = item as Record<string, unknown>;
    const unknown = Object.keys(raw).filter((field) => !RULE_FIELDS.includes(field));
    if (unknown.length > 0) return fail(`item ${i + 1} has unknown field ${unknown[0]}`);
    if (typeof raw.filenameEndsWith !== "string" || raw.filenameEndsWith === "") {
      return fail(`item ${i + 1} needs a non-empty string filenameEndsWith`);
    }
    const rule: ContentHeaderRule = { filenameEndsWith: raw.filenameEndsWith };
    for (const field of ["contentType", "contentEncoding"] as const) {
      const value = raw[field];
      if (value === undefined || value === null) continue;
      if (typeof value !== "string" || value === "") {
        return fail(`item ${i + 1} field ${field} is not a non-empty string`);
      }
      rule[field] = value;
    }
    if (rule.contentType === undefined && rule.contentEncoding === undefined) {
      return fail(`item ${i + 1} sets neither contentType nor contentEncoding`);
    }
    return rule;
  });
}

/**
 * The headers for a file named `name`: the first rule whose suffix it has.
 *
 * @example
 * ```ts
 * contentHeadersFor("service.log.gz", rules); // { contentType: "text/plain", contentEncoding: "gzip" }
 * ```
 */
export function contentHeadersFor(
  name: string,
  rules: readonly ContentHeaderRule[],
): { contentType?: string; contentEncoding?: string } {
  const rule = rules.find((candidate) => name.endsWith(candidate.filenameEndsWith));
  if (rule === undefined) return {};
  const { filenameEndsWith: _, ...headers } = rule;
  return headers;
}
