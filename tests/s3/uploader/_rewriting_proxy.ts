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
  const [host, port] = upstream.split(":");
  const listener = Deno.listen({ hostname: "127.0.0.1", port: 0 });
  const open = new Set<Deno.Conn>();
  const closeAll = (...conns: Deno.Conn[]) => {
    for (const conn of conns) {
      open.delete(conn);
      try {
        conn.close();
      } catch {
        // Already closed.
      }
    }
  };
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
  const accepting = (async () => {
    for await (const client of listener) {
      let server: Deno.Conn;
      try {
        server = await Deno.connect({ hostname: host, port: Number(port) });
      } catch {
        client.close();
        continue;
      }
      open.add(client);
      open.add(server);
      exchange(client, server).catch(() => {}).finally(() => closeAll(client, server));
    }
  })().catch(() => {});
  const proxy: RewritingProxy = {
    endpoint: `http://127.0.0.1:${(listener.addr as Deno.NetAddr).port}`,
    rewritten: 0,
    async close() {
      listener.close();
      closeAll(...open);
      await accepting;
    },
    [Symbol.asyncDispose]: () => proxy.close(),
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

/** Writes all of `bytes`. */
async function writeAll(conn: Deno.Conn, bytes: Uint8Array): Promise<void> {
  let written = 0;
  while (written < bytes.length) written += await conn.write(bytes.subarray(written));
}

/** Where `needle` starts in `haystack`, or -1. */
function indexOf(haystack: Uint8Array, needle: Uint8Array): number {
  outer: for (let i = 0; i + needle.length <= haystack.length; i++) {
    for (let j = 0; j < needle.length; j++) {
      if (haystack[i + j] !== needle[j]) continue outer;
    }
    return i;
  }
  return -1;
}
