/**
 * The plumbing the cleanup's HTTP fakes share: a real server on 127.0.0.1
 * with a free port, a request log, failure modes (an HTTP status for every
 * request, or never answering), canned answers for single paths, and `stop()`
 * after which connections are refused.
 *
 * @module
 */

/** A request as the fake saw it. */
export interface RecordedRequest {
  method: string;
  /** Path and query as sent (percent-encoding kept). */
  path: string;
  headers: Record<string, string>;
}

/** A canned answer. */
export interface CannedAnswer {
  status: number;
  /** Default empty. */
  body?: string;
  /** Default `application/json`. */
  contentType?: string;
}

/** What every request gets while set: a canned answer, or no answer at all until `stop()`. */
export type FakeFailure = CannedAnswer | "hang";

/** Answers a request the fake serves normally; `path` is the path as sent (still percent-encoded), without the query. */
export type FakeRoute = (request: Request, path: string) => Response | Promise<Response>;

/** A running fake; see the module doc. */
export class FakeHttpServer implements AsyncDisposable {
  /** Every request, in arrival order. */
  readonly requests: RecordedRequest[] = [];
  /** When set, every request gets this instead of its normal answer. */
  failure: FakeFailure | undefined;
  readonly #canned = new Map<string, CannedAnswer>();
  readonly #server: Deno.HttpServer<Deno.NetAddr>;
  readonly #released: PromiseWithResolvers<void> = Promise.withResolvers();
  #stopped = false;

  private constructor(route: FakeRoute) {
    this.#server = Deno.serve(
      { hostname: "127.0.0.1", port: 0, onListen() {} },
      (request) => this.#handle(request, route),
    );
  }

  /**
   * Starts a server answering with `route`.
   *
   * @example
   * ```ts
   * await using server = FakeHttpServer.start(() => Response.json({ ok: true }));
   * await fetch(`http://${server.host}/`);
   * ```
   */
  static start(route: FakeRoute): FakeHttpServer {
    return new FakeHttpServer(route);
  }

  /** `127.0.0.1:<port>`. */
  get host(): string {
    return `127.0.0.1:${this.#server.addr.port}`;
  }

  /** The port it listens on (and, once stopped, where connections are refused). */
  get port(): number {
    return this.#server.addr.port;
  }

  /** Answers requests for exactly `path` (decoded, no query) with `answer` from now on. */
  respond(path: string, answer: CannedAnswer): void {
    this.#canned.set(path, answer);
  }

  /** Closes the listener (new connections are refused) and lets hanging requests end. */
  async stop(): Promise<void> {
    if (this.#stopped) return;
    this.#stopped = true;
    this.#released.resolve();
    await this.#server.shutdown();
  }

  /** {@linkcode FakeHttpServer.stop}. */
  [Symbol.asyncDispose](): Promise<void> {
    return this.stop();
  }

  async #handle(request: Request, route: FakeRoute): Promise<Response> {
    const url = new URL(request.url);
    this.requests.push({
      method: request.method,
      path: url.pathname + url.search,
      headers: Object.fromEntries(request.headers),
    });
    const failure = this.failure;
    if (failure === "hang") {
      // Held until the fake stops, whether or not the client is still waiting.
      await this.#released.promise;
      return new Response("stopped while hanging", { status: 503 });
    }
    if (failure !== undefined) return canned(failure);
    const answer = this.#canned.get(decodeURIComponent(url.pathname));
    if (answer !== undefined) return canned(answer);
    return await route(request, url.pathname);
  }
}

/** The response for a canned answer. */
function canned(answer: CannedAnswer): Response {
  return new Response(answer.body ?? "", {
    status: answer.status,
    headers: { "Content-Type": answer.contentType ?? "application/json" },
  });
}
