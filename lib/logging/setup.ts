/**
 * Logging of the four programs: one file per program in `root.log.directory`
 * in the `logging.pattern` format, plus stderr when run from a terminal.
 * Our own records use `hubspot.log.level`, everything else `root.log.level`.
 *
 * @module
 */
import { getFileSink } from "@logtape/file";
import { configure, dispose, getLogger, type Logger, type LogLevel, type Sink } from "@logtape/logtape";
import { join } from "node:path";
import { compilePattern } from "./pattern.ts";

/** The root category of the programs' own loggers. */
export const ROOT_CATEGORY = "singularity";

/** What {@linkcode setupLogging} needs. */
export interface LoggingOptions {
  /** Program name, for `%contextName`. */
  program: string;
  /** Directory of the log file; undefined to log to stderr only. */
  directory?: string;
  /** Log file name. */
  filename?: string;
  /** logback level for our records (`hubspot.log.level`). */
  level: string;
  /** logback level for library records (`root.log.level`). */
  rootLevel: string;
  /** logback pattern (`logging.pattern`). */
  pattern: string;
  /** Also write to stderr (default: when stderr is a terminal). */
  stderr?: boolean;
}

/**
 * Configures logging for the process; call {@linkcode stopLogging} before exit.
 *
 * @example
 * ```ts
 * await setupLogging({ program: "uploader", level: "INFO", rootLevel: "WARN", pattern: "%msg%n" });
 * logger("uploader").info("started");
 * ```
 */
export async function setupLogging(options: LoggingOptions): Promise<void> {
  const formatter = compilePattern(options.pattern, options.program);
  const sinks: Record<string, Sink> = {};
  if (options.directory !== undefined && options.filename !== undefined) {
    sinks.file = getFileSink(join(options.directory, options.filename), { formatter, bufferSize: 0 });
  }
  if (options.stderr ?? Deno.stderr.isTerminal()) {
    const encoder = new TextEncoder();
    sinks.stderr = (record) => Deno.stderr.writeSync(encoder.encode(formatter(record)));
  }
  const sinkIds = Object.keys(sinks);
  await configure({
    reset: true,
    sinks,
    loggers: [
      { category: [], sinks: sinkIds, lowestLevel: toLogTape(options.rootLevel) },
      { category: ["logtape", "meta"], sinks: sinkIds, parentSinks: "override", lowestLevel: "warning" },
      { category: [ROOT_CATEGORY], sinks: sinkIds, parentSinks: "override", lowestLevel: toLogTape(options.level) },
    ],
  });
}

/** Flushes and closes the log sinks. */
export async function stopLogging(): Promise<void> {
  await dispose();
}

/**
 * The logger for one part of a program (`singularity.<name>`).
 *
 * @example
 * ```ts
 * logger("executor", "driver").with({ taskId }).info("subscribed");
 * ```
 */
export function logger(...names: string[]): Logger {
  return getLogger([ROOT_CATEGORY, ...names]);
}

/** A logback level name as a LogTape level (`null` for OFF). */
function toLogTape(level: string): LogLevel | null {
  switch (level.toUpperCase()) {
    case "TRACE":
      return "trace";
    case "DEBUG":
      return "debug";
    case "WARN":
      return "warning";
    case "ERROR":
      return "error";
    case "OFF":
      return null;
    default:
      return "info";
  }
}
