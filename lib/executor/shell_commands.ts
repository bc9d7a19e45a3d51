/**
 * Framework messages from the scheduler and the shell commands they request:
 * parsing the two message types Singularity sends (a shell command request,
 * and a destroy), running a configured shell command against a task with the
 * originals' update sequence (ACKED, STARTED, then FINISHED or FAILED; INVALID
 * when it cannot run), and encoding those updates for the scheduler.
 *
 * Shell commands are configured in `singularity.executor.properties`:
 *
 * | key | default | meaning |
 * | --- | --- | --- |
 * | `executor.shell.command.<name>` | — | A command the scheduler may run by name: a JSON array of argv strings, e.g. `["jstack","-l","{PID}"]`. An element exactly `{PID}` becomes the task's pid (or the content of the pid file), `{USER}` the task's user. |
 * | `executor.shell.command.<name>.option.<option>` | — | The flag appended when a request names `<option>`; a command's flags are appended in the order the file lists them. |
 * | `executor.shell.command.<name>.skip.command.prefix` | `false` | `true`: run the command without `executor.shell.commands.prefix`. |
 * | `executor.shell.commands.prefix` | empty | Comma list of argv elements put before every command (placeholders apply), e.g. `sudo,-u,{USER}`. |
 * | `executor.shell.commands.out.file` | `executor.commands.{NAME}.{TIMESTAMP}.log` | Output file in the sandbox; `{NAME}` = the request's `logfileName` or the command name lower-cased with whitespace and `/` replaced by `-`, `{TIMESTAMP}` = the request's timestamp. |
 * | `executor.shell.commands.pid.file` | `.task-pid` | A file in the sandbox whose content, when it exists, is the pid `{PID}` stands for. |
 *
 * The `.option.<option>` and `.skip.command.prefix` forms are members of the
 * one family `executor.shell.command.<name>` too (split at the first
 * `.option.`, so a command name cannot contain it); {@linkcode shellCommandsConfig}
 * sorts them out. The task must not be able to leave its sandbox through the
 * output or pid file: `..` and links leading out are refused (INVALID).
 *
 * @example
 * ```ts
 * const shell = shellCommandsConfig(config);
 * const message = parseFrameworkMessage(data);
 * if (message.type === "shell-command") {
 *   await runShellCommand(message.request, { sandbox, pid, user }, {
 *     config: shell,
 *     send: (update) => driver.sendMessage(encodeShellCommandUpdate(update)),
 *   });
 * }
 * ```
 *
 * @module
 */
import { dirname, isAbsolute, join, relative, resolve } from "node:path";
import { describe } from "../artifacts/artifact.ts";
import type { Config } from "../config/mod.ts";
import { parseTaskIdObject, type TaskId } from "./task_id.ts";

/** What the scheduler asks for (`SingularityShellCommand`). */
export interface ShellCommand {
  /** The name of a configured command. */
  name: string;
  /** Names of the command's options to apply (absent = none). */
  options: string[];
  /** Who asked (for logs). */
  user?: string;
  /** Replaces `{NAME}` in the output file name. */
  logfileName?: string;
}

/** A `SingularityTaskShellCommandRequest`. */
export interface ShellCommandRequest {
  taskId: TaskId;
  /** Who asked (for logs). */
  user?: string;
  /** When it was asked, milliseconds since the epoch; part of the request id and of the output file name. */
  timestamp: number;
  shellCommand: ShellCommand;
}

/** A parsed framework message: what to do, or why it cannot be read. */
export type FrameworkMessage =
  | { type: "shell-command"; request: ShellCommandRequest }
  /** `SingularityTaskDestroyFrameworkMessage`: kill the task with SIGKILL now. */
  | { type: "destroy"; taskId: TaskId; user?: string }
  /** Not a message Singularity sends: `error` says what is wrong with it. */
  | { type: "invalid"; error: string };

/** The states of a shell command; INVALID, FINISHED and FAILED are terminal. */
export type ShellCommandUpdateType = "INVALID" | "ACKED" | "STARTED" | "FINISHED" | "FAILED";

/** Identifies a shell command request (`SingularityTaskShellCommandRequestId`). */
export interface ShellRequestId {
  taskId: TaskId;
  name: string;
  timestamp: number;
}

/** A `SingularityTaskShellCommandUpdate`, sent to the scheduler as a framework message. */
export interface ShellCommandUpdate {
  shellRequestId: ShellRequestId;
  /** When the update was made, milliseconds since the epoch. */
  timestamp: number;
  message?: string;
  /** Relative to the task sandbox; on ACKED. */
  outputFilename?: string;
  updateType: ShellCommandUpdateType;
}

