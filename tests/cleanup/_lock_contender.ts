/**
 * A process that competes for the cleanup run lock, for the lock tests:
 * `deno run --allow-read=<dir> --allow-write=<dir> --allow-run=kill _lock_contender.ts <dir>`.
 * Prints `ready`, waits for a byte on stdin, tries the lock once and prints
 * `acquired` or `refused <holder pid>`, then holds what it got until stdin
 * closes.
 *
 * @module
 */
import { acquireRunLock, type RunLock, RunLockHeldError } from "../../lib/cleanup/run_lock.ts";

const buffer = new Uint8Array(16);
console.log("ready");
await Deno.stdin.read(buffer);
let lock: RunLock | undefined;
try {
  lock = await acquireRunLock(Deno.args[0]);
  console.log("acquired");
} catch (error) {
  if (!(error instanceof RunLockHeldError)) throw error;
  console.log(`refused ${error.holder?.pid ?? "unknown"}`);
}
while (await Deno.stdin.read(buffer) !== null);
await lock?.release();
