/**
 * Running singularity-s3-uploader as operators do: its own process, with
 * exactly the Deno permission flags computed from its configuration (plus
 * read access to its property files, as the build grants).
 *
 * @module
 */
import { join, resolve } from "node:path";
import { loadConfig, UPLOADER } from "../../../lib/config/mod.ts";
import { denoFlags, permissionsFor } from "../../../lib/permissions.ts";

const projectDir = resolve(import.meta.dirname!, "../../..");

/**
 * The `deno run` arguments that start the uploader from source with the configuration in `configDir`.
 *
 * @example
 * ```ts
 * const args = await uploaderArgs(setup.dir, ["--status"]);
 * ```
 */
export async function uploaderArgs(configDir: string, extra: string[] = []): Promise<string[]> {
  const { config, errors } = await loadConfig(UPLOADER, { configDir });
  if (errors.length > 0) throw new Error(`uploader configuration in ${configDir}: ${errors.join("; ")}`);
  const set = permissionsFor(config, { localAddresses: [] });
  const flags = denoFlags({
    ...set,
    read: [...UPLOADER.layers.map((layer) => join(configDir, layer.file)), ...set.read],
  });
  return ["run", "--no-prompt", ...flags, join(projectDir, UPLOADER.entrypoint), "--config-dir", configDir, ...extra];
}

/**
 * Starts the uploader; its output goes to `<configDir>/log/uploader.out`.
 *
 * @example
 * ```ts
 * const child = await spawnUploader(setup.dir);
 * ```
 */
export async function spawnUploader(configDir: string): Promise<Deno.ChildProcess> {
  const args = await uploaderArgs(configDir);
  return new Deno.Command(Deno.execPath(), {
    args,
    cwd: projectDir,
    stdin: "null",
    stdout: "null",
    stderr: "piped",
    env: { DENO_NO_UPDATE_CHECK: "1", NO_COLOR: "1" },
  }).spawn();
}

/**
 * Runs the uploader with `extra` arguments to the end; its exit code and output.
 *
 * @example
 * ```ts
 * const { code, stdout } = await runUploader(setup.dir, ["--status"]);
 * ```
 */
export async function runUploader(
  configDir: string,
  extra: string[],
): Promise<{ code: number; stdout: string; stderr: string }> {
  const output = await new Deno.Command(Deno.execPath(), {
    args: await uploaderArgs(configDir, extra),
    cwd: projectDir,
    stdin: "null",
    env: { DENO_NO_UPDATE_CHECK: "1", NO_COLOR: "1" },
  }).output();
  const decoder = new TextDecoder();
  return { code: output.code, stdout: decoder.decode(output.stdout), stderr: decoder.decode(output.stderr) };
}
