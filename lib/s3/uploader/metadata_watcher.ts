/**
 * Watching the metadata directory: a full scan at start, `Deno.watchFs`
 * events while running, and a rescan every `s3uploader.recheck.files.every.seconds`
 * so a missed event cannot strand a file. Only names ending in the metadata
 * suffix count; dot files (writers' temporary files, the journal) never do.
 *
 * Whatever the event says, a name is looked at afresh: gone, or a regular
 * file whose content is handed on when its version (inode, size, mtime)
 * differs from the last one handed on successfully. A file the handler
 * refused (empty, half-written, invalid) is offered again on every event and
 * rescan; the handler decides how often to log it.
 *
 * @module
 */
import type { Logger } from "@logtape/logtape";
import { basename, join } from "node:path";
import type { MetadataStamp } from "./registry.ts";

/** What the watcher reports. */
export interface MetadataHandlers {
  /** A metadata file's content; returns false when it was not usable (it will be offered again). */
  file(path: string, text: string, stamp: MetadataStamp): boolean;
  /** A metadata file that was handed on is gone. */
  gone(path: string): void;
  /** Counts filesystem events (for metrics). */
  event?(): void;
}

/**
 * The watcher of one metadata directory.
 *
 * @example
 * ```ts
 * const watcher = new MetadataWatcher("/var/lib/singularity/s3uploader", ".s3.json", handlers, log);
 * await watcher.scan();
 * watcher.start(600_000);
 * await watcher.close();
 * ```
 */
export class MetadataWatcher {
  readonly #directory: string;
  readonly #suffix: string;
  readonly #handlers: MetadataHandlers;
  readonly #log: Logger;
  /** Versions handed on successfully, by path. */
  readonly #accepted = new Map<string, MetadataStamp>();
  readonly #dirty = new Set<string>();
  #draining: Promise<void> | undefined;
  #watcher: Deno.FsWatcher | undefined;
  #watching: Promise<void> | undefined;
  #rescanTimer: ReturnType<typeof setInterval> | undefined;
  #closed = false;

  constructor(directory: string, suffix: string, handlers: MetadataHandlers, log: Logger) {
    this.#directory = directory;
    this.#suffix = suffix;
    this.#handlers = handlers;
    this.#log = log;
  }

  /** Whether `name` is a metadata file name. */
  isMetadataName(name: string): boolean {
    return name.endsWith(this.#suffix) && !name.startsWith(".") && name.length > this.#suffix.length;
  }

  /** Looks at every metadata file in the directory, and notices handed-on files that are gone. */
  async scan(): Promise<void> {
    const present = new Set<string>();
    for (const entry of Deno.readDirSync(this.#directory)) {
      if (this.isMetadataName(entry.name)) present.add(join(this.#directory, entry.name));
    }
    // In name order, so which of two files naming the same uploader wins does not depend on the file system.
    for (const path of [...present].sort()) this.#dirty.add(path);
    for (const path of this.#accepted.keys()) if (!present.has(path)) this.#dirty.add(path);
    await this.#drain();
  }

  /** Looks at one metadata file now (after something wrote or deleted it). */
  async check(path: string): Promise<void> {
    this.#dirty.add(path);
    await this.#drain();
  }

  /** Forgets the version handed on for `path`, so its next look hands it on again. */
  forget(path: string): void {
    this.#accepted.delete(path);
  }

  /** Starts watching, and rescanning every `rescanEveryMs`. */
  start(rescanEveryMs: number): void {
    this.#watching = this.#watch();
    this.#rescanTimer = setInterval(() => {
      this.scan().catch((error) => this.#log.error(`rescan of ${this.#directory} failed: ${(error as Error).message}`));
    }, rescanEveryMs);
  }

  /** Stops watching; resolves when the last handler call is done. */
  async close(): Promise<void> {
    this.#closed = true;
    clearInterval(this.#rescanTimer);
    try {
      this.#watcher?.close();
    } catch {
      // Already closed.
    }
    await this.#watching;
    await this.#draining;
  }

  /** The watch loop; restarted after an error, so events keep coming as long as the directory exists. */
  async #watch(): Promise<void> {
    while (!this.#closed) {
      try {
        this.#watcher = Deno.watchFs(this.#directory, { recursive: false });
        for await (const event of this.#watcher) {
          this.#handlers.event?.();
          for (const path of event.paths) {
            if (this.isMetadataName(basename(path))) this.#dirty.add(join(this.#directory, basename(path)));
          }
          if (this.#dirty.size > 0) {
            this.#drain().catch((error) => this.#log.error(`metadata event handling failed: ${error}`));
          }
        }
      } catch (error) {
        if (this.#closed) break;
        this.#log.error(
          `watching ${this.#directory} failed (${(error as Error).message}); relying on rescans, retrying in 5 s`,
        );
      }
      if (!this.#closed) await new Promise((resolve) => setTimeout(resolve, 5000));
    }
  }

  /** Looks at the dirty paths one at a time; concurrent callers share one drain. */
  #drain(): Promise<void> {
    if (this.#draining === undefined) {
      const drain = async () => {
        // Yield first, so the promise is stored below before the loop can end and clear it.
        await Promise.resolve();
        try {
          let looked = 0;
          while (this.#dirty.size > 0) {
            const [path] = this.#dirty;
            this.#dirty.delete(path);
            this.#look(path);
            // Let timers and requests in now and then during a long rescan.
            if (++looked % 500 === 0) await new Promise((resolve) => setTimeout(resolve, 0));
          }
        } finally {
          this.#draining = undefined;
        }
      };
      this.#draining = drain();
    }
    return this.#draining;
  }

  /**
   * One look at one path. Synchronous calls, as in file_selection.ts: a rescan of 10,000 unchanged files is
   * 10,000 lstat calls, cheap on the calling thread and costly through the thread pool.
   */
  #look(path: string): void {
    let info: Deno.FileInfo;
    try {
      info = Deno.lstatSync(path);
    } catch (error) {
      if (!(error instanceof Deno.errors.NotFound)) {
        this.#log.error(`cannot examine metadata file ${path}: ${(error as Error).message}`);
        return;
      }
      if (this.#accepted.delete(path)) this.#handlers.gone(path);
      return;
    }
    if (!info.isFile) {
      this.#log.warn(`${path}: not a regular file (a symbolic link or directory); ignored`);
      return;
    }
    const stamp: MetadataStamp = { ino: info.ino ?? 0, size: info.size, mtimeMs: info.mtime?.getTime() ?? 0 };
    const known = this.#accepted.get(path);
    if (
      known !== undefined && known.ino === stamp.ino && known.size === stamp.size && known.mtimeMs === stamp.mtimeMs
    ) {
      return;
    }
    let text: string;
    try {
      text = Deno.readTextFileSync(path);
    } catch (error) {
      if (error instanceof Deno.errors.NotFound) {
        if (this.#accepted.delete(path)) this.#handlers.gone(path);
        return;
      }
      this.#log.error(`cannot read metadata file ${path}: ${(error as Error).message}`);
      return;
    }
    if (this.#handlers.file(path, text, stamp)) this.#accepted.set(path, stamp);
  }
}