/** One configured command (`SingularityExecutorShellCommandDescriptor`). */
export interface ShellCommandDescriptor {
  /** The argv, placeholders included. */
  command: readonly string[];
  /** Flag by option name, in the order they are appended. */
  options: ReadonlyMap<string, string>;
  /** Run without the common prefix. */
  skipCommandPrefix?: boolean;
}

/** The shell command settings of the executor. */
export interface ShellCommandsConfig {
  /** By name, in the order the property files list them. */
  commands: ReadonlyMap<string, ShellCommandDescriptor>;
  /** argv elements put before every command without `skipCommandPrefix`. */
  prefix: readonly string[];
  /** The output file name, relative to the sandbox, with `{NAME}` and `{TIMESTAMP}`. */
  outFileTemplate: string;
  /** Relative to the sandbox: when it exists, its content is the pid. */
  pidFile: string;
  /** An argv element exactly equal to this becomes the pid. */
  pidPlaceholder: string;
  /** An argv element exactly equal to this becomes the task's user. */
  userPlaceholder: string;
}

/** The task a shell command runs against. */
export interface ShellCommandTask {
  /** The task sandbox: the command's working directory and the home of its output file. */
  sandbox: string;
  /** The pid of the task's process; undefined while none is running. */
  pid?: number;
  /** The user the task runs as. */
  user: string;
}

/** Options of {@linkcode runShellCommand}. */
export interface RunShellCommandOptions {
  config: ShellCommandsConfig;
  /** Receives each update (for the scheduler); a failure to send is logged, not fatal. */
  send: (update: ShellCommandUpdate) => void | Promise<void>;
  /** Aborting it sends SIGTERM to the command (when the task ends, for one). */
  signal?: AbortSignal;
  log?: (line: string) => void;
}

/** A shell command property is malformed; names the key, the value and what was expected. */
export class ShellCommandConfigError extends Error {
  constructor(message: string) {
    super(message);
    this.name = "ShellCommandConfigError";
  }
}

/** The family that holds commands, their options and their prefix switch. */
const COMMAND_FAMILY = "executor.shell.command.<name>";
const PREFIX_KEY = "executor.shell.commands.prefix";
const OUT_FILE_KEY = "executor.shell.commands.out.file";
const PID_FILE_KEY = "executor.shell.commands.pid.file";
const OPTION_INFIX = ".option.";
const SKIP_PREFIX_SUFFIX = ".skip.command.prefix";

/** Jackson's minimal class names (relative to `com.hubspot.singularity`), and the full ones it also accepts. */
const PACKAGE = "com.hubspot.singularity";
const SHELL_COMMAND_CLASS = ".SingularityTaskShellCommandRequest";
const DESTROY_CLASS = ".SingularityTaskDestroyFrameworkMessage";

/** Java's Integer.MAX_VALUE: the original parses the pid file as an int. */
const MAX_PID = 2147483647;

/** How long to wait for a command's output pipes after it exited (a background child may hold them open). */
const DRAIN_AFTER_EXIT_MS = 1_000;

/** A message field does not have the expected shape. */
class MessageFormatError extends Error {}

/** The request cannot run: the message of the INVALID update. */
class InvalidShellCommand extends Error {}

/**
 * Parses a framework message from the scheduler (UTF-8 JSON). `@class` picks
 * the type; without it the message is a shell command request. Unknown fields
 * are ignored and `null` means absent, as Jackson reads them.
 *
 * @example
 * ```ts
 * const message = parseFrameworkMessage(new TextEncoder().encode(
 *   '{"@class":".SingularityTaskDestroyFrameworkMessage","taskId":{"id":"r-d-1-1-h-k"},"user":"ops"}',
 * ));
 * // { type: "destroy", taskId: { id: "r-d-1-1-h-k", ... }, user: "ops" }
 * ```
 */
