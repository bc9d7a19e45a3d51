/**
 * A throw-away ramfs mount: a real filesystem without `O_DIRECT` (open with
 * it fails with EINVAL), to test the buffered fallback of downloads. tmpfs no
 * longer serves: it takes `O_DIRECT` since Linux 6.6. Mounting needs root
 * (CAP_SYS_ADMIN); tests that need it are ignored elsewhere.
 *
 * @example
 * ```ts
 * Deno.test({ name: "...", ignore: !RAMFS_MOUNTABLE, fn: async () => {
 *   await using ramfs = await mountRamfs();
 *   await Deno.writeTextFile(`${ramfs.path}/file`, "bytes");
 * } });
 * ```
 *
 * @module
 */

/** A mounted ramfs; `await using` unmounts it and removes the mount point. */
export interface Ramfs extends AsyncDisposable {
  readonly path: string;
}

/**
 * Mounts a fresh ramfs on a new temporary directory. Throws with `mount`'s
 * message when that fails.
 *
 * @example
 * ```ts
 * await using ramfs = await mountRamfs();
 * ```
 */
export async function mountRamfs(): Promise<Ramfs> {
  const path = await Deno.makeTempDir({ prefix: "ramfs-test-" });
  const mounted = await run("mount", ["-t", "ramfs", "-o", "mode=0700", "ramfs", path]);
  if (!mounted.success) {
    await Deno.remove(path);
    throw new Error(`mount -t ramfs on ${path} failed: ${mounted.stderr}`);
  }
  return {
    path,
    [Symbol.asyncDispose]: async () => {
      // Lazily: a descriptor still open in a failed test must not leave the mount behind.
      const unmounted = await run("umount", ["--lazy", path]);
      if (!unmounted.success) throw new Error(`umount ${path} failed: ${unmounted.stderr}`);
      await Deno.remove(path);
    },
  };
}

/** Whether this process may mount a ramfs (tried once, at load). */
export const RAMFS_MOUNTABLE: boolean = await (async () => {
  try {
    await using _ramfs = await mountRamfs();
    return true;
  } catch {
    return false;
  }
})();

/** Runs `command`; its success and stderr. */
async function run(command: string, args: string[]): Promise<{ success: boolean; stderr: string }> {
  try {
    const output = await new Deno.Command(command, { args, stdout: "null", stderr: "piped" }).output();
    return { success: output.success, stderr: new TextDecoder().decode(output.stderr).trim() };
  } catch (error) {
    return { success: false, stderr: (error as Error).message };
  }
}
