/**
 * The skeleton of the TCP proxies the tests put in front of the S3 test
 * server: listen on a free loopback port, connect each client to the
 * upstream, hand both connections to the proxy's own relay, and close them
 * when it ends. The proxies differ only in their relay (counting and holding
 * requests, throttling them, rewriting answers).
 *
 * @module
 */

/** A running relay. */
export interface TcpRelay {
  /** `http://127.0.0.1:<port>`, to use as `s3.endpoint`. */
  endpoint: string;
  /** Closes every open connection (a server dying mid-transfer). */
  cutConnections(): void;
  /** Stops listening and closes every connection. */
  close(): Promise<void>;
}

/**
 * Listens on 127.0.0.1 and runs `relay(client, server)` for each connection, `server` connected to `upstream`
 * (`host:port`); both are closed when `relay` settles.
 *
 * @example
 * ```ts
 * const relay = startTcpRelay("127.0.0.1:7480", (client, server) =>
 *   Promise.allSettled([client.readable.pipeTo(server.writable), server.readable.pipeTo(client.writable)]));
 * ```
 */
export function startTcpRelay(
  upstream: string,
  relay: (client: Deno.Conn, server: Deno.Conn) => Promise<unknown>,
): TcpRelay {
  const [host, port] = upstream.split(":");
  const listener = Deno.listen({ hostname: "127.0.0.1", port: 0 });
  const open = new Set<Deno.Conn>();
  const closeConns = (conns: Iterable<Deno.Conn>) => {
    for (const conn of [...conns]) {
      open.delete(conn);
      try {
        conn.close();
      } catch {
        // Already closed.
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
      relay(client, server).catch(() => {}).finally(() => closeConns([client, server]));
    }
  })().catch(() => {});
  return {
    endpoint: `http://127.0.0.1:${(listener.addr as Deno.NetAddr).port}`,
    cutConnections: () => closeConns(open),
    async close() {
      listener.close();
      closeConns(open);
      await accepting;
    },
  };
}

/**
 * Writes all of `bytes` to `conn`.
 *
 * @example
 * ```ts
 * await writeAll(server, new TextEncoder().encode("GET / HTTP/1.1\r\n\r\n"));
 * ```
 */
export async function writeAll(conn: Deno.Conn, bytes: Uint8Array): Promise<void> {
  let written = 0;
  while (written < bytes.length) written += await conn.write(bytes.subarray(written));
}

/**
 * Where `needle` starts in `haystack`, or -1.
 *
 * @example
 * ```ts
 * indexOf(bytes, new TextEncoder().encode("\r\n\r\n"));
 * ```
 */
export function indexOf(haystack: Uint8Array, needle: Uint8Array): number {
  outer: for (let i = 0; i + needle.length <= haystack.length; i++) {
    for (let j = 0; j < needle.length; j++) if (haystack[i + j] !== needle[j]) continue outer;
    return i;
  }
  return -1;
}
