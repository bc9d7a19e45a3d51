/**
 * The task definition file: written by the executor when it launches a task,
 * read by the cleanup job to finish tasks whose executor died. One JSON file
 * per task, `<executor.global.task.definition.directory>/<sandbox name><suffix>`,
 * in the Java executor's format (field names as it writes them). The state
 * file is written under both `logrotateStateFile` (the name the Java executor
 * writes) and `logrotateStateFilePath` (the name its cleanup reads). Writes are
 * atomic (temporary file, fsync, rename), so a reader never sees half a file.
 *
 * @module
 */
import { basename, isAbsolute, join, resolve } from "node:path";
import { describe } from "../artifacts/artifact.ts";
import { writeAtomically } from "../write_atomically.ts";
import type { ExecutorData } from "./executor_data.ts";
import { sandboxName } from "./task_id.ts";

/** A task definition. Paths are absolute. */
export interface TaskDefinition {
  taskId: string;
  /** The executor data as received (raw JSON object); parse it with `parseExecutorDataObject`. */
  executorData: Record<string, unknown>;
  /** The task sandbox. */
  taskDirectory: string;
  /** Process id of the executor (a string, as the Java executor writes it). */
  executorPid: string;
  serviceLogOut: string;
  /** Extension of the service log's name without the dot (`log`), or "" when it has none. */
  serviceLogOutExtension: string;
  /** Absent in files written by properties-era executors. */
  serviceFinishedTailLog?: string;
  taskAppDirectory: string;
  executorBashOut: string;
  logrotateStateFile: string;
  /** Absent in files written by properties-era executors. */
  signatureVerifyOut?: string;
}

/** The sandbox file names {@linkcode buildTaskDefinition} needs, from the executor configuration. */
export interface TaskDefinitionOptions {
  /** The task sandbox, absolute. */
  taskDirectory: string;
  executorPid: number | string;
  /** `executor.task.app.directory`. */
  appDirectory: string;
  /** `executor.task.service.log.path`; the executor data's `serviceLog` wins when set. */
  serviceLog: string;
  /** `executor.service.log.tail.file.name`; the executor data's `serviceFinishedTailLog` wins when set. */
  serviceFinishedTailLog: string;
  /** `executor.task.bash.log.path`. */
  bashLog: string;
  /** `executor.logrotate.state.file`. */
  logrotateStateFile: string;
  /** Output of signature verification; default `executor.gpg.out`. */
  signatureVerifyOut?: string;
}

/** A task definition file cannot be read or is not a task definition; names the file. */
export class TaskDefinitionError extends Error {
  constructor(message: string, options?: ErrorOptions) {
    super(message, options);
    this.name = "TaskDefinitionError";
  }
}

/**
 * The definition of a task being launched. Relative names are resolved against the sandbox, absolute ones kept.
 *
 * @example
 * ```ts
 * const definition = buildTaskDefinition(taskId, executorData, {
 *   taskDirectory: "/var/lib/mesos/slaves/S1/frameworks/F1/executors/E1/runs/latest/" + sandboxName(taskId),
 *   executorPid: Deno.pid,
 *   appDirectory: "app",
 *   serviceLog: "service.log",
 *   serviceFinishedTailLog: "tail_of_finished_service.log",
 *   bashLog: "executor.bash.log",
 *   logrotateStateFile: "logrotate.status",
 * });
 * ```
 */
