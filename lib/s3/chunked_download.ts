/**
 * One S3 object into one local file with parallel ranged GETs, the md5
 * computed on the way and the page cache kept small.
 *
 * How it differs from the original (S3ArtifactDownloader):
 * - chunk k covers exactly `[k·chunkSize, min((k+1)·chunkSize, size) − 1]`;
 *   a zero-length object is one HEAD and an empty file;
 * - at most {@linkcode MAX_LANES} chunks are in flight, each written at its
 *   offset in the destination (no part files, no append pass);
 * - a failed attempt is retried from the first byte not yet written, with the
 *   same ETag required of every answer, so a retry never mixes two versions;
 * - the md5 is computed while the bytes arrive, in byte order (see
 *   {@linkcode OrderedMd5}): pieces of the chunk at the hashing frontier are
 *   hashed at once, pieces of chunks ahead are held in memory until the
 *   frontier reaches them. Bytes accepted but not yet hashed are capped at
 *   {@linkcode HOLD_LIMIT} (plus the frontier's piece); a lane whose piece
 *   does not fit stops reading its response until the frontier catches up
 *   (TCP backpressure). Objects of {@linkcode WORKER_MIN_SIZE} or more are
 *   hashed on a worker thread, their pieces moved there and back without
 *   copies. Piece buffers ({@linkcode PIECE_SIZE}, or the chunk size if
 *   smaller, plus 4 KiB of room for alignment) are pooled; each lane has at
 *   most one in hand. Memory for the data of one download is therefore at
 *   most `HOLD_LIMIT + (lanes + 1) × PIECE_SIZE` = 52 MiB with the defaults,
 *   plus the HTTP client's own buffers;
 * - the file is written past the page cache with `O_DIRECT` where the
 *   filesystem takes it (objects of {@linkcode DIRECT_MIN_SIZE} or more; see
 *   {@linkcode openDirectWriter}). Each piece sits in its buffer at an
 *   address congruent to its file offset modulo the alignment (4096, or the
 *   page size when larger), so its whole aligned blocks go out in one
 *   `pwrite` on another thread; only the bytes of blocks it shares with
 *   another piece (at a chunk size that is not a multiple of 4096) and of
 *   the file's last partial block are written through the page cache. At the
 *   end, one `fdatasync`, and `POSIX_FADV_DONTNEED` over the whole file for
 *   filesystems that quietly turn `O_DIRECT` writes into buffered ones (e.g.
 *   ext4 with `data=journal`). The result's `writeMode` says which way was
 *   used; when `O_DIRECT` is refused (ramfs, tmpfs before Linux 6.6) the
 *   log says why, once per download;
 * - bytes written through the page cache (all of them when `O_DIRECT` is
 *   unavailable) are made clean (`fdatasync`) and evicted
 *   (`POSIX_FADV_DONTNEED`) once {@linkcode DROP_STEP} bytes have gathered,
 *   and lanes wait while more than {@linkcode MAX_UNDROPPED} bytes are
 *   written but not evicted, so at most
 *   `MAX_UNDROPPED + 2 × lanes × PIECE_SIZE` = 56 MiB of the file is in the
 *   page cache at any time, and nothing once the download returns. See
 *   `lib/artifacts/page_cache.ts` (needs `--allow-ffi` for the C library;
 *   without it the page cache is left to the kernel).
 *
 * Parallelism follows from the two bounds: lanes ahead of the frontier can
 * only run `HOLD_LIMIT` bytes ahead, so chunks larger than
 * `HOLD_LIMIT / MAX_LANES` (8 MiB) are mostly fetched one at a time, with
 * the next chunks prefetched into the hold.
 *
 * Time limits: each attempt at a chunk (or the HEAD) has `chunkTimeoutMs` of
 * waiting for the network — the clock stops while the lane writes, hashes or
 * waits for the frontier — and the whole download has `totalTimeoutMs`.
 * Retries of one attempt inside the AWS SDK (5xx answers, connection errors
 * before the response headers) happen within that attempt's time.
 *
 * @example
 * ```ts
 * import { downloadS3Object } from "./chunked_download.ts";
 * import { s3ClientFor } from "./client.ts";
 *
 * const result = await downloadS3Object({
 *   client: s3ClientFor(config, "artifacts"),
 *   bucket: "artifacts",
 *   key: "app/app-1.2.tar.gz",
 *   destination: "/var/cache/singularity/artifacts/app-1.2.tar.gz.tmp",
 *   chunkSize: 104857600,
 *   chunkTimeoutMs: 30000,
 *   chunkRetries: 3,
 *   totalTimeoutMs: 60000,
 * });
 * console.log(result.md5, result.size, result.chunks, result.retries, result.writeMode);
 * ```
 *
 * @module
 */
