/**
 * singularity-s3-downloader's HTTP service: `POST <download path>` with an
 * ArtifactDownloadRequest holds the request until the artifact is in the
 * shared cache and placed in `targetDirectory`, then answers 200 with an
 * empty body. Identical artifacts requested at once are downloaded once; at
 * most `s3downloader.downloader.threads` downloads run at once and the rest
 * queue. Binds to 127.0.0.1 only (and to a unix socket when configured).
 *
 * Errors: 404 other path, 405 other method, 413 body over 1 MiB, 400 body not
 * JSON or invalid (the message names the field), 500 download or placement
 * failure, or the request's deadline ("Hit client timeout").
 *
 * @module
 */
import type { Logger } from "@logtape/logtape";
import { resolve } from "node:path";
import { ArtifactFormatError, describeArtifact } from "../artifacts/artifact.ts";
import { placeCachedArtifact } from "../artifacts/place.ts";
import type { Config, DownloaderKeys } from "../config/mod.ts";
import { Metrics } from "../metrics.ts";
import { artifactKey, type DownloadRequest, parseDownloadRequest } from "./download_request.ts";
import { fetchS3Artifact } from "./fetch_s3_artifact.ts";

/** Largest request body accepted. */
export const MAX_REQUEST_BYTES = 1024 * 1024;

/** The request's deadline passed. */
class DeadlineError extends Error {}

/**
 * The service. `start()` listens; `stop()` closes the listeners and waits for open requests.
 *
 * @example
 * ```ts
 * const service = new DownloadService(config, log);
 * await service.start();
 * ```
 */
