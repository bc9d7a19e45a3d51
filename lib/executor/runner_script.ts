/**
 * The two scripts the executor writes into a task's sandbox before starting
 * it as `bash runner.sh` (cwd = the sandbox, stdout and stderr to
 * `executor.bash.log`, in the session and process group the executor gives it):
 *
 * - `deploy.env`: one `export NAME="value"` line per variable of the task's
 *   Mesos environment, in the given order, sourced by runner.sh.
 * - `runner.sh`: sources `/etc/profile.d/*.sh` and `deploy.env`, prepares
 *   `tmp/`, the rotated-logs directory and the app directory, sources
 *   `<app>/.profile.d/*`, then `exec`s the command line as the task user with
 *   stdout and stderr appended to the service log.
 *
 * **Values in deploy.env are double-quoted, as the originals' `bashEscaped`
 * does.** Backslash, double quote and backtick are backslash-escaped and `!`
 * is written as `"'!'"`, so quotes, backslashes (a trailing one too), backticks,
 * `!`, newlines and any unicode reach the task byte for byte. `$` is
 * deliberately NOT escaped, as in the originals: it keeps its double-quote
 * meaning when runner.sh sources deploy.env, so `$NAME` and `${NAME}` expand
 * (to the environment at that point: runner.sh's own, `/etc/profile.d`, and
 * the variables written before it) and one variable may build on another,
 * e.g. `LOG_DIR="$MESOS_SANDBOX/logs"`. The flip side: `$(...)` runs a
 * command, special parameters (`$$`, `$1`, ...) expand, an unbalanced `${` or
 * `$(` is a syntax error that stops deploy.env there, and such a `$` cannot be
 * sent literally (a backslash before it is escaped itself: `\$HOME` arrives
 * as `\` and the expanded HOME). A `$` that starts no expansion (`5$`, `$ `,
 * a trailing `$`) stays as it is.
 *
 * The command line (`cmd` and `extraCmdLineArgs`, space-joined, unescaped)
 * is a shell command line. runner.sh runs it as `/bin/bash -c -- "$runner_command"`
 * (through `sudo -E -u <user>` when the task user is not the executor's user),
 * the variable holding it single-quoted so no character of it can end the
 * quoting. So the whole line runs, as the task user, redirections included
 * (the originals' `exec <cmd>` ran only the first command of a list, and
 * when switching user ran the rest of a pipeline and every redirection as
 * the executor's user). bash execs a lone simple command, and the last command
 * of a list, in place: `java -jar app.jar` still replaces runner.sh (or the
 * process sudo starts) as the originals' `exec` did. The line sees runner.sh's
 * exported variables only; what `<app>/.profile.d` sets is exported for it.
 *
 * @module
 */
import { join, posix } from "node:path";
import { writeAtomically } from "../write_atomically.ts";

/** One variable of a Mesos `Environment` (`TaskInfo.executor.command.environment.variables`). */
export interface EnvironmentVariable {
  name: string;
  /** Absent: the empty string, as the originals wrote `""` for null. */
  value?: string;
}

/** What the two scripts of one task are made of. */
export interface RunnerScriptOptions {
  /** The Mesos task id (header comments and `MESOS_TASK_ID`). */
  taskId: string;
  /** The task's environment, in order (later duplicates win when sourced). */
  environment: readonly EnvironmentVariable[];
  /** The user the task runs as (executor data `user`, else `executor.default.user`). */
  user: string;
  /**
   * The OS user the executor runs as. The task switches user (sudo) only when `user` differs; runner.sh
   * changes owners only when this is `root` (a non-root executor could not).
   */
  executorUser: string;
  /** Executor data `cmd`: a shell command line. */
  cmd: string;
  /** Executor data `extraCmdLineArgs`, appended to `cmd` with one space each, unescaped. */
  extraCmdLineArgs?: readonly string[];
  /** Executor data `maxOpenFiles`: soft `ulimit -Sn` of the task. */
  maxOpenFiles?: number;
  /** The task's working directory, relative to the sandbox (`executor.task.app.directory`). */
  appDirectory: string;
  /** Rotated-logs directory, relative to the sandbox (`executor.logrotate.to.directory`). */
  logsDirectory: string;
  /** The service log, relative to the sandbox (`executor.task.service.log.path`). */
  serviceLog: string;
  /** The system profile directory whose `*.sh` runner.sh sources; default `/etc/profile.d` (tests point it elsewhere). */
  profileDirectory?: string;
}

