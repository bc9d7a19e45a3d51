/**
 * A task's logs from set-up to teardown: the service log, the logrotate
 * files, the tail metadata and the S3 upload metadata. The executor calls
 * {@linkcode setUpTaskLogs} before the task starts and
 * {@linkcode tearDownTaskLogs} after its terminal update; the cleanup job
 * calls the same teardown for tasks whose executor died.
 *
 * Teardown, for every terminal state: tail metadata finished; the last
 * `executor.service.log.tail.lines.to.save` lines saved to the tail file; a
 * forced logrotate run with the task's state file; on success the logrotate
 * files are deleted and the upload metadata rewritten `finished` (and
 * `uploadImmediately`), on failure they are kept so the cleanup job retries.
 * A teardown that finds no logrotate file (an earlier one finished) does not
 * write the metadata again.
 *
 * @module
 */
import { basename, dirname, join, resolve } from "node:path";
import type { Config, ExecutorKeys } from "../config/mod.ts";
import { type LogrotatePlan, logrotatePlan, type LogrotateSettings } from "../logrotate/config.ts";
import { existingLogrotateFiles, forceRotation, writeLogrotatePlan } from "../logrotate/run.ts";
import { writeUploadMetadata } from "../s3/upload_metadata.ts";
import type { ExecutorData } from "./executor_data.ts";
import { writeTailMetadata } from "./tail_metadata.ts";
import { lastLines } from "./last_lines.ts";
import type { TaskMetadataFile } from "./pending_uploads.ts";
import type { TaskDefinition } from "./task_definition.ts";
import { parseTaskId } from "./task_id.ts";
import { type TaskUploadMetadata, taskUploadMetadata, type TaskUploadSettings } from "./task_upload_metadata.ts";

/** What set-up and teardown need besides the task. */
export interface TaskLogsContext {
  config: Config<ExecutorKeys>;
  log: (line: string) => void;
}

/** How a teardown went. */
export interface TeardownResult {
  /** Everything succeeded: the task definition may be deleted. */
  ok: boolean;
  /** What failed, one line each. */
  problems: string[];
}

/**
 * Prepares the task's logs before it starts: the service log exists, the logrotate files, the tail
 * metadata (with a `loggingTag`) and the upload metadata (`finished: false`) are written. Throws when
 * any of it fails: a task whose logs would be lost should not start.
 *
 * @example
 * ```ts
 * await setUpTaskLogs(definition, data, { config, log: console.log });
 * ```
 */
export async function setUpTaskLogs(
  definition: TaskDefinition,
  data: ExecutorData,
  context: TaskLogsContext,
): Promise<void> {
  const { config } = context;
  const files = uploadMetadataOf(definition, data, config, false);
  if (files.length === 0) {
    context.log("no S3 bucket for task logs (executor.s3.uploader.bucket is empty): logs stay in the sandbox");
  }
  // Independent files: written at once, their fsyncs share the journal commits (this is on the way to TASK_RUNNING).
  await Promise.all([
    ensureFile(definition.serviceLogOut),
    writeLogrotatePlan(planOf(definition, data, config)),
    writeTail(definition, data, config, false),
    ...files.map((file) => writeTaskMetadata(file, config)),
  ]);
}

/**
 * Finishes the task's logs after its end; never throws: what failed is in the result (and logged).
 *
 * @example
 * ```ts
 * const result = await tearDownTaskLogs(definition, data, { config, log: console.log });
 * if (result.ok) await deleteTaskDefinition(path);
 * ```
 */
export async function tearDownTaskLogs(
  definition: TaskDefinition,
  data: ExecutorData,
  context: TaskLogsContext,
): Promise<TeardownResult> {
  const { config, log } = context;
  const problems: string[] = [];
  const attempt = async (what: string, step: () => Promise<void>) => {
    try {
      await step();
    } catch (error) {
      problems.push(`${what}: ${(error as Error).message}`);
    }
  };
  await attempt("tail metadata", () => writeTail(definition, data, config, true));
  await attempt("service log", () => ensureFile(definition.serviceLogOut));
  const rotated = !data.skipLogrotateAndCompress;
  const tailLines = config.get("executor.service.log.tail.lines.to.save");
  if (rotated && tailLines > 0 && definition.serviceFinishedTailLog !== undefined) {
    await attempt(
      "tail of the service log",
      () => saveTail(definition.serviceLogOut, definition.serviceFinishedTailLog!, tailLines),
    );
  }
  const settings = logrotateSettings(config, definition.taskDirectory);
  const present = await existingLogrotateFiles(definition.taskId, settings);
  // logrotate fails when olddir is missing (a task that never started has no logs/ yet).
  await attempt(
    "rotated logs directory",
    () => Deno.mkdir(resolve(dirname(definition.serviceLogOut), settings.toDirectory), { recursive: true }),
  );
  // No configuration left means an earlier teardown rotated and handed the logs over already: writing the
  // metadata again would only make the uploader register, scan and drop it once more.
  if (present.configs.length > 0) {
    const result = await forceRotation(settings.command, definition.logrotateStateFile, present.configs);
    if (!result.ok) problems.push(`logrotate (its configuration is kept for the cleanup job): ${result.problem}`);
    // The metadata first: deleting the configuration says "handed over" to a later teardown.
    let handedOver = false;
    if (result.ok) {
      await attempt("S3 upload metadata", async () => {
        for (const file of uploadMetadataOf(definition, data, config, true)) await writeTaskMetadata(file, config);
        handedOver = true;
      });
    }
    if (handedOver) {
      for (const path of present.all) {
        await attempt(`removing ${path}`, () => Deno.remove(path));
      }
    }
  }
  for (const problem of problems) log(`log teardown of ${definition.taskId}: ${problem}`);
  return { ok: problems.length === 0, problems };
}

