/**
 * A TCP proxy in front of the S3 test server that counts the HTTP requests
 * passing through (the server-side view of "how many downloads") and can hold
 * them back or cut every connection. Bytes are forwarded untouched, so SigV4
 * signatures (which cover the Host header) still validate.
 *
 * @module
 */
import { indexOf, startTcpRelay, writeAll } from "./tcp_relay.ts";

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
  const requests: ProxiedRequest[] = [];
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

  const relay = startTcpRelay(upstream, (client, server) =>
    Promise.allSettled([
      pipeRequests(client, server),
      server.readable.pipeTo(client.writable, { preventClose: true }),
    ]));
  const proxy: S3Proxy = {
    endpoint: relay.endpoint,
    requests,
    cutConnections: relay.cutConnections,
    close: relay.close,
    [Symbol.asyncDispose]: () => relay.close(),
  };
  return Promise.resolve(proxy);
}

const HEAD_END = new TextEncoder().encode("\r\n\r\n");

function concat(a: Uint8Array, b: Uint8Array): Uint8Array {
  const out = new Uint8Array(a.length + b.length);
  out.set(a);
  out.set(b, a.length);
  return out;
}
