/**
 * MD5 over pieces of a file that arrive out of order (parallel ranged
 * downloads), hashed in byte order with bounded memory, on the calling
 * thread or a worker. Used by chunked_download.ts.
 *
 * @module
 */
import { createHash, type Hash } from "node:crypto";

/** Options of {@linkcode OrderedMd5}. */
export interface OrderedMd5Options {
  /** Bytes accepted but not yet hashed (held ahead of the frontier, or queued for hashing) before senders wait. */
  limit: number;
  /** Hash on a worker thread, so the calling thread stays free for the network (costs ~50 ms to start). */
  worker?: boolean;
  /** Gets each piece's buffer back once it is hashed, for reuse. */
  release?: (buffer: ArrayBuffer) => void;
}

/**
 * MD5 over pieces that arrive out of order. The piece at the frontier (the
 * next byte to hash) is hashed at once, followed by the held pieces it makes
 * contiguous; a piece ahead of the frontier is held. Memory is counted in
 * whole piece buffers (`piece.buffer.byteLength`): while the bytes accepted
 * but not yet hashed would exceed `limit`, a sender ahead of the frontier
 * waits; the frontier's sender waits only for the hashing thread to catch
 * up, never for other senders, so the pieces always drain. Accepted but not
 * yet hashed bytes therefore stay within `limit` plus one piece.
 *
 * With `worker`, pieces are transferred to a worker thread (their buffers
 * are detached until handed back through `release`).
 *
 * @example
 * ```ts
 * const md5 = new OrderedMd5({ limit: 1024 });
 * md5.offer(3, new Uint8Array([4, 5])); // held: returns undefined
 * md5.offer(0, new Uint8Array([1, 2, 3])); // hashes bytes 0-4
 * await md5.digest(); // md5 of [1, 2, 3, 4, 5]
 * ```
 */
export class OrderedMd5 {
  readonly #limit: number;
  readonly #release: (buffer: ArrayBuffer) => void;
  readonly #sink: Md5Sink;
  readonly #held = new Map<number, Uint8Array>();
  #waiting: { offset: number; piece: Uint8Array; resolve: () => void; reject: (error: Error) => void }[] = [];
  #heldBytes = 0;
  #queuedBytes = 0;
  #peakPending = 0;
  #frontier = 0;
  #busy = false;
  #rescan = false;
  #closed: Error | undefined;

  constructor(options: OrderedMd5Options) {
    this.#limit = options.limit;
    this.#release = options.release ?? (() => {});
    const hashed = (buffer: ArrayBuffer) => this.#hashed(buffer);
    const failed = (error: Error) => this.close(error);
    this.#sink = options.worker ? new WorkerMd5(hashed, failed) : new InlineMd5(hashed);
  }

  /** The next offset to hash: every byte before it is hashed or queued for hashing. */
  get frontier(): number {
    return this.#frontier;
  }

  /** Bytes (in piece buffers) accepted but not yet hashed. */
  get pending(): number {
    return this.#heldBytes + this.#queuedBytes;
  }

  /** The most bytes pending at any one time. */
  get peakPending(): number {
    return this.#peakPending;
  }

