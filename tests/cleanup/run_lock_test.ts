import assert from "node:assert/strict";
import { join } from "node:path";
import { acquireRunLock, RUN_LOCK_FILE, RunLockHeldError } from "../../lib/cleanup/run_lock.ts";

const CONTENDER = new URL("./_lock_contender.ts", import.meta.url).pathname;

/** A temporary results directory, removed when disposed. */
async function resultsDir(): Promise<{ path: string; lock: string } & AsyncDisposable> {
  const path = await Deno.makeTempDir({ prefix: "cleanup-lock-" });
  return {
    path,
    lock: join(path, RUN_LOCK_FILE),
    [Symbol.asyncDispose]: () => Deno.remove(path, { recursive: true }),
  };
}

/** A `_lock_contender.ts` process with the part of the cleanup's permissions the lock needs. */
class Contender implements AsyncDisposable {
  readonly #child: Deno.ChildProcess;
  readonly #stdin: WritableStreamDefaultWriter<Uint8Array>;
  readonly #stdout: ReadableStreamDefaultReader<string>;
  #pending = "";

  constructor(directory: string) {
    this.#child = new Deno.Command(Deno.execPath(), {
      args: [
        "run",
        "--quiet",
        `--allow-read=${directory}`,
        `--allow-write=${directory}`,
        "--allow-run=kill",
        CONTENDER,
        directory,
      ],
      stdin: "piped",
      stdout: "piped",
      stderr: "inherit",
    }).spawn();
    this.#stdin = this.#child.stdin.getWriter();
    this.#stdout = this.#child.stdout.pipeThrough(new TextDecoderStream()).getReader();
  }

  get pid(): number {
    return this.#child.pid;
  }

  /** The next line it prints. */
  async line(): Promise<string> {
    while (!this.#pending.includes("\n")) {
      const { value, done } = await this.#stdout.read();
      if (done) throw new Error(`contender ${this.pid} ended without a line (had ${JSON.stringify(this.#pending)})`);
      this.#pending += value;
    }
    const end = this.#pending.indexOf("\n");
    const line = this.#pending.slice(0, end);
    this.#pending = this.#pending.slice(end + 1);
    return line;
  }

  /** Tells it to try the lock. */
  go(): Promise<void> {
    return this.#stdin.write(new Uint8Array([0x67]));
  }

  /** Kills it with SIGKILL (no chance to release anything) and waits for it. */
  async kill(): Promise<void> {
    this.#child.kill("SIGKILL");
    await this.#child.status;
    await this.#stdin.close().catch(() => {});
    await this.#stdout.cancel();
  }

  /** Closes its stdin, so it releases what it holds and exits; asserts a clean exit. */
  async finish(): Promise<void> {
    await this.#stdin.close();
    const status = await this.#child.status;
    await this.#stdout.cancel();
    assert.equal(status.code, 0, `contender ${this.pid} exited with ${status.code}`);
  }

  async [Symbol.asyncDispose](): Promise<void> {
    try {
      this.#child.kill("SIGKILL");
    } catch {
      // Already gone.
    }
    await this.#child.status;
    await this.#stdin.close().catch(() => {});
    await this.#stdout.cancel().catch(() => {});
  }
}

/** The RunLockHeldError `promise` rejects with. */
async function refusal(promise: Promise<unknown>): Promise<RunLockHeldError> {
  const error = await promise.then(() => undefined, (error) => error);
  assert.ok(error instanceof RunLockHeldError, `expected a RunLockHeldError, got ${error}`);
  return error;
}

/** The pid of a process that has exited. */
async function deadPid(): Promise<number> {
  const child = new Deno.Command("true").spawn();
  await child.status;
  return child.pid;
}

Deno.test("the lock file is a dot file in the results directory holding the holder's pid and start", async () => {
  await using dir = await resultsDir();
  assert.equal(RUN_LOCK_FILE, ".singularity-executor-cleanup.lock");
  await using lock = await acquireRunLock(dir.path, { nowMs: 1700000000000 });
  assert.equal(lock.path, dir.lock);
  assert.deepEqual(lock.holder, { pid: Deno.pid, startedAtMs: 1700000000000 });
  assert.equal(await Deno.readTextFile(dir.lock), `{"pid":${Deno.pid},"startedAtMs":1700000000000}\n`);
});

Deno.test("a second acquire is refused while the first holds the lock, and succeeds after release", async () => {
  await using dir = await resultsDir();
  const first = await acquireRunLock(dir.path, { nowMs: 1700000000000 });
  const error = await refusal(acquireRunLock(dir.path, { nowMs: 1700000065000 }));
  assert.equal(
    error.message,
    `another cleanup run holds the lock ${dir.lock} (pid ${Deno.pid}, started 2023-11-14T22:13:20.000Z, 65 s ago); ` +
      "this run leaves every task alone",
  );
  assert.deepEqual(error.holder, { pid: Deno.pid, startedAtMs: 1700000000000 });
  assert.equal(error.path, dir.lock);
  await first.release();
  await first.release();
  assert.equal(await Deno.readTextFile(dir.lock), "");
  const second = await acquireRunLock(dir.path, { nowMs: 1700000070000 });
  assert.deepEqual(second.holder, { pid: Deno.pid, startedAtMs: 1700000070000 });
  await second.release();
  assert.deepEqual([...Deno.readDirSync(dir.path)].map((entry) => entry.name), [RUN_LOCK_FILE]);
});

