/**
 * The two Singularity API calls the cleanup makes: the tasks active on this
 * agent, and one task's history. The base URL is
 * `http://<host:port>/<singularity.context.path>`; the hosts of
 * `singularity.hosts` are tried one after another when one cannot be reached,
 * does not answer in time or answers 5xx. Other answers are final: every host
 * would say the same. Responses are validated, and an error names the host,
 * the path, the status and the field that was wrong, never the credentials.
 *
 * @module
 */
import { describe } from "../artifacts/artifact.ts";
import type { CleanupKeys, Config } from "../config/mod.ts";
import { type HttpAnswer, httpGet, HttpUnreachableError, parseJsonBody, statusLine } from "./_http_get.ts";

/** Where the API is and how to call it. */
export interface SingularityApiOptions {
  /** `host:port` pairs, in the order they are tried. */
  hosts: readonly string[];
  /** Path prefix, slashes at either end optional (`singularity/api`). */
  contextPath: string;
  /** Per request to one host. */
  timeoutMs: number;
  /** A header sent with every request; the value is a secret. */
  credentials?: { header: string; secret: string };
}

/** One entry of a task's history. */
export interface TaskUpdate {
  /** `TASK_RUNNING`, `TASK_FINISHED`, `TASK_FAILED`, `TASK_KILLED`, `TASK_LOST`, ... */
  taskState: string;
  /** Milliseconds since the epoch. */
  timestamp: number;
}

/** The part of `SingularityTaskHistory` the cleanup uses. */
export interface TaskHistory {
  /** As the API lists them; not necessarily in time order. */
  taskUpdates: TaskUpdate[];
}

/** A call failed or its answer was not what the API promises. */
export class SingularityApiError extends Error {
  constructor(message: string, options?: ErrorOptions) {
    super(message, options);
    this.name = "SingularityApiError";
  }
}

