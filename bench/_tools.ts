/**
 * What the benchmarks share: running the other tools with a clean
 * environment, timing them, and starting each from a cold page cache.
 *
 * @module
 */
import { S3_TEST_CREDENTIALS, S3_TEST_ENDPOINT } from "../tests/support/s3_server.ts";

/** Debian's awscli. */
export const AWS = "/usr/bin/aws";

/** awscli's environment for the S3 test server: keys from the environment, no profile files. */
export const AWS_ENV: Record<string, string> = {
  AWS_ACCESS_KEY_ID: S3_TEST_CREDENTIALS.accessKey,
  AWS_SECRET_ACCESS_KEY: S3_TEST_CREDENTIALS.secretKey,
  AWS_DEFAULT_REGION: "us-east-1",
  AWS_CONFIG_FILE: "/dev/null",
  AWS_SHARED_CREDENTIALS_FILE: "/dev/null",
};

/** rclone's environment defining the remote `bench:` as the S3 test server (no config file, no secret in argv). */
export const RCLONE_ENV: Record<string, string> = {
  RCLONE_CONFIG_BENCH_TYPE: "s3",
  RCLONE_CONFIG_BENCH_PROVIDER: "Ceph",
  RCLONE_CONFIG_BENCH_ENDPOINT: S3_TEST_ENDPOINT,
  RCLONE_CONFIG_BENCH_ACCESS_KEY_ID: S3_TEST_CREDENTIALS.accessKey,
  RCLONE_CONFIG_BENCH_SECRET_ACCESS_KEY: S3_TEST_CREDENTIALS.secretKey,
};

/**
 * Runs a command, failing with its output when it fails; returns stdout.
 * With `env`, the command gets only that plus PATH and HOME (nothing from the user's AWS or rclone setup).
 *
 * @example
 * ```ts
 * await run("aws", ["s3", "ls"], { AWS_ACCESS_KEY_ID: "test", AWS_SECRET_ACCESS_KEY: "test" });
 * ```
 */
export async function run(command: string, args: string[], env?: Record<string, string>): Promise<string> {
  const base = { PATH: Deno.env.get("PATH") ?? "/usr/bin:/bin", HOME: Deno.env.get("HOME") ?? "/tmp" };
  const output = await new Deno.Command(command, {
    args,
    ...(env === undefined ? {} : { env: { ...base, ...env }, clearEnv: true }),
    stdout: "piped",
    stderr: "piped",
  }).output();
  const text = (bytes: Uint8Array) => new TextDecoder().decode(bytes).trim();
  if (!output.success) {
    throw new Error(
      `${command} ${args.join(" ")} exited ${output.code}: ${text(output.stderr)} ${text(output.stdout)}`,
    );
  }
  return text(output.stdout);
}

/**
 * Seconds from spawn to exit of `command`, and its stdout.
 *
 * @example
 * ```ts
 * const [seconds] = await timed("rclone", ["copy", "src", "dst"]);
 * ```
 */
export async function timed(command: string, args: string[], env?: Record<string, string>): Promise<[number, string]> {
  const started = performance.now();
  const stdout = await run(command, args, env);
  return [(performance.now() - started) / 1000, stdout];
}

/** Whether the page cache could be dropped (undefined until the first {@linkcode coldStart}). */
export const pageCache: { dropped?: boolean } = {};

/**
 * Deletes `paths`, then writes dirty pages back and drops the clean page cache when allowed.
 *
 * @example
 * ```ts
 * await coldStart("/tmp/out.bin");
 * ```
 */
export async function coldStart(...paths: string[]): Promise<void> {
  for (const path of paths) await Deno.remove(path).catch(() => {});
  await run("sync", []);
  try {
    await Deno.writeTextFile("/proc/sys/vm/drop_caches", "1");
    pageCache.dropped ??= true;
  } catch {
    pageCache.dropped = false;
  }
}
