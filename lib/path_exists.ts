/**
 * Whether something exists at a path, without following a symlink there.
 *
 * @module
 */

/**
 * True when `path` exists (a dangling symlink counts); other errors are thrown.
 *
 * @example
 * ```ts
 * if (await pathExists("/etc/singularity.base.properties")) console.log("kept");
 * ```
 */
export async function pathExists(path: string): Promise<boolean> {
  try {
    await Deno.lstat(path);
    return true;
  } catch (error) {
    if (error instanceof Deno.errors.NotFound) return false;
    throw error;
  }
}