export function buildTaskDefinition(
  taskId: string,
  executorData: ExecutorData,
  options: TaskDefinitionOptions,
): TaskDefinition {
  const taskDirectory = options.taskDirectory;
  if (!isAbsolute(taskDirectory)) {
    throw new Error(`task directory ${JSON.stringify(taskDirectory)} is not an absolute path`);
  }
  const inSandbox = (name: string) => resolve(taskDirectory, name);
  const serviceLog = executorData.serviceLog ?? options.serviceLog;
  return {
    taskId,
    executorData: executorData.raw,
    taskDirectory,
    executorPid: String(options.executorPid),
    serviceLogOut: inSandbox(serviceLog),
    serviceLogOutExtension: fileExtension(serviceLog),
    serviceFinishedTailLog: inSandbox(executorData.serviceFinishedTailLog ?? options.serviceFinishedTailLog),
    taskAppDirectory: inSandbox(options.appDirectory),
    executorBashOut: inSandbox(options.bashLog),
    logrotateStateFile: inSandbox(options.logrotateStateFile),
    signatureVerifyOut: inSandbox(options.signatureVerifyOut ?? "executor.gpg.out"),
  };
}

/**
 * Where the definition of `taskId` is stored.
 *
 * @example
 * ```ts
 * taskDefinitionPath("/var/lib/singularity/tasks", ".task.json", "r-d-1-1-host-rack");
 * // "/var/lib/singularity/tasks/r-d-1-1-host-rack.task.json"
 * ```
 */
export function taskDefinitionPath(directory: string, suffix: string, taskId: string): string {
  return join(directory, `${sandboxName(taskId)}${suffix}`);
}

/**
 * Writes `definition` to its file in `directory` atomically (mode 0644) and returns the path.
 *
 * @example
 * ```ts
 * await writeTaskDefinition("/var/lib/singularity/tasks", ".task.json", definition);
 * ```
 */
export async function writeTaskDefinition(
  directory: string,
  suffix: string,
  definition: TaskDefinition,
): Promise<string> {
  const path = taskDefinitionPath(directory, suffix, definition.taskId);
  const bytes = new TextEncoder().encode(JSON.stringify(taskDefinitionJson(definition)));
  await writeAtomically(path, bytes, { mode: 0o644 });
  return path;
}

/**
 * Reads a task definition file. `executorData` is returned as stored; relative paths (older executors wrote
 * some file names bare) are resolved against `taskDirectory`.
 *
 * @example
 * ```ts
 * const definition = await readTaskDefinition("/var/lib/singularity/tasks/r-d-1-1-host-rack.task.json");
 * ```
 */
export async function readTaskDefinition(path: string): Promise<TaskDefinition> {
  let bytes: Uint8Array;
  try {
    bytes = await Deno.readFile(path);
  } catch (error) {
    throw new TaskDefinitionError(`task definition ${path}: cannot be read (${(error as Error).message})`, {
      cause: error,
    });
  }
  return parseTaskDefinition(bytes, path);
}

/**
 * Parses the bytes of a task definition file; `path` names it in errors.
 *
 * @example
 * ```ts
 * parseTaskDefinition(await Deno.readFile(path), path);
 * ```
 */
