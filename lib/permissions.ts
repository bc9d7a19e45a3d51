/**
 * Each program's Deno permission flags, computed from its loaded
 * configuration: read and write only the directories the configuration
 * names, network only to the endpoints it names, run only the commands the
 * program spawns, and just the environment and system information the AWS
 * SDK and the program read.
 *
 * The packager adds read access to the program's own property files. The
 * same set is baked into the built binary (or launcher) and checked at
 * startup, so a configuration edited after install fails with a clear
 * message instead of a permission error deep inside a task.
 *
 * @module
 */
import type { Config } from "./config/mod.ts";
import { shellCommandPrograms, shellCommandsConfig } from "./executor/shell_commands.ts";

/** Deno permissions of one program. */
export interface PermissionSet {
  read: string[];
  write: string[];
  /** `host`, `host:port` or `unix:/path`; `undefined` = unrestricted. */
  net: string[] | undefined;
  env: string[];
  sys: string[];
  run: string[];
  /** Native libraries it may load (libc, to keep the page cache of downloads small). */
  ffi: string[];
}

/** Facts about the machine the set is computed for. */
export interface MachineFacts {
  /** Addresses the local Mesos agent may be reached at (when mesos.agent.host is unset). */
  localAddresses: string[];
  /** The C library's path, when it can be loaded for posix_fadvise (see lib/artifacts/page_cache.ts). */
  libc?: string;
}

/** Environment the AWS SDK reads while loading and signing (with --ignore-env for the rest). */
const AWS_ENV = ["AWS_*", "HOME"];
/** The instance metadata service, for credentials from an EC2 instance role. */
const INSTANCE_METADATA = "169.254.169.254";

/**
 * Computes the permission set of `config.program`.
 *
 * @example
 * ```ts
 * const set = permissionsFor(config, { localAddresses: ["10.0.0.5"] });
 * console.log(denoFlags(set).join(" "));
 * ```
 */
export function permissionsFor(config: Config, machine: MachineFacts): PermissionSet {
  const dir = (key: string) => {
    const value = config.text(key);
    // Deno's permission flags are comma-separated lists.
    if (value.includes(",")) throw new Error(`${key} = "${value}": a path containing a comma cannot be granted`);
    return value === "" ? [] : [value];
  };
  const logDir = dir("root.log.directory");
  const sandboxes = dir("mesos.work.directory");
  const sys = ["hostname", "osRelease"];
  switch (config.program.name) {
    case "executor": {
      const state = [
        ...dir("artifact.cache.directory"),
        ...dir("s3uploader.metadata.directory"),
        ...dir("logwatcher.metadata.directory"),
        ...dir("executor.global.task.definition.directory"),
        ...dir("executor.logrotate.config.folder"),
        ...dir("executor.logrotate.hourly.config.folder"),
        ...dir("executor.cron.directory"),
        ...sandboxes,
        ...logDir,
        ...downloaderSocket(config),
      ];
      const artifactHosts = config.text("executor.external.artifact.hosts");
      return {
        read: state,
        write: state,
        net: artifactHosts === "" ? undefined : unique([
          ...s3Hosts(config),
          `127.0.0.1:${config.text("s3.downloader.http.port")}`,
          ...unixSockets(config),
          ...agentHosts(config, machine),
          ...artifactHosts.split(",").map((host) => host.trim()),
        ]),
        env: ["MESOS_*", "USER", ...AWS_ENV],
        sys: [...sys, "uid"],
        run: unique([
          "bash",
          "sudo",
          "kill",
          "ps",
          "gzip",
          config.text("executor.logrotate.command"),
          ...signatureCommand(config),
          ...shellCommandPrograms(shellCommandsConfig(config)),
        ]),
        ffi: machine.libc ? [machine.libc] : [],
      };
    }
    case "cleanup": {
      const state = [
        ...dir("s3uploader.metadata.directory"),
        ...dir("logwatcher.metadata.directory"),
        ...dir("executor.global.task.definition.directory"),
        ...dir("executor.logrotate.config.folder"),
        ...dir("executor.logrotate.hourly.config.folder"),
        ...dir("executor.cron.directory"),
        ...dir("executor.cleanup.results.directory"),
        ...sandboxes,
        ...logDir,
      ];
      return {
        read: state,
        write: state,
        net: unique([...singularityHosts(config), ...agentHosts(config, machine)]),
        env: ["HOME"],
        sys: [...sys, "networkInterfaces"],
        run: unique(["ps", "gzip", config.text("executor.logrotate.command")]),
        ffi: [],
      };
    }
    case "uploader": {
      const state = [...dir("s3uploader.metadata.directory"), ...sandboxes, ...logDir];
      const metricsPort = config.text("s3uploader.metrics.port");
      return {
        read: state,
        write: state,
        net: unique([...s3Hosts(config), ...(metricsPort !== "0" ? [`127.0.0.1:${metricsPort}`] : [])]),
        env: AWS_ENV,
        sys,
        // lsof also answers whether watched pids live: /proc needs --allow-all, Deno.kill an unrestricted --allow-run.
        run: ["lsof", "fuser", "gzip"],
        ffi: [],
      };
    }
    case "downloader": {
      const state = [...dir("artifact.cache.directory"), ...sandboxes, ...logDir, ...downloaderSocket(config)];
      return {
        read: state,
        write: state,
        net: unique([
          ...s3Hosts(config),
          `127.0.0.1:${config.text("s3.downloader.http.port")}`,
          ...unixSockets(config),
        ]),
        env: AWS_ENV,
        sys,
        run: [],
        ffi: machine.libc ? [machine.libc] : [],
      };
    }
  }
}

