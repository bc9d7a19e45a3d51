/**
 * The executor data Singularity puts in `TaskInfo.data` (UTF-8 JSON): the
 * properties-era `ExecutorData` fields and the later `SingularityTaskExecutorData`
 * superset, parsed and validated in one place. Unknown fields are ignored and
 * `null` means absent, as Jackson reads them; every error names the field, the
 * bad value and what was expected.
 *
 * @module
 */
import {
  ArtifactFormatError,
  describe,
  type EmbeddedArtifact,
  type ExternalArtifact,
  parseArtifactList,
  parseEmbeddedArtifact,
  parseExternalArtifact,
  parseS3Artifact,
  parseS3ArtifactSignature,
  type S3Artifact,
  type S3ArtifactSignature,
} from "../artifacts/artifact.ts";

export { parseS3ArtifactSignature, type S3ArtifactSignature };

/** Per-task logrotate frequencies, in Singularity's spelling. */
export const LOGROTATE_FREQUENCIES = [
  "EVERY_MINUTE",
  "EVERY_FIVE_MINUTES",
  "HOURLY",
  "DAILY",
  "WEEKLY",
  "MONTHLY",
] as const;

/** A per-task logrotate frequency. */
export type LogrotateFrequency = typeof LOGROTATE_FREQUENCIES[number];

/** A further file the uploader should take from the sandbox (`SingularityS3UploaderFile`). */
export interface S3UploaderFile {
  /** A file name, or a glob with `*`. */
  filename: string;
  s3UploaderBucket?: string;
  s3UploaderKeyPattern?: string;
  /** Suffix of the upload metadata file name (no `/`). */
  s3UploaderFilenameHint?: string;
  /** Relative to the sandbox, without `..`; absent = the sandbox itself. */
  directory?: string;
  s3StorageClass?: string;
  applyS3StorageClassAfterBytes?: number;
  checkSubdirectories: boolean;
  compressBeforeUpload: boolean;
  checkIfOpen: boolean;
}

/** The healthcheck options the executor uses (Singularity sends more; they stay in `raw`). */
export interface HealthcheckOptions {
  /** Relative to the task's app directory; the task is healthy once it exists. */
  healthcheckResultFilePath?: string;
  maxRetries?: number;
  intervalSeconds?: number;
}

/** Parsed executor data. Absent optional fields are left out; absent lists are empty. */
export interface ExecutorData {
  /** Shell command line (run by bash, not escaped). */
  cmd: string;
  embeddedArtifacts: EmbeddedArtifact[];
  externalArtifacts: ExternalArtifact[];
  s3Artifacts: S3Artifact[];
  s3ArtifactSignatures: S3ArtifactSignature[];
  /** Empty: only 0 is success (see {@linkcode isSuccessfulExit}). */
  successfulExitCodes: number[];
  /** Run-as user; absent: `executor.default.user`. */
  user?: string;
  /** Declared by Singularity, unused by the executor. */
  runningSentinel?: string;
  /** Appended to `cmd`, space-separated, not escaped. */
  extraCmdLineArgs: string[];
  loggingTag?: string;
  loggingExtraFields: Record<string, string>;
  sigKillProcessesAfterMillis?: number;
  maxTaskThreads?: number;
  preserveTaskSandboxAfterFinish?: boolean;
  maxOpenFiles?: number;
  skipLogrotateAndCompress?: boolean;
  logrotateFrequency?: LogrotateFrequency;
  /** Absent (not empty) lets the cleanup job fall back to its configured list, as Singularity's does. */
  s3UploaderAdditionalFiles?: S3UploaderFile[];
  /** Empty counts as absent (the configured default applies), as in Singularity. */
  defaultS3Bucket?: string;
  /** Empty counts as absent. */
  s3UploaderKeyPattern?: string;
  /** Service log path relative to the sandbox, without `..`; empty counts as absent. */
  serviceLog?: string;
  /** Tail file path relative to the sandbox, without `..`; empty counts as absent. */
  serviceFinishedTailLog?: string;
  requestGroup?: string;
  /** Empty counts as absent. */
  s3StorageClass?: string;
  applyS3StorageClassAfterBytes?: number;
  /** CPUs for the CFS quota. */
  cpuHardLimit?: number;
  healthcheckOptions?: HealthcheckOptions;
  /** The JSON object as received (the task definition file keeps a full copy). */
  raw: Record<string, unknown>;
}

/** The executor data is missing or wrong; the message names the field, the value and what was expected. */
export class ExecutorDataError extends Error {
  constructor(message: string, options?: ErrorOptions) {
    super(message, options);
    this.name = "ExecutorDataError";
  }
}

