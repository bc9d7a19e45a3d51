import assert from "node:assert/strict";
import { processTree, signalTree, startProcessGroup } from "../../lib/executor/process_tree.ts";

async function gone(pid: number, withinMs = 3000): Promise<boolean> {
  const deadline = Date.now() + withinMs;
  while (Date.now() < deadline) {
    try {
      if (Deno.readTextFileSync(`/proc/${pid}/stat`).split(") ")[1].startsWith("Z")) return true;
    } catch {
      return true;
    }
    await new Promise((r) => setTimeout(r, 50));
  }
  return false;
}

Deno.test("startProcessGroup() runs the command as the leader of its own group; exit codes as bash reports them", async () => {
  const dir = await Deno.makeTempDir();
  try {
    const ok = startProcessGroup(["bash", "-c", "echo $$ > pid; ps -o pgid= -p $$ > pgid; exit 7"], { cwd: dir });
    assert.equal(await ok.exited, 7);
    assert.equal(Number(Deno.readTextFileSync(`${dir}/pid`)), ok.pid);
    assert.equal(Number(Deno.readTextFileSync(`${dir}/pgid`).trim()), ok.pid);
    const killed = startProcessGroup(["sleep", "30"], { cwd: dir });
    await signalTree(killed.pid, "KILL");
    assert.equal(await killed.exited, 137);
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("processTree() counts the threads of the whole tree, including a descendant that left the group", async () => {
  const dir = await Deno.makeTempDir();
  const task = startProcessGroup(["bash", "-c", "sleep 30 & setsid sleep 31 & echo $! > escaped; wait"], { cwd: dir });
  try {
    // Wait until the forked child has called setsid (until then it is still in the task's group).
    const escapedPid = () => Number(Deno.readTextFileSync(`${dir}/escaped`).trim() || "0");
    let tree = await processTree(task.pid);
    for (let i = 0; i < 100; i++) {
      const settled = tree.length >= 3 &&
        tree.some((p) => p.pid === escapedPid() && p.pgid !== task.pid && p.threads > 0);
      if (settled) break;
      await new Promise((r) => setTimeout(r, 50));
      tree = await processTree(task.pid);
    }
    const escaped = escapedPid();
    assert.deepEqual(
      tree.map((p) => p.pid).sort(),
      [task.pid, escaped, tree.find((p) => p.pgid === task.pid && p.pid !== task.pid)!.pid].sort(),
    );
    assert.notEqual(tree.find((p) => p.pid === escaped)!.pgid, task.pid);
    assert.equal(tree.reduce((sum, p) => sum + p.threads, 0), 3);
    assert.equal(await signalTree(task.pid, "KILL"), 3);
    assert.equal(await task.exited, 137);
    assert.ok(await gone(escaped), "the setsid'd grandchild survived");
    assert.deepEqual(await processTree(task.pid), []);
    assert.equal(await signalTree(task.pid, "TERM"), 0);
  } finally {
    await signalTree(task.pid, "KILL");
    await Deno.remove(dir, { recursive: true });
  }
});
