/**
 * The per-task logrotate configuration, as Singularity's executor writes it:
 *
 * - `<executor.logrotate.config.folder>/<taskId>`: global directives
 *   (`dateext`, `compress`, the frequency, `copytruncate`, `nomail`,
 *   `nosharedscripts`, `rotate`, `maxage`, `notifempty`), a block for the
 *   service log (`dateformat`, `olddir`) and one block for the extra files
 *   (their own `dateformat`, `missingok`, rotated in place). The system
 *   logrotate runs it from its daily cron job.
 * - When the service log must rotate HOURLY or faster, its block goes instead
 *   to `<executor.logrotate.hourly.config.folder>/<taskId>.<FREQUENCY>`, run
 *   by a cron file in `executor.cron.directory` with `-f` and the task's
 *   state file. (The originals' HEAD dropped the service-log block from the
 *   main file whenever the global frequency was daily; this does not.)
 *
 * Paths are quoted, and glob characters in the service log's path escaped,
 * so a sandbox or file name with spaces, quotes or `*` names exactly that
 * file. The extra files are globs on purpose and are only quoted.
 *
 * @module
 */
import { join } from "node:path";

/** Rotation frequencies, in Singularity's spelling. */
export type RotationFrequency = "EVERY_MINUTE" | "EVERY_FIVE_MINUTES" | "HOURLY" | "DAILY" | "WEEKLY" | "MONTHLY";

/** Frequencies the system logrotate handles itself (its `daily`/`weekly`/`monthly` directive). */
const LOGROTATE_DIRECTIVE: Partial<Record<RotationFrequency, string>> = {
  DAILY: "daily",
  WEEKLY: "weekly",
  MONTHLY: "monthly",
};

/** Cron schedules of the frequencies cron has to drive. */
const CRON_SCHEDULE: Partial<Record<RotationFrequency, string>> = {
  HOURLY: "0 * * * *",
  EVERY_FIVE_MINUTES: "*/5 * * * *",
  EVERY_MINUTE: "* * * * *",
};

/** The `executor.logrotate.*` settings. */
export interface LogrotateSettings {
  /** `executor.logrotate.command`. */
  command: string;
  /** `executor.logrotate.config.folder`. */
  configFolder: string;
  /** `executor.logrotate.hourly.config.folder`. */
  hourlyConfigFolder: string;
  /** `executor.cron.directory`. */
  cronDirectory: string;
  /** `executor.logrotate.to.directory`, relative to the service log's directory. */
  toDirectory: string;
  maxageDays: number;
  count: number;
  /** For the service log. */
  dateformat: string;
  /** For the extra files. */
  extrasDateformat: string;
  /** Absolute paths or globs. */
  extraFiles: string[];
  /** `executor.logrotate.frequency`, used when the task does not give one. */
  frequency: RotationFrequency;
  compressCommand: string;
  uncompressCommand: string;
  compressOptions: string;
  compressExtension: string;
  /** Append `> /dev/null 2>&1` to cron lines. */
  ignoreOutput: boolean;
}

/** The task's side. */
export interface LogrotateTask {
  taskId: string;
  /** Absolute; absent when the service log is not rotated (`skipLogrotateAndCompress`). */
  serviceLog?: string;
  /** Absolute path of the task's logrotate state file. */
  stateFile: string;
  /** The task's `logrotateFrequency`, when given. */
  frequency?: RotationFrequency;
}

/** A file to write. */
export interface GeneratedFile {
  path: string;
  text: string;
}

/** Everything logrotate needs for one task. */
export interface LogrotatePlan {
  /** Rotated by the system logrotate; always written. */
  main: GeneratedFile;
  /** Configurations cron runs (HOURLY or faster), with the cron file that runs them. */
  cron?: { configs: GeneratedFile[]; cronFile: GeneratedFile };
}

/** A path that cannot be written into a logrotate configuration. */
export class LogrotateConfigError extends Error {
  constructor(message: string) {
    super(message);
    this.name = "LogrotateConfigError";
  }
}

/**
 * The files for `task`.
 *
 * @example
 * ```ts
 * const plan = logrotatePlan({ taskId: "web-d1-1-0-h-r", serviceLog: "/sandbox/service.log",
 *   stateFile: "/sandbox/logrotate.status" }, settings);
 * plan.main.path; // "/etc/logrotate.d/web-d1-1-0-h-r"
 * ```
 */
