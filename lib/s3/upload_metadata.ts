/**
 * The S3 upload metadata file: the contract between whoever has logs to
 * upload (the executor, the cleanup job, any local process) and
 * singularity-s3-uploader. One JSON object per file in
 * `s3uploader.metadata.directory`, named `<name><s3uploader.metadata.suffix>`;
 * field names and meanings as in Singularity's `S3UploadMetadata`.
 *
 * Writers replace files atomically (see {@linkcode writeUploadMetadata}); the
 * reader still treats an empty or invalid file as "not yet" and names the
 * file, the field and the value in its error.
 *
 * @module
 */
import { join } from "node:path";
import { writeAtomically } from "../write_atomically.ts";

/** One upload metadata file. Optional fields are absent when not set. */
export interface UploadMetadata {
  /** Directory scanned for files (its subdirectories only with `checkSubdirectories`). */
  directory: string;
  /** Glob matched against file names (`*`, `?`, `[...]`, `{a,b}`). */
  fileGlob: string;
  s3Bucket: string;
  /** Key template with the task tokens already expanded (lib/s3/key_pattern.ts). */
  s3KeyFormat: string;
  /** Upload what matches (and `onFinishGlob`) once more, then the metadata file is deleted. */
  finished: boolean;
  /** Extra glob uploaded only once finished. */
  onFinishGlob?: string;
  /** When this process no longer exists the metadata counts as finished. */
  pid?: number;
  s3AccessKey?: string;
  s3SecretKey?: string;
  /** Expire after this long without a matching file; negative: never. */
  finishedAfterMillisWithoutNewFile?: number;
  storageClass?: string;
  /** The storage class applies only to files larger than this. */
  applyStorageClassIfOverBytes?: number;
  /** Upload on detection instead of at the next periodic pass. */
  uploadImmediately?: boolean;
  checkSubdirectories: boolean;
  /** gzip files not ending in `.gz` before uploading them. */
  compressBeforeUpload: boolean;
  /** Skip files some process still has open. */
  checkIfOpen: boolean;
  /** SSE-KMS key id (single-part uploads). */
  encryptionKey?: string;
  /** SSE AES256 (single-part uploads). */
  useS3ServerSideEncryption?: boolean;
}

/** A metadata file that is not valid; the message names the file, the field and the value. */
export class UploadMetadataError extends Error {
  constructor(message: string) {
    super(message);
    this.name = "UploadMetadataError";
  }
}

/**
 * The file name of a task's metadata: `<taskId><suffix>`, or `<taskId>-<hint><suffix>` for the later
 * per-file metadata (`default`, `file<N>`, the file's `s3UploaderFilenameHint`, `unrotated`).
 *
 * @example
 * ```ts
 * uploadMetadataFileName("web-d1-1-0-h-r", ".s3.json"); // "web-d1-1-0-h-r.s3.json"
 * uploadMetadataFileName("web-d1-1-0-h-r", ".s3.json", "default"); // "web-d1-1-0-h-r-default.s3.json"
 * ```
 */
export function uploadMetadataFileName(taskId: string, suffix: string, hint?: string): string {
  const name = hint === undefined ? taskId : `${taskId}-${hint}`;
  if (name.includes("/") || name.includes("\0") || name.startsWith(".")) {
    throw new UploadMetadataError(
      `upload metadata name ${JSON.stringify(name)}: must not contain "/" or start with "."`,
    );
  }
  return `${name}${suffix}`;
}

/**
 * The JSON text of `metadata`, as Singularity writes it (absent optional fields left out).
 *
 * @example
 * ```ts
 * uploadMetadataJson({ directory: "/s/logs", fileGlob: "{service.log}*.gz*", s3Bucket: "b",
 *   s3KeyFormat: "web/%Y/%filename", finished: false, checkSubdirectories: false, compressBeforeUpload: false,
 *   checkIfOpen: true });
 * ```
 */
export function uploadMetadataJson(metadata: UploadMetadata): string {
  const { directory, fileGlob, s3Bucket, s3KeyFormat, finished, ...rest } = metadata;
  return JSON.stringify({ directory, fileGlob, s3Bucket, s3KeyFormat, finished, ...rest });
}

/**
 * Writes `metadata` to `<directory>/<fileName>` atomically (0600: it may hold credentials).
 *
 * @example
 * ```ts
 * await writeUploadMetadata("/var/lib/singularity/s3uploader", "t1.s3.json", metadata);
 * ```
 */
export async function writeUploadMetadata(
  directory: string,
  fileName: string,
  metadata: UploadMetadata,
): Promise<string> {
  const path = join(directory, fileName);
  await writeAtomically(path, uploadMetadataJson(metadata), { mode: 0o600 });
  return path;
}

