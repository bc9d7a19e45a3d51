/**
 * One Mesos agent's worth of Singularity helpers, installed the way an
 * operator installs them: `install()` into a staging root with a
 * configuration pointing inside it and at the S3 test server, every program
 * run through its installed launcher with the permission flags computed at
 * install time. Around them: the fake Mesos agent (launching the installed
 * executor, sandboxes below `mesos.work.directory`), a fake Singularity API
 * and a fake agent state endpoint for the cleanup job.
 *
 * Used by the end-to-end test (tests/integration/) and by the demo
 * (scripts/demo_pipeline.ts), which narrates the same steps.
 *
 * @module
 */
import { join, resolve } from "node:path";
import { install } from "../../lib/packaging/install.ts";
import { machineFacts } from "../../lib/packaging/machine.ts";
import { FakeAgent, type LaunchedExecutor, taskInfo } from "./fake_agent.ts";
import { FakeAgentState } from "./fake_agent_state.ts";
import { FakeSingularity } from "./fake_singularity.ts";
import { S3_TEST_CREDENTIALS, S3_TEST_ENDPOINT } from "./s3_server.ts";

const projectDir = resolve(import.meta.dirname!, "../..");

/** The agent id the fake agent state endpoint reports. */
export const AGENT_ID = "installed-agent-S1";

/** A daemon started from its launcher. */
export interface RunningDaemon {
  child: Deno.ChildProcess;
  /** Resolves with its exit status once stopped. */
  stop(): Promise<Deno.CommandStatus>;
}

/** A task launched through the installed executor. */
export interface LaunchedTask {
  agent: FakeAgent;
  executor: LaunchedExecutor;
  /** `<executor sandbox>/<task id>`. */
  sandbox: string;
}

/** A free TCP port on 127.0.0.1. */
function freePort(): number {
  const listener = Deno.listen({ hostname: "127.0.0.1", port: 0 });
  const port = (listener.addr as Deno.NetAddr).port;
  listener.close();
  return port;
}

/** An installed agent; `await using` stops whatever is still running and removes the root. */
export class InstalledAgent implements AsyncDisposable {
  readonly root: string;
  readonly bucket: string;
  readonly downloaderPort: number;
  readonly uploaderMetricsPort: number;
  readonly singularity: FakeSingularity;
  readonly agentState: FakeAgentState;
  readonly dirs: Readonly<Record<string, string>>;
  readonly #daemons: RunningDaemon[] = [];
  readonly #agents: FakeAgent[] = [];

  private constructor(root: string, bucket: string) {
    this.root = root;
    this.bucket = bucket;
    this.downloaderPort = freePort();
    this.uploaderMetricsPort = freePort();
    this.singularity = FakeSingularity.start();
    this.agentState = FakeAgentState.start({ id: AGENT_ID });
    this.dirs = {
      etc: join(root, "etc"),
      bin: join(root, "usr/local/bin"),
      log: join(root, "var/log/singularity"),
      metadata: join(root, "var/lib/singularity/s3uploader"),
      tasks: join(root, "var/lib/singularity/tasks"),
      results: join(root, "var/lib/singularity/cleanup"),
      cache: join(root, "var/cache/singularity/artifacts"),
      work: join(root, "var/lib/mesos"),
      logrotate: join(root, "etc/logrotate.d"),
    };
  }

  /**
   * Writes the property files, installs everything into a fresh root, and starts the fakes.
   *
   * @example
   * ```ts
   * await using agent = await InstalledAgent.install({ bucket: "logs" });
   * ```
   */
  static async install(options: { bucket: string; report?: (line: string) => void }): Promise<InstalledAgent> {
    const root = await Deno.makeTempDir({ prefix: "singularity-agent-" });
    const agent = new InstalledAgent(root, options.bucket);
    try {
      await agent.#writeConfig();
      await install({ projectDir, root, machine: machineFacts(), report: options.report });
      await Deno.mkdir(join(agent.dirs.work, "slaves"), { recursive: true });
      return agent;
    } catch (error) {
      await agent[Symbol.asyncDispose]();
      throw error;
    }
  }

