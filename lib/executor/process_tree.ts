/**
 * A task's process tree: started in its own process group, signalled as a
 * whole through the `kill` program (Deno's own group signalling needs
 * unrestricted `--allow-run`), and listed with one `ps` call (reading `/proc`
 * needs `--allow-all` in Deno). Descendants that left the group (a daemon
 * that called setsid) are found through their parent links and signalled too.
 *
 * @module
 */

/** One process of a tree, from `ps`. */
export interface ProcessInfo {
  pid: number;
  ppid: number;
  pgid: number;
  threads: number;
}

/** A started process group. */
export interface StartedProcess {
  pid: number;
  /** Resolves with the exit code (128 + signal number when killed by a signal, as bash reports). */
  exited: Promise<number>;
}

/**
 * Starts `command` (argv) in a new process group led by the child.
 *
 * @example
 * ```ts
 * const task = startProcessGroup(["bash", "-c", "exec bash runner.sh >> executor.bash.log 2>&1"], { cwd: sandbox });
 * ```
 */
export function startProcessGroup(
  command: string[],
  options: { cwd: string; env?: Record<string, string> },
): StartedProcess {
  const child = new Deno.Command(command[0], {
    args: command.slice(1),
    cwd: options.cwd,
    env: options.env,
    detached: true,
    stdin: "null",
    stdout: "null",
    stderr: "null",
  }).spawn();
  const exited = child.status.then((status) => status.signal ? 128 + signalNumber(status.signal) : status.code);
  return { pid: child.pid, exited };
}

/**
 * Every process in the tree rooted at `root` or in its process group, from one `ps` call.
 *
 * @example
 * ```ts
 * const tree = await processTree(task.pid);
 * const threads = tree.reduce((sum, p) => sum + p.threads, 0);
 * ```
 */
export async function processTree(root: number): Promise<ProcessInfo[]> {
  const output = await new Deno.Command("ps", { args: ["-e", "-o", "pid=,ppid=,pgid=,nlwp=,stat="], stdout: "piped" })
    .output();
  if (!output.success) throw new Error(`ps failed with exit status ${output.code}`);
  const all: ProcessInfo[] = new TextDecoder().decode(output.stdout).split("\n").filter((line) => line.trim() !== "")
    .map((line) => line.trim().split(/\s+/))
    // Zombies are dead already: waiting for a reaper, they hold no threads and ignore signals.
    .filter((fields) => !fields[4]?.startsWith("Z"))
    .map((fields) => {
      const [pid, ppid, pgid, threads] = fields.slice(0, 4).map(Number);
      return { pid, ppid, pgid, threads };
    });
  const inTree = new Set<number>();
  for (const process of all) if (process.pid === root || process.pgid === root) inTree.add(process.pid);
  // Follow parent links to reach descendants that moved to another group or session.
  let grew = true;
  while (grew) {
    grew = false;
    for (const process of all) {
      if (!inTree.has(process.pid) && inTree.has(process.ppid)) {
        inTree.add(process.pid);
        grew = true;
      }
    }
  }
  return all.filter((process) => inTree.has(process.pid));
}

/**
 * Sends `signal` to the process group `pgid` and to every descendant outside it.
 * Resolves to the number of processes that were signalled (0: the tree is gone).
 *
 * @example
 * ```ts
 * await signalTree(task.pid, "TERM");
 * ```
 */
export async function signalTree(pgid: number, signal: "TERM" | "KILL"): Promise<number> {
  const tree = await processTree(pgid);
  if (tree.length === 0) return 0;
  const outsiders = tree.filter((process) => process.pgid !== pgid).map((process) => String(process.pid));
  const targets = [...(tree.some((process) => process.pgid === pgid) ? [`-${pgid}`] : []), ...outsiders];
  // Errors for processes that exited meanwhile are expected; the exit status is not useful.
  await new Deno.Command("kill", { args: [`-${signal}`, "--", ...targets], stdout: "null", stderr: "null" }).output();
  return tree.length;
}

const SIGNALS: Record<string, number> = {
  SIGHUP: 1,
  SIGINT: 2,
  SIGQUIT: 3,
  SIGKILL: 9,
  SIGSEGV: 11,
  SIGPIPE: 13,
  SIGTERM: 15,
};

function signalNumber(signal: Deno.Signal): number {
  return SIGNALS[signal] ?? 0;
}
