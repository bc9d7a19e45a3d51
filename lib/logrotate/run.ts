/**
 * Running the system logrotate (`executor.logrotate.command`) for a forced
 * rotation of one task's logs at its end, with the task's own state file, and
 * writing, replacing or removing the task's logrotate files.
 *
 * @module
 */
import { dirname, join } from "node:path";
import { pathExists } from "../path_exists.ts";
import { writeAtomically } from "../write_atomically.ts";
import {
  cronFileName,
  type GeneratedFile,
  type LogrotatePlan,
  type LogrotateSettings,
  possibleConfigPaths,
} from "./config.ts";

/** How a logrotate run ended. */
export interface LogrotateResult {
  ok: boolean;
  /** Exit code, or undefined when logrotate could not be started. */
  code?: number;
  /** What went wrong: logrotate's stderr (last lines), or why it could not start. */
  problem?: string;
}

/**
 * Runs `<command> -f -s <stateFile> <configs...>`.
 *
 * @example
 * ```ts
 * const result = await forceRotation("logrotate", "/sandbox/logrotate.status", ["/etc/logrotate.d/t1"]);
 * if (!result.ok) console.error(result.problem);
 * ```
 */
export async function forceRotation(command: string, stateFile: string, configs: string[]): Promise<LogrotateResult> {
  // A task user who could plant a symlink at the state file would have root's logrotate write through it.
  await refuseSymlink(stateFile);
  let output: Deno.CommandOutput;
  try {
    output = await new Deno.Command(command, {
      args: ["-f", "-s", stateFile, ...configs],
      stdin: "null",
      stdout: "piped",
      stderr: "piped",
    }).output();
  } catch (error) {
    return { ok: false, problem: `could not run ${command}: ${(error as Error).message}` };
  }
  if (output.success) return { ok: true, code: 0 };
  const stderr = new TextDecoder().decode(output.stderr).trim().split("\n").slice(-10).join(" | ");
  return {
    ok: false,
    code: output.code,
    problem: `${command} -f -s ${stateFile} ${configs.join(" ")} exited with ${output.code}${
      stderr === "" ? "" : `: ${stderr}`
    }`,
  };
}

/**
 * Writes every file of `plan` (creating the hourly configuration folder when needed).
 *
 * @example
 * ```ts
 * await writeLogrotatePlan(logrotatePlan(task, settings));
 * ```
 */
export async function writeLogrotatePlan(plan: LogrotatePlan): Promise<void> {
  const files: GeneratedFile[] = [plan.main, ...(plan.cron ? [...plan.cron.configs, plan.cron.cronFile] : [])];
  for (const file of files) {
    await Deno.mkdir(dirname(file.path), { recursive: true });
    // Cron and logrotate refuse files others may write.
    await writeAtomically(file.path, file.text, { mode: 0o644 });
  }
}

/**
 * The task's logrotate files that exist now, whatever frequency wrote them (the configuration may have
 * changed since): `configs` for a forced rotation to run, `all` (the configs and the cron file) for a
 * successful one to remove.
 *
 * @example
 * ```ts
 * const { configs, all } = await existingLogrotateFiles("web-d1-1-0-h-r", settings);
 * ```
 */
export async function existingLogrotateFiles(
  taskId: string,
  settings: LogrotateSettings,
): Promise<{ configs: string[]; all: string[] }> {
  const configs: string[] = [];
  for (const path of possibleConfigPaths(taskId, settings)) {
    if (await pathExists(path)) configs.push(path);
  }
  const cron = join(settings.cronDirectory, cronFileName(taskId));
  return { configs, all: await pathExists(cron) ? [...configs, cron] : configs };
}

/** Removes a symlink (never its target) at `path`; anything else is left alone. */
async function refuseSymlink(path: string): Promise<void> {
  try {
    if ((await Deno.lstat(path)).isSymlink) await Deno.remove(path);
  } catch (error) {
    if (!(error instanceof Deno.errors.NotFound)) throw error;
  }
}
