import { PutObjectCommand, type S3Client } from "@aws-sdk/client-s3";
import assert from "node:assert/strict";
import http from "node:http";
import { join } from "node:path";
import { md5OfBytes } from "../../lib/artifacts/md5.ts";
import { pathExists } from "../../lib/path_exists.ts";
import { DOWNLOADER, type DownloaderKeys } from "../../lib/config/mod.ts";
import {
  type ChunkedDownloadOptions,
  DIRECT_MIN_SIZE,
  downloadS3Object,
  HOLD_LIMIT,
  MAX_LANES,
  MAX_UNDROPPED,
  PIECE_SIZE,
  S3DownloadError,
} from "../../lib/s3/chunked_download.ts";
import { OrderedMd5 } from "../../lib/s3/ordered_md5.ts";
import { s3ClientFor, s3DownloadClientFor } from "../../lib/s3/client.ts";
import { mountRamfs, RAMFS_MOUNTABLE } from "../support/ramfs.ts";
import {
  closingClients,
  createTestBucket,
  loadTestConfig,
  randomBytes,
  requireS3Server,
  S3_TEST_ENDPOINT,
  type TestBucket,
  type TestConfig,
} from "../support/s3_server.ts";
import { indexOf, writeAll } from "../support/tcp_relay.ts";

const KIB = 1024;
const MIB = 1024 * 1024;
/** `O_DIRECT` in `open(2)` flags (ARM swaps it with O_DIRECTORY). */
const O_DIRECT = Deno.build.arch === "aarch64" ? 0o200000 : 0o40000;

/**
 * The SDK client's two transports: Node's http (the body is iterated and
 * copied into pieces; the tests' default) and fetch (what the downloader
 * uses: the body is read straight into the pieces).
 */
const TRANSPORTS = [
  { transport: "node", clientFor: s3ClientFor },
  { transport: "fetch", clientFor: s3DownloadClientFor },
] as const;

/** Whether tmpfs takes O_DIRECT: since Linux 6.6. */
function tmpfsTakesDirect(): boolean {
  const [major, minor] = Deno.osRelease().split(".").map(Number);
  return major > 6 || (major === 6 && minor >= 6);
}

/**
 * Watches this process's descriptors while `download` runs; resolves with
 * its result and whether `path` was seen open with O_DIRECT.
 */
async function watchingDescriptors<T>(path: string, download: Promise<T>): Promise<{ result: T; direct: boolean }> {
  let running = true;
  let direct = false;
  const watcher = (async () => {
    while (running && !direct) {
      for (const entry of Deno.readDirSync("/proc/self/fd")) {
        try {
          if (Deno.readLinkSync(`/proc/self/fd/${entry.name}`) !== path) continue;
          const flags = /^flags:\s+([0-7]+)$/m.exec(Deno.readTextFileSync(`/proc/self/fdinfo/${entry.name}`))?.[1];
          if (flags !== undefined && (parseInt(flags, 8) & O_DIRECT) !== 0) direct = true;
        } catch {
          // Closed meanwhile.
        }
      }
      await new Promise((resolve) => setTimeout(resolve, 1));
    }
  })();
  try {
    return { result: await download, direct };
  } finally {
    running = false;
    await watcher;
  }
}

/** The byte counts of the download's last log line. */
function writtenBytes(lines: string[]): { direct: number; buffered: number } {
  const match = / (\d+) bytes written with O_DIRECT and (\d+) through the page cache$/.exec(lines.at(-1) ?? "");
  assert.ok(match !== null, `no byte counts in the last log line: ${lines.join("\n")}`);
  return { direct: Number(match[1]), buffered: Number(match[2]) };
}

/** Asserts the file at `path` holds exactly `body`. */
async function assertFileHolds(path: string, body: Uint8Array, what: string): Promise<void> {
  const written = await Deno.readFile(path);
  assert.equal(written.length, body.length, what);
  assert.ok(written.every((byte, i) => byte === body[i]), `${what}: the file differs from the object`);
}

/** Bytes of `path` in the page cache, from util-linux `fincore`. */
async function residentBytes(path: string): Promise<number> {
  const { stdout } = await new Deno.Command("fincore", { args: ["--bytes", "--noheadings", "--output", "RES", path] })
    .output();
  return Number(new TextDecoder().decode(stdout).trim());
}

/** A downloader configuration against radosgw (or `endpoint`), with a bucket and a place for downloads. */
interface Fixture extends AsyncDisposable {
  setup: TestConfig<DownloaderKeys>;
  s3: S3Client;
  bucket: TestBucket;
  /** A fresh destination path in the test's artifact cache. */
  destination(name: string): string;
  /** Puts `body` at `key`. */
  put(key: string, body: Uint8Array): Promise<void>;
  /** Options for `key` into `destination(key)`, with short test limits; `overrides` win. */
  options(key: string, overrides?: Partial<ChunkedDownloadOptions>): ChunkedDownloadOptions;
}

