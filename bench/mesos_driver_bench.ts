/**
 * The Mesos driver through the fake agent: LAUNCH → first UPDATE latency over
 * 200 launches (p50, p99), and the resident memory of an idle subscribed
 * executor. Baselines measured in the same run: spawning `bash -c true` and
 * waiting for it (what any executor must at least do before it can report),
 * and an idle `deno run` of an empty script (the runtime's own footprint).
 *
 * Run: deno task bench mesos_driver
 */
import { resolve } from "node:path";
import { FakeAgent, taskInfo } from "../tests/support/fake_agent.ts";

const LAUNCHES = 200;
const EXECUTOR = resolve(import.meta.dirname!, "../tests/support/test_executor.ts");

function percentile(values: number[], p: number): number {
  const sorted = [...values].sort((a, b) => a - b);
  return sorted[Math.min(sorted.length - 1, Math.ceil((p / 100) * sorted.length) - 1)];
}

function rssMiB(pid: number): number {
  const status = Deno.readTextFileSync(`/proc/${pid}/status`);
  return Number(status.match(/^VmRSS:\s+(\d+) kB$/m)![1]) / 1024;
}

async function spawnBaseline(): Promise<number[]> {
  const times: number[] = [];
  for (let i = 0; i < LAUNCHES; i++) {
    const started = performance.now();
    await new Deno.Command("bash", { args: ["-c", "true"] }).output();
    times.push(performance.now() - started);
  }
  return times;
}

async function idleDenoRss(): Promise<number> {
  const child = new Deno.Command(Deno.execPath(), {
    args: ["eval", "await new Promise((r) => setTimeout(r, 60_000))"],
    stdout: "null",
    stderr: "null",
  }).spawn();
  await new Promise((r) => setTimeout(r, 1500));
  const rss = rssMiB(child.pid);
  child.kill("SIGKILL");
  await child.status;
  return rss;
}

const agent = await FakeAgent.start();
try {
  const executor = await agent.launchExecutor({
    command: [Deno.execPath(), "run", "-A", "--no-lock", EXECUTOR],
    env: { NO_COLOR: "1", DENO_NO_UPDATE_CHECK: "1" },
  });
  await agent.waitFor(() => agent.subscribeCount === 1, 15_000, "subscribed");
  // A long task keeps the executor alive between the measured launches.
  agent.launch(taskInfo({ id: "keeper", command: "sleep 600" }));
  await agent.waitFor(() => agent.taskState("keeper") === "TASK_RUNNING", 5000, "keeper running");
  await new Promise((r) => setTimeout(r, 2000));
  const idleRss = rssMiB(executor.pid);

  const latencies: number[] = [];
  for (let i = 0; i < LAUNCHES; i++) {
    const id = `t${i}`;
    agent.launch(taskInfo({ id, command: "true" }));
    await agent.waitFor(() => agent.taskState(id) === "TASK_FINISHED", 5000, `${id} finished`);
    // Both instants are stamped by the fake agent as it writes the event and as the update arrives.
    const launch = agent.events.find((event) =>
      event.type === "LAUNCH" && (event.event as { launch: { task: { task_id: { value: string } } } }).launch.task
          .task_id.value === id
    )!;
    const first = agent.updates.find((update) => update.taskId === id)!;
    latencies.push(first.at - launch.at);
  }
  const spawn = await spawnBaseline();
  const denoRss = await idleDenoRss();

  const p50 = percentile(latencies, 50);
  const p99 = percentile(latencies, 99);
  const spawn50 = percentile(spawn, 50);
  const spawn99 = percentile(spawn, 99);
  console.log(`LAUNCH -> first UPDATE over ${LAUNCHES} launches: p50 ${p50.toFixed(1)} ms, p99 ${p99.toFixed(1)} ms`);
  console.log(`bash -c true spawn+wait (baseline):     p50 ${spawn50.toFixed(1)} ms, p99 ${spawn99.toFixed(1)} ms`);
  console.log(`ratio driver/bash: p50 ${(p50 / spawn50).toFixed(2)}x, p99 ${(p99 / spawn99).toFixed(2)}x`);
  console.log(
    `idle subscribed executor RSS: ${idleRss.toFixed(1)} MiB; idle deno runtime (baseline) ${
      denoRss.toFixed(1)
    } MiB; ratio ${(idleRss / denoRss).toFixed(2)}x`,
  );
} finally {
  await agent.close();
}