import { GetObjectCommand, HeadObjectCommand, type S3Client, S3ServiceException } from "@aws-sdk/client-s3";
import {
  type DirectWriter,
  openDirectWriter,
  openPageCacheDropper,
  type PageCacheDropper,
} from "../artifacts/page_cache.ts";
import { OrderedMd5 } from "./ordered_md5.ts";

/** What {@linkcode downloadS3Object} needs. */
export interface ChunkedDownloadOptions {
  client: S3Client;
  bucket: string;
  key: string;
  /** The file to create; it must not exist (the caller gives a unique temporary path in the cache directory). */
  destination: string;
  /** The object's length when known (the artifact's filesize); otherwise the object is HEADed. */
  size?: number;
  /** `s3.downloader.chunk.size`: bytes per ranged GET. */
  chunkSize: number;
  /** `s3.downloader.chunk.timeout.millis`: network time of one attempt at one chunk. */
  chunkTimeoutMs: number;
  /** `s3.downloader.chunk.retries`: retries of a failed chunk (attempts = retries + 1). */
  chunkRetries: number;
  /** `s3.downloader.timeout.millis`: the whole download. */
  totalTimeoutMs: number;
  /**
   * Write with `O_DIRECT` where the filesystem takes it (default true);
   * false writes through the page cache, as when it is refused.
   */
  directWrites?: boolean;
  /** Cancels the download (a task killed while staging). */
  signal?: AbortSignal;
  log?: (line: string) => void;
}

/** What a finished download reports. */
export interface ChunkedDownloadResult {
  size: number;
  /** md5 of the whole object, lowercase hex. */
  md5: string;
  chunks: number;
  /** Attempts that failed and were retried, over all chunks and the HEAD. */
  retries: number;
  /** How the file was written: see {@linkcode WriteMode}. */
  writeMode: WriteMode;
}

/**
 * `direct`: the aligned blocks of the file went through an `O_DIRECT`
 * descriptor, past the page cache. `buffered`: every byte went through the
 * page cache (`O_DIRECT` refused or FFI unavailable, both logged; `directWrites`
 * false; or an object smaller than {@linkcode DIRECT_MIN_SIZE}, including an
 * empty one).
 */
export type WriteMode = "direct" | "buffered";

/**
 * A download that failed, timed out or was cancelled. The message names the
 * object, the byte range and attempts when a chunk failed, and the cause;
 * never a credential. The destination has been removed.
 */
export class S3DownloadError extends Error {
  constructor(message: string, options?: ErrorOptions) {
    super(message, options);
    this.name = "S3DownloadError";
  }
}

/** At most this many chunks are fetched at once (fewer when the object has fewer chunks). */
export const MAX_LANES = 4;
/** Bytes of chunks ahead of the hashing frontier held in memory before their lanes wait. */
export const HOLD_LIMIT: number = 32 * 1024 * 1024;
/**
 * Bytes read from a response before being written and hashed as one piece;
 * also what a retry may fetch again. 4 MiB rather than 1: a quarter of the
 * reads, writes and hand-overs to the hashing worker took 0.45 s of CPU and
 * about as much wall time off 1 GiB on the 2-CPU test VM, which the download
 * shares with the S3 server (see bench/s3_download_bench.ts).
 */
export const PIECE_SIZE: number = 4 * 1024 * 1024;
/** Written bytes that trigger one `fdatasync` + `POSIX_FADV_DONTNEED`. */
export const DROP_STEP: number = 8 * 1024 * 1024;
/** Lanes wait while more than this many written bytes are not yet evicted from the page cache. */
export const MAX_UNDROPPED: number = 24 * 1024 * 1024;
/** Objects from this size on are hashed on a worker thread (smaller ones do not repay its start). */
export const WORKER_MIN_SIZE: number = 32 * 1024 * 1024;
/** Objects from this size on are written with `O_DIRECT` where possible (it is at least one block on any page size). */
export const DIRECT_MIN_SIZE: number = 64 * 1024;

const MD5_OF_NOTHING = "d41d8cd98f00b204e9800998ecf8427e";
/** Longer timer delays overflow and fire at once. */
const MAX_TIMER_MS = 2 ** 31 - 1;