async function fixture(label: string): Promise<Fixture> {
  await requireS3Server();
  const setup = await loadTestConfig<DownloaderKeys>(DOWNLOADER);
  const s3 = s3ClientFor(setup.config);
  const bucket = await createTestBucket(s3, label);
  const cache = setup.config.text("artifact.cache.directory");
  let counter = 0;
  const self: Fixture = {
    setup,
    s3,
    bucket,
    destination: (name) => join(cache, `${name.replaceAll("/", "_")}.${counter++}.tmp`),
    put: async (key, body) => {
      await s3.send(new PutObjectCommand({ Bucket: bucket.name, Key: key, Body: body }));
    },
    options: (key, overrides = {}) => ({
      client: s3,
      bucket: bucket.name,
      key,
      destination: self.destination(key),
      chunkSize: 64 * KIB,
      chunkTimeoutMs: 5000,
      chunkRetries: 2,
      totalTimeoutMs: 20000,
      ...overrides,
    }),
    [Symbol.asyncDispose]: async () => {
      await bucket.remove();
      await setup[Symbol.asyncDispose]();
    },
  };
  return self;
}

/** What the proxy does with one request. */
type ProxyAction =
  | { kind: "pass" }
  /** Answer only after `ms`. */
  | { kind: "delay"; ms: number }
  /** Send nothing (`afterBytes` undefined) or the headers and `afterBytes` of the body, then go silent. */
  | { kind: "stall"; afterBytes?: number }
  /** Send the headers and `afterBytes` of the body, then drop the connection (a server dying mid-transfer). */
  | { kind: "kill"; afterBytes: number };

/** One request as the proxy saw it. */
interface ProxiedRequest {
  method: string;
  range: string | undefined;
  /** First byte of the range, when ranged. */
  first: number | undefined;
  action: ProxyAction["kind"];
  status?: number;
  /** Body bytes passed to the client. */
  sent: number;
  outcome: "open" | "complete" | "cancelled" | "killed";
}

/** A proxy in front of radosgw that can stall or cut chosen requests. */
interface RangeProxy extends AsyncDisposable {
  endpoint: string;
  requests: ProxiedRequest[];
  /** The most requests open at one time. */
  peakOpen: number;
}

const HOP_BY_HOP = new Set(["connection", "keep-alive", "transfer-encoding", "upgrade", "proxy-connection"]);
const HEAD_END = new TextEncoder().encode("\r\n\r\n");

/**
 * Starts an HTTP/1.1 proxy on 127.0.0.1:0 in front of the test S3 server
 * (HEAD and GET only). Raw TCP towards the client, so it sees a client hang
 * up at once; `node:http` upstream, which (unlike `fetch`) keeps the
 * client's Host header, so SigV4 signatures still validate.
 */
