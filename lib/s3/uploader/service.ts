/**
 * singularity-s3-uploader's daemon: registers uploaders from the metadata
 * directory (scan, watch, rescan), runs the periodic pass, uploads
 * immediately where asked, serves `GET /metrics`, and shuts down in order.
 *
 * A pass, every `s3uploader.check.uploads.every.seconds` (the first right
 * after start):
 * 1. plans left in the journal (a crash, a failed attempt) are carried out
 *    first, so an interrupted upload finishes to its own key;
 * 2. watched pids are checked (one `lsof`); a gone pid finishes its uploader;
 * 3. every uploader runs, at most `s3uploader.max.upload.threads` at once;
 * 4. an uploader that found no file is removed (its metadata file deleted)
 *    when finished, or when no file was found for
 *    `finishedAfterMillisWithoutNewFile` (else
 *    `s3uploader.stop.checking.after.hours.without.new.file`; negative:
 *    never). A finished uploader whose pass uploaded everything and left
 *    nothing behind is removed at once.
 *
 * SIGTERM: no new file starts; uploads in flight get
 * `s3uploader.shutdown.grace.millis` to finish, then are abandoned. Their
 * plans stay in the journal, so the next start resumes them to the same key.
 *
 * @module
 */
import type { Logger } from "@logtape/logtape";
import { basename, join } from "node:path";
import { setTimeout as sleep } from "node:timers/promises";
import type { Config, UploaderKeys } from "../../config/mod.ts";
import { Metrics } from "../../metrics.ts";
import { closeS3Clients } from "../client.ts";
import { Journal } from "./journal.ts";
import { MetadataWatcher } from "./metadata_watcher.ts";
import { livePids } from "./processes.ts";
import { isFinished, type MetadataStamp, Registry, type Uploader } from "./registry.ts";
import { type UploaderSettings, uploaderSettings } from "./settings.ts";
import {
  metadataName,
  type PassContext,
  type PassResult,
  refreshCredentials,
  runUploaderPass,
  uploadWithRetries,
} from "./uploader_pass.ts";

/** What one periodic pass did. */
export interface PassSummary {
  uploaders: number;
  /** Files uploaded (the recovered ones included). */
  uploaded: number;
  failed: number;
  removed: number;
  /** Journal plans carried out before the uploaders ran. */
  recovered: number;
  seconds: number;
}

/**
 * The daemon.
 *
 * @example
 * ```ts
 * const service = new UploaderService(config, log);
 * await service.start();
 * await untilTerminated();
 * await service.stop();
 * ```
 */
export class UploaderService {
  readonly metrics: Metrics = new Metrics("singularity_s3_uploader");
  readonly settings: UploaderSettings;
  readonly registry: Registry;
  readonly #config: Config<UploaderKeys>;
  readonly #log: Logger;
  readonly #inFlight = new Set<string>();
  readonly #stopping = new AbortController();
  readonly #abandon = new AbortController();
  readonly #running = new Set<Promise<unknown>>();
  readonly #busy = new Set<Uploader>();
  readonly #immediatePending = new Set<Uploader>();
  readonly #waiting: (() => void)[] = [];
  readonly #badMetadata = new Map<string, string>();
  #slots = 0;
  #gaugesPending = false;
  #journal: Journal | undefined;
  #watcher: MetadataWatcher | undefined;
  #server: Deno.HttpServer | undefined;
  #pass: Promise<PassSummary> | undefined;
  #loop: Promise<void> | undefined;