export class DownloadService {
  readonly metrics = new Metrics("singularity_s3_downloader");
  readonly #config: Config<DownloaderKeys>;
  readonly #log: Logger;
  readonly #inflight = new Map<string, Promise<string>>();
  readonly #waiting: (() => void)[] = [];
  #running = 0;
  #servers: Deno.HttpServer[] = [];
  readonly #requests = this.metrics.counter("requests_total", "Download requests answered, by HTTP status.");
  readonly #downloads = this.metrics.counter("downloads_total", "Artifacts downloaded into the cache (cache misses).");
  readonly #cacheHits = this.metrics.counter("cache_hits_total", "Requests served from the cache.");
  readonly #errors = this.metrics.counter("download_errors_total", "Downloads or placements that failed.");
  readonly #bytes = this.metrics.counter("downloaded_bytes_total", "Bytes downloaded from S3.");
  readonly #active = this.metrics.gauge("downloads_active", "Downloads running now.");
  readonly #queued = this.metrics.gauge("downloads_queued", "Downloads waiting for a free slot.");
  readonly #duration = this.metrics.histogram(
    "request_duration_seconds",
    "Time from a request's arrival to its answer.",
    [0.05, 0.25, 1, 5, 15, 60, 300, 1800],
  );

  constructor(config: Config<DownloaderKeys>, log: Logger) {
    this.#config = config;
    this.#log = log;
  }

  /** Listens on 127.0.0.1:<port> and, when configured, the unix socket. */
  async start(): Promise<{ port: number }> {
    const handler = (request: Request) => this.handle(request);
    const onError = (error: unknown) => {
      this.#log.error(`request failed: ${(error as Error).message}`);
      return new Response("internal error", { status: 500 });
    };
    const tcp = Deno.serve({
      hostname: "127.0.0.1",
      port: this.#config.get("s3.downloader.http.port"),
      onListen: () => {},
      onError,
    }, handler);
    this.#servers.push(tcp);
    const socket = this.#config.text("s3.downloader.http.socket");
    if (socket !== "") {
      await Deno.remove(socket).catch(() => {});
      this.#servers.push(Deno.serve({ path: socket, onListen: () => {}, onError }, handler));
      this.#log.info(`listening on unix socket ${socket}`);
    }
    const port = tcp.addr.port;
    this.#log.info(`listening on http://127.0.0.1:${port}${this.#config.text("s3.downloader.http.download.path")}`);
    return { port };
  }

  /** Stops listening; open requests finish first. */
  async stop(): Promise<void> {
    await Promise.all(this.#servers.map((server) => server.shutdown()));
    this.#servers = [];
  }

  /** One HTTP request. */
  async handle(request: Request): Promise<Response> {
    const started = performance.now();
    const response = await this.#route(request);
    this.#requests.inc(1, { code: String(response.status) });
    this.#duration.observe((performance.now() - started) / 1000);
    return response;
  }

  async #route(request: Request): Promise<Response> {
    const path = new URL(request.url).pathname;
    if (path === "/metrics" && request.method === "GET") {
      return new Response(this.metrics.render(), { headers: { "Content-Type": "text/plain; version=0.0.4" } });
    }
    const downloadPath = this.#config.text("s3.downloader.http.download.path");
    if (path !== downloadPath) return text(404, `not found: downloads are served at POST ${downloadPath}`);
    if (request.method !== "POST") {
      return text(405, `method ${request.method} not allowed: use POST`, { Allow: "POST" });
    }
    let body: string;
    try {
      body = await readLimited(request, MAX_REQUEST_BYTES);
    } catch (error) {
      return text(413, (error as Error).message);
    }
    let parsed: DownloadRequest;
    try {
      parsed = parseDownloadRequest(JSON.parse(body));
    } catch (error) {
      const message = error instanceof SyntaxError
        ? `request body is not JSON: ${error.message}`
        : (error as Error).message;
      if (error instanceof SyntaxError || error instanceof ArtifactFormatError) return text(400, message);
      throw error;
    }
    const sandboxes = this.#config.text("mesos.work.directory");
    const target = resolve(parsed.targetDirectory);
    if (target !== sandboxes && !target.startsWith(`${sandboxes}/`)) {
      return text(400, `targetDirectory: ${target} is outside mesos.work.directory (${sandboxes})`);
    }
    const timeoutMs = parsed.timeoutMillis ?? this.#config.get("s3downloader.http.timeout");
    const what = describeArtifact(parsed.s3Artifact);
    try {
      const cached = await withDeadline(this.#cached(parsed), timeoutMs);
      await placeCachedArtifact(cached, parsed.s3Artifact, target);
      this.#log.info(`${what}: placed in ${target}`);
      return new Response(null, { status: 200 });
    } catch (error) {
      this.#errors.inc();
      if (error instanceof DeadlineError) {
        this.#log.warn(`${what}: hit client timeout of ${timeoutMs} ms`);
        return text(500, `Hit client timeout (${timeoutMs} ms) for ${what}`);
      }
      this.#log.error(`${what}: ${(error as Error).message}`);
      return text(500, `${what}: ${(error as Error).message}`);
    }
  }

  /** The cache path, sharing one download between equal artifacts. */
  #cached(request: DownloadRequest): Promise<string> {
    const key = artifactKey(request.s3Artifact);
    let pending = this.#inflight.get(key);
    if (pending === undefined) {
      pending = this.#withSlot(async () => {
        const { path, check } = await fetchS3Artifact(this.#config, request.s3Artifact, {
          log: (line) => this.#log.info(line),
        });
        if (check === "FOUND") {
          this.#cacheHits.inc();
        } else {
          this.#downloads.inc();
          this.#bytes.inc((await Deno.stat(path)).size);
        }
        return path;
      }).finally(() => this.#inflight.delete(key));
      this.#inflight.set(key, pending);
    } else {
      this.#cacheHits.inc();
    }
    return pending;
  }

  /** Runs `work` when one of the `s3downloader.downloader.threads` slots is free. */
  async #withSlot<T>(work: () => Promise<T>): Promise<T> {
    if (this.#running >= this.#config.get("s3downloader.downloader.threads")) {
      this.#queued.inc();
      await new Promise<void>((resolve) => this.#waiting.push(resolve));
      this.#queued.dec();
    }
    this.#running++;
    this.#active.inc();
    try {
      return await work();
    } finally {
      this.#running--;
      this.#active.dec();
      this.#waiting.shift()?.();
    }
  }
}

/** Rejects with {@linkcode DeadlineError} when `promise` takes longer than `ms`. */
async function withDeadline<T>(promise: Promise<T>, ms: number): Promise<T> {
  let timer: ReturnType<typeof setTimeout> | undefined;
  try {
    return await Promise.race([
      promise,
      new Promise<never>((_, reject) => timer = setTimeout(() => reject(new DeadlineError()), ms)),
    ]);
  } finally {
    clearTimeout(timer);
  }
}

/** The body as text, refusing more than `limit` bytes. */
async function readLimited(request: Request, limit: number): Promise<string> {
  const declared = Number(request.headers.get("content-length") ?? "0");
  if (declared > limit) throw new Error(`request body of ${declared} bytes is over the ${limit}-byte limit`);
  const chunks: Uint8Array[] = [];
  let size = 0;
  if (request.body !== null) {
    for await (const chunk of request.body) {
      size += chunk.length;
      if (size > limit) throw new Error(`request body is over the ${limit}-byte limit`);
      chunks.push(chunk);
    }
  }
  const bytes = new Uint8Array(size);
  let offset = 0;
  for (const chunk of chunks) {
    bytes.set(chunk, offset);
    offset += chunk.length;
  }
  return new TextDecoder().decode(bytes);
}

function text(status: number, body: string, headers: Record<string, string> = {}): Response {
  return new Response(`${body}\n`, { status, headers: { "Content-Type": "text/plain; charset=utf-8", ...headers } });
}