  /**
   * Accepts `piece`, the bytes at `offset`: returns undefined when it was
   * hashed, queued or held, or a promise that resolves once it is (rejects
   * after {@linkcode OrderedMd5.close}). The piece belongs to the hasher from
   * then on, until its buffer comes back through `release`.
   */
  offer(offset: number, piece: Uint8Array): Promise<void> | undefined {
    if (this.#closed !== undefined) return Promise.reject(this.#closed);
    if (offset < this.#frontier || this.#held.has(offset)) {
      throw new RangeError(`bytes at offset ${offset} were offered twice (hashed up to ${this.#frontier})`);
    }
    if (this.#settle(() => this.#accept(offset, piece))) return undefined;
    return new Promise((resolve, reject) => this.#waiting.push({ offset, piece, resolve, reject }));
  }

  /** The md5 of everything offered, lowercase hex; call once, after the last piece. Ends the worker. */
  async digest(): Promise<string> {
    if (this.#closed !== undefined) throw this.#closed;
    if (this.#heldBytes > 0) throw new RangeError(`bytes from ${this.#frontier} on are missing`);
    return await this.#sink.digest();
  }

  /** Rejects every waiting sender with `error`, refuses further pieces and ends the worker. */
  close(error: Error): void {
    if (this.#closed !== undefined) return;
    this.#closed = error;
    for (const waiter of this.#waiting) waiter.reject(error);
    this.#waiting = [];
    this.#held.clear();
    this.#heldBytes = 0;
    this.#sink.close(error);
  }

  /** Hashes or holds the piece if the budget allows it now. */
  #accept(offset: number, piece: Uint8Array): boolean {
    const size = piece.buffer.byteLength;
    const fits = this.pending + size <= this.#limit;
    if (offset === this.#frontier) {
      if (!fits && this.#queuedBytes > 0) return false;
      this.#send(piece);
      for (let next = this.#held.get(this.#frontier); next !== undefined; next = this.#held.get(this.#frontier)) {
        this.#held.delete(this.#frontier);
        this.#heldBytes -= next.buffer.byteLength;
        this.#send(next);
      }
      return true;
    }
    if (!fits && this.pending > 0) return false;
    this.#held.set(offset, piece);
    this.#heldBytes += size;
    this.#peakPending = Math.max(this.#peakPending, this.pending);
    return true;
  }

  /** Queues the frontier piece for hashing. */
  #send(piece: Uint8Array): void {
    this.#frontier += piece.length;
    this.#queuedBytes += piece.buffer.byteLength;
    this.#peakPending = Math.max(this.#peakPending, this.pending);
    this.#sink.update(piece);
  }

  /** A piece is hashed: its buffer is free again, and waiting senders may fit. */
  #hashed(buffer: ArrayBuffer): void {
    this.#queuedBytes -= buffer.byteLength;
    this.#release(buffer);
    // Hashing on this thread reports from inside #accept: the running #settle rescans.
    if (this.#busy) this.#rescan = true;
    else this.#settle(() => false);
  }

  /**
   * Runs `step`, then lets waiting senders in, lowest offset first, until
   * none fits. Never nested: state changes during it only ask for a rescan.
   */
  #settle(step: () => boolean): boolean {
    this.#busy = true;
    try {
      const result = step();
      this.#rescan = true;
      while (this.#rescan && this.#closed === undefined) {
        this.#rescan = false;
        this.#waiting.sort((a, b) => a.offset - b.offset);
        const index = this.#waiting.findIndex((waiter) => this.#accept(waiter.offset, waiter.piece));
        if (index >= 0) {
          this.#waiting.splice(index, 1)[0].resolve();
          this.#rescan = true;
        }
      }
      return result;
    } finally {
      this.#busy = false;
    }
  }
}

/** Where {@linkcode OrderedMd5} sends the pieces, in order. */
interface Md5Sink {
  update(piece: Uint8Array): void;
  digest(): Promise<string>;
  close(error: Error): void;
}

/** Hashes on the calling thread. */
class InlineMd5 implements Md5Sink {
  readonly #hash: Hash = createHash("md5");
  readonly #hashed: (buffer: ArrayBuffer) => void;

  constructor(hashed: (buffer: ArrayBuffer) => void) {
    this.#hashed = hashed;
  }

  update(piece: Uint8Array): void {
    this.#hash.update(piece);
    this.#hashed(piece.buffer as ArrayBuffer);
  }

  digest(): Promise<string> {
    return Promise.resolve(this.#hash.digest("hex"));
  }

  close(): void {}
}

/** The worker's code: hash each piece, hand its buffer back; answer "digest" with the md5. */
const WORKER_SOURCE = `import { createHash } from "node:crypto";
const hash = createHash("md5");
self.onmessage = ({ data }) => {
  if (data === "digest") {
    self.postMessage({ md5: hash.digest("hex") });
    return;
  }
  hash.update(new Uint8Array(data.buffer, data.offset, data.length));
  self.postMessage({ buffer: data.buffer }, [data.buffer]);
};
`;

/** Hashes on a worker thread; pieces' buffers travel there and back without copies. */
class WorkerMd5 implements Md5Sink {
  readonly #worker: Worker;
  /** The worker's code as a blob: no file to ship or grant read access to. Revoked when the worker ends. */
  readonly #url = URL.createObjectURL(new Blob([WORKER_SOURCE], { type: "text/javascript" }));
  #digest: { resolve: (md5: string) => void; reject: (error: Error) => void } | undefined;
  #failed: Error | undefined;

  constructor(hashed: (buffer: ArrayBuffer) => void, failed: (error: Error) => void) {
    this.#worker = new Worker(this.#url, { type: "module" });
    this.#worker.onmessage = ({ data }: MessageEvent<{ buffer?: ArrayBuffer; md5?: string }>) => {
      if (data.md5 !== undefined) {
        this.#digest?.resolve(data.md5);
        this.#end();
      } else if (data.buffer !== undefined) hashed(data.buffer);
    };
    this.#worker.onerror = (event: ErrorEvent) => {
      event.preventDefault();
      failed(new Error(`the md5 worker failed: ${event.message}`));
    };
  }

  update(piece: Uint8Array): void {
    const buffer = piece.buffer as ArrayBuffer;
    this.#worker.postMessage({ buffer, offset: piece.byteOffset, length: piece.length }, [buffer]);
  }

  digest(): Promise<string> {
    if (this.#failed !== undefined) return Promise.reject(this.#failed);
    return new Promise((resolve, reject) => {
      this.#digest = { resolve, reject };
      this.#worker.postMessage("digest");
    });
  }

  close(error: Error): void {
    this.#failed ??= error;
    this.#digest?.reject(error);
    this.#end();
  }

  #end(): void {
    this.#worker.terminate();
    URL.revokeObjectURL(this.#url);
  }
}
