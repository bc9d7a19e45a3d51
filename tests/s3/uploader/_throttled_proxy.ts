/**
 * A TCP proxy in front of the S3 test server that lets request bytes
 * through at a fixed rate per connection, so an upload takes long enough to
 * be interrupted in the middle. Responses pass unthrottled.
 *
 * @module
 */

/** A running proxy; `await using` closes it. */
export interface ThrottledProxy extends AsyncDisposable {
  /** `http://127.0.0.1:<port>`, for `s3.endpoint`. */
  endpoint: string;
  close(): Promise<void>;
}

/**
 * Starts a proxy to `upstream` (`host:port`) passing each connection's request bytes at `bytesPerSecond`.
 *
 * @example
 * ```ts
 * await using proxy = startThrottledProxy("127.0.0.1:7480", 20 * 1024 * 1024);
 * ```
 */
export function startThrottledProxy(upstream: string, bytesPerSecond: number): ThrottledProxy {
  const [host, port] = upstream.split(":");
  const listener = Deno.listen({ hostname: "127.0.0.1", port: 0 });
  const open = new Set<Deno.Conn>();
  const closeBoth = (a: Deno.Conn, b: Deno.Conn) => {
    for (const conn of [a, b]) {
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
      const upstreamCopy = (async () => {
        const buffer = new Uint8Array(64 * 1024);
        // The time at which this connection's next byte may leave.
        let nextFree = performance.now();
        while (true) {
          const n = await client.read(buffer);
          if (n === null) break;
          const now = performance.now();
          nextFree = Math.max(nextFree, now) + (n / bytesPerSecond) * 1000;
          if (nextFree - now > 1) await new Promise((resolve) => setTimeout(resolve, nextFree - now));
          let written = 0;
          while (written < n) written += await server.write(buffer.subarray(written, n));
        }
      })();
      Promise.allSettled([upstreamCopy, server.readable.pipeTo(client.writable, { preventClose: true })])
        .then(() => closeBoth(client, server));
    }
  })().catch(() => {});
  const proxy: ThrottledProxy = {
    endpoint: `http://127.0.0.1:${(listener.addr as Deno.NetAddr).port}`,
    async close() {
      listener.close();
      for (const conn of [...open]) {
        try {
          conn.close();
        } catch {
          // Already closed.
        }
      }
      open.clear();
      await accepting;
    },
    [Symbol.asyncDispose]: () => proxy.close(),
  };
  return proxy;
}
