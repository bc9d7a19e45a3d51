/**
 * What every program does before its own work: parse flags, load and
 * validate the configuration, check its permissions cover the configuration,
 * start logging and log the effective configuration. `main_*.ts` files are
 * one call to {@linkcode runProgram}.
 *
 * @module
 */
import { parseArgs } from "node:util";
import {
  type Config,
  ConfigFileError,
  formatConfig,
  formatFiles,
  type KeyTable,
  loadConfig,
  type Program,
  PropertiesSyntaxError,
} from "../config/mod.ts";
import { PatternError } from "../logging/pattern.ts";
import { logger, setupLogging, stopLogging } from "../logging/setup.ts";
import { missingPermissions, permissionsFor } from "../permissions.ts";
import { VERSION } from "../version.ts";
import type { Logger } from "@logtape/logtape";

/** A program-specific command-line option. */
export interface ExtraOption {
  type: "boolean" | "string";
  short?: string;
  /** Name of the value in --help, for string options. */
  valueName?: string;
  /** One line for --help. */
  help: string;
}

/** What a program's `run` receives. */
export interface RunContext<T extends KeyTable> {
  config: Config<T>;
  /** Values of the program-specific options. */
  options: Record<string, string | boolean | undefined>;
  /** Positional arguments. */
  args: string[];
  log: Logger;
}

/** The definition of one program's command line and work. */
export interface ProgramMain<T extends KeyTable> {
  program: Program;
  /** Program-specific options, by long name. */
  options?: Record<string, ExtraOption>;
  /** More lines for --help (behaviour, files, exit codes). */
  description?: string[];
  /** Whether the program takes positional arguments. */
  positionals?: boolean;
  /** The program's work; resolves to the exit code. */
  run(context: RunContext<T>): Promise<number>;
  /** For daemons: `--status` asks the running instance how it is doing; resolves to the exit code. */
  status?(config: Config<T>): Promise<number>;
}

const COMMON_OPTIONS = {
  help: { type: "boolean", short: "h" },
  version: { type: "boolean" },
  "config-dir": { type: "string" },
  "print-config": { type: "boolean" },
} as const;

/**
 * Runs a program and resolves to its exit code: 0 success, 1 configuration
 * or runtime failure, 2 bad command line.
 *
 * @example
 * ```ts
 * if (import.meta.main) Deno.exit(await runProgram(uploaderMain, Deno.args));
 * ```
 */
export async function runProgram<T extends KeyTable>(main: ProgramMain<T>, argv: string[]): Promise<number> {
  const { program } = main;
  const fail = (message: string, code: number) => {
    console.error(`${program.binary}: ${message}`);
    return code;
  };
  let parsed;
  try {
    const extra: Record<string, { type: "boolean" | "string"; short?: string }> = Object.fromEntries(
      Object.entries(main.options ?? {}).map((
        [name, option],
      ) => [name, option.short ? { type: option.type, short: option.short } : { type: option.type }]),
    );
    if (main.status) extra.status = { type: "boolean" };
    parsed = parseArgs({
      args: argv,
      options: { ...COMMON_OPTIONS, ...extra },
      allowPositionals: main.positionals ?? false,
      strict: true,
    });
  } catch (error) {
    return fail(`${(error as Error).message}\nTry '${program.binary} --help'.`, 2);
  }
  const values = parsed.values as Record<string, string | boolean | undefined>;
  if (values.help) {
    console.log(usage(main));
    return 0;
  }
  if (values.version) {
    console.log(`${program.binary} ${VERSION}`);
    return 0;
  }

  let loaded;
  try {
    loaded = await loadConfig<T>(program, { configDir: values["config-dir"] as string | undefined });
  } catch (error) {
    if (error instanceof ConfigFileError || error instanceof PropertiesSyntaxError) return fail(error.message, 1);
    throw error;
  }
  const { config, errors, warnings } = loaded;
  if (values["print-config"]) {
    console.log([...formatFiles(config), "", ...formatConfig(config)].join("\n"));
    for (const warning of warnings) console.error(`warning: ${warning}`);
    for (const error of errors) console.error(`error: ${error}`);
    return errors.length === 0 ? 0 : 1;
  }
  if (errors.length > 0) {
    return fail(`invalid configuration:\n${errors.map((error) => `  ${error}`).join("\n")}`, 1);
  }
  if (values.status && main.status) return await main.status(config);
  let missing: string[];
  try {
    missing = await missingPermissions(permissionsFor(config, { localAddresses: [] }));
  } catch (error) {
    // Values the permission set cannot be computed from (a path with a comma, a malformed shell command).
    return fail(`invalid configuration: ${(error as Error).message}`, 1);
  }
  if (missing.length > 0) {
    return fail(
      `this build was not granted what the configuration needs (${missing.join("; ")}); ` +
        `reinstall after changing directories or endpoints (deno task install)`,
      1,
    );
  }
  try {
    await setupLogging({
      program: program.binary,
      directory: config.text("root.log.directory"),
      filename: config.text("root.log.filename"),
      level: config.text("hubspot.log.level"),
      rootLevel: config.text("root.log.level"),
      pattern: config.text("logging.pattern"),
    });
  } catch (error) {
    if (error instanceof PatternError) return fail(`logging.pattern: ${error.message}`, 1);
    return fail(`cannot open the log file: ${(error as Error).message}`, 1);
  }
  const log = logger(program.name);
  try {
    log.info(`${program.binary} ${VERSION} starting (pid ${Deno.pid})`);
    for (const line of formatFiles(config)) log.info(`config file ${line}`);
    for (const line of formatConfig(config)) log.info(`config ${line}`);
    for (const warning of warnings) log.warn(warning);
    return await main.run({ config, options: values, args: parsed.positionals, log });
  } catch (error) {
    log.error(`${program.binary} failed: ${(error as Error).stack ?? error}`);
    return 1;
  } finally {
    await stopLogging();
  }
}

/** The --help text. */
export function usage<T extends KeyTable>(main: ProgramMain<T>): string {
  const { program } = main;
  const lines = [
    `usage: ${program.binary} [options]${main.positionals ? " [args...]" : ""}`,
    "",
    program.summary,
    "",
    "options:",
    "  --config-dir DIR   directory of the property files (default /etc)",
    `                     reads, later overriding earlier: ${program.layers.map((layer) => layer.file).join(", ")}`,
    "  --print-config     print the effective configuration (secrets masked) and any errors, then exit",
    ...(main.status
      ? ["  --status           ask the running instance for its counters (from its /metrics), then exit"]
      : []),
    ...Object.entries(main.options ?? {}).map(([name, option]) =>
      `  ${`--${name}${option.valueName ? ` ${option.valueName}` : ""}`.padEnd(19)}${option.help}`
    ),
    "  --version          print the version and exit",
    "  -h, --help         print this help and exit",
  ];
  if (main.description) lines.push("", ...main.description);
  lines.push("", "exit codes: 0 success, 1 configuration or runtime failure, 2 bad command line");
  return lines.join("\n");
}