  readonly #uploadersGauge = this.metrics.gauge("uploaders", "Registered uploaders (metadata files being served).");
  readonly #immediateGauge = this.metrics.gauge("uploaders_immediate", "Registered immediate uploaders.");
  readonly #uploads = this.metrics.counter("uploads_total", "Files uploaded, verified in S3 and deleted locally.");
  readonly #bytes = this.metrics.counter("uploaded_bytes_total", "Bytes sent to S3.");
  readonly #errors = this.metrics.counter("upload_errors_total", "Files whose every attempt in a pass failed.");
  readonly #skippedOpen = this.metrics.counter("files_skipped_total", "Files skipped (still open, or busy).");
  readonly #badFiles = this.metrics.counter("metadata_errors_total", "Metadata files that could not be used.");
  readonly #events = this.metrics.counter("filesystem_events_total", "Events seen in the metadata directory.");
  readonly #removed = this.metrics.counter("uploaders_removed_total", "Uploaders removed, by reason.");
  readonly #journalGauge = this.metrics.gauge("journal_entries", "Uploads planned and not yet confirmed.");
  readonly #passes = this.metrics.counter("passes_total", "Periodic passes completed.");
  readonly #lastPass = this.metrics.gauge("last_pass_timestamp_seconds", "When the last pass ended (epoch s).");
  readonly #passDuration = this.metrics.histogram(
    "pass_duration_seconds",
    "Duration of the periodic passes.",
    [0.05, 0.25, 1, 5, 30, 120, 600],
  );
  readonly #uploadDuration = this.metrics.histogram(
    "upload_duration_seconds",
    "Duration of single file uploads (verification included).",
    [0.1, 0.5, 2, 10, 60, 300, 1800],
  );

  constructor(config: Config<UploaderKeys>, log: Logger) {
    this.#config = config;
    this.#log = log;
    this.settings = uploaderSettings(config);
    this.registry = new Registry(this.settings.metadataDirectory);
  }

  /**
   * Opens the journal, registers the metadata files, starts watching and
   * the metrics server; with `schedule` (default true) starts the periodic
   * passes, the first one now.
   */
  async start(options: { schedule?: boolean } = {}): Promise<void> {
    const { settings } = this;
    const { journal, unreadable } = await Journal.open(settings.metadataDirectory);
    this.#journal = journal;
    for (const entry of unreadable) {
      this.#log.error(`journal entry ${entry.file} cannot be read (${entry.reason}); left in place for a person`);
    }
    if (journal.size > 0) this.#log.info(`${journal.size} upload(s) left in the journal; they are finished first`);
    this.#journalGauge.set(journal.size);
    if (settings.metricsPort !== 0) {
      this.#server = Deno.serve(
        { hostname: "127.0.0.1", port: settings.metricsPort, onListen: () => {} },
        (request) => {
          const path = new URL(request.url).pathname;
          if (path !== "/metrics" || request.method !== "GET") return new Response("not found\n", { status: 404 });
          return new Response(this.metrics.render(), { headers: { "Content-Type": "text/plain; version=0.0.4" } });
        },
      );
      this.#log.info(`metrics at http://127.0.0.1:${settings.metricsPort}/metrics`);
    }
    this.#watcher = new MetadataWatcher(settings.metadataDirectory, settings.metadataSuffix, {
      file: (path, text, stamp) => this.#onMetadata(path, text, stamp),
      gone: (path) => this.#onMetadataGone(path),
      event: () => this.#events.inc(),
    }, this.#log);
    this.#watcher.start(settings.rescanEveryMs);
    await this.#watcher.scan();
    this.#log.info(
      `watching ${settings.metadataDirectory} for *${settings.metadataSuffix}: ${this.registry.size} uploader(s); ` +
        `a pass every ${settings.checkEveryMs / 1000} s, rescan every ${settings.rescanEveryMs / 1000} s`,
    );
    if (options.schedule ?? true) this.#loop = this.#schedule();
  }

  /**
   * Runs one pass now (after the one running, if any) and resolves to what it did.
   *
   * @example
   * ```ts
   * const summary = await service.runPass();
   * ```
   */
  runPass(): Promise<PassSummary> {
    const previous = this.#pass ?? Promise.resolve(undefined);
    const next = previous.catch(() => undefined).then(() => this.#runPass());
    this.#pass = next;
    return this.#track(next);
  }

  /** Looks at every metadata file again now (as the periodic rescan does). */
  async rescan(): Promise<void> {
    await this.#watcher?.scan();
  }

  /** Stops in order: watching, then new work, then (after the grace period) uploads in flight. */
  async stop(): Promise<void> {
    if (this.#stopping.signal.aborted) return;
    this.#stopping.abort();
    await this.#watcher?.close();
    const settled = Promise.allSettled([...this.#running]);
    let timer: ReturnType<typeof setTimeout> | undefined;
    const graceOver = new Promise<"grace over">((resolve) => {
      timer = setTimeout(() => resolve("grace over"), this.settings.shutdownGraceMs);
    });
    if (await Promise.race([settled.then(() => "done" as const), graceOver]) === "grace over") {
      this.#log.info(`uploads still in flight after ${this.settings.shutdownGraceMs} ms: abandoning them`);
      this.#abandon.abort();
    }
    clearTimeout(timer);
    // Abandoned requests reject at once; wait for them and the loop to wind up.
    while (this.#running.size > 0) await Promise.allSettled([...this.#running]);
    await this.#loop;
    await this.#server?.shutdown();
    closeS3Clients();
    this.#log.info(`stopped (${this.#journal?.size ?? 0} upload(s) left in the journal)`);
  }

  /** The periodic passes. */
  async #schedule(): Promise<void> {
    while (!this.#stopping.signal.aborted) {
      try {
        await this.runPass();
      } catch (error) {
        this.#log.error(`pass failed: ${(error as Error).stack ?? error}`);
      }
      await sleep(this.settings.checkEveryMs, undefined, { signal: this.#stopping.signal }).catch(() => {});
    }
  }

  async #runPass(): Promise<PassSummary> {
    const started = performance.now();
    const summary: PassSummary = { uploaders: 0, uploaded: 0, failed: 0, removed: 0, recovered: 0, seconds: 0 };
    if (this.#stopping.signal.aborted) return summary;
    const journal = this.#journal!;
    const context = this.#context();

    // 1. Plans left from earlier attempts and runs, oldest first.
    const plans = journal.plans().filter((plan) => !this.#inFlight.has(plan.path));
    await Promise.all(plans.map((plan) =>
      this.#withSlot(async () => {
        if (this.#stopping.signal.aborted || this.#inFlight.has(plan.path)) return;
        this.#inFlight.add(plan.path);
        context.tried.add(plan.path);
        try {
          const owner = this.registry.byPath(join(this.settings.metadataDirectory, plan.metadataFile));
          if (owner !== undefined) await refreshCredentials(plan, owner.metadata, context);
          const outcome = await uploadWithRetries(plan, false, context);
          if (outcome.state === "uploaded") {
            summary.recovered++;
            summary.uploaded++;
          } else if (outcome.state === "failed") summary.failed++;
        } finally {
          this.#inFlight.delete(plan.path);
        }
      })
    ));

    // 2. Watched pids.
    const watched = this.registry.uploaders().filter((u) => u.metadata.pid !== undefined && !isFinished(u));
    if (watched.length > 0) {
      const alive = await livePids([...new Set(watched.map((u) => u.metadata.pid!))]);
      if (alive === undefined) {
        this.#log.warn("could not check the watched pids with lsof; assuming they are alive");
      } else {
        for (const uploader of watched) {
          if (alive.has(uploader.metadata.pid!)) continue;
          uploader.pidGone = true;
          this.#log.info(`${metadataName(uploader)}: pid ${uploader.metadata.pid} is gone; final pass`);
        }
      }
    }

    // 3. and 4. The uploaders.
    const uploaders = this.registry.uploaders();
    summary.uploaders = uploaders.length;
    await Promise.all(uploaders.map((uploader) =>
      this.#withSlot(async () => {
        if (this.#stopping.signal.aborted || this.#busy.has(uploader) || !this.registry.has(uploader)) return;
        const result = await this.#runUploader(uploader, context);
        summary.uploaded += result.uploaded;
        summary.failed += result.failed;
        if (await this.#decide(uploader, result)) summary.removed++;
      })
    ));

    summary.seconds = (performance.now() - started) / 1000;
    this.#passes.inc();
    this.#passDuration.observe(summary.seconds);
    this.#lastPass.set(Math.floor(Date.now() / 1000));
    this.#journalGauge.set(journal.size);
    const line = `pass: ${summary.uploaders} uploader(s), ${summary.uploaded} file(s) uploaded ` +
      `(${summary.recovered} from the journal), ${summary.failed} failed, ${summary.removed} uploader(s) removed ` +
      `in ${summary.seconds.toFixed(2)} s`;
    if (summary.uploaded + summary.failed + summary.removed > 0) this.#log.info(line);
    else this.#log.debug(line);
    return summary;
  }

  /** Runs one uploader's pass (marking it busy), logging a new listing error. */
  async #runUploader(uploader: Uploader, context: PassContext): Promise<PassResult> {
    this.#busy.add(uploader);
    try {
      const result = await runUploaderPass(uploader, context);
      this.#skippedOpen.inc(result.skipped);
      if (result.error !== undefined && result.error !== uploader.lastError) {
        this.#log.error(`${metadataName(uploader)}: ${result.error}`);
      }
      uploader.lastError = result.error;
      return result;
    } finally {
      this.#busy.delete(uploader);
    }
  }

  /** After an uploader's pass: removes it when finished or expired; true when it was removed. */
  async #decide(uploader: Uploader, result: PassResult): Promise<boolean> {
    if (!this.registry.has(uploader)) return false;
    const now = Date.now();
    if (result.found > 0) uploader.lastFilesFoundAt = now;
    if (uploader.immediate) {
      const done = (result.found === 0 || result.remaining === 0) && result.failed === 0 && result.error === undefined;
      if (done) await this.#remove(uploader, "immediate upload done");
      return done;
    }
    if (isFinished(uploader)) {
      if (result.found === 0 || result.remaining === 0) {
        await this.#remove(uploader, "finished and uploaded");
        return true;
      }
      return false;
    }
    if (result.found > 0) return false;
    const expiry = uploader.metadata.finishedAfterMillisWithoutNewFile ?? this.settings.expireAfterMs;
    if (expiry >= 0 && now - uploader.lastFilesFoundAt > expiry) {
      await this.#remove(uploader, `expired (no file for ${Math.round((now - uploader.lastFilesFoundAt) / 1000)} s)`);
      return true;
    }
    return false;
  }

  /** Unregisters `uploader` and deletes its metadata file (unless it was rewritten meanwhile). */
  async #remove(uploader: Uploader, reason: string): Promise<void> {
    this.registry.remove(uploader);
    this.#removed.inc(1, { reason: reason.split(" ")[0] });
    this.#updateGauges();
    const path = uploader.metadataPath;
    if (path === undefined) {
      this.#log.info(`${metadataName(uploader)}: ${reason}; unregistered`);
      return;
    }
    let now: MetadataStamp | undefined;
    try {
      const info = await Deno.lstat(path);
      now = { ino: info.ino ?? 0, size: info.size, mtimeMs: info.mtime?.getTime() ?? 0 };
    } catch {
      now = undefined;
    }
    const known = uploader.stamp;
    if (
      now !== undefined && known !== undefined &&
      (now.ino !== known.ino || now.size !== known.size || now.mtimeMs !== known.mtimeMs)
    ) {
      // Rewritten since it was read: read it again rather than delete what a writer just put there.
      this.#log.info(`${basename(path)}: ${reason}, but the file was rewritten meanwhile; reading it again`);
      this.#watcher?.forget(path);
      await this.#watcher?.check(path);
      return;
    }
    try {
      if (now !== undefined) await Deno.remove(path);
      this.#log.info(`${basename(path)}: ${reason}; metadata file deleted`);
    } catch (error) {
      this.#log.error(`${basename(path)}: ${reason}, but it cannot be deleted: ${(error as Error).message}`);
      this.#watcher?.forget(path);
    }
  }

  /** A metadata file's content arrived; false when it is not usable (offered again later). */
  #onMetadata(path: string, text: string, stamp: MetadataStamp): boolean {
    const change = this.registry.apply(path, text, stamp, Date.now());
    const name = basename(path);
    switch (change.kind) {
      case "invalid":
      case "duplicate": {
        if (this.#badMetadata.get(path) !== change.message) {
          this.#badMetadata.set(path, change.message);
          if (change.kind === "invalid") {
            this.#badFiles.inc();
            this.#log.warn(`metadata ${change.message}; trying again when it changes or at the next rescan`);
          } else {
            this.#log.warn(change.message);
          }
        }
        return false;
      }
      case "registered": {
        this.#badMetadata.delete(path);
        const { uploader } = change;
        this.#log.info(
          `${name}: uploading ${uploader.metadata.directory}/${uploader.metadata.fileGlob} to s3://` +
            `${uploader.metadata.s3Bucket}/${uploader.metadata.s3KeyFormat}` +
            `${uploader.finishedByFlag ? " (finished)" : ""}${uploader.immediate ? " (immediately)" : ""}`,
        );
        this.#updateGauges();
        if (uploader.immediate) this.#startImmediate(uploader);
        return true;
      }
      case "updated": {
        this.#badMetadata.delete(path);
        if (change.finished !== undefined) {
          this.#log.info(`${name}: ${change.finished ? "finished: final pass next" : "no longer finished"}`);
        }
        if (change.becameImmediate) {
          this.#log.info(`${name}: now uploads immediately`);
          this.#updateGauges();
          this.#startImmediate(change.uploader);
        }
        return true;
      }
      case "unchanged":
        this.#badMetadata.delete(path);
        return true;
    }
  }

  /** A metadata file disappeared. */
  #onMetadataGone(path: string): void {
    this.#badMetadata.delete(path);
    const uploader = this.registry.gone(path);
    if (uploader !== undefined) this.#log.info(`${basename(path)} was deleted: final pass`);
  }

  /** Runs an immediate uploader now, or right after its running pass. */
  #startImmediate(uploader: Uploader): void {
    if (this.#stopping.signal.aborted) return;
    if (this.#busy.has(uploader)) {
      this.#immediatePending.add(uploader);
      return;
    }
    this.#track(
      this.#withSlot(async () => {
        if (this.#stopping.signal.aborted || !this.registry.has(uploader) || this.#busy.has(uploader)) return;
        const result = await this.#runUploader(uploader, this.#context());
        await this.#decide(uploader, result);
      }).finally(() => {
        if (this.#immediatePending.delete(uploader)) this.#startImmediate(uploader);
      }),
    ).catch((error) => this.#log.error(`immediate upload failed: ${(error as Error).stack ?? error}`));
  }

  /** The context of uploads. */
  #context(): PassContext {
    return {
      config: this.#config,
      settings: this.settings,
      journal: this.#journal!,
      log: this.#log,
      signal: this.#abandon.signal,
      stopping: this.#stopping.signal,
      inFlight: this.#inFlight,
      tried: new Set(),
      onBytes: (bytes) => this.#bytes.inc(bytes),
      onUploaded: (_outcome, seconds) => {
        this.#uploads.inc();
        this.#uploadDuration.observe(seconds);
      },
      onFailed: () => this.#errors.inc(),
    };
  }

  /** Updates the uploader gauges once the current burst of changes is over (a scan registers thousands). */
  #updateGauges(): void {
    if (this.#gaugesPending) return;
    this.#gaugesPending = true;
    queueMicrotask(() => {
      this.#gaugesPending = false;
      const uploaders = this.registry.uploaders();
      this.#uploadersGauge.set(uploaders.length);
      this.#immediateGauge.set(uploaders.filter((uploader) => uploader.immediate).length);
    });
  }

  /** Runs `work` when one of the `s3uploader.max.upload.threads` slots is free. */
  async #withSlot<T>(work: () => Promise<T>): Promise<T> {
    while (this.#slots >= this.settings.maxUploadThreads) {
      await new Promise<void>((resolve) => this.#waiting.push(resolve));
    }
    this.#slots++;
    try {
      return await work();
    } finally {
      this.#slots--;
      this.#waiting.shift()?.();
    }
  }

  /** Keeps `promise` in the set `stop()` waits for. */
  #track<T>(promise: Promise<T>): Promise<T> {
    this.#running.add(promise);
    promise.then(() => this.#running.delete(promise), () => this.#running.delete(promise));
    return promise;
  }
}
