/**
 * A stand-in for the Mesos agent's state endpoint the cleanup job reads its
 * agent id from, as a real HTTP server on 127.0.0.1: `/slave(1)/state.json`
 * and `/slave(1)/state` as older agents serve them, or only `/slave(1)/state`
 * as later ones do. The state can be replaced (an unregistered agent has no
 * `id`), single paths given canned answers (malformed JSON), and every
 * request failed, hung, or refused once stopped. Independent of
 * `fake_agent.ts`, the executor API fake.
 *
 * @example
 * ```ts
 * await using agent = FakeAgentState.start({ id: "agent-S1" });
 * // mesos.agent.host = 127.0.0.1, mesos.agent.port = agent.port
 * ```
 *
 * @module
 */
import { type CannedAnswer, type FakeFailure, FakeHttpServer, type RecordedRequest } from "./_fake_http_server.ts";

export type { CannedAnswer, FakeFailure, RecordedRequest };

/** The state paths, as the fake serves them. */
export const STATE_JSON_PATH = "/slave(1)/state.json";
/** The later form without `.json`. */
export const STATE_PATH = "/slave(1)/state";

/** Options of {@linkcode FakeAgentState.start}. */
export interface FakeAgentStateOptions {
  /** The agent id in the state; default `fake-agent-state-S0`. */
  id?: string;
  /** `both` (default) or `state-only` (later Mesos: `/slave(1)/state.json` is 404). */
  paths?: "both" | "state-only";
}

/** A running fake agent state endpoint; see the module doc. */
export class FakeAgentState implements AsyncDisposable {
  /** The JSON served; replace it to serve something else (for example without `id`). */
  state: Record<string, unknown>;
  readonly #paths: "both" | "state-only";
  readonly #server: FakeHttpServer;

  private constructor(options: FakeAgentStateOptions) {
    this.#paths = options.paths ?? "both";
    this.#server = FakeHttpServer.start((request, path) => this.#route(request, path));
    this.state = {
      id: options.id ?? "fake-agent-state-S0",
      pid: `slave(1)@${this.#server.host}`,
      hostname: "localhost",
      version: "1.11.0",
      frameworks: [],
    };
  }

  /**
   * Starts a fake on a free port.
   *
   * @example
   * ```ts
   * await using agent = FakeAgentState.start({ paths: "state-only" });
   * ```
   */
  static start(options: FakeAgentStateOptions = {}): FakeAgentState {
    return new FakeAgentState(options);
  }

  /** The port, for `mesos.agent.port` (host 127.0.0.1). */
  get port(): number {
    return this.#server.port;
  }

  /** Every request, in arrival order. */
  get requests(): readonly RecordedRequest[] {
    return this.#server.requests;
  }

  /** The request paths, in arrival order. */
  get paths(): string[] {
    return this.#server.requests.map((request) => request.path);
  }

  /** When set, every request gets this instead of its normal answer; undefined to recover. */
  set failure(failure: FakeFailure | undefined) {
    this.#server.failure = failure;
  }

  /** Answers requests for exactly `path` with `answer` from now on. */
  respond(path: string, answer: CannedAnswer): void {
    this.#server.respond(path, answer);
  }

  /** Closes the listener: connections are refused from now on. */
  stop(): Promise<void> {
    return this.#server.stop();
  }

  /** {@linkcode FakeAgentState.stop}. */
  [Symbol.asyncDispose](): Promise<void> {
    return this.stop();
  }

  #route(request: Request, path: string): Response {
    if (request.method !== "GET") return new Response(null, { status: 405 });
    if (path === STATE_PATH || (path === STATE_JSON_PATH && this.#paths === "both")) return Response.json(this.state);
    return new Response(null, { status: 404 });
  }
}