/**
 * The `deno run` / `deno compile` flags for a set.
 *
 * @example
 * ```ts
 * denoFlags(set); // ["--allow-read=/etc/singularity.base.properties,...", ...]
 * ```
 */
export function denoFlags(set: PermissionSet): string[] {
  const list = (values: string[]) => values.join(",");
  const flags = [
    `--allow-read=${list(set.read)}`,
    `--allow-write=${list(set.write)}`,
    set.net === undefined ? "--allow-net" : `--allow-net=${list(set.net)}`,
    `--allow-env=${list(set.env)}`,
    "--ignore-env",
    `--allow-sys=${list(set.sys)}`,
    `--allow-run=${list(set.run)}`,
    `--allow-ffi=${list(set.ffi)}`,
  ];
  return flags.filter((flag) => !flag.endsWith("="));
}

/**
 * The parts of `set` this process was not granted, described for an operator.
 * Empty when the process runs with at least the set's permissions.
 */
export async function missingPermissions(set: PermissionSet): Promise<string[]> {
  const missing: string[] = [];
  const check = async (descriptor: Deno.PermissionDescriptor, what: string) => {
    const status = await Deno.permissions.query(descriptor);
    if (status.state !== "granted") missing.push(what);
  };
  for (const path of set.read) await check({ name: "read", path }, `read ${path}`);
  for (const path of set.write) await check({ name: "write", path }, `write ${path}`);
  for (const host of set.net ?? []) await check({ name: "net", host }, `network ${host}`);
  return missing;
}

/** Hosts the S3 client talks to: the configured endpoint, or AWS (plus the instance metadata service). */
function s3Hosts(config: Config): string[] {
  const hosts: string[] = [];
  const endpoint = config.text("s3.endpoint");
  if (endpoint !== "") {
    hosts.push(new URL(endpoint).host);
  } else {
    const region = config.text("s3.region");
    hosts.push(`s3.${region}.amazonaws.com`);
    if (region === "us-east-1") hosts.push("s3.amazonaws.com");
  }
  if (config.text("s3.access.key") === "" || config.text("s3.secret.key") === "") hosts.push(INSTANCE_METADATA);
  return hosts;
}

/** The downloader's unix socket, as a path. */
function downloaderSocket(config: Config): string[] {
  const socket = config.text("s3.downloader.http.socket");
  return socket === "" ? [] : [socket];
}

/** The downloader's unix socket, as a net descriptor. */
function unixSockets(config: Config): string[] {
  return downloaderSocket(config).map((path) => `unix:${path}`);
}

/** Where the local Mesos agent answers. */
function agentHosts(config: Config, machine: MachineFacts): string[] {
  const port = config.text("mesos.agent.port");
  const host = config.text("mesos.agent.host");
  const hosts = host !== "" ? [host] : ["127.0.0.1", "localhost", ...machine.localAddresses];
  // An IPv6 address needs brackets, or Deno reads its last group as the port.
  return hosts.map((name) => name.includes(":") && !name.startsWith("[") ? `[${name}]:${port}` : `${name}:${port}`);
}

/** The Singularity API hosts. */
function singularityHosts(config: Config): string[] {
  const hosts = config.text("singularity.hosts");
  return hosts === "" ? [] : hosts.split(",").map((host) => host.trim());
}

/** The program that verifies artifact signatures. */
function signatureCommand(config: Config): string[] {
  const [program] = config.text("executor.artifact.signature.verification.command").split(",").map((s) => s.trim());
  return program ? [program] : [];
}

/** The values without repeats, in first-seen order. */
function unique(values: string[]): string[] {
  return [...new Set(values.filter((value) => value !== ""))];
}