export function logrotatePlan(task: LogrotateTask, settings: LogrotateSettings): LogrotatePlan {
  const frequency = task.frequency ?? settings.frequency;
  const serviceBlock = task.serviceLog === undefined ? [] : [
    `${quotedPath(task.serviceLog, { literal: true })} {`,
    `  dateformat ${directiveValue("dateformat", settings.dateformat)}`,
    `  olddir ${olddirValue(settings.toDirectory)}`,
    "}",
  ];
  const extrasBlock = settings.extraFiles.length === 0 ? [] : [
    `${settings.extraFiles.map((file) => quotedPath(file, { literal: false })).join(" ")} {`,
    `  dateformat ${directiveValue("dateformat", settings.extrasDateformat)}`,
    "  missingok",
    "}",
  ];
  const directive = LOGROTATE_DIRECTIVE[frequency];
  const main = {
    path: join(settings.configFolder, task.taskId),
    text: [
      ...globalDirectives(settings, directive ?? LOGROTATE_DIRECTIVE[settings.frequency] ?? "daily"),
      ...(directive !== undefined && serviceBlock.length > 0 ? ["", ...serviceBlock] : []),
      ...(extrasBlock.length > 0 ? ["", ...extrasBlock] : []),
      "",
    ].join("\n"),
  };
  if (directive !== undefined || serviceBlock.length === 0) return { main };
  const config = {
    path: join(settings.hourlyConfigFolder, `${task.taskId}.${frequency}`),
    text: [...globalDirectives(settings, "hourly"), "", ...serviceBlock, ""].join("\n"),
  };
  const quiet = settings.ignoreOutput ? " > /dev/null 2>&1" : "";
  const command = [settings.command, "-f", "-s", task.stateFile, config.path].map(cronShellWord).join(" ");
  const cronFile = {
    path: join(settings.cronDirectory, cronFileName(task.taskId)),
    text: [
      `# Rotates the service log of Singularity task ${commentText(task.taskId)} ${frequency}.`,
      `${CRON_SCHEDULE[frequency]} root ${command}${quiet}`,
      "",
    ].join("\n"),
  };
  return { main, cron: { configs: [config], cronFile } };
}

/**
 * The cron file name for a task: Debian's cron ignores files in `/etc/cron.d` whose names contain anything
 * but letters, digits, `-` and `_` (a task id's host part has dots), so those become `_`.
 *
 * @example
 * ```ts
 * cronFileName("web-d1-1-0-agent1.example.com-r"); // "singularity-logrotate-web-d1-1-0-agent1_example_com-r"
 * ```
 */
export function cronFileName(taskId: string): string {
  return `singularity-logrotate-${taskId.replace(/[^A-Za-z0-9_-]/g, "_")}`;
}

/**
 * Every path a configuration of `taskId` may have: the main one, then one per cron-driven frequency.
 *
 * @example
 * ```ts
 * possibleConfigPaths("t1", settings); // ["/etc/logrotate.d/t1", "/etc/logrotate.d/hourly/t1.HOURLY", ...]
 * ```
 */
export function possibleConfigPaths(taskId: string, settings: LogrotateSettings): string[] {
  return [
    join(settings.configFolder, taskId),
    ...Object.keys(CRON_SCHEDULE).map((frequency) => join(settings.hourlyConfigFolder, `${taskId}.${frequency}`)),
  ];
}

/** The directives that apply to every block. */
function globalDirectives(settings: LogrotateSettings, frequency: string): string[] {
  const lines = [
    "dateext",
    "compress",
    frequency,
    "copytruncate",
    "nomail",
    "nosharedscripts",
    `rotate ${settings.count}`,
    `maxage ${settings.maxageDays}`,
    "notifempty",
  ];
  const optional: [string, string][] = [
    ["compresscmd", settings.compressCommand],
    ["uncompresscmd", settings.uncompressCommand],
    ["compressoptions", settings.compressOptions],
    ["compressext", settings.compressExtension],
  ];
  for (const [name, value] of optional) if (value !== "") lines.push(`${name} ${directiveValue(name, value)}`);
  return lines;
}

/**
 * A path in logrotate's syntax: in double quotes, or single quotes when it holds a `"`. With `literal`, the
 * glob characters logrotate would expand are escaped, so the path names exactly one file.
 */
function quotedPath(path: string, options: { literal: boolean }): string {
  if (/[\n\r\0]/.test(path)) {
    throw new LogrotateConfigError(`path ${JSON.stringify(path)}: a line break or NUL cannot be written to logrotate`);
  }
  const text = options.literal ? path.replace(/[\\*?[\]]/g, (c) => `\\${c}`) : path;
  if (!text.includes('"')) return `"${text}"`;
  if (!text.includes("'")) return `'${text}'`;
  throw new LogrotateConfigError(
    `path ${JSON.stringify(path)}: holds both ' and ", which logrotate's configuration cannot quote`,
  );
}

/** logrotate reads `olddir` up to the first blank, with no quoting. */
function olddirValue(directory: string): string {
  if (directory === "" || /[\s"'#\\]/.test(directory)) {
    throw new LogrotateConfigError(
      `executor.logrotate.to.directory ${
        JSON.stringify(directory)
      }: logrotate's olddir takes a path without blanks, quotes, "#" or "\\"`,
    );
  }
  return directory;
}

/** A directive's value: one line, no comment start, as logrotate reads the rest of the line. */
function directiveValue(name: string, value: string): string {
  if (/[\n\r\0#]/.test(value)) {
    throw new LogrotateConfigError(`logrotate ${name} ${JSON.stringify(value)}: must not hold a line break or "#"`);
  }
  return value;
}

/** A word for the shell cron hands its command to; `%` is escaped because cron turns it into a line break. */
function cronShellWord(word: string): string {
  if (/[\n\r\0]/.test(word)) {
    throw new LogrotateConfigError(`cron command word ${JSON.stringify(word)}: must not hold a line break`);
  }
  const quoted = /^[A-Za-z0-9_./-]+$/.test(word) ? word : `'${word.replaceAll("'", `'\\''`)}'`;
  return quoted.replaceAll("%", "\\%");
}

/** Text safe inside a `#` comment line. */
function commentText(value: string): string {
  // deno-lint-ignore no-control-regex
  return value.replace(/[\x00-\x1f\x7f]/g, "?");
}