export function parseFrameworkMessage(data: Uint8Array): FrameworkMessage {
  let text: string;
  try {
    text = new TextDecoder("utf-8", { fatal: true }).decode(data);
  } catch {
    return { type: "invalid", error: `framework message of ${data.length} bytes is not UTF-8 text` };
  }
  let value: unknown;
  try {
    value = JSON.parse(text);
  } catch (error) {
    return { type: "invalid", error: `framework message of ${data.length} bytes is not JSON: ${message(error)}` };
  }
  if (value === null || typeof value !== "object" || Array.isArray(value)) {
    return { type: "invalid", error: `framework message: expected a JSON object, got ${describe(value)}` };
  }
  const object = value as Record<string, unknown>;
  const type = object["@class"];
  try {
    if (absent(type) || type === SHELL_COMMAND_CLASS || type === PACKAGE + SHELL_COMMAND_CLASS) {
      return { type: "shell-command", request: parseShellCommandRequest(object) };
    }
    if (type === DESTROY_CLASS || type === PACKAGE + DESTROY_CLASS) {
      return { type: "destroy", taskId: parseTaskIdObject(object.taskId), ...optionalString(object, "user", "") };
    }
  } catch (error) {
    const kind = absent(type) ? "(no @class, read as a shell command request)" : String(type);
    return { type: "invalid", error: `framework message ${kind}: ${message(error)}` };
  }
  return {
    type: "invalid",
    error: `framework message: unknown @class ${describe(type)} (expected ${SHELL_COMMAND_CLASS} or ${DESTROY_CLASS})`,
  };
}

/**
 * The framework message bytes of an update: JSON as Singularity's scheduler
 * reads it (the task id in its object form, absent fields left out).
 *
 * @example
 * ```ts
 * await driver.sendMessage(encodeShellCommandUpdate(update));
 * ```
 */
export function encodeShellCommandUpdate(update: ShellCommandUpdate): Uint8Array {
  const { taskId, name, timestamp } = update.shellRequestId;
  return new TextEncoder().encode(JSON.stringify({
    shellRequestId: { taskId: taskIdJson(taskId), name, timestamp },
    timestamp: update.timestamp,
    message: update.message,
    outputFilename: update.outputFilename,
    updateType: update.updateType,
  }));
}

/**
 * The shell command settings from the executor's configuration (keys in the
 * module documentation). Throws {@linkcode ShellCommandConfigError} naming the
 * first malformed key.
 *
 * @example
 * ```ts
 * // executor.shell.command.jstack=["jstack","-l","{PID}"]
 * // executor.shell.command.jstack.option.force=-F
 * shellCommandsConfig(config).commands.get("jstack");
 * // { command: ["jstack", "-l", "{PID}"], options: Map { "force" => "-F" }, skipCommandPrefix: false }
 * ```
 */
export function shellCommandsConfig(config: Config): ShellCommandsConfig {
  const members = config.family(COMMAND_FAMILY);
  const keyOf = (member: string) => COMMAND_FAMILY.replace("<name>", member);
  const commands = new Map<string, { command: string[]; options: Map<string, string>; skipCommandPrefix: boolean }>();
  for (const [member, text] of members) {
    if (member.includes(OPTION_INFIX) || member.endsWith(SKIP_PREFIX_SUFFIX)) continue;
    commands.set(member, { command: parseArgv(keyOf(member), text), options: new Map(), skipCommandPrefix: false });
  }
  for (const [member, text] of members) {
    const infix = member.indexOf(OPTION_INFIX);
    if (infix < 0 && !member.endsWith(SKIP_PREFIX_SUFFIX)) continue;
    const name = infix >= 0 ? member.slice(0, infix) : member.slice(0, -SKIP_PREFIX_SUFFIX.length);
    const descriptor = commands.get(name);
    if (descriptor === undefined) {
      throw new ShellCommandConfigError(`${keyOf(member)}: there is no command "${name}" (set ${keyOf(name)} too)`);
    }
    if (infix >= 0) {
      const option = member.slice(infix + OPTION_INFIX.length);
      if (option === "" || text === "") {
        throw new ShellCommandConfigError(
          `${keyOf(member)}=${text}: expected an option name after ".option." and the flag as the value`,
        );
      }
      descriptor.options.set(option, text);
    } else if (/^(true|false)$/i.test(text)) {
      descriptor.skipCommandPrefix = text.toLowerCase() === "true";
    } else {
      throw new ShellCommandConfigError(`${keyOf(member)}=${text}: expected true or false`);
    }
  }
  const prefix = config.get(PREFIX_KEY);
  return {
    commands,
    prefix: Array.isArray(prefix) ? prefix : [],
    outFileTemplate: requiredText(config, OUT_FILE_KEY),
    pidFile: requiredText(config, PID_FILE_KEY),
    pidPlaceholder: "{PID}",
    userPlaceholder: "{USER}",
  };
}