/**
 * The task's upload metadata files (whether they exist now or not) and the directories they name.
 *
 * @example
 * ```ts
 * taskMetadataFiles(definition, data, config); // [{ path: "/meta/t1.s3.json", directory: "/sandbox/logs" }]
 * ```
 */
export function taskMetadataFiles(
  definition: TaskDefinition,
  data: ExecutorData,
  config: Config<ExecutorKeys>,
): TaskMetadataFile[] {
  return uploadMetadataOf(definition, data, config, true).map((file) => ({
    path: metadataPath(file, config),
    directory: file.metadata.directory,
  }));
}

/**
 * The executor configuration's logrotate settings, with the extra files resolved against `sandbox`.
 *
 * @example
 * ```ts
 * logrotateSettings(config, "/sandbox").command; // "logrotate"
 * ```
 */
export function logrotateSettings(config: Config<ExecutorKeys>, sandbox: string): LogrotateSettings {
  return {
    command: config.text("executor.logrotate.command"),
    configFolder: config.text("executor.logrotate.config.folder"),
    hourlyConfigFolder: config.text("executor.logrotate.hourly.config.folder"),
    cronDirectory: config.text("executor.cron.directory"),
    toDirectory: config.text("executor.logrotate.to.directory"),
    maxageDays: config.get("executor.logrotate.maxage.days"),
    count: config.get("executor.logrotate.count"),
    dateformat: config.text("executor.logrotate.dateformat"),
    extrasDateformat: config.text("executor.logrotate.extras.dateformat"),
    extraFiles: config.get("executor.logrotate.extras.files").map((file) => resolve(sandbox, file)),
    frequency: config.get("executor.logrotate.frequency") as LogrotateSettings["frequency"],
    compressCommand: config.text("executor.logrotate.compress.command"),
    uncompressCommand: config.text("executor.logrotate.uncompress.command"),
    compressOptions: config.text("executor.logrotate.compress.options"),
    compressExtension: config.text("executor.logrotate.compress.extension"),
    ignoreOutput: config.get("executor.logrotate.ignore.output"),
  };
}

/** The task's logrotate files. */
function planOf(definition: TaskDefinition, data: ExecutorData, config: Config<ExecutorKeys>): LogrotatePlan {
  return logrotatePlan({
    taskId: definition.taskId,
    serviceLog: data.skipLogrotateAndCompress ? undefined : definition.serviceLogOut,
    stateFile: definition.logrotateStateFile,
    frequency: data.logrotateFrequency,
  }, logrotateSettings(config, definition.taskDirectory));
}

/** The task's upload metadata files. */
function uploadMetadataOf(
  definition: TaskDefinition,
  data: ExecutorData,
  config: Config<ExecutorKeys>,
  finished: boolean,
) {
  const settings: TaskUploadSettings = {
    bucket: config.text("executor.s3.uploader.bucket"),
    keyPattern: config.text("executor.s3.uploader.pattern"),
    extraFilePrefixes: config.get("executor.s3.uploader.extras.files"),
    logrotateToDirectory: config.text("executor.logrotate.to.directory"),
  };
  return taskUploadMetadata(
    {
      taskId: parseTaskId(definition.taskId),
      sandbox: definition.taskDirectory,
      serviceLog: definition.serviceLogOut,
      data,
    },
    settings,
    { finished },
  );
}

/** `<s3uploader.metadata.directory>/<name><s3uploader.metadata.suffix>`. */
function metadataPath(file: TaskUploadMetadata, config: Config<ExecutorKeys>): string {
  return join(config.text("s3uploader.metadata.directory"), `${file.name}${config.text("s3uploader.metadata.suffix")}`);
}

/** Writes one of the task's metadata files (atomically) at {@linkcode metadataPath}. */
async function writeTaskMetadata(file: TaskUploadMetadata, config: Config<ExecutorKeys>): Promise<void> {
  const path = metadataPath(file, config);
  await writeUploadMetadata(dirname(path), basename(path), file.metadata);
}

/** The tail metadata, when the task has a logging tag and a log watcher directory is configured. */
async function writeTail(
  definition: TaskDefinition,
  data: ExecutorData,
  config: Config<ExecutorKeys>,
  finished: boolean,
): Promise<void> {
  const directory = config.text("logwatcher.metadata.directory");
  if (data.loggingTag === undefined || directory === "") return;
  await writeTailMetadata(directory, config.text("logwatcher.metadata.suffix"), {
    filename: definition.serviceLogOut,
    tag: data.loggingTag,
    extraFields: data.loggingExtraFields,
    finished,
  });
}

/** Creates `path` empty unless something is there (never truncates, never follows a symlink). */
async function ensureFile(path: string): Promise<void> {
  await Deno.mkdir(dirname(path), { recursive: true });
  try {
    (await Deno.open(path, { write: true, createNew: true, mode: 0o644 })).close();
  } catch (error) {
    if (!(error instanceof Deno.errors.AlreadyExists)) throw error;
  }
}

/** `tail -n <lines> serviceLog > tailFile`, unless the tail file exists; see lastLines for what is refused. */
async function saveTail(serviceLog: string, tailFile: string, lines: number): Promise<void> {
  const bytes = await lastLines(serviceLog, lines);
  try {
    // createNew: an existing tail file (or a link planted there) is never written through.
    await Deno.writeFile(tailFile, bytes, { createNew: true, mode: 0o644 });
  } catch (error) {
    if (!(error instanceof Deno.errors.AlreadyExists)) throw error;
  }
}