/** Java's Integer.MAX_VALUE: Singularity declares these fields as Java ints. */
const MAX_INT = 2147483647;
const MIN_INT = -2147483648;

/**
 * Parses `TaskInfo.data`.
 *
 * @example
 * ```ts
 * const data = parseExecutorData(new TextEncoder().encode('{"cmd": "java -jar app.jar"}'));
 * data.successfulExitCodes; // []
 * ```
 */
export function parseExecutorData(bytes: Uint8Array | undefined): ExecutorData {
  if (bytes === undefined) throw new ExecutorDataError("executor data: missing (the TaskInfo has no data)");
  if (bytes.length === 0) throw new ExecutorDataError("executor data: missing (the TaskInfo data is empty)");
  let text: string;
  try {
    text = new TextDecoder("utf-8", { fatal: true }).decode(bytes);
  } catch (error) {
    throw new ExecutorDataError(`executor data: not valid UTF-8 (${bytes.length} bytes)`, { cause: error });
  }
  let json: unknown;
  try {
    json = JSON.parse(text);
  } catch (error) {
    throw new ExecutorDataError(`executor data: not valid JSON (${(error as Error).message})`, { cause: error });
  }
  return parseExecutorDataObject(json);
}

/**
 * Parses executor data already decoded from JSON (for example the copy in a task definition file).
 *
 * @example
 * ```ts
 * parseExecutorDataObject({ cmd: "./run.sh", successfulExitCodes: [0, 3] }).successfulExitCodes; // [0, 3]
 * ```
 */
export function parseExecutorDataObject(value: unknown): ExecutorData {
  if (value === null || typeof value !== "object" || Array.isArray(value)) {
    throw new ExecutorDataError(`executor data: expected a JSON object, got ${describe(value)}`);
  }
  const raw = value as Record<string, unknown>;
  const cmd = raw.cmd;
  if (typeof cmd !== "string" || cmd.trim() === "") {
    fail("cmd", `expected a non-empty string (the command to run), got ${describe(cmd)}`);
  }
  const data: ExecutorData = {
    cmd,
    embeddedArtifacts: artifacts(() =>
      parseArtifactList(raw.embeddedArtifacts, "embeddedArtifacts", parseEmbeddedArtifact)
    ),
    externalArtifacts: artifacts(() =>
      parseArtifactList(raw.externalArtifacts, "externalArtifacts", parseExternalArtifact)
    ),
    s3Artifacts: artifacts(() => parseArtifactList(raw.s3Artifacts, "s3Artifacts", parseS3Artifact)),
    s3ArtifactSignatures: artifacts(() =>
      parseArtifactList(raw.s3ArtifactSignatures, "s3ArtifactSignatures", parseS3ArtifactSignature)
    ),
    successfulExitCodes: list(raw.successfulExitCodes, "successfulExitCodes", "whole numbers", exitCode),
    extraCmdLineArgs: list(raw.extraCmdLineArgs, "extraCmdLineArgs", "strings", string),
    loggingExtraFields: stringMap(raw.loggingExtraFields, "loggingExtraFields"),
    raw,
  };
  const user = optional(raw, "user", string);
  if (user === "") fail("user", `expected a user name, got ""`);
  set(data, "user", user);
  set(data, "runningSentinel", optional(raw, "runningSentinel", string));
  set(data, "loggingTag", optional(raw, "loggingTag", string));
  set(data, "sigKillProcessesAfterMillis", optional(raw, "sigKillProcessesAfterMillis", nonNegativeLong));
  set(data, "maxTaskThreads", optional(raw, "maxTaskThreads", positiveInt));
  set(data, "preserveTaskSandboxAfterFinish", optional(raw, "preserveTaskSandboxAfterFinish", boolean));
  set(data, "maxOpenFiles", optional(raw, "maxOpenFiles", positiveInt));
  set(data, "skipLogrotateAndCompress", optional(raw, "skipLogrotateAndCompress", boolean));
  set(data, "logrotateFrequency", optional(raw, "logrotateFrequency", logrotateFrequency));
  if (!absent(raw.s3UploaderAdditionalFiles)) {
    data.s3UploaderAdditionalFiles = list(
      raw.s3UploaderAdditionalFiles,
      "s3UploaderAdditionalFiles",
      "file names or objects",
      uploaderFile,
    );
  }
  set(data, "defaultS3Bucket", nonEmpty(optional(raw, "defaultS3Bucket", string)));
  set(data, "s3UploaderKeyPattern", nonEmpty(optional(raw, "s3UploaderKeyPattern", string)));
  set(data, "serviceLog", nonEmpty(optional(raw, "serviceLog", sandboxPath)));
  set(data, "serviceFinishedTailLog", nonEmpty(optional(raw, "serviceFinishedTailLog", sandboxPath)));
  set(data, "requestGroup", optional(raw, "requestGroup", string));
  set(data, "s3StorageClass", nonEmpty(optional(raw, "s3StorageClass", string)));
  set(data, "applyS3StorageClassAfterBytes", optional(raw, "applyS3StorageClassAfterBytes", nonNegativeLong));
  set(data, "cpuHardLimit", optional(raw, "cpuHardLimit", positiveInt));
  set(data, "healthcheckOptions", optional(raw, "healthcheckOptions", healthcheckOptions));
  return data;
}