/**
 * The programs the configured commands start (the first argv element, prefix
 * included), for the executor's `--allow-run` list.
 *
 * @example
 * ```ts
 * shellCommandPrograms(shell); // ["sudo"] with executor.shell.commands.prefix=sudo,-u,{USER}
 * ```
 */
export function shellCommandPrograms(config: ShellCommandsConfig): string[] {
  const programs = [...config.commands.values()].map((descriptor) =>
    (descriptor.skipCommandPrefix ? descriptor.command : [...config.prefix, ...descriptor.command])[0]
  );
  return [...new Set(programs)];
}

/**
 * Runs a shell command request against a task, sending each update through
 * `options.send`: INVALID when there is no task process, no such command or no
 * usable pid or output file; otherwise ACKED (the argv and the output file),
 * STARTED (`pid - N`) and FINISHED (`Finished with code N`), or FAILED
 * (`Failed - <Error> (<message>)`) when the command could not be started.
 * Resolves with the terminal update.
 *
 * @example
 * ```ts
 * const last = await runShellCommand(request, { sandbox, pid: task.pid, user: "webapp" }, {
 *   config: shell,
 *   send: (update) => driver.sendMessage(encodeShellCommandUpdate(update)),
 * });
 * last.updateType; // "FINISHED"
 * ```
 */
export async function runShellCommand(
  request: ShellCommandRequest,
  task: ShellCommandTask,
  options: RunShellCommandOptions,
): Promise<ShellCommandUpdate> {
  const { config, log } = options;
  const shellRequestId = { taskId: request.taskId, name: request.shellCommand.name, timestamp: request.timestamp };
  const what = `shell command ${request.shellCommand.name} (${request.timestamp})`;
  const update = async (updateType: ShellCommandUpdateType, text: string, outputFilename?: string) => {
    const sent: ShellCommandUpdate = { shellRequestId, timestamp: Date.now(), message: text, updateType };
    if (outputFilename !== undefined) sent.outputFilename = outputFilename;
    log?.(`${what}: ${updateType} ${text}`);
    try {
      await options.send(sent);
    } catch (error) {
      log?.(`${what}: sending the ${updateType} update failed: ${message(error)}`);
    }
    return sent;
  };

  if (task.pid === undefined) return update("INVALID", "No task process found");
  let argv: string[];
  let outputFilename: string;
  let outputPath: string;
  try {
    argv = await buildCommand(request, { ...task, pid: task.pid }, config);
    outputFilename = outputFileName(request, config);
    outputPath = await outputFilePath(task.sandbox, outputFilename);
  } catch (error) {
    return update("INVALID", error instanceof InvalidShellCommand ? error.message : message(error));
  }

  const commandLine = argv.join(" ");
  await update("ACKED", commandLine, outputFilename);
  let exitCode: number;
  try {
    await Deno.writeTextFile(outputPath, `#\n# ${javaDate(new Date())} -- Launching ${commandLine}\n#\n`, {
      append: true,
    });
    exitCode = await launch(argv, resolve(task.sandbox), outputPath, {
      signal: options.signal,
      started: (pid) => update("STARTED", `pid - ${pid}`),
    });
  } catch (error) {
    return update("FAILED", `Failed - ${(error as Error).name ?? "Error"} (${message(error)})`);
  }
  return update("FINISHED", `Finished with code ${exitCode}`);
}

/** The argv: prefix, command, placeholders replaced, then the requested options' flags. */
async function buildCommand(
  request: ShellCommandRequest,
  task: Required<ShellCommandTask>,
  config: ShellCommandsConfig,
): Promise<string[]> {
  const { name, options } = request.shellCommand;
  const descriptor = config.commands.get(name);
  if (descriptor === undefined) {
    throw new InvalidShellCommand(
      `"${name}" command not found. If this command was added or modified after the task launched, then the task ` +
        `must be restarted to find it. Currently available commands are: [${[...config.commands.keys()].join(", ")}]`,
    );
  }
  const argv = [...(descriptor.skipCommandPrefix ? [] : config.prefix), ...descriptor.command];
  let pid: number | undefined;
  for (const [index, element] of argv.entries()) {
    if (element === config.pidPlaceholder) {
      pid ??= await pidOf(task, config.pidFile);
      argv[index] = String(pid);
    } else if (element === config.userPlaceholder) {
      argv[index] = task.user;
    }
  }
  for (const [option, flag] of descriptor.options) if (options.includes(option)) argv.push(flag);
  return argv;
}