/** The files {@linkcode writeRunnerScripts} wrote. */
export interface RunnerScriptPaths {
  deployEnv: string;
  runnerScript: string;
}

/** A script cannot be generated from these options; the message names the field and the value. */
export class RunnerScriptError extends Error {
  constructor(message: string) {
    super(message);
    this.name = "RunnerScriptError";
  }
}

const SHELL_IDENTIFIER = /^[A-Za-z_][A-Za-z0-9_]*$/;
const DEFAULT_PROFILE_DIRECTORY = "/etc/profile.d";

/**
 * A value as the originals' `bashEscaped` writes it: in double quotes, with
 * `\`, `"` and backtick backslash-escaped and `!` as `"'!'"` (so history
 * expansion cannot see it); `$` is kept, so references expand when sourced.
 *
 * @example
 * ```ts
 * bashEscaped('say "hi"!'); // "say \"hi\""'!'""
 * bashEscaped("$HOME/bin"); // "$HOME/bin" (expands when sourced)
 * ```
 */
export function bashEscaped(value: string | undefined): string {
  if (value === undefined) return '""';
  let escaped = '"';
  for (const character of value) {
    if (character === "\\" || character === '"' || character === "`") escaped += `\\${character}`;
    else if (character === "!") escaped += `"'!'"`;
    else escaped += character;
  }
  return `${escaped}"`;
}

/**
 * The text of `deploy.env`: a comment header, then `export NAME=<bashEscaped value>`
 * per variable in the given order. A name that is not a shell identifier, or a
 * value with a NUL byte, is refused with a {@linkcode RunnerScriptError} naming the variable.
 *
 * @example
 * ```ts
 * deployEnv({ taskId: "web-1", environment: [{ name: "PORT", value: "31000" }] });
 * // "# This file was automatically generated.\n# Task ID: web-1\n...\nexport PORT=\"31000\"\n"
 * ```
 */
export function deployEnv(options: Pick<RunnerScriptOptions, "taskId" | "environment">): string {
  checkNoNul("taskId", options.taskId);
  const lines = [
    "# This file was automatically generated.",
    `# Task ID: ${commentText(options.taskId)}`,
    "#",
    "# The task's Mesos environment, sourced by runner.sh. Values are in double quotes:",
    '# `$NAME` and `$(...)` in a value expand when this file is sourced; \\ " ` and ! are literal.',
    "",
  ];
  for (const variable of options.environment) {
    if (!SHELL_IDENTIFIER.test(variable.name)) {
      throw new RunnerScriptError(
        `environment variable ${JSON.stringify(variable.name)}: not a valid shell variable name ` +
          "(expected a letter or _, then letters, digits or _)",
      );
    }
    if (variable.value?.includes("\0")) {
      throw new RunnerScriptError(`environment variable ${variable.name}: the value contains a NUL byte`);
    }
    lines.push(`export ${variable.name}=${bashEscaped(variable.value)}`);
  }
  return `${lines.join("\n")}\n`;
}

/**
 * The text of `runner.sh`. No `set -e`: runner.sh sources files it does not
 * own (`/etc/profile.d`, deploy.env, `<app>/.profile.d`) that are not written
 * for errexit (a profile script whose last test is false would stop every
 * task); instead each step runner.sh performs itself is checked and stops the
 * task with exit code 1 and a message in executor.bash.log. Ownership changes
 * are made only when the executor runs as root and the task user differs.
 *
 * @example
 * ```ts
 * runnerScript({
 *   taskId: "web-1", environment: [], user: "www", executorUser: "root", cmd: "bin/server",
 *   maxOpenFiles: 4096, appDirectory: "app", logsDirectory: "logs", serviceLog: "service.log",
 * });
 * // ends with: runner_command='ulimit -Sn 4096 || exit\nbin/server' ...
 * //            exec sudo -E -u 'www' /bin/bash -c -- "$runner_command" >> '../service.log' 2>&1
 * ```
 */