export function parseTaskDefinition(bytes: Uint8Array, path: string): TaskDefinition {
  const where = `task definition ${path}`;
  if (bytes.length === 0) throw new TaskDefinitionError(`${where}: the file is empty`);
  let text: string;
  try {
    text = new TextDecoder("utf-8", { fatal: true }).decode(bytes);
  } catch (error) {
    throw new TaskDefinitionError(`${where}: not valid UTF-8 (${bytes.length} bytes)`, { cause: error });
  }
  let json: unknown;
  try {
    json = JSON.parse(text);
  } catch (error) {
    throw new TaskDefinitionError(`${where}: not valid JSON (${(error as Error).message})`, { cause: error });
  }
  if (json === null || typeof json !== "object" || Array.isArray(json)) {
    throw new TaskDefinitionError(`${where}: expected a JSON object, got ${describe(json)}`);
  }
  const object = json as Record<string, unknown>;
  const required = (field: string) => requiredText(object, field, where);
  const optional = (field: string) => optionalText(object, field, where);
  const taskId = required("taskId");
  const executorData = object.executorData;
  if (executorData === null || typeof executorData !== "object" || Array.isArray(executorData)) {
    throw new TaskDefinitionError(`${where}: executorData: expected an object, got ${describe(executorData)}`);
  }
  const taskDirectory = required("taskDirectory");
  if (!isAbsolute(taskDirectory)) {
    throw new TaskDefinitionError(`${where}: taskDirectory: ${JSON.stringify(taskDirectory)} is not an absolute path`);
  }
  const inSandbox = (name: string) => resolve(taskDirectory, name);
  // The Java executor writes logrotateStateFile and its cleanup reads logrotateStateFilePath; take either.
  const stateFile = optional("logrotateStateFilePath") ?? required("logrotateStateFile");
  const pid = object.executorPid;
  const serviceLogOut = inSandbox(required("serviceLogOut"));
  const extension = object.serviceLogOutExtension;
  const definition: TaskDefinition = {
    taskId,
    executorData: executorData as Record<string, unknown>,
    taskDirectory,
    // Tolerate a number: the pid is only used to ask whether the executor still runs.
    executorPid: typeof pid === "number" && Number.isInteger(pid) ? String(pid) : required("executorPid"),
    serviceLogOut,
    serviceLogOutExtension: typeof extension === "string" ? extension : fileExtension(serviceLogOut),
    taskAppDirectory: inSandbox(required("taskAppDirectory")),
    executorBashOut: inSandbox(required("executorBashOut")),
    logrotateStateFile: inSandbox(stateFile),
  };
  const tail = optional("serviceFinishedTailLog");
  if (tail !== undefined) definition.serviceFinishedTailLog = inSandbox(tail);
  const signature = optional("signatureVerifyOut");
  if (signature !== undefined) definition.signatureVerifyOut = inSandbox(signature);
  return definition;
}

/**
 * Deletes a task definition file; false when it was already gone.
 *
 * @example
 * ```ts
 * await deleteTaskDefinition("/var/lib/singularity/tasks/r-d-1-1-host-rack.task.json");
 * ```
 */
export async function deleteTaskDefinition(path: string): Promise<boolean> {
  try {
    await Deno.remove(path);
    return true;
  } catch (error) {
    if (error instanceof Deno.errors.NotFound) return false;
    throw error;
  }
}

/**
 * The JSON object written to the file, in the Java executor's field order, with the state file under both keys.
 *
 * @example
 * ```ts
 * JSON.stringify(taskDefinitionJson(definition));
 * ```
 */
export function taskDefinitionJson(definition: TaskDefinition): Record<string, unknown> {
  const json: Record<string, unknown> = {
    taskId: definition.taskId,
    executorData: definition.executorData,
    taskDirectory: definition.taskDirectory,
    executorPid: definition.executorPid,
    serviceLogOut: definition.serviceLogOut,
    serviceLogOutExtension: definition.serviceLogOutExtension,
    serviceFinishedTailLog: definition.serviceFinishedTailLog,
    taskAppDirectory: definition.taskAppDirectory,
    executorBashOut: definition.executorBashOut,
    logrotateStateFile: definition.logrotateStateFile,
    logrotateStateFilePath: definition.logrotateStateFile,
    signatureVerifyOut: definition.signatureVerifyOut,
  };
  for (const key of Object.keys(json)) if (json[key] === undefined) delete json[key];
  return json;
}

/** A string field that must be there. */
function requiredText(object: Record<string, unknown>, field: string, where: string): string {
  const value = object[field];
  if (typeof value !== "string" || value === "") {
    throw new TaskDefinitionError(`${where}: ${field}: expected a non-empty string, got ${describe(value)}`);
  }
  return value;
}

/** A string field that may be absent, null or empty. */
function optionalText(object: Record<string, unknown>, field: string, where: string): string | undefined {
  const value = object[field];
  if (value === undefined || value === null || value === "") return undefined;
  return requiredText(object, field, where);
}

/** Guava's Files.getFileExtension: what follows the last `.` of the file name, or "". */
function fileExtension(path: string): string {
  const name = basename(path);
  const dot = name.lastIndexOf(".");
  return dot === -1 ? "" : name.slice(dot + 1);
}