function startRangeProxy(decide: (request: ProxiedRequest, index: number) => ProxyAction): RangeProxy {
  const upstream = new URL(S3_TEST_ENDPOINT);
  const listener = Deno.listen({ hostname: "127.0.0.1", port: 0 });
  const connections = new Set<Deno.Conn>();
  const requests: ProxiedRequest[] = [];
  let open = 0;
  const finish = (record: ProxiedRequest, outcome: ProxiedRequest["outcome"]) => {
    if (record.outcome !== "open") return;
    record.outcome = outcome;
    open--;
  };

  /** Serves the requests of one client connection in turn. */
  const serve = async (conn: Deno.Conn) => {
    const reader = new HeadReader(conn);
    for (let head = await reader.next(); head !== null; head = await reader.next()) {
      const [requestLine, ...headerLines] = head.split("\r\n");
      const [method, path] = requestLine.split(" ");
      const headers: Record<string, string> = {};
      for (const line of headerLines) {
        const colon = line.indexOf(":");
        const name = line.slice(0, colon).trim().toLowerCase();
        if (!HOP_BY_HOP.has(name)) headers[name] = line.slice(colon + 1).trim();
      }
      const range = headers["range"];
      const first = range === undefined ? undefined : Number(/^bytes=(\d+)-/.exec(range)?.[1]);
      const record: ProxiedRequest = { method, range, first, action: "pass", sent: 0, outcome: "open" };
      const action = decide(record, requests.length);
      record.action = action.kind;
      requests.push(record);
      open++;
      proxy.peakOpen = Math.max(proxy.peakOpen, open);
      if (action.kind === "stall" && action.afterBytes === undefined) {
        await reader.hangUp();
        return finish(record, "cancelled");
      }
      if (action.kind === "delay") await new Promise((resolve) => setTimeout(resolve, action.ms));
      const answer = await forward(upstream, method, path, headers);
      record.status = answer.statusCode;
      const limit = action.kind === "stall" || action.kind === "kill" ? action.afterBytes! : Infinity;
      try {
        let body: AsyncIterable<Uint8Array> | Iterable<Uint8Array> = answer;
        if (method !== "HEAD" && answer.headers["content-length"] === undefined) {
          // A chunked answer (an error document): pass it on with a length.
          const parts: Uint8Array<ArrayBuffer>[] = [];
          for await (const part of answer) parts.push(new Uint8Array(part));
          const whole = new Uint8Array(await new Blob(parts).arrayBuffer());
          answer.headers["content-length"] = String(whole.length);
          body = [whole];
        }
        let out = `HTTP/1.1 ${answer.statusCode} ${answer.statusMessage}\r\n`;
        for (const [name, value] of Object.entries(answer.headers)) {
          if (!HOP_BY_HOP.has(name) && value !== undefined) out += `${name}: ${value}\r\n`;
        }
        await writeAll(conn, new TextEncoder().encode(`${out}\r\n`));
        if (method !== "HEAD") {
          for await (const part of body) {
            const take = part.subarray(0, limit - record.sent);
            await writeAll(conn, take);
            record.sent += take.length;
            if (record.sent >= limit) break;
          }
        }
      } catch {
        return finish(record, "cancelled");
      } finally {
        answer.destroy();
      }
      if (record.sent >= limit) {
        if (action.kind === "stall") await reader.hangUp();
        return finish(record, action.kind === "kill" ? "killed" : "cancelled");
      }
      finish(record, "complete");
    }
  };

  const accepting = (async () => {
    for await (const conn of listener) {
      connections.add(conn);
      serve(conn).catch(() => {}).finally(() => {
        connections.delete(conn);
        closeQuietly(conn);
      });
    }
  })();
  const proxy: RangeProxy = {
    endpoint: `http://127.0.0.1:${(listener.addr as Deno.NetAddr).port}`,
    requests,
    peakOpen: 0,
    [Symbol.asyncDispose]: async () => {
      listener.close();
      for (const conn of connections) closeQuietly(conn);
      await accepting.catch(() => {});
      await eventually(() => connections.size === 0, 2000, "proxy connections closed");
    },
  };
  return proxy;
}

/** Reads request heads off a connection; GET and HEAD have no body. */
class HeadReader {
  readonly #conn: Deno.Conn;
  #buffered = new Uint8Array(0);

  constructor(conn: Deno.Conn) {
    this.#conn = conn;
  }