  /** The property files, as an operator would edit them. */
  async #writeConfig(): Promise<void> {
    const d = this.dirs;
    const files: Record<string, Record<string, string>> = {
      "singularity.base.properties": {
        "root.log.directory": d.log,
        "s3uploader.metadata.directory": d.metadata,
        "mesos.work.directory": d.work,
      },
      "singularity.s3base.properties": {
        "artifact.cache.directory": d.cache,
        "s3.endpoint": S3_TEST_ENDPOINT,
        "s3.path.style": "true",
        "s3.access.key": S3_TEST_CREDENTIALS.accessKey,
        "s3.secret.key": S3_TEST_CREDENTIALS.secretKey,
        "s3.downloader.http.port": String(this.downloaderPort),
      },
      "singularity.executor.properties": {
        "executor.global.task.definition.directory": d.tasks,
        "executor.logrotate.config.folder": d.logrotate,
        "executor.logrotate.hourly.config.folder": join(d.logrotate, "hourly"),
        "executor.cron.directory": join(d.etc, "cron.d"),
        "executor.default.user": "root",
        "executor.use.local.download.service": "true",
        "executor.s3.uploader.bucket": this.bucket,
        "executor.s3.uploader.pattern": "%requestId/%taskId/%index-%filename",
        "executor.idle.shutdown.after.millis": "1000",
        "mesos.agent.host": "127.0.0.1",
        "mesos.agent.port": String(this.agentState.port),
      },
      "singularity.s3uploader.properties": {
        "s3uploader.check.uploads.every.seconds": "1",
        "s3uploader.metrics.port": String(this.uploaderMetricsPort),
      },
      "singularity.executor.cleanup.properties": {
        "executor.cleanup.results.directory": d.results,
        "singularity.hosts": this.singularity.host,
      },
    };
    await Deno.mkdir(d.etc, { recursive: true });
    for (const [file, properties] of Object.entries(files)) {
      const text = Object.entries(properties).map(([key, value]) => `${key}=${value}\n`).join("");
      await Deno.writeTextFile(join(d.etc, file), text);
    }
  }

  /** The installed launcher of `binary`. */
  launcher(binary: string): string {
    return join(this.dirs.bin, binary);
  }

  /**
   * Starts the downloader or the uploader from its launcher and waits until it answers on its port.
   *
   * @example
   * ```ts
   * const uploader = await agent.startDaemon("singularity-s3-uploader");
   * ```
   */
  async startDaemon(binary: "singularity-s3-downloader" | "singularity-s3-uploader"): Promise<RunningDaemon> {
    const child = new Deno.Command(this.launcher(binary), { stdout: "piped", stderr: "piped" }).spawn();
    const output = child.output();
    const daemon: RunningDaemon = {
      child,
      stop: async () => {
        try {
          child.kill("SIGTERM");
        } catch {
          // already gone
        }
        return await output;
      },
    };
    this.#daemons.push(daemon);
    const port = binary === "singularity-s3-downloader" ? this.downloaderPort : this.uploaderMetricsPort;
    for (let attempt = 0; attempt < 200; attempt++) {
      try {
        const response = await fetch(`http://127.0.0.1:${port}/metrics`);
        await response.body?.cancel();
        if (response.ok) return daemon;
      } catch {
        // not listening yet
      }
      await new Promise((r) => setTimeout(r, 50));
    }
    const status = await daemon.stop();
    throw new Error(`${binary} did not start listening on ${port} (exit ${status.code})`);
  }

  /**
   * Launches `taskId` with executor data `data` through the installed executor under a new fake agent.
   *
   * @example
   * ```ts
   * const task = await agent.launchTask("web-d1-1-0-host-rack", { cmd: "echo hi" });
   * ```
   */
  async launchTask(taskId: string, data: Record<string, unknown>): Promise<LaunchedTask> {
    const agent = await FakeAgent.start({ checkpoint: false });
    this.#agents.push(agent);
    const executor = await agent.launchExecutor({
      command: [this.launcher("singularity-executor")],
      sandboxParent: join(this.dirs.work, "slaves"),
    });
    await agent.waitFor(() => agent.subscribeCount >= 1, 20_000, "the installed executor subscribed");
    agent.launch(taskInfo({ id: taskId, data: JSON.stringify(data) }));
    return { agent, executor, sandbox: join(executor.sandbox, taskId) };
  }

  /**
   * Runs the installed cleanup job once.
   *
   * @example
   * ```ts
   * const { code, stdout } = await agent.runCleanup();
   * ```
   */
  async runCleanup(...args: string[]): Promise<Deno.CommandOutput> {
    return await new Deno.Command(this.launcher("singularity-executor-cleanup"), {
      args,
      stdout: "piped",
      stderr: "piped",
    }).output();
  }

  /** The newest cleanup results file, parsed. */
  async latestCleanupResults(): Promise<Record<string, unknown>> {
    const names = [...Deno.readDirSync(this.dirs.results)].map((e) => e.name).filter((n) => !n.startsWith("."));
    names.sort();
    if (names.length === 0) throw new Error(`no results file in ${this.dirs.results}`);
    return JSON.parse(await Deno.readTextFile(join(this.dirs.results, names.at(-1)!)));
  }

  /** Every program's own log, by file name. */
  programLogs(): Map<string, string> {
    const logs = new Map<string, string>();
    for (const entry of Deno.readDirSync(this.dirs.log)) {
      logs.set(entry.name, Deno.readTextFileSync(join(this.dirs.log, entry.name)));
    }
    return logs;
  }

  /** Stops the daemons and fake agents still running and removes the root. */
  async [Symbol.asyncDispose](): Promise<void> {
    for (const daemon of this.#daemons) await daemon.stop().catch(() => {});
    for (const agent of this.#agents) await agent.close().catch(() => {});
    await this.singularity.stop();
    await this.agentState.stop();
    await Deno.remove(this.root, { recursive: true }).catch(() => {});
  }
}