/** A header name as HTTP defines a token. */
const HEADER_NAME = /^[!#$%&'*+.^_`|~0-9A-Za-z-]+$/;

/**
 * The options from `singularity.hosts`, `singularity.context.path`,
 * `executor.cleanup.http.timeout.millis` and the credential pair
 * `singularity.client.credentials.header` / `.secret` (both or neither).
 *
 * @example
 * ```ts
 * singularityApiOptions(config); // { hosts: ["sing1:7099"], contextPath: "singularity/api", timeoutMs: 10000 }
 * ```
 */
export function singularityApiOptions(config: Config<CleanupKeys>): SingularityApiOptions {
  const options: SingularityApiOptions = {
    hosts: config.required("singularity.hosts"),
    contextPath: config.get("singularity.context.path"),
    timeoutMs: config.get("executor.cleanup.http.timeout.millis"),
  };
  const header = config.get("singularity.client.credentials.header");
  const secret = config.get("singularity.client.credentials.secret");
  if (header === "" && secret === "") return options;
  if (header === "" || secret === "") {
    const [set, unset] = header === ""
      ? ["singularity.client.credentials.secret", "singularity.client.credentials.header"]
      : ["singularity.client.credentials.header", "singularity.client.credentials.secret"];
    throw new SingularityApiError(`${set} is set but ${unset} is empty; set both or neither`);
  }
  if (!HEADER_NAME.test(header)) {
    throw new SingularityApiError(
      `singularity.client.credentials.header = ${JSON.stringify(header)}: not a valid HTTP header name`,
    );
  }
  // The value is not shown: it is the secret.
  if (/[\r\n\0]/.test(secret)) {
    throw new SingularityApiError("singularity.client.credentials.secret contains a line break or NUL");
  }
  return { ...options, credentials: { header, secret } };
}

/**
 * A client of one Singularity cluster.
 *
 * @example
 * ```ts
 * const api = new SingularityApi(singularityApiOptions(config));
 * const active = await api.activeTaskIds("a1b2c3d4-S3");
 * const history = await api.taskHistory("my-request-deploy1-1700000000000-1-host1-DEFAULT");
 * ```
 */
export class SingularityApi {
  readonly #options: SingularityApiOptions;
  readonly #prefix: string;
  /** The host that answered last: later calls start there, so a dead first host costs one timeout, not one per call. */
  #preferred = 0;

  constructor(options: SingularityApiOptions) {
    if (options.hosts.length === 0) throw new SingularityApiError("no Singularity host configured (singularity.hosts)");
    this.#options = options;
    const trimmed = options.contextPath.replace(/^\/+|\/+$/g, "");
    this.#prefix = trimmed === "" ? "" : `/${trimmed}`;
  }

  /**
   * Ids of the tasks Singularity believes active on agent `agentId`
   * (`GET {base}/tasks/active/slave/{agentId}`, each element's `taskId.id`).
   *
   * @example
   * ```ts
   * await api.activeTaskIds("a1b2c3d4-S3"); // Set { "r1-d1-1700000000000-1-host1-DEFAULT" }
   * ```
   */
  async activeTaskIds(agentId: string): Promise<Set<string>> {
    const { json, where } = await this.#get(`/tasks/active/slave/${encodeURIComponent(agentId)}`, false);
    if (!Array.isArray(json)) throw new SingularityApiError(`${where}: expected a JSON array, got ${describe(json)}`);
    const ids = new Set<string>();
    json.forEach((task, index) => {
      const taskId = field(task, "taskId", `[${index}]`, where);
      const id = field(taskId, "id", `[${index}].taskId`, where);
      if (typeof id !== "string" || id === "") {
        throw new SingularityApiError(
          `${where}: [${index}].taskId.id: expected a non-empty string, got ${describe(id)}`,
        );
      }
      ids.add(id);
    });
    return ids;
  }

  /**
   * The history of `taskId` (`GET {base}/history/task/{taskId}`), or undefined when Singularity has none (404).
   *
   * @example
   * ```ts
   * await api.taskHistory("r1-d1-1700000000000-1-host1-DEFAULT");
   * // { taskUpdates: [{ taskState: "TASK_RUNNING", timestamp: 1700000001000 }, ...] }
   * ```
   */
  async taskHistory(taskId: string): Promise<TaskHistory | undefined> {
    const answer = await this.#get(`/history/task/${encodeURIComponent(taskId)}`, true);
    if (answer === undefined) return undefined;
    const { json, where } = answer;
    const updates = field(json, "taskUpdates", "", where);
    if (!Array.isArray(updates)) {
      throw new SingularityApiError(`${where}: taskUpdates: expected an array, got ${describe(updates)}`);
    }
    const taskUpdates = updates.map((update, index): TaskUpdate => {
      const at = `taskUpdates[${index}]`;
      const taskState = field(update, "taskState", at, where);
      if (typeof taskState !== "string" || taskState === "") {
        throw new SingularityApiError(
          `${where}: ${at}.taskState: expected a non-empty string, got ${describe(taskState)}`,
        );
      }
      const timestamp = field(update, "timestamp", at, where);
      if (typeof timestamp !== "number" || !Number.isFinite(timestamp)) {
        throw new SingularityApiError(
          `${where}: ${at}.timestamp: expected milliseconds since the epoch (a number), got ${describe(timestamp)}`,
        );
      }
      return { taskState, timestamp };
    });
    return { taskUpdates };
  }

  /** GETs `path` below the context path from one host after another; `undefined` for a 404 when allowed. */
  #get(path: string, notFoundIsNone: true): Promise<{ json: unknown; where: string } | undefined>;
  #get(path: string, notFoundIsNone: false): Promise<{ json: unknown; where: string }>;
  async #get(path: string, notFoundIsNone: boolean): Promise<{ json: unknown; where: string } | undefined> {
    const { hosts, timeoutMs, credentials } = this.#options;
    const fullPath = `${this.#prefix}${path}`;
    const headers: Record<string, string> = credentials ? { [credentials.header]: credentials.secret } : {};
    const failures: string[] = [];
    for (let attempt = 0; attempt < hosts.length; attempt++) {
      const index = (this.#preferred + attempt) % hosts.length;
      const host = hosts[index];
      let answer: HttpAnswer;
      try {
        answer = await httpGet(`http://${host}${fullPath}`, { timeoutMs, headers });
      } catch (error) {
        if (!(error instanceof HttpUnreachableError)) throw error;
        failures.push(`${host}: ${error.reason}`);
        continue;
      }
      if (answer.status >= 500) {
        failures.push(`${host}: ${statusLine(answer)}`);
        continue;
      }
      this.#preferred = index;
      const where = `Singularity ${host} GET ${fullPath}`;
      if (answer.status === 404 && notFoundIsNone) return undefined;
      if (answer.status !== 200) throw new SingularityApiError(`${where}: ${statusLine(answer)}`);
      const json = parseJsonBody(answer.body);
      if (!json.ok) throw new SingularityApiError(`${where}: ${json.problem}`);
      return { json: json.value, where };
    }
    throw new SingularityApiError(`Singularity GET ${fullPath}: no host answered (${failures.join("; ")})`);
  }
}

/** `object[name]`, after checking `object` is a JSON object; `at` is its place in the response. */
function field(object: unknown, name: string, at: string, where: string): unknown {
  if (object === null || typeof object !== "object" || Array.isArray(object)) {
    throw new SingularityApiError(`${where}: ${at === "" ? "" : `${at}: `}expected an object, got ${describe(object)}`);
  }
  return (object as Record<string, unknown>)[name];
}