/**
 * Whether the task's exit code counts as success: listed in `successfulExitCodes`, or 0 when that list is empty.
 *
 * @example
 * ```ts
 * isSuccessfulExit({ successfulExitCodes: [] }, 0); // true
 * isSuccessfulExit({ successfulExitCodes: [1, 2] }, 0); // false
 * ```
 */
export function isSuccessfulExit(data: Pick<ExecutorData, "successfulExitCodes">, code: number): boolean {
  return data.successfulExitCodes.length === 0 ? code === 0 : data.successfulExitCodes.includes(code);
}

/** Throws the error for the field at `path`. */
function fail(path: string, problem: string): never {
  throw new ExecutorDataError(`executor data: ${path}: ${problem}`);
}

/** Runs an artifact parser, turning its errors into executor data errors. */
function artifacts<T>(parse: () => T[]): T[] {
  try {
    return parse();
  } catch (error) {
    if (error instanceof ArtifactFormatError) {
      throw new ExecutorDataError(`executor data: ${error.message}`, { cause: error });
    }
    throw error;
  }
}

/** Null and undefined both mean "not given", as Jackson reads them. */
function absent(value: unknown): value is null | undefined {
  return value === undefined || value === null;
}

/** Sets `data[field]` only when a value is given, so absent fields stay out of the object. */
function set<K extends keyof ExecutorData>(data: ExecutorData, field: K, value: ExecutorData[K] | undefined): void {
  if (value !== undefined) data[field] = value;
}

/** The field parsed by `parse`, or undefined when it is absent. */
function optional<T>(
  object: Record<string, unknown>,
  field: string,
  parse: (value: unknown, path: string) => T,
  prefix = "",
): T | undefined {
  const value = object[field];
  return absent(value) ? undefined : parse(value, `${prefix}${field}`);
}

/** An empty string counts as absent. */
function nonEmpty(value: string | undefined): string | undefined {
  return value === "" ? undefined : value;
}

/** An optional array (absent = empty), each item parsed by `item`. */
function list<T>(value: unknown, path: string, of: string, item: (value: unknown, path: string) => T): T[] {
  if (absent(value)) return [];
  if (!Array.isArray(value)) fail(path, `expected an array of ${of}, got ${describe(value)}`);
  return value.map((entry, index) => item(entry, `${path}[${index}]`));
}

/** A string, possibly empty. */
function string(value: unknown, path: string): string {
  if (typeof value !== "string") fail(path, `expected a string, got ${describe(value)}`);
  return value;
}

/** true or false (no other word, unlike Java properties). */
function boolean(value: unknown, path: string): boolean {
  if (typeof value !== "boolean") fail(path, `expected true or false, got ${describe(value)}`);
  return value;
}

/** A whole number from `min` (else Java's smallest int) to `max`; the message names `min` when the field has one. */
function wholeNumber(value: unknown, path: string, min?: number, max = MAX_INT): number {
  const expected = min === undefined ? "a whole number" : `a whole number of at least ${min}`;
  if (typeof value !== "number" || !Number.isInteger(value)) fail(path, `expected ${expected}, got ${describe(value)}`);
  const lowest = min ?? MIN_INT;
  if (value < lowest) fail(path, `expected a whole number of at least ${lowest}, got ${describe(value)}`);
  if (value > max) fail(path, `expected a whole number of at most ${max}, got ${describe(value)}`);
  return value;
}

/** An exit code: any Java int, as Singularity declares it. */
function exitCode(value: unknown, path: string): number {
  return wholeNumber(value, path);
}

/** A Java int of at least 1 (thread, file and CPU limits). */
function positiveInt(value: unknown, path: string): number {
  return wholeNumber(value, path, 1);
}

/** A Java int of at least 0 (healthcheck counts and seconds). */
function count(value: unknown, path: string): number {
  return wholeNumber(value, path, 0);
}

/** A Java long of at least 0 (milliseconds, bytes), as far as JSON numbers stay exact. */
function nonNegativeLong(value: unknown, path: string): number {
  return wholeNumber(value, path, 0, Number.MAX_SAFE_INTEGER);
}