/**
 * The content of the pid file when it exists, else the task's pid. The task
 * owns the sandbox: a link out of it is refused, and a long content is not
 * quoted, so no other file's text reaches the scheduler.
 */
async function pidOf(task: Required<ShellCommandTask>, pidFile: string): Promise<number> {
  const invalid = (reason: string) =>
    new InvalidShellCommand(`No PID found due to exception reading pid file: ${pidFile} ${reason}`);
  let text: string;
  try {
    const [sandbox, path] = await Promise.all([
      Deno.realPath(task.sandbox),
      Deno.realPath(join(task.sandbox, pidFile)),
    ]);
    if (!inside(sandbox, path)) throw invalid("leads outside the task sandbox");
    if (!(await Deno.stat(path)).isFile) throw invalid("is not a regular file");
    text = await Deno.readTextFile(path);
  } catch (error) {
    if (error instanceof Deno.errors.NotFound) return task.pid;
    throw error instanceof InvalidShellCommand ? error : invalid(`cannot be read: ${message(error)}`);
  }
  const pid = text.trim();
  if (!/^[0-9]+$/.test(pid) || Number(pid) === 0 || Number(pid) > MAX_PID) {
    throw invalid(`holds ${text.length <= 20 ? JSON.stringify(text) : `${text.length} characters`}, not a process id`);
  }
  return Number(pid);
}

/** The output file name: the template with `{NAME}` and `{TIMESTAMP}` filled in, in that order. */
function outputFileName(request: ShellCommandRequest, config: ShellCommandsConfig): string {
  const { name, logfileName } = request.shellCommand;
  const fileName = logfileName ?? name.replace(/[\s/]/g, "-").toLowerCase();
  // Function replacements: a name with "$&" must be taken literally.
  return config.outFileTemplate.replaceAll("{NAME}", () => fileName)
    .replaceAll("{TIMESTAMP}", () => String(request.timestamp));
}

/** The output file's path; refuses names that leave the sandbox, by `..` or through a symbolic link. */
async function outputFilePath(sandbox: string, name: string): Promise<string> {
  const path = resolve(sandbox, name);
  const outside = new InvalidShellCommand(`Output file ${JSON.stringify(name)} is outside the task sandbox`);
  if (!inside(resolve(sandbox), path)) throw outside;
  const [realSandbox, realParent] = await Promise.all(
    [sandbox, dirname(path)].map((directory) => Deno.realPath(directory).catch(() => undefined)),
  );
  // A parent that does not exist fails when the file is written (FAILED).
  if (realSandbox !== undefined && realParent !== undefined && realParent !== realSandbox) {
    if (!inside(realSandbox, realParent)) throw outside;
  }
  const existing = await Deno.lstat(path).catch(() => undefined);
  if (existing !== undefined && !existing.isFile) {
    throw new InvalidShellCommand(`Output file ${JSON.stringify(name)} exists and is not a regular file`);
  }
  return path;
}

/** `path` is `directory` itself or below it. */
function inside(directory: string, path: string): boolean {
  const rest = relative(directory, path);
  return rest !== "" && rest !== ".." && !rest.startsWith("../") && !isAbsolute(rest);
}

/**
 * Starts `argv` in the sandbox with stdout and stderr appended to `outputPath`
 * (one handle each, as Java's `Redirect.appendTo`), reports its pid, and
 * resolves with the exit code (128 + signal when killed).
 */
async function launch(
  argv: string[],
  sandbox: string,
  outputPath: string,
  options: { signal?: AbortSignal; started: (pid: number) => Promise<unknown> },
): Promise<number> {
  const stdout = await Deno.open(outputPath, { append: true });
  const stderr = await Deno.open(outputPath, { append: true });
  let child: Deno.ChildProcess;
  try {
    child = new Deno.Command(argv[0], {
      args: argv.slice(1),
      cwd: sandbox,
      env: { TASK_SANDBOX_DIR: sandbox },
      stdin: "null",
      stdout: "piped",
      stderr: "piped",
      signal: options.signal,
    }).spawn();
  } catch (error) {
    stdout.close();
    stderr.close();
    throw error;
  }
  // A failed write (a full disk) ends the copy; the command then gets SIGPIPE, as it would writing to a full file.
  const copied = Promise.allSettled([child.stdout.pipeTo(stdout.writable), child.stderr.pipeTo(stderr.writable)]);
  await options.started(child.pid);
  const status = await child.status;
  let timer: ReturnType<typeof setTimeout> | undefined;
  await Promise.race([copied, new Promise((done) => timer = setTimeout(done, DRAIN_AFTER_EXIT_MS))]);
  clearTimeout(timer);
  return status.code;
}