/**
 * Downloads `s3://bucket/key` into `destination` (created; removed again on
 * any failure) and returns its size and md5. Throws
 * {@linkcode S3DownloadError} when the object is missing, has another size
 * than `size`, changes during the download, a chunk fails all its attempts,
 * the total time runs out or `signal` aborts; throws `RangeError` for invalid
 * options.
 *
 * @example
 * ```ts
 * const controller = new AbortController();
 * const { md5 } = await downloadS3Object({
 *   client, bucket: "artifacts", key: "app.tar.gz", destination: tmp, size: 734003200,
 *   chunkSize: 104857600, chunkTimeoutMs: 30000, chunkRetries: 3, totalTimeoutMs: 120000,
 *   signal: controller.signal, log: (line) => console.log(line),
 * });
 * ```
 */
export async function downloadS3Object(options: ChunkedDownloadOptions): Promise<ChunkedDownloadResult> {
  validateOptions(options);
  return await new Download(options).run();
}

/** Byte range of one chunk, inclusive, with its number (0-based) for messages. */
interface Chunk {
  index: number;
  first: number;
  last: number;
  /** Attempts started so far. */
  attempts: number;
  /** Bytes of the chunk written and handed to the hasher. */
  done: number;
}

/** One download: its state, lanes and cleanup. */
class Download {
  readonly #options: ChunkedDownloadOptions;
  readonly #what: string;
  readonly #log: (line: string) => void;
  /** Aborted on the first failure, the deadline or cancellation; every request listens to it. */
  readonly #stop = new AbortController();
  #failure: Error | undefined;
  #size = 0;
  #etag: string | undefined;
  #retries = 0;
  #chunks: Chunk[] = [];
  #nextChunk = 0;
  #hasher: OrderedMd5 | undefined;
  /** Piece buffers free for reuse, all `#bufferSize` bytes. */
  #pool: ArrayBuffer[] = [];
  #pieceSize = PIECE_SIZE;
  /** `#pieceSize`, plus room to align a piece for `#direct`. */
  #bufferSize = PIECE_SIZE;
  #writeBack: WriteBack | undefined;
  /** Set when the file is written with `O_DIRECT`. */
  #direct: DirectWriter | undefined;
  #directBytes = 0;
  #bufferedBytes = 0;

  constructor(options: ChunkedDownloadOptions) {
    this.#options = options;
    this.#what = `s3://${options.bucket}/${options.key}`;
    this.#log = options.log ?? (() => {});
  }

