/**
 * A TCP proxy in front of the S3 test server that lets request bytes
 * through at a fixed rate per connection, so an upload takes long enough to
 * be interrupted in the middle. Responses pass unthrottled.
 *
 * @module
 */
import { startTcpRelay, writeAll } from "../../support/tcp_relay.ts";

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
  const throttled = async (client: Deno.Conn, server: Deno.Conn) => {
    const buffer = new Uint8Array(64 * 1024);
    // The time at which this connection's next byte may leave.
    let nextFree = performance.now();
    while (true) {
      const n = await client.read(buffer);
      if (n === null) break;
      const now = performance.now();
      nextFree = Math.max(nextFree, now) + (n / bytesPerSecond) * 1000;
      if (nextFree - now > 1) await new Promise((resolve) => setTimeout(resolve, nextFree - now));
      await writeAll(server, buffer.subarray(0, n));
    }
  };
  const relay = startTcpRelay(upstream, (client, server) =>
    Promise.allSettled([
      throttled(client, server),
      server.readable.pipeTo(client.writable, { preventClose: true }),
    ]));
  return { endpoint: relay.endpoint, close: relay.close, [Symbol.asyncDispose]: () => relay.close() };
}
