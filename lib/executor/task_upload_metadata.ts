/**
 * The S3 upload metadata the executor (and the cleanup job, for dead
 * executors) writes for a task, as Singularity's executor does:
 *
 * - Without `s3UploaderAdditionalFiles` in the executor data (the
 *   properties-era form): one `<taskId>.s3.json` for the rotated-logs
 *   directory, glob `{<service log>,<executor.s3.uploader.extras.files>...}*.gz*`.
 * - With them (the later form): `<taskId>-default.s3.json` for the rotated
 *   service logs (glob `<service log>*.[gb]z*`, unless an additional file
 *   is the service log itself), plus `<taskId>-<hint or fileN>.s3.json` per
 *   additional file, each with its own directory (inside the sandbox),
 *   bucket, key pattern and storage class.
 * - With `skipLogrotateAndCompress`, at teardown `<taskId>-unrotated.s3.json`
 *   for the service log itself.
 *
 * The bucket is the executor data's `defaultS3Bucket`, else
 * `executor.s3.uploader.bucket`; the key pattern the data's
 * `s3UploaderKeyPattern`, else `executor.s3.uploader.pattern`, with the task
 * tokens expanded (lib/s3/key_pattern.ts). No bucket: nothing is uploaded.
 *
 * @module
 */
import { basename, dirname, relative, resolve } from "node:path";
import { expandTaskTokens } from "../s3/key_pattern.ts";
import type { UploadMetadata } from "../s3/upload_metadata.ts";
import type { ExecutorData } from "./executor_data.ts";
import type { TaskId } from "./task_id.ts";

/** What the executor configuration contributes. */
export interface TaskUploadSettings {
  /** `executor.s3.uploader.bucket`. */
  bucket: string;
  /** `executor.s3.uploader.pattern`. */
  keyPattern: string;
  /** `executor.s3.uploader.extras.files`: file-name prefixes added to the properties-era glob. */
  extraFilePrefixes: string[];
  /** `executor.logrotate.to.directory`. */
  logrotateToDirectory: string;
}

/** One metadata file to write: its name without the suffix, and its content. */
export interface TaskUploadMetadata {
  /** `<taskId>` or `<taskId>-<hint>`. */
  name: string;
  metadata: UploadMetadata;
}

/** The task's side. */
export interface TaskUploadSubject {
  taskId: TaskId;
  /** Absolute. */
  sandbox: string;
  /** Absolute. */
  serviceLog: string;
  data: ExecutorData;
}

/** An additional upload file points outside the sandbox. */
export class TaskUploadMetadataError extends Error {
  constructor(message: string) {
    super(message);
    this.name = "TaskUploadMetadataError";
  }
}

/**
 * The metadata files for a task; empty when no bucket is configured. `finished` marks them for the final
 * upload (teardown), which also asks the uploader to upload at once.
 *
 * @example
 * ```ts
 * const files = taskUploadMetadata(subject, settings, { finished: false });
 * files[0].name; // "web-d1-1-0-h-r"
 * ```
 */
export function taskUploadMetadata(
  subject: TaskUploadSubject,
  settings: TaskUploadSettings,
  options: { finished: boolean },
): TaskUploadMetadata[] {
  const { data, taskId } = subject;
  const bucket = data.defaultS3Bucket ?? settings.bucket;
  const keyFormat = (pattern: string | undefined) =>
    expandTaskTokens(pattern ?? data.s3UploaderKeyPattern ?? settings.keyPattern, {
      taskId,
      requestGroup: data.requestGroup,
      loggingTag: data.loggingTag,
    });
  const state = options.finished ? { finished: true, uploadImmediately: true } : { finished: false };
  const common = { checkSubdirectories: false, compressBeforeUpload: false, checkIfOpen: true };
  const storage = (storageClass?: string, overBytes?: number) =>
    storageClass === undefined ? {} : {
      storageClass,
      ...(overBytes !== undefined ? { applyStorageClassIfOverBytes: overBytes } : {}),
    };
  const serviceLogName = basename(subject.serviceLog);
  const logsDirectory = resolve(dirname(subject.serviceLog), settings.logrotateToDirectory);
  const files: TaskUploadMetadata[] = [];
  /** The service log's metadata (rotated copies, or the log itself), with the task's bucket and storage class. */
  const serviceLogs = (name: string, directory: string, fileGlob: string) => {
    if (bucket === undefined || bucket === "") return;
    files.push({
      name,
      metadata: {
        directory,
        fileGlob,
        s3Bucket: bucket,
        s3KeyFormat: keyFormat(undefined),
        ...state,
        ...common,
        ...storage(data.s3StorageClass, data.applyS3StorageClassAfterBytes),
      },
    });
  };
  if (data.s3UploaderAdditionalFiles === undefined) {
    const names = [serviceLogName, ...settings.extraFilePrefixes].map(globLiteral);
    serviceLogs(taskId.id, logsDirectory, `{${names.join(",")}}*.gz*`);
  } else {
    if (!data.s3UploaderAdditionalFiles.some((file) => file.filename === serviceLogName)) {
      serviceLogs(`${taskId.id}-default`, logsDirectory, `${globLiteral(serviceLogName)}*.[gb]z*`);
    }
    data.s3UploaderAdditionalFiles.forEach((file, index) => {
      const fileBucket = file.s3UploaderBucket ?? bucket;
      if (fileBucket === undefined || fileBucket === "") return;
      const directory = resolve(subject.sandbox, file.directory ?? "");
      const inside = relative(subject.sandbox, directory);
      if (inside.startsWith("..") || inside.startsWith("/")) {
        throw new TaskUploadMetadataError(
          `s3UploaderAdditionalFiles[${index}].directory ${JSON.stringify(file.directory)}: outside the task sandbox`,
        );
      }
      const fileGlob = file.compressBeforeUpload
        ? `${file.filename}*`
        : file.filename.includes("*")
        ? file.filename
        : `${file.filename}*.[gb]z*`;
      files.push({
        name: `${taskId.id}-${file.s3UploaderFilenameHint ?? `file${index + 1}`}`,
        metadata: {
          directory,
          fileGlob,
          s3Bucket: fileBucket,
          s3KeyFormat: keyFormat(file.s3UploaderKeyPattern),
          ...state,
          checkSubdirectories: file.checkSubdirectories,
          compressBeforeUpload: file.compressBeforeUpload,
          checkIfOpen: file.checkIfOpen,
          ...storage(file.s3StorageClass ?? data.s3StorageClass, file.applyS3StorageClassAfterBytes),
        },
      });
    });
  }
  if (options.finished && data.skipLogrotateAndCompress) {
    serviceLogs(`${taskId.id}-unrotated`, dirname(subject.serviceLog), globLiteral(serviceLogName));
  }
  return files;
}

/**
 * `name` as a glob that matches only itself: the glob characters escaped with `\`.
 *
 * @example
 * ```ts
 * globLiteral("a*b.log"); // "a\\*b.log"
 * ```
 */
export function globLiteral(name: string): string {
  return name.replace(/[\\*?[\]{},]/g, (c) => `\\${c}`);
}
