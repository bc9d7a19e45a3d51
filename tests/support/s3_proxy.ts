/**
 * A TCP proxy in front of the S3 test server that counts the HTTP requests
 * passing through (the server-side view of "how many downloads") and can hold
 * them back or cut every connection. Bytes are forwarded untouched, so SigV4
 * signatures (which cover the Host header) still validate.
 *
 * @module
 */

/** One request seen on the way to the server. */
export interface ProxiedRequest {
  method: string;
  path: string;
  range?: string;
}

/** A running proxy. */
export interface S3Proxy extends AsyncDisposable {
  /** `http://127.0.0.1:<port>`, to use as `s3.endpoint`. */
  endpoint: string;
  requests: ProxiedRequest[];
  /** While set, new requests wait until it resolves before reaching the server. */
  hold?: Promise<void>;
  /** Closes every open connection (a server dying mid-transfer). */
  cutConnections(): void;
  close(): Promise<void>;
}

/**
 * Starts a proxy forwarding to `upstream` (`host:port`, e.g. `127.0.0.1:7480`).
 *
 * @example
 * ```ts
 * await using proxy = await startS3Proxy("127.0.0.1:7480");
 * ```
 */
export function startS3Proxy(upstream: string): Promise<S3Proxy> {
  const [host, port] = upstream.split(":");
  const listener = Deno.listen({ hostname: "127.0.0.1", port: 0 });
  const open = new Set<Deno.Conn>();
  const requests: ProxiedRequest[] = [];
  const proxy: S3Proxy = {
    endpoint: `http://127.0.0.1:${(listener.addr as Deno.NetAddr).port}`,
    requests,
    cutConnections() {
      for (const conn of open) {
        try {
          conn.close();
        } catch {
          // Already closed.
        }
      }
      open.clear();
    },
    async close() {
      listener.close();
      proxy.cutConnections();
      await accepting;
    },
    [Symbol.asyncDispose]: () => proxy.close(),
  };

  const pipeRequests = async (from: Deno.Conn, to: Deno.Conn) => {
    let pending: Uint8Array = new Uint8Array(0);
    let bodyLeft = 0;
    const buffer = new Uint8Array(64 * 1024);
    while (true) {
      const n = await from.read(buffer);
      if (n === null) break;
      pending = concat(pending, buffer.subarray(0, n));
      // Forward complete request heads (and their bodies) one at a time, noting each.
      while (pending.length > 0) {
        if (bodyLeft > 0) {
          const take = Math.min(bodyLeft, pending.length);
          await writeAll(to, pending.subarray(0, take));
          pending = pending.subarray(take);
          bodyLeft -= take;
          continue;
        }
        const end = indexOf(pending, HEAD_END);
        if (end < 0) break;
        const head = new TextDecoder().decode(pending.subarray(0, end));
        const [requestLine, ...headerLines] = head.split("\r\n");
        const [method, path] = requestLine.split(" ");
        const header = (name: string) =>
          headerLines.find((line) => line.toLowerCase().startsWith(`${name}:`))?.slice(name.length + 1).trim();
        requests.push({ method, path, range: header("range") });
        bodyLeft = Number(header("content-length") ?? "0");
        if (proxy.hold) await proxy.hold;
        await writeAll(to, pending.subarray(0, end + HEAD_END.length));
        pending = pending.subarray(end + HEAD_END.length);
      }
    }
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
      const finish = () => {
        for (const conn of [client, server]) {
          open.delete(conn);
          try {
            conn.close();
          } catch {
            // Already closed.
          }
        }
      };
      Promise.allSettled([
        pipeRequests(client, server),
        server.readable.pipeTo(client.writable, { preventClose: true }),
      ]).then(finish);
    }
  })().catch(() => {});
  return Promise.resolve(proxy);
}

const HEAD_END = new TextEncoder().encode("\r\n\r\n");

function concat(a: Uint8Array, b: Uint8Array): Uint8Array {
  const out = new Uint8Array(a.length + b.length);
  out.set(a);
  out.set(b, a.length);
  return out;
}

function indexOf(haystack: Uint8Array, needle: Uint8Array): number {
  outer: for (let i = 0; i + needle.length <= haystack.length; i++) {
    for (let j = 0; j < needle.length; j++) if (haystack[i + j] !== needle[j]) continue outer;
    return i;
  }
  return -1;
}

async function writeAll(conn: Deno.Conn, bytes: Uint8Array): Promise<void> {
  let written = 0;
  while (written < bytes.length) written += await conn.write(bytes.subarray(written));
}
