/**
 * A TCP proxy in front of the S3 test server that can rewrite the head of
 * the answers to HEAD requests: S3 claiming another ETag or size than what
 * it holds. Every request and answer is made `Connection: close`, so each
 * connection carries one exchange and the bytes after a head can be passed
 * on untouched (request heads are changed only in the unsigned Connection
 * header, so SigV4 signatures still validate).
 *
 * @module
 */
import { indexOf, startTcpRelay, writeAll } from "../../support/tcp_relay.ts";

/** A running proxy; `await using` closes it. */
export interface RewritingProxy extends AsyncDisposable {
  /** `http://127.0.0.1:<port>`, for `s3.endpoint`. */
  endpoint: string;
  /**
   * While set, rewrites the head of each answer to a HEAD request of `path` (the request target, e.g.
   * `/bucket/key`): the head's lines as received, without the final blank line.
   */
  rewriteHead?: (head: string, path: string) => string;
  /** How many answers to HEAD requests were rewritten. */
  rewritten: number;
  close(): Promise<void>;
}

const HEAD_END = new TextEncoder().encode("\r\n\r\n");

/**
 * Starts a proxy to `upstream` (`host:port`).
 *
 * @example
 * ```ts
 * await using proxy = startRewritingProxy("127.0.0.1:7480");
 * proxy.rewriteHead = (head) => head.replace(/^etag:.*$/im, 'ETag: "0"');
 * ```
 */
export function startRewritingProxy(upstream: string): RewritingProxy {
  const exchange = async (client: Deno.Conn, server: Deno.Conn) => {
    const request = await readHead(client);
    if (request === undefined) return;
    const [method, path] = request.head.split(" ", 2);
    await writeAll(server, encodeHead(closing(request.head), request.rest));
    const upstreamCopy = pipe(client, server);
    // Skip interim answers (100 Continue) to the final one.
    let answer = await readHead(server);
    while (answer !== undefined && /^HTTP\/1\.1 1\d\d /.test(answer.head)) {
      await writeAll(client, encodeHead(answer.head, new Uint8Array(0)));
      answer = await readHead(server, answer.rest);
    }
    if (answer === undefined) return;
    let head = closing(answer.head);
    if (method === "HEAD" && proxy.rewriteHead !== undefined) {
      head = proxy.rewriteHead(head, path);
      proxy.rewritten++;
    }
    await writeAll(client, encodeHead(head, answer.rest));
    await pipe(server, client);
    await upstreamCopy.catch(() => {});
  };
  const relay = startTcpRelay(upstream, exchange);
  const proxy: RewritingProxy = {
    endpoint: relay.endpoint,
    rewritten: 0,
    close: relay.close,
    [Symbol.asyncDispose]: () => relay.close(),
  };
  return proxy;
}

/** A head with its Connection header replaced by `Connection: close`. */
function closing(head: string): string {
  const lines = head.split("\r\n").filter((line) => !/^connection:/i.test(line));
  return [...lines, "Connection: close"].join("\r\n");
}

/** A head (without its blank line) and the bytes after it, ready to send. */
function encodeHead(head: string, rest: Uint8Array): Uint8Array {
  const bytes = new TextEncoder().encode(`${head}\r\n\r\n`);
  const out = new Uint8Array(bytes.length + rest.length);
  out.set(bytes);
  out.set(rest, bytes.length);
  return out;
}

/** Reads from `conn` (after `pending`) up to the end of a head; undefined when it closes first. */
async function readHead(
  conn: Deno.Conn,
  pending: Uint8Array = new Uint8Array(0),
): Promise<{ head: string; rest: Uint8Array } | undefined> {
  let buffered = pending;
  const buffer = new Uint8Array(64 * 1024);
  while (true) {
    const end = indexOf(buffered, HEAD_END);
    if (end >= 0) {
      return {
        head: new TextDecoder().decode(buffered.subarray(0, end)),
        rest: buffered.slice(end + HEAD_END.length),
      };
    }
    const n = await conn.read(buffer);
    if (n === null) return undefined;
    const next = new Uint8Array(buffered.length + n);
    next.set(buffered);
    next.set(buffer.subarray(0, n), buffered.length);
    buffered = next;
  }
}

/** Copies everything from `from` to `to` until `from` ends. */
async function pipe(from: Deno.Conn, to: Deno.Conn): Promise<void> {
  const buffer = new Uint8Array(64 * 1024);
  while (true) {
    const n = await from.read(buffer);
    if (n === null) return;
    await writeAll(to, buffer.subarray(0, n));
  }
}