  /** The whole download; removes the destination on failure. */
  async run(): Promise<ChunkedDownloadResult> {
    const { destination, signal, totalTimeoutMs } = this.#options;
    const started = performance.now();
    const deadline = setTimeout(() => {
      this.#fail(
        new S3DownloadError(
          `${this.#what}: not finished within ${totalTimeoutMs} ms (s3.downloader.timeout.millis); ` +
            `${this.#progress()}`,
        ),
      );
    }, Math.min(totalTimeoutMs, MAX_TIMER_MS));
    const onCancel = () => {
      this.#fail(
        new S3DownloadError(`${this.#what}: cancelled (${reasonText(signal?.reason)}); ${this.#progress()}`, {
          cause: signal?.reason,
        }),
      );
    };
    signal?.addEventListener("abort", onCancel, { once: true });
    let file: Deno.FsFile | undefined;
    let created = false;
    let dropper: PageCacheDropper | undefined;
    try {
      if (signal?.aborted) onCancel();
      this.#throwIfStopped();
      try {
        file = await Deno.open(destination, { write: true, createNew: true });
        created = true;
      } catch (error) {
        throw new S3DownloadError(`${this.#what}: cannot create ${destination}: ${(error as Error).message}`, {
          cause: error,
        });
      }
      dropper = openPageCacheDropper(destination, { log: this.#log });
      this.#writeBack = new WriteBack(dropper);
      await this.#resolveSize();
      if (this.#size >= DIRECT_MIN_SIZE && this.#options.directWrites !== false) await this.#openDirect();
      const result = await this.#download(file);
      file.close();
      file = undefined;
      await this.#writeBack.finish();
      // O_DIRECT data needs one fdatasync for its extents; a filesystem may also have cached it after all.
      if (this.#direct !== undefined) {
        await dropper.drop(0, this.#size).catch((error) => {
          throw new FatalError(`writing ${destination} failed: ${error.message}`);
        });
      }
      this.#throwIfStopped();
      const seconds = (performance.now() - started) / 1000;
      this.#log(
        `${this.#what}: ${result.size} bytes in ${seconds.toFixed(2)} s ` +
          `(${(result.size / 1048576 / Math.max(seconds, 1e-3)).toFixed(1)} MiB/s), ${result.chunks} chunks, ` +
          `${result.retries} retries, md5 ${result.md5}, ` +
          `at most ${this.#hasher?.peakPending ?? 0} bytes waiting for in-order hashing, ` +
          `${this.#directBytes} bytes written with O_DIRECT and ${this.#bufferedBytes} through the page cache`,
      );
      return result;
    } catch (error) {
      this.#fail(error as Error);
      file?.close();
      if (created) await Deno.remove(destination).catch(() => {});
      throw this.#failure;
    } finally {
      clearTimeout(deadline);
      signal?.removeEventListener("abort", onCancel);
      dropper?.close();
      this.#direct?.close();
    }
  }

  /** Sets `#direct` when the destination takes `O_DIRECT` writes; logs why not otherwise. */
  async #openDirect(): Promise<void> {
    const { destination } = this.#options;
    let opening;
    try {
      opening = await openDirectWriter(destination);
    } catch (error) {
      throw new S3DownloadError(`${this.#what}: cannot write ${destination}: ${(error as Error).message}`, {
        cause: error,
      });
    }
    if ("writer" in opening) this.#direct = opening.writer;
    else this.#log(`${this.#what}: writing through the page cache, not with O_DIRECT: ${opening.unavailable}`);
  }

  /** Sets `#size` (and `#etag` when HEADed); HEADs when the size is unknown or zero. */
  async #resolveSize(): Promise<void> {
    const known = this.#options.size;
    if (known !== undefined && known > 0) {
      this.#size = known;
      return;
    }
    const head = await this.#attempts("HEAD", undefined, async (signal) => {
      const { Bucket, Key } = { Bucket: this.#options.bucket, Key: this.#options.key };
      return await this.#options.client.send(new HeadObjectCommand({ Bucket, Key }), { abortSignal: signal });
    });
    const length = head.ContentLength;
    if (length === undefined || !Number.isSafeInteger(length) || length < 0) {
      throw new S3DownloadError(`${this.#what}: HEAD gave no usable Content-Length (${length})`);
    }
    if (known !== undefined && length !== known) {
      throw new S3DownloadError(
        `${this.#what}: the object is ${length} bytes, not the expected ${known} (check the artifact's filesize)`,
      );
    }
    this.#size = length;
    this.#etag = head.ETag;
  }

  /** Downloads every chunk through the lanes; the first lane writes through `file`. */
  async #download(file: Deno.FsFile): Promise<ChunkedDownloadResult> {
    const { chunkSize } = this.#options;
    const count = Math.ceil(this.#size / chunkSize);
    for (let index = 0; index < count; index++) {
      const first = index * chunkSize;
      const last = Math.min(first + chunkSize, this.#size) - 1;
      this.#chunks.push({ index, first, last, attempts: 0, done: 0 });
    }
    if (count === 0) return { size: 0, md5: MD5_OF_NOTHING, chunks: 0, retries: this.#retries, writeMode: "buffered" };
    const lanes = Math.min(count, MAX_LANES);
    this.#pieceSize = Math.min(PIECE_SIZE, chunkSize);
    this.#bufferSize = this.#pieceSize + (this.#direct?.alignment ?? 0);
    const hasher = new OrderedMd5({
      limit: HOLD_LIMIT,
      worker: this.#size >= WORKER_MIN_SIZE,
      release: (buffer) => {
        if (buffer.byteLength === this.#bufferSize) this.#pool.push(buffer);
      },
    });
    this.#hasher = hasher;
    this.#log(
      `${this.#what}: downloading ${this.#size} bytes to ${this.#options.destination} ` +
        `in ${count} chunk${count === 1 ? "" : "s"} of up to ${chunkSize} bytes, ${lanes} at a time, ` +
        (this.#direct === undefined ? "through the page cache" : "with O_DIRECT"),
    );
    const running = Array.from(
      { length: lanes },
      (_, lane) =>
        this.#lane(lane === 0 ? file : undefined).catch((error) => {
          this.#fail(error);
          throw error;
        }),
    );
    await Promise.allSettled(running);
    this.#throwIfStopped();
    if (hasher.frontier !== this.#size) {
      throw new S3DownloadError(`${this.#what}: hashed ${hasher.frontier} of ${this.#size} bytes`);
    }
    const writeMode = this.#direct === undefined ? "buffered" : "direct";
    return { size: this.#size, md5: await hasher.digest(), chunks: count, retries: this.#retries, writeMode };
  }

  /** One lane: takes the next chunk until none is left. Opens its own file handle unless given one. */
  async #lane(given: Deno.FsFile | undefined): Promise<void> {
    const file = given ?? await Deno.open(this.#options.destination, { write: true });
    const writer = { file, position: 0 };
    try {
      while (this.#nextChunk < this.#chunks.length) {
        this.#throwIfStopped();
        const chunk = this.#chunks[this.#nextChunk++];
        await this.#attempts(
          describeChunk(chunk, this.#chunks.length, this.#size),
          chunk,
          (signal, clock) => this.#fetchRange(chunk, writer, signal, clock),
        );
      }
    } finally {
      if (given === undefined) file.close();
    }
  }

  /**
   * Runs `attempt` up to `chunkRetries + 1` times, each with its own clock.
   * Stops at once for a fatal error or when the download is stopping.
   */
  async #attempts<T>(
    label: string,
    chunk: Chunk | undefined,
    attempt: (signal: AbortSignal, clock: AttemptClock) => Promise<T>,
  ): Promise<T> {
    const { chunkRetries, chunkTimeoutMs } = this.#options;
    for (let number = 1;; number++) {
      this.#throwIfStopped();
      if (chunk !== undefined) chunk.attempts = number;
      const clock = new AttemptClock(chunkTimeoutMs, this.#stop.signal);
      try {
        return await attempt(clock.signal, clock);
      } catch (error) {
        this.#throwIfStopped();
        const cause = clock.timedOut ? new AttemptTimeoutError(chunkTimeoutMs) : error as Error;
        const fatal = cause instanceof FatalError || isFatalS3Error(cause);
        const text = describeCause(cause, this.#size);
        if (fatal || number > chunkRetries) {
          const attempts = `${number} attempt${number === 1 ? "" : "s"}`;
          throw new S3DownloadError(`${this.#what}: ${label} failed after ${attempts}: ${text}`, { cause });
        }
        this.#retries++;
        const from = chunk === undefined ? "" : `, resuming at byte ${chunk.first + chunk.done}`;
        this.#log(`${this.#what}: ${label}: attempt ${number} failed (${text}); retrying${from}`);
        await abortableSleep(Math.min(1000, 100 * 2 ** (number - 1)), this.#stop.signal);
      } finally {
        clock.dispose();
      }
    }
  }

  /** One attempt at the rest of `chunk`: GET the range, write and hash it piece by piece. */
  async #fetchRange(
    chunk: Chunk,
    writer: { file: Deno.FsFile; position: number },
    signal: AbortSignal,
    clock: AttemptClock,
  ): Promise<void> {
    const first = chunk.first + chunk.done;
    const { bucket, key, client } = this.#options;
    const response = await client.send(
      new GetObjectCommand({ Bucket: bucket, Key: key, Range: `bytes=${first}-${chunk.last}` }),
      { abortSignal: signal },
    );
    if (response.Body === undefined) throw new Error("the response has no body");
    const body = bodyReader(response.Body as ReadableStream<Uint8Array> | AsyncIterable<Uint8Array>);
    const stopBody = () => body.cancel(signal.reason);
    signal.addEventListener("abort", stopBody, { once: true });
    let complete = false;
    try {
      this.#checkResponse(first, chunk.last, response.ContentRange, response.ETag);
      for (let position = first; position <= chunk.last;) {
        let piece = this.#takePiece(position, chunk.last + 1 - position);
        const length = piece.length;
        for (let filled = 0; filled < length;) {
          const read = await body.read(piece.subarray(filled));
          if (read === null) {
            throw new Error(`the response ended after ${position + filled - first} of ${chunk.last + 1 - first} bytes`);
          }
          // A byte stream hands the bytes back in a new ArrayBuffer over the same memory (the old one is detached).
          piece = new Uint8Array(read.buffer, read.byteOffset - filled, length);
          filled += read.length;
        }
        clock.pause();
        await this.#deliver(position, piece, writer);
        clock.resume();
        position += length;
        chunk.done += length;
      }
      if (await body.read(new Uint8Array(1)) !== null) {
        throw new FatalError(`the server sent more than the ${chunk.last + 1 - first} bytes asked for`);
      }
      complete = true;
    } finally {
      signal.removeEventListener("abort", stopBody);
      // A failed attempt closes its connection rather than leave the rest of the body unread.
      if (!complete) body.cancel(signal.reason);
    }
  }

  /** Throws unless the answer is exactly the requested range of the expected object. */
  #checkResponse(first: number, last: number, contentRange: string | undefined, etag: string | undefined): void {
    const match = /^bytes (\d+)-(\d+)\/(\d+)$/.exec(contentRange ?? "");
    if (match === null) {
      throw new FatalError(`expected Content-Range bytes ${first}-${last}/${this.#size}, got ${contentRange}`);
    }
    const total = Number(match[3]);
    if (total !== this.#size) {
      throw new FatalError(
        `the object is ${total} bytes, not the expected ${this.#size} (check the artifact's filesize)`,
      );
    }
    if (Number(match[1]) !== first || Number(match[2]) !== last) {
      throw new FatalError(`asked for bytes ${first}-${last}, got ${contentRange}`);
    }
    if (this.#etag === undefined) this.#etag = etag;
    else if (etag !== this.#etag) {
      throw new FatalError(`the object changed during the download (ETag ${this.#etag}, now ${etag})`);
    }
  }

  /**
   * A piece for up to `remaining` bytes from `position` on, in a pooled
   * buffer when one is free; placed for `O_DIRECT` writes at `position`.
   */
  #takePiece(position: number, remaining: number): Uint8Array {
    const buffer = this.#pool.pop() ?? new ArrayBuffer(this.#bufferSize);
    const length = Math.min(this.#pieceSize, remaining);
    return this.#direct?.alignedView(buffer, { length, position }) ?? new Uint8Array(buffer, 0, length);
  }

  /**
   * Writes `piece` at `position` — its whole aligned blocks with `O_DIRECT`,
   * the rest through the page cache and noted for write-back — then hands it
   * to the hasher (which may keep it, or make the lane wait).
   */
  async #deliver(position: number, piece: Uint8Array, writer: { file: Deno.FsFile; position: number }): Promise<void> {
    const length = piece.length;
    const direct = this.#direct;
    // [head, head + body) is the piece's whole aligned blocks; the bytes before and after go buffered.
    let [head, body] = [length, 0];
    if (direct !== undefined) {
      head = Math.min(length, (direct.alignment - position % direct.alignment) % direct.alignment);
      body = length - head - (length - head) % direct.alignment;
    }
    try {
      if (direct !== undefined && body > 0) await direct.write(position + head, piece.subarray(head, head + body));
      for (const [first, end] of [[0, head], [head + body, length]]) {
        if (end === first) continue;
        await writeAt(writer, position + first, piece.subarray(first, end));
        await this.#writeBack!.written(position + first, end - first);
      }
    } catch (error) {
      if (error instanceof FatalError) throw error;
      throw new FatalError(`writing ${this.#options.destination} failed: ${(error as Error).message}`);
    }
    this.#directBytes += body;
    this.#bufferedBytes += length - body;
    await this.#hasher!.offer(position, piece);
  }

  /** Records the first failure and stops everything still running. */
  #fail(error: Error): void {
    if (this.#failure !== undefined) return;
    this.#failure = error instanceof S3DownloadError
      ? error
      : new S3DownloadError(`${this.#what}: ${(error as Error).message}`, { cause: error });
    this.#stop.abort(this.#failure);
    this.#hasher?.close(this.#failure);
  }

  #throwIfStopped(): void {
    if (this.#failure !== undefined) throw this.#failure;
  }

  /** How far the download got, for failure messages. */
  #progress(): string {
    if (this.#chunks.length === 0) return "no chunk requested yet";
    const active = this.#chunks
      .filter((chunk) => chunk.attempts > 0 && chunk.done < chunk.last - chunk.first + 1)
      .map((chunk) => `${describeChunk(chunk, this.#chunks.length, this.#size)} attempt ${chunk.attempts}`);
    const done = this.#chunks.reduce((sum, chunk) => sum + chunk.done, 0);
    return `${done} of ${this.#size} bytes written` + (active.length > 0 ? `; in flight: ${active.join(", ")}` : "");
  }
}

/**
 * Page-cache eviction behind the writes: collects written ranges, and every
 * {@linkcode DROP_STEP} bytes runs one drop over their span; lanes wait while
 * more than {@linkcode MAX_UNDROPPED} bytes are neither dropped nor being dropped.
 */
class WriteBack {
  readonly #dropper: PageCacheDropper;
  #first = Infinity;
  #end = 0;
  #pending = 0;
  #inFlight = 0;
  #dropping: Promise<void> | undefined;
  #error: Error | undefined;

  constructor(dropper: PageCacheDropper) {
    this.#dropper = dropper;
  }

  /** Notes a written range; resolves when the caller may write more. */
  async written(offset: number, length: number): Promise<void> {
    if (!this.#dropper.active) return;
    this.#first = Math.min(this.#first, offset);
    this.#end = Math.max(this.#end, offset + length);
    this.#pending += length;
    if (this.#dropping === undefined && this.#pending >= DROP_STEP) this.#start();
    while (this.#error === undefined && this.#pending + this.#inFlight > MAX_UNDROPPED) {
      if (this.#dropping === undefined) this.#start();
      await this.#dropping;
    }
    if (this.#error !== undefined) throw this.#error;
  }

  /** Drops whatever is left and waits for it. */
  async finish(): Promise<void> {
    while (this.#dropping !== undefined) await this.#dropping;
    if (this.#pending > 0) this.#start();
    while (this.#dropping !== undefined) await this.#dropping;
    if (this.#error !== undefined) throw this.#error;
  }

  /** Starts dropping the pending span; when done, starts the next if a step has gathered. */
  #start(): void {
    const [first, end] = [this.#first, this.#end];
    this.#inFlight = this.#pending;
    this.#pending = 0;
    this.#first = Infinity;
    this.#end = 0;
    this.#dropping = this.#dropper.drop(first, end - first).then(
      () => {
        this.#dropping = undefined;
        this.#inFlight = 0;
        if (this.#pending >= DROP_STEP) this.#start();
      },
      (error) => {
        this.#error = new FatalError(`page cache write-back failed: ${error.message}`);
        this.#dropping = undefined;
        this.#inFlight = 0;
      },
    );
  }
}

/**
 * The per-attempt timer: aborts `signal` after `ms` of running time; paused
 * while the lane is busy locally. Also aborts when the download stops.
 */
class AttemptClock {
  readonly #timeout = new AbortController();
  readonly signal: AbortSignal;
  readonly #ms: number;
  #remaining: number;
  #since = 0;
  #timer: ReturnType<typeof setTimeout> | undefined;
  timedOut = false;

  constructor(ms: number, stop: AbortSignal) {
    this.#ms = ms;
    this.#remaining = ms;
    this.signal = AbortSignal.any([stop, this.#timeout.signal]);
    this.resume();
  }

  pause(): void {
    if (this.#timer === undefined) return;
    clearTimeout(this.#timer);
    this.#timer = undefined;
    this.#remaining -= performance.now() - this.#since;
  }

  resume(): void {
    if (this.#timer !== undefined || this.timedOut) return;
    this.#since = performance.now();
    this.#timer = setTimeout(() => {
      this.timedOut = true;
      this.#timeout.abort(new AttemptTimeoutError(this.#ms));
    }, Math.min(Math.max(0, this.#remaining), MAX_TIMER_MS));
  }

  dispose(): void {
    this.pause();
  }
}

/** An error retrying cannot fix (wrong size, changed object, local write failure). */
class FatalError extends Error {}

/** One attempt ran out of time. */
class AttemptTimeoutError extends Error {
  constructor(ms: number) {
    super(`no answer within ${ms} ms (s3.downloader.chunk.timeout.millis)`);
  }
}

/** Reads a response body into the caller's buffers. */
interface BodyReader {
  /**
   * Reads at least one byte into `view` and resolves with the bytes read,
   * or null at the end of the body. The bytes may come back in a new
   * ArrayBuffer over the same memory, `view`'s own buffer then detached.
   */
  read(view: Uint8Array): Promise<Uint8Array | null>;
  /** Stops reading so the connection is closed, not drained. */
  cancel(reason: unknown): void;
}

/**
 * A reader for the body the SDK gives: from a web byte stream (the fetch
 * handler) the bytes are read straight into the caller's buffers (a BYOB
 * reader: half the CPU time of iterating its chunks and copying them, and
 * no garbage); other streams (Node's IncomingMessage) are iterated and
 * copied.
 */
function bodyReader(body: ReadableStream<Uint8Array> | AsyncIterable<Uint8Array>): BodyReader {
  if (body instanceof ReadableStream) {
    let byob: ReadableStreamBYOBReader | undefined;
    try {
      byob = body.getReader({ mode: "byob" });
    } catch {
      // Not a byte stream: iterated below.
    }
    if (byob !== undefined) {
      const reader = byob;
      return {
        read: async (view) => {
          const { done, value } = await reader.read(view);
          return done || value === undefined ? null : value;
        },
        cancel: (reason) => reader.cancel(reason).catch(() => {}),
      };
    }
  }
  const iterator = body[Symbol.asyncIterator]();
  let part: Uint8Array = new Uint8Array(0);
  return {
    read: async (view) => {
      while (part.length === 0) {
        const next = await iterator.next();
        if (next.done) return null;
        part = next.value;
      }
      const take = Math.min(part.length, view.length);
      view.set(part.subarray(0, take));
      part = part.subarray(take);
      return view.subarray(0, take);
    },
    cancel: (reason) => {
      const stream = body as Partial<{ destroy(error?: Error): void }>;
      if (typeof stream.destroy === "function") stream.destroy(reason instanceof Error ? reason : undefined);
      else iterator.return?.().catch(() => {});
    },
  };
}

/** Writes all of `bytes` at `position` through `writer`, seeking only when not already there. */
async function writeAt(
  writer: { file: Deno.FsFile; position: number },
  position: number,
  bytes: Uint8Array,
): Promise<void> {
  if (writer.position !== position) await writer.file.seek(position, Deno.SeekMode.Start);
  let written = 0;
  while (written < bytes.length) written += await writer.file.write(bytes.subarray(written));
  writer.position = position + bytes.length;
}

/** `bytes 0-65535 (chunk 1 of 17)`. */
function describeChunk(chunk: Chunk, count: number, size: number): string {
  return `bytes ${chunk.first}-${chunk.last} of ${size} (chunk ${chunk.index + 1} of ${count})`;
}

/** A 4xx answer other than 408 and 429: asking again gives the same answer. */
function isFatalS3Error(error: Error): boolean {
  if (!(error instanceof S3ServiceException)) return false;
  const status = error.$metadata.httpStatusCode ?? 0;
  return status >= 400 && status < 500 && status !== 408 && status !== 429;
}

/** The cause of a failed attempt, in one line. */
function describeCause(error: Error, size: number): string {
  if (error instanceof S3ServiceException) {
    const status = error.$metadata.httpStatusCode;
    const message = error.message && error.message !== error.name && error.message !== "UnknownError"
      ? `: ${error.message}`
      : "";
    // A HEAD answer has no body, so the SDK knows no error code for most statuses.
    const name = error.name === "Unknown" ? STATUS_NAMES[status ?? 0] ?? "Unknown" : error.name;
    const hint = status === 416
      ? ` (the object is shorter than the expected ${size} bytes)`
      : status === 403
      ? " (check the access and secret key for the bucket)"
      : "";
    return `${name} (HTTP ${status ?? "?"})${message}${hint}`;
  }
  const code = (error as { code?: unknown }).code;
  return typeof code === "string" && !error.message.includes(code) ? `${error.message} (${code})` : error.message;
}

/** Names for HTTP statuses the SDK reports as "Unknown". */
const STATUS_NAMES: Record<number, string> = {
  400: "BadRequest",
  401: "Unauthorized",
  403: "Forbidden",
  404: "NotFound",
  412: "PreconditionFailed",
  416: "InvalidRange",
  500: "InternalError",
  503: "ServiceUnavailable",
};

/** A cancellation reason as text. */
function reasonText(reason: unknown): string {
  if (reason instanceof Error) return reason.message;
  return reason === undefined ? "aborted" : String(reason);
}

/** Waits `ms`, or less when `signal` aborts. */
function abortableSleep(ms: number, signal: AbortSignal): Promise<void> {
  return new Promise((resolve) => {
    const done = () => {
      clearTimeout(timer);
      signal.removeEventListener("abort", done);
      resolve();
    };
    const timer = setTimeout(done, ms);
    signal.addEventListener("abort", done, { once: true });
  });
}

/** Throws `RangeError` naming the first invalid option. */
function validateOptions(options: ChunkedDownloadOptions): void {
  const integer = (name: string, value: number | undefined, min: number) => {
    if (value !== undefined && (!Number.isSafeInteger(value) || value < min)) {
      throw new RangeError(`downloadS3Object: ${name} = ${value}; expected an integer >= ${min}`);
    }
  };
  if (options.bucket === "" || options.key === "") {
    throw new RangeError(`downloadS3Object: bucket "${options.bucket}" and key "${options.key}" must not be empty`);
  }
  integer("size", options.size, 0);
  integer("chunkSize", options.chunkSize, 1);
  integer("chunkTimeoutMs", options.chunkTimeoutMs, 1);
  integer("chunkRetries", options.chunkRetries, 0);
  integer("totalTimeoutMs", options.totalTimeoutMs, 1);
}
