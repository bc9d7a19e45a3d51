/**
 * What the uploader asks about other processes: which candidate files some
 * process still has open (`lsof`, or `fuser` when configured), and which
 * watched pids still exist.
 *
 * Deno refuses every read of `/proc` without `--allow-all`, and `Deno.kill`
 * (even signal 0) needs an unrestricted `--allow-run`, so both questions go
 * to `lsof`, which the uploader may run anyway. One `lsof` call answers for
 * the candidates of a pass and one for the watched pids, in batches that
 * keep each argument list far below the kernel's limit. Whenever a check
 * fails (cannot run, times out, says anything on stderr) the answer is the
 * safe one: the files of that batch count as open, pids as alive.
 *
 * @module
 */

/** How long one lsof or fuser call may take. */
const CHECK_TIMEOUT_MS = 30_000;
/** fuser is called per file; the originals gave it 1.5 s. */
const FUSER_TIMEOUT_MS = 1_500;
/** Pids per lsof call (keeps the argument list short). */
const PIDS_PER_CALL = 2000;
/**
 * Paths per lsof call, and their bytes: Linux refuses an exec whose arguments and environment pass
 * ARG_MAX (usually 2 MiB, environment included), failing the whole check.
 */
const PATHS_PER_CALL = 2000;
const PATH_BYTES_PER_CALL = 256 * 1024;

/** A file to check: its path and inode. */
export interface OpenFileQuery {
  path: string;
  ino: number;
}

/**
 * The paths among `files` that some process has open. A failed check
 * reports every file as open (the originals treated errors as "open").
 *
 * @example
 * ```ts
 * const open = await openFiles([{ path: "/s/logs/service.log", ino: 1234 }], "lsof");
 * open.has("/s/logs/service.log"); // true while a task writes it
 * ```
 */
export async function openFiles(files: readonly OpenFileQuery[], via: "lsof" | "fuser"): Promise<Set<string>> {
  if (files.length === 0) return new Set();
  if (via === "fuser") {
    const open = new Set<string>();
    for (const file of files) {
      // fuser answers 0 when a process uses the file and 1 otherwise (also for some failures it reports on
      // stderr among harmless warnings), so only its exit code can be read.
      const result = await run("fuser", ["-s", file.path], FUSER_TIMEOUT_MS);
      if (result === undefined || result.code !== 1) open.add(file.path);
    }
    return open;
  }
  const open = new Set<string>();
  for (const batch of batches(files)) {
    for (const path of await openByLsof(batch)) open.add(path);
  }
  return open;
}

/** `files` in runs of at most {@linkcode PATHS_PER_CALL} paths and {@linkcode PATH_BYTES_PER_CALL} bytes. */
function batches(files: readonly OpenFileQuery[]): OpenFileQuery[][] {
  const out: OpenFileQuery[][] = [];
  let batch: OpenFileQuery[] = [];
  let bytes = 0;
  const encoder = new TextEncoder();
  for (const file of files) {
    const size = encoder.encode(file.path).length + 1;
    if (batch.length > 0 && (batch.length === PATHS_PER_CALL || bytes + size > PATH_BYTES_PER_CALL)) {
      out.push(batch);
      batch = [];
      bytes = 0;
    }
    batch.push(file);
    bytes += size;
  }
  if (batch.length > 0) out.push(batch);
  return out;
}

/** The paths among `files` that lsof says are open (all of them when it cannot tell). */
async function openByLsof(files: readonly OpenFileQuery[]): Promise<string[]> {
  // lsof prints the inode of each matching open file ('i' field); matching by inode avoids decoding the
  // escaped names lsof prints for unusual characters.
  const result = await run("lsof", ["-w", "-F", "i", "--", ...files.map((file) => file.path)], CHECK_TIMEOUT_MS);
  const all = files.map((file) => file.path);
  // lsof exits 1 when any named file is open nowhere; anything on stderr means it could not check.
  if (result === undefined || result.code > 1 || result.stderr.trim() !== "") return all;
  const inodes = new Set<number>();
  for (const line of result.stdout.split("\n")) {
    if (line.startsWith("i")) inodes.add(Number(line.slice(1)));
  }
  if (result.code === 0 && inodes.size === 0) return all;
  return files.filter((file) => inodes.has(file.ino)).map((file) => file.path);
}

/**
 * The pids among `pids` that still exist; undefined when that could not be
 * found out (then no pid may be taken for gone). A zombie counts as gone: it
 * has exited.
 *
 * @example
 * ```ts
 * const alive = await livePids([1, 999999]); // Set { 1 }
 * ```
 */
export async function livePids(pids: readonly number[]): Promise<Set<number> | undefined> {
  const alive = new Set<number>();
  for (let start = 0; start < pids.length; start += PIDS_PER_CALL) {
    const batch = pids.slice(start, start + PIDS_PER_CALL);
    // Every live process has a current directory; asking only for it keeps lsof's work and output small.
    const result = await run("lsof", ["-w", "-a", "-d", "cwd", "-F", "p", "-p", batch.join(",")], CHECK_TIMEOUT_MS);
    if (result === undefined || result.code > 1 || result.stderr.trim() !== "") return undefined;
    for (const line of result.stdout.split("\n")) {
      if (line.startsWith("p")) alive.add(Number(line.slice(1)));
    }
  }
  return alive;
}

/** Runs a check command; undefined when it cannot be run or takes too long. */
async function run(
  command: string,
  args: string[],
  timeoutMs: number,
): Promise<{ code: number; stdout: string; stderr: string } | undefined> {
  try {
    const output = await new Deno.Command(command, {
      args,
      stdin: "null",
      stdout: "piped",
      stderr: "piped",
      signal: AbortSignal.timeout(timeoutMs),
    }).output();
    if (output.signal !== null) return undefined;
    const decoder = new TextDecoder();
    return { code: output.code, stdout: decoder.decode(output.stdout), stderr: decoder.decode(output.stderr) };
  } catch {
    return undefined;
  }
}