export function runnerScript(options: RunnerScriptOptions): string {
  checkNoNul("taskId", options.taskId);
  checkUser("user", options.user);
  checkUser("executorUser", options.executorUser);
  const app = sandboxRelative("appDirectory", options.appDirectory);
  const logs = sandboxRelative("logsDirectory", options.logsDirectory);
  const serviceLog = sandboxRelative("serviceLog", options.serviceLog);
  const profileDirectory = options.profileDirectory ?? DEFAULT_PROFILE_DIRECTORY;
  checkNoNul("profileDirectory", profileDirectory);
  const commandLine = [options.cmd, ...(options.extraCmdLineArgs ?? [])].join(" ");
  checkNoNul("cmd", commandLine);
  if (
    options.maxOpenFiles !== undefined && !(Number.isSafeInteger(options.maxOpenFiles) && options.maxOpenFiles >= 1)
  ) {
    throw new RunnerScriptError(`maxOpenFiles = ${options.maxOpenFiles}: expected a whole number of at least 1`);
  }

  const switchUser = options.user !== options.executorUser;
  const changeOwners = switchUser && options.executorUser === "root";
  const user = shellQuoted(options.user);
  const inner = options.maxOpenFiles === undefined
    ? commandLine
    : `ulimit -Sn ${options.maxOpenFiles} || exit\n${commandLine}`;
  const prefix = switchUser ? `sudo -E -u ${user} ` : "";
  const redirectPath = posix.relative(posix.join("/", app), posix.join("/", serviceLog));
  const redirect = shellQuoted(redirectPath);
  const execLine = `${prefix}/bin/bash -c -- "$runner_command" >> ${redirect} 2>&1`;
  const ownerOnly = (lines: string[]) => changeOwners ? lines : [];

  return [
    "#!/bin/bash",
    "#",
    "# This script was automatically generated.",
    `# Task ID: ${commentText(options.taskId)}`,
    "#",
    "# The executor runs it as `bash runner.sh` in the task sandbox. No `set -e`: the profile scripts and",
    "# deploy.env it sources are not written for it; the steps of its own are checked one by one.",
    "",
    `export MESOS_TASK_ID=${shellQuoted(options.taskId)}`,
    "",
    "runner_failed() {",
    '  echo "runner.sh: $1 failed; the task is not started" >&2',
    "  exit 1",
    "}",
    "",
    "# load system-wide profile.d",
    `if [[ -d ${shellQuoted(profileDirectory)} ]]; then`,
    `  echo ${shellQuoted(`Sourcing files from ${profileDirectory}`)}`,
    `  for runner_profile in ${shellQuoted(profileDirectory)}/*.sh; do`,
    '    [[ -r "$runner_profile" ]] || continue',
    '    source "$runner_profile" >/dev/null 2>&1',
    '    echo "    Sourced $runner_profile"',
    "  done",
    "else",
    `  echo ${shellQuoted(`No ${profileDirectory} to source`)}`,
    "fi",
    "",
    "# load env vars",
    "if [[ -f deploy.env ]]; then",
    "  echo 'Sourcing deploy-specific environment variables'",
    "  source ./deploy.env",
    "else",
    "  echo 'No deploy-specific environment variables'",
    "fi",
    "",
    ...ownerOnly([
      "# Mesos creates the sandbox 0750: let the task user's group through, to reach tmp/ and the logs",
      `echo ${shellQuoted(`Ensuring the group of ${options.user} can enter the sandbox`)}`,
      `runner_group="$(id -g -- ${user})" || runner_failed ${shellQuoted(`id -g ${options.user}`)}`,
      `chgrp -- "$runner_group" . || runner_failed 'chgrp of the sandbox'`,
      "chmod g+rx . || runner_failed 'chmod g+rx of the sandbox'",
      "",
    ]),
    "if [[ ! -d ./tmp ]]; then",
    "  echo 'Creating tmp directory in sandbox'",
    "  mkdir ./tmp || runner_failed 'mkdir ./tmp'",
    "fi",
    ...ownerOnly([
      `echo ${shellQuoted(`Ensuring ./tmp is owned by ${options.user}`)}`,
      `chown -R -- ${user} ./tmp || runner_failed 'chown -R ./tmp'`,
    ]),
    "chmod -R 0750 ./tmp || runner_failed 'chmod -R 0750 ./tmp'",
    "",
    "# log directory for logrotate runs",
    `mkdir -p -- ${shellQuoted(logs)} || runner_failed ${shellQuoted(`mkdir -p ${logs}`)}`,
    ...ownerOnly([
      `echo ${shellQuoted(`Ensuring ${logs} is owned by ${options.user}`)}`,
      `chown -R -- ${user} ${shellQuoted(logs)} || runner_failed ${shellQuoted(`chown -R ${logs}`)}`,
    ]),
    `chmod 0755 -- ${shellQuoted(logs)} || runner_failed ${shellQuoted(`chmod 0755 ${logs}`)}`,
    "",
    `mkdir -p -- ${shellQuoted(app)} || runner_failed ${shellQuoted(`mkdir -p ${app}`)}`,
    ...ownerOnly([
      `echo ${shellQuoted(`Ensuring ${app} is owned by ${options.user}`)}`,
      `chown -R -- ${user} ${shellQuoted(app)} || runner_failed ${shellQuoted(`chown -R ${app}`)}`,
    ]),
    `cd -- ${shellQuoted(app)} || runner_failed ${shellQuoted(`cd ${app}`)}`,
    "",
    "# load the artifact's profile.d; what it sets is exported (set -a) so that the command line,",
    "# which runs in a new bash as the task user, sees it",
    "if [[ -d .profile.d ]]; then",
    "  for runner_profile in .profile.d/*; do",
    '    [[ -f "$runner_profile" ]] || continue',
    "    set -a",
    '    source "./$runner_profile"',
    "    set +a",
    '    echo "Sourced $runner_profile"',
    "  done",
    "else",
    "  echo 'No deploy-specific profile.d'",
    "fi",
    "",
    "# execute command",
    `runner_command=${shellQuoted(inner)}`,
    `echo ${shellQuoted(`Executing with ${prefix}/bin/bash -c, output >> ${redirectPath}:`)}`,
    `printf '%s\\n' "$runner_command"`,
    `exec ${execLine}`,
    "",
  ].join("\n");
}

