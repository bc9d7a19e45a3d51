/**
 * The environment the Mesos agent gives a custom executor.
 *
 * @module
 */

/** The executor's view of its agent, read from `MESOS_*` variables. */
export interface ExecutorEnvironment {
  frameworkId: string;
  executorId: string;
  /** `ip:port` of the agent. */
  agentEndpoint: string;
  /** Host path of the sandbox. */
  directory: string;
  /** Sandbox as the executor sees it (equals `directory` without a container image). */
  sandbox: string;
  checkpoint: boolean;
  /** How long to keep trying to resubscribe after a disconnection (checkpointing only). */
  recoveryTimeoutMs?: number;
  /** Upper bound of each retry interval while resubscribing (checkpointing only). */
  subscriptionBackoffMaxMs?: number;
  /** Time between SHUTDOWN and the agent destroying the container. */
  shutdownGracePeriodMs: number;
  /** `Authorization: Bearer` token, when the agent authenticates executors. */
  authenticationToken?: string;
}

/** A variable is missing or malformed; names it and the value. */
export class ExecutorEnvironmentError extends Error {
  constructor(message: string) {
    super(message);
    this.name = "ExecutorEnvironmentError";
  }
}

const UNIT_MS: Record<string, number> = {
  ns: 1e-6,
  us: 1e-3,
  ms: 1,
  secs: 1000,
  mins: 60_000,
  hrs: 3_600_000,
  days: 86_400_000,
  weeks: 604_800_000,
};

/**
 * Parses a Mesos (stout) duration such as `5secs`, `1500ms` or `15mins` into milliseconds.
 *
 * @example
 * ```ts
 * parseMesosDuration("2secs"); // 2000
 * ```
 */
export function parseMesosDuration(text: string): number | undefined {
  const match = text.trim().match(/^(\d*\.?\d+)(ns|us|ms|secs|mins|hrs|days|weeks)$/);
  if (!match) return undefined;
  return Number(match[1]) * UNIT_MS[match[2]];
}

/** Where the variables come from: the process environment, or a test's map. */
export interface EnvironmentSource {
  get(name: string): string | undefined;
  delete?(name: string): void;
}

/** The variable holding the agent's token for this executor. */
const TOKEN_VARIABLE = "MESOS_EXECUTOR_AUTHENTICATION_TOKEN";

/**
 * Reads the executor environment from `source` (default: the process
 * environment), and removes the authentication token from it so that tasks,
 * which inherit the environment, never see it. Throws
 * {@linkcode ExecutorEnvironmentError} naming the missing or bad variable.
 *
 * @example
 * ```ts
 * const environment = readExecutorEnvironment();
 * ```
 */
export function readExecutorEnvironment(source: EnvironmentSource = Deno.env): ExecutorEnvironment {
  const env = (name: string) => source.get(name);
  const required = (name: string): string => {
    const value = env(name);
    if (value === undefined || value === "") {
      throw new ExecutorEnvironmentError(
        `${name} is not set: the executor must be started by a Mesos agent (it sets MESOS_FRAMEWORK_ID, ` +
          `MESOS_EXECUTOR_ID, MESOS_AGENT_ENDPOINT, MESOS_DIRECTORY, ...)`,
      );
    }
    return value;
  };
  const duration = (name: string, value: string): number => {
    const ms = parseMesosDuration(value);
    if (ms === undefined) {
      throw new ExecutorEnvironmentError(`${name}="${value}" is not a Mesos duration (expected e.g. 5secs, 500ms)`);
    }
    return ms;
  };
  const directory = required("MESOS_DIRECTORY");
  const checkpoint = env("MESOS_CHECKPOINT") === "1";
  const environment: ExecutorEnvironment = {
    frameworkId: required("MESOS_FRAMEWORK_ID"),
    executorId: required("MESOS_EXECUTOR_ID"),
    agentEndpoint: required("MESOS_AGENT_ENDPOINT"),
    directory,
    sandbox: env("MESOS_SANDBOX") || directory,
    checkpoint,
    shutdownGracePeriodMs: duration(
      "MESOS_EXECUTOR_SHUTDOWN_GRACE_PERIOD",
      env("MESOS_EXECUTOR_SHUTDOWN_GRACE_PERIOD") || "5secs",
    ),
    authenticationToken: env(TOKEN_VARIABLE) || undefined,
  };
  if (environment.authenticationToken !== undefined) source.delete?.(TOKEN_VARIABLE);
  if (!/^[^:/\s]+:\d+$/.test(environment.agentEndpoint) && !/^\[[0-9a-fA-F:]+\]:\d+$/.test(environment.agentEndpoint)) {
    throw new ExecutorEnvironmentError(
      `MESOS_AGENT_ENDPOINT="${environment.agentEndpoint}" is not host:port`,
    );
  }
  if (checkpoint) {
    environment.recoveryTimeoutMs = duration("MESOS_RECOVERY_TIMEOUT", required("MESOS_RECOVERY_TIMEOUT"));
    environment.subscriptionBackoffMaxMs = duration(
      "MESOS_SUBSCRIPTION_BACKOFF_MAX",
      required("MESOS_SUBSCRIPTION_BACKOFF_MAX"),
    );
  }
  return environment;
}