/** The request fields, validated. */
function parseShellCommandRequest(object: Record<string, unknown>): ShellCommandRequest {
  const taskId = parseTaskIdObject(object.taskId);
  const timestamp = object.timestamp;
  if (typeof timestamp !== "number" || !Number.isSafeInteger(timestamp) || timestamp < 0) {
    throw new MessageFormatError(`timestamp: expected milliseconds since the epoch, got ${describe(timestamp)}`);
  }
  const shell = object.shellCommand;
  if (shell === null || typeof shell !== "object" || Array.isArray(shell)) {
    throw new MessageFormatError(`shellCommand: expected an object, got ${describe(shell)}`);
  }
  const command = shell as Record<string, unknown>;
  if (typeof command.name !== "string" || command.name === "") {
    throw new MessageFormatError(`shellCommand.name: expected a non-empty string, got ${describe(command.name)}`);
  }
  const options = absent(command.options) ? [] : command.options;
  if (!Array.isArray(options) || options.some((option) => typeof option !== "string")) {
    throw new MessageFormatError(`shellCommand.options: expected an array of strings, got ${describe(options)}`);
  }
  return {
    taskId,
    ...optionalString(object, "user", ""),
    timestamp,
    shellCommand: {
      name: command.name,
      options,
      ...optionalString(command, "user", "shellCommand."),
      ...optionalString(command, "logfileName", "shellCommand."),
    },
  };
}

/** `{ [field]: value }` for a string, `{}` when absent. */
function optionalString(object: Record<string, unknown>, field: string, where: string): Record<string, string> {
  const value = object[field];
  if (absent(value)) return {};
  if (typeof value !== "string") {
    throw new MessageFormatError(`${where}${field}: expected a string, got ${describe(value)}`);
  }
  return { [field]: value };
}

/** A command's argv from its property: a non-empty JSON array of strings. */
function parseArgv(key: string, text: string): string[] {
  let value: unknown;
  try {
    value = JSON.parse(text);
  } catch {
    value = undefined;
  }
  if (!Array.isArray(value) || value.length === 0 || value.some((element) => typeof element !== "string")) {
    throw new ShellCommandConfigError(
      `${key}=${text}: expected a JSON array of argv strings, e.g. ["jstack","-l","{PID}"]`,
    );
  }
  if (value[0] === "") throw new ShellCommandConfigError(`${key}=${text}: the program (first element) is empty`);
  return value;
}

/** A key with a default in the table: its text. */
function requiredText(config: Config, key: string): string {
  const value = config.required(key);
  if (typeof value !== "string") throw new ShellCommandConfigError(`${key}: expected text, got ${describe(value)}`);
  return value;
}

/** The object form Singularity writes for a task id (`host` and `rackId` repeat the sanitized parts). */
function taskIdJson(taskId: TaskId): Record<string, unknown> {
  return {
    id: taskId.id,
    requestId: taskId.requestId,
    deployId: taskId.deployId,
    startedAt: taskId.startedAt,
    instanceNo: taskId.instanceNo,
    host: taskId.sanitizedHost,
    sanitizedHost: taskId.sanitizedHost,
    sanitizedRackId: taskId.sanitizedRackId,
    rackId: taskId.sanitizedRackId,
  };
}

/** Java's `Date.toString()`: `Tue Apr 07 14:05:09 UTC 2015`, in local time. */
function javaDate(date: Date): string {
  const parts = Object.fromEntries(
    new Intl.DateTimeFormat("en-US", {
      weekday: "short",
      month: "short",
      day: "2-digit",
      hour: "2-digit",
      minute: "2-digit",
      second: "2-digit",
      hourCycle: "h23",
      year: "numeric",
      timeZoneName: "short",
    }).formatToParts(date).map((part) => [part.type, part.value]),
  );
  return `${parts.weekday} ${parts.month} ${parts.day} ${parts.hour}:${parts.minute}:${parts.second} ` +
    `${parts.timeZoneName} ${parts.year}`;
}

/** Null and undefined both mean "not given", as Jackson reads them. */
function absent(value: unknown): boolean {
  return value === undefined || value === null;
}

/** The message of anything thrown. */
function message(error: unknown): string {
  return error instanceof Error ? error.message : String(error);
}