/**
 * Writes `deploy.env` (0644) and `runner.sh` (0755) into `sandbox`, each
 * through a temporary file renamed into place, so a reader sees the old
 * file or the whole new one. Both are generated before anything is written:
 * refused options leave the sandbox untouched.
 *
 * @example
 * ```ts
 * await writeRunnerScripts("/var/lib/mesos/.../runs/latest", options);
 * // { deployEnv: ".../deploy.env", runnerScript: ".../runner.sh" }
 * ```
 */
export async function writeRunnerScripts(sandbox: string, options: RunnerScriptOptions): Promise<RunnerScriptPaths> {
  const deployEnvText = deployEnv(options);
  const runnerText = runnerScript(options);
  const paths = { deployEnv: join(sandbox, "deploy.env"), runnerScript: join(sandbox, "runner.sh") };
  await writeAtomically(paths.deployEnv, deployEnvText, { mode: 0o644 });
  await writeAtomically(paths.runnerScript, runnerText, { mode: 0o755 });
  return paths;
}

/** `value` in single quotes, each `'` as `'\''`: bash reads it back byte for byte, nothing expands. */
function shellQuoted(value: string): string {
  return `'${value.replaceAll("'", "'\\''")}'`;
}

/** `value` safe inside a `#` comment line: control characters (a newline would end the comment) become `?`. */
function commentText(value: string): string {
  // deno-lint-ignore no-control-regex
  return value.replace(/[\x00-\x1f\x7f]/g, "?");
}

/** Refuses a NUL byte, which no shell word, file name or environment entry can hold. */
function checkNoNul(field: string, value: string): void {
  if (value.includes("\0")) throw new RunnerScriptError(`${field} ${JSON.stringify(value)}: contains a NUL byte`);
}

/** Refuses user names chown and sudo would read as something else (an option, `user:group`, several words). */
function checkUser(field: string, value: string): void {
  // deno-lint-ignore no-control-regex
  if (value === "" || value.startsWith("-") || /[\s:\x00-\x1f\x7f]/.test(value)) {
    throw new RunnerScriptError(
      `${field} ${
        JSON.stringify(value)
      }: expected a user name (not empty, no leading -, no :, spaces or control characters)`,
    );
  }
}

/** A path inside the sandbox, normalized; refuses absolute paths, `..` escapes and the sandbox itself. */
function sandboxRelative(field: string, value: string): string {
  checkNoNul(field, value);
  const normalized = posix.normalize(value).replace(/\/+$/, "");
  if (
    value === "" || value.startsWith("/") || normalized === "." || normalized === ".." || normalized.startsWith("../")
  ) {
    throw new RunnerScriptError(
      `${field} ${JSON.stringify(value)}: expected a path inside the sandbox, relative to it (like "app")`,
    );
  }
  return normalized;
}
