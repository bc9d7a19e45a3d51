/**
 * One HTTP GET with a deadline, for the cleanup's clients of the Mesos agent
 * and the Singularity API: either the whole answer (status and body) or an
 * error that says why no answer came, naming the URL.
 *
 * @module
 */
import { describe } from "../artifacts/artifact.ts";

/** A complete answer: the body is read within the same deadline as the headers. */
export interface HttpAnswer {
  status: number;
  statusText: string;
  body: string;
}

/** No answer: the connection failed, or the deadline passed. */
export class HttpUnreachableError extends Error {
  /** Why, without the URL (for lists of hosts that failed). */
  readonly reason: string;
  constructor(url: string, reason: string, options?: ErrorOptions) {
    super(`GET ${url}: ${reason}`, options);
    this.name = "HttpUnreachableError";
    this.reason = reason;
  }
}

/** Options of {@linkcode httpGet}. */
export interface HttpGetOptions {
  /** Deadline for connecting, the headers and the whole body. */
  timeoutMs: number;
  headers?: Record<string, string>;
}

/**
 * GETs `url`; rejects with {@linkcode HttpUnreachableError} when no complete answer came in time.
 *
 * @example
 * ```ts
 * const answer = await httpGet("http://10.0.0.5:5051/slave(1)/state.json", { timeoutMs: 10_000 });
 * answer.status; // 200
 * ```
 */
export async function httpGet(url: string, options: HttpGetOptions): Promise<HttpAnswer> {
  const abort = new AbortController();
  // A timer cleared in `finally` rather than AbortSignal.timeout, so no timer outlives the request.
  const timer = setTimeout(() => abort.abort(), options.timeoutMs);
  try {
    const response = await fetch(url, {
      headers: { Accept: "application/json", ...options.headers },
      signal: abort.signal,
    });
    const body = await response.text();
    return { status: response.status, statusText: response.statusText, body };
  } catch (error) {
    if (abort.signal.aborted) {
      throw new HttpUnreachableError(url, `no complete answer within ${options.timeoutMs} ms`, { cause: error });
    }
    throw new HttpUnreachableError(url, connectionReason(url, error), { cause: error });
  } finally {
    clearTimeout(timer);
  }
}

/**
 * `HTTP 500 Internal Server Error: <start of the body>`, for error messages.
 *
 * @example
 * ```ts
 * statusLine({ status: 404, statusText: "Not Found", body: "" }); // "HTTP 404 Not Found"
 * ```
 */
export function statusLine(answer: HttpAnswer): string {
  const head = `HTTP ${answer.status}${answer.statusText ? ` ${answer.statusText}` : ""}`;
  const body = answer.body.replace(/\s+/g, " ").trim();
  if (body === "") return head;
  return `${head}: ${body.length > 200 ? `${body.slice(0, 197)}...` : body}`;
}

/** A parsed JSON body, or what is wrong with it. */
export type JsonBody = { ok: true; value: unknown } | { ok: false; problem: string };

/**
 * Parses a JSON body; the problem shows the start of the body.
 *
 * @example
 * ```ts
 * parseJsonBody('{"id":"S1"}'); // { ok: true, value: { id: "S1" } }
 * ```
 */
export function parseJsonBody(body: string): JsonBody {
  try {
    return { ok: true, value: JSON.parse(body) };
  } catch (error) {
    return { ok: false, problem: `not valid JSON (${(error as Error).message}); the body starts ${describe(body)}` };
  }
}

/** The innermost reason of a fetch failure, without Deno's repetition of the URL. */
function connectionReason(url: string, error: unknown): string {
  let innermost = error;
  while (innermost instanceof Error && innermost.cause instanceof Error) innermost = innermost.cause;
  const message = innermost instanceof Error ? innermost.message : String(innermost);
  return message.replace(`error sending request for url (${url}): `, "");
}
