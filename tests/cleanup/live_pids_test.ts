import assert from "node:assert/strict";
import { livePids, pidAlive } from "../../lib/cleanup/live_pids.ts";

Deno.test("livePids() lists this process and a child; a finished child is gone", async () => {
  const child = new Deno.Command("sleep", { args: ["30"] }).spawn();
  try {
    const pids = await livePids();
    assert.ok(pids.has(Deno.pid));
    assert.ok(pids.has(child.pid));
  } finally {
    child.kill("SIGKILL");
    await child.status;
  }
  assert.equal((await livePids()).has(child.pid), false);
});

Deno.test("pidAlive() takes only plain positive numbers as pids", () => {
  const pids = new Set([1, 4242]);
  assert.equal(pidAlive("4242", pids), true);
  assert.equal(pidAlive(" 4242\n", pids), true);
  for (const pid of ["4243", "0", "-1", "", "42x", "04242", "1e3"]) assert.equal(pidAlive(pid, pids), false, pid);
});

Deno.test("livePids() includes other users' processes (pid 1); pidAlive() takes no pid-like junk against it", async () => {
  const pids = await livePids();
  assert.equal(pidAlive("1", pids), true);
  assert.equal(pidAlive(String(Deno.pid), pids), true);
  for (const pid of ["", "0", "-1", "-4242", "abc", "12abc", "1.5", "+5", "0x10", " ", "4194305", "99999999999"]) {
    assert.equal(pidAlive(pid, pids), false, JSON.stringify(pid));
  }
});
