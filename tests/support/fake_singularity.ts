/**
 * A stand-in for the Singularity API the cleanup job calls, as a real HTTP
 * server on 127.0.0.1 (`singularity-extras.md` §8): the tasks active per
 * agent id (`GET {context}/tasks/active/slave/{agentId}`, an array of
 * SingularityTask objects) and task histories (`GET
 * {context}/history/task/{taskId}`, 404 when unknown), with an optional
 * credential header it insists on (401 without it), failure modes (a status
 * for every request, hanging, connection refused once stopped), canned
 * answers for malformed responses, and a log of requests.
 *
 * @example
 * ```ts
 * await using singularity = FakeSingularity.start();
 * singularity.setActiveTasks("agent-S1", ["r1-d1-1700000000000-1-host1-DEFAULT"]);
 * singularity.setHistory("r1-d0-1690000000000-1-host1-DEFAULT", [
 *   { taskState: "TASK_RUNNING", timestamp: 1690000001000 },
 *   { taskState: "TASK_FAILED", timestamp: 1690000002000 },
 * ]);
 * // singularity.hosts = singularity.host, singularity.context.path = singularity/api
 * ```
 *
 * @module
 */
import { type CannedAnswer, type FakeFailure, FakeHttpServer, type RecordedRequest } from "./_fake_http_server.ts";

export type { CannedAnswer, FakeFailure, RecordedRequest };

/** One history entry as the fake is told it. */
export interface FakeTaskUpdate {
  taskState: string;
  timestamp: number;
  statusMessage?: string;
}

/** Options of {@linkcode FakeSingularity.start}. */
export interface FakeSingularityOptions {
  /** Path prefix, default `singularity/api` (the client default). */
  contextPath?: string;
  /** A header every request must carry, else 401. */
  credentials?: { header: string; secret: string };
}

/** A running fake Singularity API; see the module doc. */
export class FakeSingularity implements AsyncDisposable {
  /** The context path with a leading slash and none at the end. */
  readonly contextPath: string;
  readonly #server: FakeHttpServer;
  readonly #active = new Map<string, string[]>();
  readonly #histories = new Map<string, FakeTaskUpdate[]>();
  readonly #credentials: { header: string; secret: string } | undefined;

  private constructor(options: FakeSingularityOptions) {
    const trimmed = (options.contextPath ?? "singularity/api").replace(/^\/+|\/+$/g, "");
    this.contextPath = trimmed === "" ? "" : `/${trimmed}`;
    this.#credentials = options.credentials;
    this.#server = FakeHttpServer.start((request, path) => this.#route(request, path));
  }

  /**
   * Starts a fake on a free port.
   *
   * @example
   * ```ts
   * await using singularity = FakeSingularity.start({ contextPath: "api" });
   * ```
   */
  static start(options: FakeSingularityOptions = {}): FakeSingularity {
    return new FakeSingularity(options);
  }

  /** `127.0.0.1:<port>`, a `singularity.hosts` entry. */
  get host(): string {
    return this.#server.host;
  }

  /** Every request, in arrival order. */
  get requests(): readonly RecordedRequest[] {
    return this.#server.requests;
  }

  /** The request paths (query included), in arrival order. */
  get paths(): string[] {
    return this.#server.requests.map((request) => request.path);
  }

  /** When set, every request gets this instead of its normal answer; undefined to recover. */
  set failure(failure: FakeFailure | undefined) {
    this.#server.failure = failure;
  }

  /** Makes `taskIds` the tasks active on `agentId` (other agents keep theirs; unknown agents have none). */
  setActiveTasks(agentId: string, taskIds: readonly string[]): void {
    this.#active.set(agentId, [...taskIds]);
  }

  /** Gives `taskId` a history with `updates`, in this order. */
  setHistory(taskId: string, updates: readonly FakeTaskUpdate[]): void {
    this.#histories.set(taskId, [...updates]);
  }

  /** Answers requests for `path` below the context path (decoded) with `answer` from now on. */
  respond(path: string, answer: CannedAnswer): void {
    this.#server.respond(`${this.contextPath}${path}`, answer);
  }

  /** Closes the listener: connections are refused from now on. */
  stop(): Promise<void> {
    return this.#server.stop();
  }

  /** {@linkcode FakeSingularity.stop}. */
  [Symbol.asyncDispose](): Promise<void> {
    return this.stop();
  }

  #route(request: Request, path: string): Response {
    if (this.#credentials && request.headers.get(this.#credentials.header) !== this.#credentials.secret) {
      return Response.json({ message: "Unauthorized" }, { status: 401 });
    }
    if (request.method !== "GET") return new Response(null, { status: 405 });
    // The context path is plain text in tests; ids after it are matched encoded, then decoded.
    if (!path.startsWith(`${this.contextPath}/`)) return new Response("Not Found", { status: 404 });
    const rest = path.slice(this.contextPath.length);
    const active = rest.match(/^\/tasks\/active\/slave\/([^/]+)$/);
    if (active) {
      const agentId = decodeURIComponent(active[1]);
      const ids = this.#active.get(agentId) ?? [];
      return Response.json(ids.map((id) => singularityTask(id, agentId)));
    }
    const history = rest.match(/^\/history\/task\/([^/]+)$/);
    if (history) {
      const taskId = decodeURIComponent(history[1]);
      const updates = this.#histories.get(taskId);
      if (updates === undefined) return Response.json({ message: `No history for task ${taskId}` }, { status: 404 });
      return Response.json({
        task: { taskId: taskIdObject(taskId) },
        taskUpdates: updates.map((update) => ({ taskId: taskIdObject(taskId), ...update })),
        healthcheckResults: [],
        loadBalancerUpdates: [],
        shellCommandHistory: [],
      });
    }
    return new Response("Not Found", { status: 404 });
  }
}

/** A SingularityTask with the fields a client might look at; the cleanup reads `taskId.id`. */
function singularityTask(id: string, agentId: string): Record<string, unknown> {
  return {
    taskId: taskIdObject(id),
    offers: [{ agentId: { value: agentId } }],
    mesosTask: { taskId: { value: id }, agentId: { value: agentId } },
  };
}

/** A SingularityTaskId; the real one also carries the id's parts (request, deploy, host, ...). */
function taskIdObject(id: string): Record<string, unknown> {
  return { id };
}
