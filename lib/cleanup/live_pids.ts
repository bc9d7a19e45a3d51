/**
 * Which processes exist, from one `ps` call: the cleanup checks every task's
 * executor pid against this snapshot instead of spawning `kill -0` per task
 * (a thousand spawns cost seconds), and the run lock checks its holder
 * against it. Deno needs `--allow-all` to read /proc, so `ps` reads it for
 * us; it lists other users' processes too.
 *
 * A live pid can be a different process that reused a dead executor's
 * number; the task then waits for a later run. That errs on the safe side:
 * cleaning a live task's sandbox would be far worse than cleaning late.
 *
 * @module
 */

/**
 * The pids of every process on this machine.
 *
 * @example
 * ```ts
 * (await livePids()).has(Deno.pid); // true
 * ```
 */
export async function livePids(): Promise<Set<number>> {
  const output = await new Deno.Command("ps", {
    args: ["-e", "-o", "pid="],
    stdin: "null",
    stdout: "piped",
    stderr: "piped",
  }).output();
  if (!output.success) {
    throw new Error(`ps -e -o pid= exited with ${output.code}: ${new TextDecoder().decode(output.stderr).trim()}`);
  }
  const pids = new Set<number>();
  for (const line of new TextDecoder().decode(output.stdout).split("\n")) {
    const text = line.trim();
    if (/^[0-9]+$/.test(text)) pids.add(Number(text));
  }
  if (pids.size === 0) throw new Error("ps -e -o pid= listed no process");
  return pids;
}

/**
 * Whether a task definition's `executorPid` (a string, as the Java executor wrote it) is in `pids`. Anything
 * that is not a plain positive number names no process.
 *
 * @example
 * ```ts
 * pidAlive("4242", new Set([4242])); // true
 * ```
 */
export function pidAlive(pid: string, pids: ReadonlySet<number>): boolean {
  const text = pid.trim();
  return /^[1-9][0-9]*$/.test(text) && pids.has(Number(text));
}