Deno.test("a run in another process is refused while one holds the lock", async () => {
  await using dir = await resultsDir();
  await using holder = new Contender(dir.path);
  assert.equal(await holder.line(), "ready");
  await holder.go();
  assert.equal(await holder.line(), "acquired");
  const error = await refusal(acquireRunLock(dir.path));
  assert.equal(error.holder?.pid, holder.pid);
  await holder.finish();
  const lock = await acquireRunLock(dir.path);
  await lock.release();
});

Deno.test("the lock of a run killed with SIGKILL is taken over by the next run", async () => {
  await using dir = await resultsDir();
  await using holder = new Contender(dir.path);
  assert.equal(await holder.line(), "ready");
  await holder.go();
  assert.equal(await holder.line(), "acquired");
  await holder.kill();
  // The dead run's details are still in the file; they do not hold anything.
  assert.equal(JSON.parse(await Deno.readTextFile(dir.lock)).pid, holder.pid);
  await using lock = await acquireRunLock(dir.path, { nowMs: 1700000000000 });
  assert.deepEqual(lock.holder, { pid: Deno.pid, startedAtMs: 1700000000000 });
  assert.equal(await Deno.readTextFile(dir.lock), `{"pid":${Deno.pid},"startedAtMs":1700000000000}\n`);
});

Deno.test("a leftover lock file naming a dead pid, or holding garbage, is taken over", async () => {
  await using dir = await resultsDir();
  for (const content of [`{"pid":${await deadPid()},"startedAtMs":1600000000000}\n`, '{"pid":', "\0\0\0"]) {
    await Deno.writeTextFile(dir.lock, content);
    const lock = await acquireRunLock(dir.path, { nowMs: 1700000000000 });
    assert.equal(await Deno.readTextFile(dir.lock), `{"pid":${Deno.pid},"startedAtMs":1700000000000}\n`);
    await lock.release();
  }
});

Deno.test("of eight runs racing for a stale lock at the same moment, exactly one wins", async () => {
  await using dir = await resultsDir();
  await Deno.writeTextFile(dir.lock, `{"pid":${await deadPid()},"startedAtMs":1600000000000}\n`);
  const contenders = Array.from({ length: 8 }, () => new Contender(dir.path));
  try {
    assert.deepEqual(await Promise.all(contenders.map((contender) => contender.line())), Array(8).fill("ready"));
    await Promise.all(contenders.map((contender) => contender.go()));
    const outcomes = await Promise.all(contenders.map((contender) => contender.line()));
    const winners = contenders.filter((_, index) => outcomes[index] === "acquired");
    assert.equal(winners.length, 1, outcomes.join(", "));
    for (const outcome of outcomes.filter((outcome) => outcome !== "acquired")) {
      // A loser that read the file before the winner had written it (the dead run's pid, or half) knows no pid.
      assert.ok([`refused ${winners[0].pid}`, "refused unknown"].includes(outcome), outcome);
    }
    assert.equal(JSON.parse(await Deno.readTextFile(dir.lock)).pid, winners[0].pid);
    await Promise.all(contenders.map((contender) => contender.finish()));
  } finally {
    for (const contender of contenders) await contender[Symbol.asyncDispose]();
  }
});

Deno.test("a refusal names no holder while the file still names the dead run taken over from", async () => {
  await using dir = await resultsDir();
  await Deno.writeTextFile(dir.lock, `{"pid":${await deadPid()},"startedAtMs":1600000000000}\n`);
  // A winner between taking the flock and writing its details.
  using winner = await Deno.open(dir.lock, { read: true, write: true });
  assert.equal(await winner.tryLock(true), true);
  const error = await refusal(acquireRunLock(dir.path));
  assert.equal(error.holder, undefined);
  assert.equal(
    error.message,
    `another cleanup run holds the lock ${dir.lock} (a run that has not written its pid yet); ` +
      "this run leaves every task alone",
  );
});

Deno.test("acquireRunLock() in a missing directory names the lock file", async () => {
  await using dir = await resultsDir();
  const missing = join(dir.path, "gone");
  await assert.rejects(
    acquireRunLock(missing),
    (error: Error) =>
      !(error instanceof RunLockHeldError) &&
      error.message.startsWith(`run lock ${missing}/${RUN_LOCK_FILE}: cannot be opened (`),
  );
});