/** One of {@linkcode LOGROTATE_FREQUENCIES}, spelled exactly. */
function logrotateFrequency(value: unknown, path: string): LogrotateFrequency {
  if (typeof value !== "string" || !(LOGROTATE_FREQUENCIES as readonly string[]).includes(value)) {
    fail(path, `expected one of ${LOGROTATE_FREQUENCIES.join(", ")}, got ${describe(value)}`);
  }
  return value as LogrotateFrequency;
}

/** A path below the task sandbox: relative, without `..`. Empty stays empty (the caller decides). */
function sandboxPath(value: unknown, path: string): string {
  const text = string(value, path);
  if (text.startsWith("/") || text.split("/").includes("..") || text.includes("\0")) {
    fail(path, `${JSON.stringify(text)} must stay inside the task sandbox (a relative path without "..")`);
  }
  return text;
}

/** `path.key`, or `path["key"]` when the key is not a plain word. */
function member(path: string, key: string): string {
  return /^[A-Za-z_$][A-Za-z0-9_$]*$/.test(key) ? `${path}.${key}` : `${path}[${JSON.stringify(key)}]`;
}

/** An object whose values are strings (absent = empty). */
function stringMap(value: unknown, path: string): Record<string, string> {
  if (absent(value)) return {};
  if (typeof value !== "object" || Array.isArray(value)) {
    fail(path, `expected an object of strings, got ${describe(value)}`);
  }
  const result: Record<string, string> = {};
  for (const [key, entry] of Object.entries(value)) result[key] = string(entry, member(path, key));
  return result;
}

/** An entry of `s3UploaderAdditionalFiles`: a bare file name, or a `SingularityS3UploaderFile` object. */
function uploaderFile(value: unknown, path: string): S3UploaderFile {
  const defaults = { checkSubdirectories: false, compressBeforeUpload: false, checkIfOpen: true };
  if (typeof value === "string") {
    if (value === "") fail(path, `expected a non-empty file name, got ""`);
    return { filename: value, ...defaults };
  }
  if (value === null || typeof value !== "object" || Array.isArray(value)) {
    fail(path, `expected a file name or an object, got ${describe(value)}`);
  }
  const object = value as Record<string, unknown>;
  const filename = object.filename;
  if (typeof filename !== "string" || filename === "") {
    fail(`${path}.filename`, `expected a non-empty string, got ${describe(filename)}`);
  }
  const file: S3UploaderFile = { filename, ...defaults };
  const prefix = `${path}.`;
  const text = (field: string) => nonEmpty(optional(object, field, string, prefix));
  const bucket = text("s3UploaderBucket");
  if (bucket !== undefined) file.s3UploaderBucket = bucket;
  const keyPattern = text("s3UploaderKeyPattern");
  if (keyPattern !== undefined) file.s3UploaderKeyPattern = keyPattern;
  const hint = text("s3UploaderFilenameHint");
  if (hint !== undefined) {
    // The hint becomes part of a file name in the upload metadata directory.
    if (hint.includes("/") || hint.includes("\0")) {
      fail(`${prefix}s3UploaderFilenameHint`, `${JSON.stringify(hint)} must not contain "/"`);
    }
    file.s3UploaderFilenameHint = hint;
  }
  const directory = nonEmpty(optional(object, "directory", sandboxPath, prefix));
  if (directory !== undefined) file.directory = directory;
  const storageClass = text("s3StorageClass");
  if (storageClass !== undefined) file.s3StorageClass = storageClass;
  const after = optional(object, "applyS3StorageClassAfterBytes", nonNegativeLong, prefix);
  if (after !== undefined) file.applyS3StorageClassAfterBytes = after;
  for (const flag of ["checkSubdirectories", "compressBeforeUpload", "checkIfOpen"] as const) {
    const given = optional(object, flag, boolean, prefix);
    if (given !== undefined) file[flag] = given;
  }
  return file;
}

/** The three healthcheck options the executor uses; the rest are ignored. */
function healthcheckOptions(value: unknown, path: string): HealthcheckOptions {
  if (typeof value !== "object" || value === null || Array.isArray(value)) {
    fail(path, `expected an object, got ${describe(value)}`);
  }
  const object = value as Record<string, unknown>;
  const prefix = `${path}.`;
  const options: HealthcheckOptions = {};
  const resultFile = optional(object, "healthcheckResultFilePath", string, prefix);
  if (resultFile !== undefined) options.healthcheckResultFilePath = resultFile;
  const maxRetries = optional(object, "maxRetries", count, prefix);
  if (maxRetries !== undefined) options.maxRetries = maxRetries;
  const intervalSeconds = optional(object, "intervalSeconds", count, prefix);
  if (intervalSeconds !== undefined) options.intervalSeconds = intervalSeconds;
  return options;
}
