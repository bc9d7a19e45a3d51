/**
 * This agent's id, asked from the Mesos agent on this machine: the `id` of
 * `GET http://<host>:<port>/slave(1)/state.json`, or of `/slave(1)/state`
 * when the `.json` path is gone (later Mesos versions serve only that). The
 * cleanup asks Singularity for the tasks active on this id, so a wrong id
 * would make every task look dead: any doubt is an error, never a guess.
 *
 * @module
 */
import { describe } from "../artifacts/artifact.ts";
import type { CleanupKeys, Config } from "../config/mod.ts";
import { localAddresses } from "../packaging/machine.ts";
import { httpGet, parseJsonBody, statusLine } from "./_http_get.ts";

/** Where the agent answers and how long to wait for it. */
export interface AgentStateOptions {
  /** Host name or address (an IPv6 address without brackets is fine). */
  host: string;
  port: number;
  timeoutMs: number;
}

/** The agent's id could not be found out; the message names the URL and what went wrong. */
export class AgentStateError extends Error {
  constructor(message: string, options?: ErrorOptions) {
    super(message, options);
    this.name = "AgentStateError";
  }
}

/** The state endpoints, newest last: the `.json` form first, as the properties-era cleanup asked. */
const STATE_PATHS = ["/slave(1)/state.json", "/slave(1)/state"] as const;

/**
 * The agent's address from `mesos.agent.host` (empty: this machine's first
 * non-loopback IPv4 address, where the properties-era cleanup looked),
 * `mesos.agent.port` and `executor.cleanup.http.timeout.millis`.
 *
 * @example
 * ```ts
 * agentStateOptions(config); // { host: "10.0.0.5", port: 5051, timeoutMs: 10000 }
 * agentStateOptions(config, { localAddresses: ["192.0.2.7"] }); // { host: "192.0.2.7", ... } when the host is unset
 * ```
 */
export function agentStateOptions(
  config: Config<CleanupKeys>,
  machine: { localAddresses?: readonly string[] } = {},
): AgentStateOptions {
  const port = config.get("mesos.agent.port");
  const timeoutMs = config.get("executor.cleanup.http.timeout.millis");
  const configured = config.get("mesos.agent.host");
  if (configured !== "") return { host: configured, port, timeoutMs };
  const [first] = machine.localAddresses ?? localAddresses();
  if (first === undefined) {
    throw new AgentStateError(
      "mesos.agent.host is empty and this machine has no non-loopback IPv4 address to find the Mesos agent at; " +
        "set mesos.agent.host",
    );
  }
  return { host: first, port, timeoutMs };
}

/**
 * The id of the agent at `options`.
 *
 * @example
 * ```ts
 * await fetchAgentId({ host: "10.0.0.5", port: 5051, timeoutMs: 10_000 }); // "a1b2c3d4-...-S3"
 * ```
 */
export async function fetchAgentId(options: AgentStateOptions): Promise<string> {
  const host = options.host.includes(":") && !options.host.startsWith("[") ? `[${options.host}]` : options.host;
  const notFound: string[] = [];
  for (const path of STATE_PATHS) {
    const url = `http://${host}:${options.port}${path}`;
    let answer;
    try {
      answer = await httpGet(url, { timeoutMs: options.timeoutMs });
    } catch (error) {
      throw new AgentStateError(`Mesos agent state: ${(error as Error).message}`, { cause: error });
    }
    if (answer.status === 404) {
      notFound.push(url);
      continue;
    }
    const where = `Mesos agent state ${url}`;
    if (answer.status !== 200) throw new AgentStateError(`${where}: ${statusLine(answer)}`);
    const json = parseJsonBody(answer.body);
    if (!json.ok) throw new AgentStateError(`${where}: ${json.problem}`);
    const state = json.value;
    if (state === null || typeof state !== "object" || Array.isArray(state)) {
      throw new AgentStateError(`${where}: expected a JSON object, got ${describe(state)}`);
    }
    const id = (state as Record<string, unknown>).id;
    if (typeof id !== "string" || id.trim() === "") {
      // An agent that has not registered with a master yet has no id.
      const hint = id === undefined ? " (is the agent registered with a master?)" : "";
      throw new AgentStateError(`${where}: id: expected the agent id (a non-empty string), got ${describe(id)}${hint}`);
    }
    return id;
  }
  throw new AgentStateError(`Mesos agent state: HTTP 404 Not Found from both ${notFound.join(" and ")}`);
}