  /** The next request head (without the blank line), or null when the client hung up. */
  async next(): Promise<string | null> {
    while (true) {
      const end = indexOf(this.#buffered, HEAD_END);
      if (end >= 0) {
        const head = new TextDecoder().decode(this.#buffered.subarray(0, end));
        this.#buffered = this.#buffered.slice(end + HEAD_END.length);
        return head;
      }
      const chunk = new Uint8Array(16 * 1024);
      const n = await this.#conn.read(chunk).catch(() => null);
      if (n === null) return null;
      const joined = new Uint8Array(this.#buffered.length + n);
      joined.set(this.#buffered);
      joined.set(chunk.subarray(0, n), this.#buffered.length);
      this.#buffered = joined;
    }
  }

  /** Resolves when the client hangs up (it sends nothing more while waiting for an answer). */
  async hangUp(): Promise<void> {
    while ((await this.next()) !== null);
  }
}

/** Sends one request upstream with the client's headers (Host included) and resolves with the answer. */
function forward(
  upstream: URL,
  method: string,
  path: string,
  headers: Record<string, string>,
): Promise<http.IncomingMessage> {
  return new Promise((resolve, reject) => {
    const outgoing = http.request(
      { host: upstream.hostname, port: Number(upstream.port), method, path, headers, agent: false },
      resolve,
    );
    outgoing.on("error", reject);
    outgoing.end();
  });
}

function closeQuietly(conn: Deno.Conn): void {
  try {
    conn.close();
  } catch {
    // Already closed.
  }
}

/** A test configuration whose S3 endpoint is `proxy`. */
async function proxiedConfig(proxy: RangeProxy): Promise<TestConfig<DownloaderKeys>> {
  return await loadTestConfig<DownloaderKeys>(DOWNLOADER, { properties: { "s3.endpoint": proxy.endpoint } });
}

/** Waits until `condition` holds, failing after `ms`. */
async function eventually(condition: () => boolean, ms: number, what: string): Promise<void> {
  const until = Date.now() + ms;
  while (!condition()) {
    if (Date.now() > until) throw new Error(`not within ${ms} ms: ${what}`);
    await new Promise((resolve) => setTimeout(resolve, 10));
  }
}

/** Asserts `promise` rejects with an S3DownloadError whose message matches every pattern. */
async function assertDownloadError(promise: Promise<unknown>, ...patterns: RegExp[]): Promise<S3DownloadError> {
  let caught: unknown;
  await assert.rejects(promise, (error) => {
    caught = error;
    return true;
  });
  assert.ok(caught instanceof S3DownloadError, `expected an S3DownloadError, got ${caught}`);
  for (const pattern of patterns) assert.match(caught.message, pattern);
  return caught;
}

Deno.test("downloadS3Object() downloads exact bytes and md5 for sizes around the chunk size", async () => {
  using _clients = closingClients();
  await using f = await fixture("sizes");
  const chunk = 64 * KIB;
  for (const size of [0, 1, chunk - 1, chunk, chunk + 1, 2 * chunk + 7, MIB + 3]) {
    const body = randomBytes(size);
    const key = `objects/size-${size}.bin`;
    await f.put(key, body);
    for (const { transport, clientFor } of TRANSPORTS) {
      for (const known of [true, false]) {
        const options = f.options(key, { client: clientFor(f.setup.config), size: known ? size : undefined });

        const result = await downloadS3Object(options);

        const what = `size ${size}, ${known ? "known" : "HEAD"} length, ${transport}`;
        assert.deepEqual(result, {
          size,
          md5: md5OfBytes(body),
          chunks: Math.ceil(size / chunk),
          retries: 0,
          writeMode: size >= DIRECT_MIN_SIZE ? "direct" : "buffered",
        }, what);
        await assertFileHolds(options.destination, body, what);
      }
    }
  }
});

Deno.test("downloadS3Object() asks for exact ranges, several at once", async () => {
  using _clients = closingClients();
  await using f = await fixture("ranges");
  const size = MIB + 3;
  const body = randomBytes(size);
  await f.put("ranges.bin", body);
  // Holding every answer back 100 ms makes the lanes' requests overlap.
  await using proxy = startRangeProxy(() => ({ kind: "delay", ms: 100 }));
  await using proxied = await proxiedConfig(proxy);
  const options = f.options("ranges.bin", { client: s3ClientFor(proxied.config), size });

  const result = await downloadS3Object(options);

  assert.equal(result.md5, md5OfBytes(body));
  assert.equal(result.chunks, 17);
  const expected = Array.from(
    { length: 17 },
    (_, k) => `bytes=${k * 64 * KIB}-${Math.min((k + 1) * 64 * KIB, size) - 1}`,
  );
  assert.deepEqual(proxy.requests.map((request) => request.range).sort(), expected.sort());
  assert.equal(proxy.peakOpen, MAX_LANES);
});

Deno.test("downloadS3Object() writes with O_DIRECT here: whole blocks direct, the last partial block buffered", async () => {
  using _clients = closingClients();
  await using f = await fixture("direct");
  const size = 16 * MIB + 1234;
  const body = randomBytes(size);
  await f.put("direct.bin", body);
  for (const { transport, clientFor } of TRANSPORTS) {
    const lines: string[] = [];
    const options = f.options("direct.bin", {
      client: clientFor(f.setup.config),
      chunkSize: MIB,
      size,
      log: (line) => lines.push(line),
    });

    const { result, direct } = await watchingDescriptors(options.destination, downloadS3Object(options));

    assert.deepEqual(result, { size, md5: md5OfBytes(body), chunks: 17, retries: 0, writeMode: "direct" }, transport);
    assert.ok(direct, `${transport}: the destination was never seen open with O_DIRECT`);
    assert.deepEqual(writtenBytes(lines), { direct: 16 * MIB, buffered: 1234 }, transport);
    assert.match(lines[0], /in 17 chunks of up to 1048576 bytes, 4 at a time, with O_DIRECT$/);
    // Before reading it back, which fills the page cache.
    assert.equal(await residentBytes(options.destination), 0, `${transport}: bytes left in the page cache`);
    await assertFileHolds(options.destination, body, transport);
  }
});

Deno.test("downloadS3Object() writes the aligned blocks of pieces at unaligned offsets with O_DIRECT", async () => {
  using _clients = closingClients();
  await using f = await fixture("unaligned");
  // Chunks of 100,000 bytes: every chunk boundary but the first falls inside a 4 KiB block.
  const chunk = 100_000;
  const size = MIB + 3;
  const body = randomBytes(size);
  await f.put("unaligned.bin", body);
  for (const { transport, clientFor } of TRANSPORTS) {
    const lines: string[] = [];
    const options = f.options("unaligned.bin", {
      client: clientFor(f.setup.config),
      chunkSize: chunk,
      size,
      log: (line) => lines.push(line),
    });

    const result = await downloadS3Object(options);

    assert.deepEqual(result, { size, md5: md5OfBytes(body), chunks: 11, retries: 0, writeMode: "direct" }, transport);
    await assertFileHolds(options.destination, body, transport);
    // Only the blocks holding a chunk boundary, or the end of the file, are written buffered.
    const blocksWithBoundary = new Set(
      Array.from({ length: 11 }, (_, k) => Math.floor(Math.min((k + 1) * chunk, size) / 4096)),
    );
    const bytes = writtenBytes(lines);
    assert.equal(bytes.direct + bytes.buffered, size, transport);
    assert.ok(bytes.buffered <= blocksWithBoundary.size * 4096, `${transport}: ${bytes.buffered} bytes buffered`);
    assert.ok(bytes.direct >= size - blocksWithBoundary.size * 4096, `${transport}: ${bytes.direct} bytes direct`);
  }
});

Deno.test("downloadS3Object() into tmpfs gives the exact bytes, with O_DIRECT since Linux 6.6", async () => {
  using _clients = closingClients();
  await using f = await fixture("tmpfs");
  const size = 2 * MIB + 5;
  const body = randomBytes(size);
  await f.put("tmpfs.bin", body);
  const dir = await Deno.makeTempDir({ dir: "/dev/shm", prefix: "chunked-download-test-" });
  try {
    for (const { transport, clientFor } of TRANSPORTS) {
      const lines: string[] = [];
      const options = f.options("tmpfs.bin", {
        client: clientFor(f.setup.config),
        destination: join(dir, `${transport}.bin`),
        size,
        log: (line) => lines.push(line),
      });

      const result = await downloadS3Object(options);

      const writeMode = tmpfsTakesDirect() ? "direct" : "buffered";
      assert.deepEqual(result, { size, md5: md5OfBytes(body), chunks: 33, retries: 0, writeMode }, transport);
      await assertFileHolds(options.destination, body, transport);
      if (writeMode === "buffered") assert.match(lines.join("\n"), /not with O_DIRECT: open\(.*\) failed: errno 22/);
    }
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test({
  name: "downloadS3Object() falls back to writing through the page cache on ramfs, which refuses O_DIRECT",
  ignore: !RAMFS_MOUNTABLE,
  fn: async () => {
    using _clients = closingClients();
    await using f = await fixture("ramfs");
    const size = 3 * MIB + 7;
    const body = randomBytes(size);
    await f.put("ramfs.bin", body);
    await using ramfs = await mountRamfs();
    for (const { transport, clientFor } of TRANSPORTS) {
      const lines: string[] = [];
      const destination = join(ramfs.path, `${transport}.bin`);
      const options = f.options("ramfs.bin", {
        client: clientFor(f.setup.config),
        destination,
        chunkSize: MIB,
        size,
        log: (line) => lines.push(line),
      });

      const result = await downloadS3Object(options);

      assert.deepEqual(
        result,
        { size, md5: md5OfBytes(body), chunks: 4, retries: 0, writeMode: "buffered" },
        transport,
      );
      await assertFileHolds(destination, body, transport);
      const why = lines.filter((line) => line.includes("not with O_DIRECT"));
      assert.deepEqual(why, [
        `s3://${f.bucket.name}/ramfs.bin: writing through the page cache, not with O_DIRECT: ` +
        `open(${destination}, O_DIRECT) failed: errno 22 (EINVAL)`,
      ]);
      assert.match(lines[1], /4 at a time, through the page cache$/);
      assert.deepEqual(writtenBytes(lines), { direct: 0, buffered: size }, transport);
    }
  },
});

Deno.test("downloadS3Object() fails on a wrong known size and leaves no file", async () => {
  using _clients = closingClients();
  await using f = await fixture("wrong-size");
  const body = randomBytes(200 * KIB);
  await f.put("app.tar.gz", body);

  const larger = f.options("app.tar.gz", { size: body.length + 1 });
  await assertDownloadError(
    downloadS3Object(larger),
    /s3:\/\/test-wrong-size-[^/]+\/app\.tar\.gz/,
    // Whichever answer comes first: chunk 1's Content-Range total, or the 416 for the range past the end.
    /the object is 204800 bytes, not the expected 204801|InvalidRange \(HTTP 416\): .*shorter than the expected 204801/,
    /after 1 attempt/,
  );
  assert.equal(await pathExists(larger.destination), false);

  const smaller = f.options("app.tar.gz", { size: body.length - 1 });
  await assertDownloadError(downloadS3Object(smaller), /the object is 204800 bytes, not the expected 204799/);
  assert.equal(await pathExists(smaller.destination), false);

  const empty = f.options("app.tar.gz", { size: 0 });
  await assertDownloadError(downloadS3Object(empty), /the object is 204800 bytes, not the expected 0/);
  assert.equal(await pathExists(empty.destination), false);
});

Deno.test("downloadS3Object() names bucket and key of a missing object and leaves no file", async () => {
  using _clients = closingClients();
  await using f = await fixture("missing");
  const where = new RegExp(`s3://${f.bucket.name}/no/such\\.key`);

  const headed = f.options("no/such.key");
  await assertDownloadError(downloadS3Object(headed), where, /HEAD failed after 1 attempt: NotFound \(HTTP 404\)/);
  assert.equal(await pathExists(headed.destination), false);

  const ranged = f.options("no/such.key", { size: 1000 });
  await assertDownloadError(
    downloadS3Object(ranged),
    where,
    /bytes 0-999 of 1000 \(chunk 1 of 1\) failed after 1 attempt: NoSuchKey \(HTTP 404\)/,
  );
  assert.equal(await pathExists(ranged.destination), false);
});

Deno.test("downloadS3Object() with a wrong secret fails at once and never shows the secret", async () => {
  using _clients = closingClients();
  await using f = await fixture("secret");
  await f.put("k", randomBytes(1000));
  const secret = `wrong-secret-${crypto.randomUUID()}`;
  await using wrong = await loadTestConfig<DownloaderKeys>(DOWNLOADER, { properties: { "s3.secret.key": secret } });

  for (const size of [1000, undefined]) {
    const options = f.options("k", { client: s3ClientFor(wrong.config), size });
    const error = await assertDownloadError(
      downloadS3Object(options),
      /(SignatureDoesNotMatch|Forbidden) \(HTTP 403\).*check the access and secret key/,
    );

    assert.match(error.message, /failed after 1 attempt/);
    const cause = error.cause as Error;
    for (
      const text of [error.message, String(error.stack), cause.message, String(cause.stack), JSON.stringify(cause)]
    ) {
      assert.ok(!text.includes(secret), `the secret appears in: ${text}`);
    }
    assert.equal(await pathExists(options.destination), false);
  }
});

Deno.test("downloadS3Object() refuses an existing destination and leaves it alone", async () => {
  using _clients = closingClients();
  await using f = await fixture("exists");
  await f.put("k", randomBytes(10));
  const options = f.options("k");
  await Deno.writeTextFile(options.destination, "someone else's");

  await assertDownloadError(downloadS3Object(options), /cannot create .*k\.\d+\.tmp/);

  assert.equal(await Deno.readTextFile(options.destination), "someone else's");
});

Deno.test("downloadS3Object() cancelled by its signal cancels every request and leaves no file", async () => {
  using _clients = closingClients();
  await using f = await fixture("abort");
  const size = MIB;
  await f.put("big.bin", randomBytes(size));
  await using proxy = startRangeProxy(() => ({ kind: "stall", afterBytes: 16 * KIB }));
  await using proxied = await proxiedConfig(proxy);
  const controller = new AbortController();
  const options = f.options("big.bin", { client: s3ClientFor(proxied.config), size, signal: controller.signal });

  const download = downloadS3Object(options);
  await eventually(() => proxy.requests.filter((r) => r.sent > 0).length === MAX_LANES, 5000, "all lanes receiving");
  controller.abort(new Error("task killed"));

  await assertDownloadError(download, /cancelled \(task killed\)/, /in flight: bytes 0-65535 of 1048576/);
  assert.equal(await pathExists(options.destination), false);
  await eventually(() => proxy.requests.every((r) => r.outcome !== "open"), 2000, "every request cancelled");
  assert.deepEqual(proxy.requests.map((r) => r.outcome), Array(MAX_LANES).fill("cancelled"));

  const already = f.options("big.bin", { client: s3ClientFor(proxied.config), size, signal: controller.signal });
  await assertDownloadError(downloadS3Object(already), /cancelled \(task killed\); no chunk requested yet/);
  assert.equal(await pathExists(already.destination), false);
  assert.equal(proxy.requests.length, MAX_LANES);
});

Deno.test("downloadS3Object() retries a stalled chunk and resumes a killed one", async () => {
  using _clients = closingClients();
  await using f = await fixture("retry");
  const chunk = 4 * PIECE_SIZE;
  const size = 3 * chunk + 5;
  const body = randomBytes(size);
  await f.put("retry.bin", body);
  for (const { transport, clientFor } of TRANSPORTS) {
    // Chunk 2 stalls once before its headers; chunk 3 dies once two and a half pieces into its body.
    const seen = new Map<number, number>();
    await using proxy = startRangeProxy((request) => {
      const first = request.first ?? -1;
      seen.set(first, (seen.get(first) ?? 0) + 1);
      if (first === chunk && seen.get(first) === 1) return { kind: "stall" };
      if (first === 2 * chunk && seen.get(first) === 1) return { kind: "kill", afterBytes: 2.5 * PIECE_SIZE };
      return { kind: "pass" };
    });
    await using proxied = await proxiedConfig(proxy);
    const lines: string[] = [];
    const options = f.options("retry.bin", {
      client: clientFor(proxied.config),
      size,
      chunkSize: chunk,
      chunkTimeoutMs: 400,
      log: (line) => lines.push(line),
    });

    const result = await downloadS3Object(options);

    assert.deepEqual(result, { size, md5: md5OfBytes(body), chunks: 4, retries: 2, writeMode: "direct" }, transport);
    await assertFileHolds(options.destination, body, transport);
    const ranges = proxy.requests.map((request) => `${request.range} ${request.outcome}`).sort();
    assert.deepEqual(
      ranges,
      [
        `bytes=0-${chunk - 1} complete`,
        `bytes=${chunk}-${2 * chunk - 1} cancelled`,
        `bytes=${chunk}-${2 * chunk - 1} complete`,
        // Two whole pieces were written before the connection died: the retry asks for the rest only.
        `bytes=${2 * chunk + 2 * PIECE_SIZE}-${3 * chunk - 1} complete`,
        `bytes=${2 * chunk}-${3 * chunk - 1} killed`,
        `bytes=${3 * chunk}-${size - 1} complete`,
      ].sort(),
      transport,
    );
    assert.ok(
      lines.some((line) => /chunk 2 of 4\): attempt 1 failed \(no answer within 400 ms/.test(line)),
      lines.join("\n"),
    );
    const resumed = new RegExp(`chunk 3 of 4\\): attempt 1 failed .*resuming at byte ${2 * chunk + 2 * PIECE_SIZE}$`);
    assert.ok(lines.some((line) => resumed.test(line)), lines.join("\n"));
    assert.deepEqual(writtenBytes(lines), { direct: size - 5, buffered: 5 }, transport);
  }
});

Deno.test("downloadS3Object() fails when a chunk fails every attempt, cancelling the others", async () => {
  using _clients = closingClients();
  await using f = await fixture("fail");
  const size = MIB;
  await f.put("fail.bin", randomBytes(size));
  // Chunk 2 always dies mid-body; the others stall so they are in flight when it gives up.
  await using proxy = startRangeProxy((request) =>
    request.first === 64 * KIB ? { kind: "kill", afterBytes: 1000 } : { kind: "stall", afterBytes: 0 }
  );
  await using proxied = await proxiedConfig(proxy);
  const options = f.options("fail.bin", { client: s3ClientFor(proxied.config), size, chunkRetries: 2 });

  const error = await assertDownloadError(
    downloadS3Object(options),
    new RegExp(`s3://${f.bucket.name}/fail\\.bin: bytes 65536-131071 of 1048576 \\(chunk 2 of 16\\)`),
    /failed after 3 attempts: /,
    /aborted|ended after 1000 of 65536 bytes/,
  );
  assert.ok(error.cause instanceof Error);
  assert.equal(await pathExists(options.destination), false);
  await eventually(() => proxy.requests.every((r) => r.outcome !== "open"), 2000, "every request ended");
  assert.equal(proxy.requests.filter((r) => r.first === 64 * KIB && r.outcome === "killed").length, 3);
  assert.ok(proxy.requests.filter((r) => r.first !== 64 * KIB).every((r) => r.outcome === "cancelled"));
});

Deno.test("downloadS3Object() stops at the overall deadline", async () => {
  using _clients = closingClients();
  await using f = await fixture("deadline");
  await f.put("slow.bin", randomBytes(256 * KIB));
  await using proxy = startRangeProxy(() => ({ kind: "stall" }));
  await using proxied = await proxiedConfig(proxy);
  const options = f.options("slow.bin", {
    client: s3ClientFor(proxied.config),
    size: 256 * KIB,
    chunkTimeoutMs: 10_000,
    totalTimeoutMs: 600,
  });
  const started = Date.now();

  await assertDownloadError(
    downloadS3Object(options),
    /slow\.bin: not finished within 600 ms \(s3\.downloader\.timeout\.millis\); 0 of 262144 bytes written/,
    /in flight: bytes 0-65535 of 262144 \(chunk 1 of 4\) attempt 1/,
  );

  assert.ok(Date.now() - started < 2000, `took ${Date.now() - started} ms`);
  assert.equal(await pathExists(options.destination), false);
  await eventually(() => proxy.requests.every((r) => r.outcome === "cancelled"), 2000, "every request cancelled");
});

Deno.test("downloadS3Object() keeps the page cache and the in-order hashing memory bounded", async () => {
  using _clients = closingClients();
  await using f = await fixture("bounded");
  const size = 64 * MIB;
  const body = randomBytes(size);
  await f.put("big.bin", body);
  // With O_DIRECT next to nothing is cached; through the page cache, the write-back bounds it.
  const bounds = { direct: MIB, buffered: MAX_UNDROPPED + 2 * MAX_LANES * PIECE_SIZE };
  for (const directWrites of [true, false]) {
    const options = f.options("big.bin", { chunkSize: 8 * MIB, size, directWrites });

    // Sample the file's page cache while it downloads.
    let peakResident = 0;
    let sampling = true;
    const sampler = (async () => {
      while (sampling) {
        if (await pathExists(options.destination)) {
          peakResident = Math.max(peakResident, await residentBytes(options.destination).catch(() => 0));
        }
        await new Promise((resolve) => setTimeout(resolve, 5));
      }
    })();
    const result = await downloadS3Object(options).finally(() => sampling = false);
    await sampler;

    const what = `directWrites ${directWrites}`;
    assert.equal(result.md5, md5OfBytes(body), what);
    assert.equal(result.writeMode, directWrites ? "direct" : "buffered", what);
    const after = await residentBytes(options.destination);
    assert.ok(after <= MIB, `${what}: ${after} bytes of the file in the page cache after the download`);
    const bound = bounds[result.writeMode];
    assert.ok(
      peakResident <= bound,
      `${what}: ${peakResident} bytes of the file in the page cache during the download`,
    );
  }

  // The first chunk held back 1 s: the other lanes run ahead until the hold limit stops them.
  await using proxy = startRangeProxy((request) =>
    request.first === 0 ? { kind: "delay", ms: 1000 } : { kind: "pass" }
  );
  await using proxied = await proxiedConfig(proxy);
  const lines: string[] = [];
  const held = f.options("big.bin", {
    client: s3ClientFor(proxied.config),
    chunkSize: 8 * MIB,
    size,
    log: (line) => lines.push(line),
  });

  const second = await downloadS3Object(held);

  assert.equal(second.md5, md5OfBytes(body));
  const peak = Number(/at most (\d+) bytes waiting for in-order hashing/.exec(lines.join("\n"))?.[1]);
  assert.ok(peak > HOLD_LIMIT / 2, `only ${peak} bytes were held: the test did not make the lanes run ahead`);
  assert.ok(peak <= HOLD_LIMIT + PIECE_SIZE, `${peak} bytes were held, more than the bound`);
});

Deno.test("OrderedMd5 hashes out-of-order pieces in order within its limit", async () => {
  for (const worker of [false, true]) {
    const data = randomBytes(40);
    const released: number[] = [];
    const md5er = new OrderedMd5({ limit: 20, worker, release: (buffer) => released.push(buffer.byteLength) });
    const piece = (offset: number) => data.slice(offset, offset + 10);

    assert.equal(md5er.offer(30, piece(30)), undefined);
    assert.equal(md5er.offer(20, piece(20)), undefined);
    const waiting = md5er.offer(10, piece(10));
    assert.ok(waiting instanceof Promise, "a third piece ahead of the frontier must wait");
    assert.equal(md5er.pending, 20);
    assert.equal(md5er.offer(0, piece(0)), undefined);
    await waiting;

    assert.equal(md5er.frontier, 40);
    assert.equal(await md5er.digest(), md5OfBytes(data));
    assert.equal(md5er.peakPending, 20 + 10, `worker ${worker}: the limit plus the frontier's piece at most`);
    assert.deepEqual(released, [10, 10, 10, 10]);
  }
});

Deno.test("OrderedMd5 rejects waiting pieces when closed", async () => {
  const md5er = new OrderedMd5({ limit: 1 });
  md5er.offer(10, new Uint8Array(1));
  const waiting = md5er.offer(20, new Uint8Array(1));
  assert.throws(() => md5er.offer(10, new Uint8Array(1)), /bytes at offset 10 were offered twice/);

  md5er.close(new Error("download failed"));

  await assert.rejects(waiting!, /download failed/);
  await assert.rejects(md5er.offer(30, new Uint8Array(1))!, /download failed/);
});