/**
 * Parses the text of metadata file `file` (named in errors). Unknown fields are ignored and `null` counts as
 * absent, as Jackson reads it.
 *
 * @example
 * ```ts
 * parseUploadMetadata('{"directory":"/s/logs","fileGlob":"*.gz","s3Bucket":"b","s3KeyFormat":"%filename"}', "t.s3.json")
 *   .finished; // false
 * ```
 */
export function parseUploadMetadata(text: string, file: string): UploadMetadata {
  if (text.trim() === "") throw new UploadMetadataError(`${file}: empty (still being written?)`);
  let json: unknown;
  try {
    json = JSON.parse(text);
  } catch (error) {
    // The parser's message quotes part of the text, which may be a credential: it is not shown.
    const early = /^(Unexpected end|Unterminated)/.test((error as Error).message);
    throw new UploadMetadataError(
      `${file}: not valid JSON (${early ? "it ends early: still being written?" : "a syntax error"})`,
    );
  }
  if (json === null || typeof json !== "object" || Array.isArray(json)) {
    throw new UploadMetadataError(`${file}: expected a JSON object, got ${shortJson(json)}`);
  }
  const raw = json as Record<string, unknown>;
  const fail = (field: string, expected: string): never => {
    const shown = SECRET_FIELDS.has(field) ? "(hidden)" : shortJson(raw[field]);
    throw new UploadMetadataError(`${file}: field ${field} = ${shown}: expected ${expected}`);
  };
  const present = (field: string) => raw[field] !== undefined && raw[field] !== null;
  const text_ = (field: string, required: boolean): string | undefined => {
    if (!present(field)) return required ? fail(field, "a non-empty string (required)") : undefined;
    const value = raw[field];
    if (typeof value !== "string" || (required && value === "")) {
      return fail(field, required ? "a non-empty string" : "a string");
    }
    return value;
  };
  const flag = (field: string, fallback: boolean): boolean => {
    if (!present(field)) return fallback;
    return typeof raw[field] === "boolean" ? raw[field] as boolean : fail(field, "true or false");
  };
  const whole = (field: string, min: number): number | undefined => {
    if (!present(field)) return undefined;
    const value = raw[field];
    if (typeof value !== "number" || !Number.isSafeInteger(value) || value < min) {
      return fail(field, `a whole number${min > Number.MIN_SAFE_INTEGER ? ` of at least ${min}` : ""}`);
    }
    return value;
  };
  const directory = text_("directory", true)!;
  if (!directory.startsWith("/")) fail("directory", "an absolute path");
  const metadata: UploadMetadata = {
    directory,
    fileGlob: text_("fileGlob", true)!,
    s3Bucket: text_("s3Bucket", true)!,
    s3KeyFormat: text_("s3KeyFormat", true)!,
    finished: flag("finished", false),
    checkSubdirectories: flag("checkSubdirectories", false),
    compressBeforeUpload: flag("compressBeforeUpload", false),
    checkIfOpen: flag("checkIfOpen", true),
  };
  const optional = {
    onFinishGlob: text_("onFinishGlob", false),
    pid: whole("pid", 1),
    s3AccessKey: text_("s3AccessKey", false),
    s3SecretKey: text_("s3SecretKey", false),
    finishedAfterMillisWithoutNewFile: whole("finishedAfterMillisWithoutNewFile", Number.MIN_SAFE_INTEGER),
    storageClass: text_("storageClass", false),
    applyStorageClassIfOverBytes: whole("applyStorageClassIfOverBytes", 0),
    uploadImmediately: present("uploadImmediately") ? flag("uploadImmediately", false) : undefined,
    encryptionKey: text_("encryptionKey", false),
    useS3ServerSideEncryption: present("useS3ServerSideEncryption")
      ? flag("useS3ServerSideEncryption", false)
      : undefined,
  };
  for (const [field, value] of Object.entries(optional)) {
    if (value !== undefined) (metadata as unknown as Record<string, unknown>)[field] = value;
  }
  if (present("uploaderType") && raw.uploaderType !== "S3") {
    fail("uploaderType", `"S3" (this uploader does not support ${shortJson(raw.uploaderType)})`);
  }
  return metadata;
}

/** Fields whose values never appear in an error message. */
const SECRET_FIELDS = new Set(["s3AccessKey", "s3SecretKey"]);

/** A value for an error message, shortened. */
function shortJson(value: unknown): string {
  if (value === undefined) return "nothing";
  const text = JSON.stringify(value);
  return text.length > 60 ? `${text.slice(0, 57)}...` : text;
}
