/**
 * Keeps a file being written from filling the page cache, in one of two
 * ways. Page cache of big downloads charged to a task's memory cgroup got
 * tasks OOM-killed in the original; it is the reason the separate downloader
 * service exists.
 *
 * - {@linkcode openDirectWriter}: write past the page cache altogether, with
 *   `O_DIRECT` and `pwrite(2)` from aligned buffers. On a disk this is the
 *   faster way (1 GiB in 1.0 s against 3.8 s buffered with `fdatasync` on
 *   the test VM), as nothing waits for write-back. Filesystems without
 *   `O_DIRECT` (ramfs, tmpfs before Linux 6.6) refuse it at open, others
 *   may at the first write when they need a coarser alignment; the opener
 *   then says why.
 * - {@linkcode openPageCacheDropper}: write through the page cache, then
 *   drop the range — `fdatasync(2)` turns its dirty pages clean,
 *   `posix_fadvise(POSIX_FADV_DONTNEED)` evicts them.
 *
 * Deno's `FsFile` exposes no file descriptor, so the calls go through FFI on
 * the C library, on a descriptor of our own for the same file (the page cache
 * belongs to the inode, not to a descriptor). Needs `--allow-ffi` for the C
 * library; without it (or without a glibc) dropping is a no-op, the first
 * dropper of the process logs why, once, and no direct writer opens.
 *
 * @example
 * ```ts
 * using dropper = openPageCacheDropper("/var/cache/singularity/artifacts/app.tar.gz.tmp");
 * // ... write 8 MiB at offset 0 ...
 * await dropper.drop(0, 8 * 1024 * 1024);
 * ```
 *
 * @module
 */

/** A descriptor open for evicting one file's pages; `using` closes it. */
export interface PageCacheDropper extends Disposable {
  /** False when FFI is unavailable: {@linkcode PageCacheDropper.drop} then does nothing. */
  readonly active: boolean;
  /**
   * Writes the file's dirty pages back (`fdatasync`), then evicts the pages of
   * `[offset, offset + length)` from the page cache. Throws when the write-back
   * fails (the written data may then be lost); eviction is best effort.
   */
  drop(offset: number, length: number): Promise<void>;
  /** Closes the descriptor; later drops do nothing. Safe to call twice. */
  close(): void;
}

/** Options of {@linkcode openPageCacheDropper}. */
export interface PageCacheDropperOptions {
  /** Where the one-time "FFI unavailable" notice goes. */
  log?: (line: string) => void;
}

/**
 * A descriptor open with `O_DIRECT` on one file: aligned writes that bypass
 * the page cache. `using` closes it.
 */
export interface DirectWriter extends Disposable {
  /**
   * What the buffer address, the length and the file offset of every
   * {@linkcode DirectWriter.write} must be multiples of: 4096, or the page
   * size when larger (so a direct write never shares a page with a buffered
   * one).
   */
  readonly alignment: number;
  /**
   * A view of `length` bytes of `buffer` for writing at file offset
   * `position`: it starts at an address congruent to `position` modulo
   * {@linkcode DirectWriter.alignment}, so every byte at an aligned offset
   * sits at an aligned address. `buffer` needs `length + alignment` bytes.
   * ArrayBuffers do not move (not even when transferred to a worker and
   * back), but take the view again for each use: it is cheap.
   */
  alignedView(buffer: ArrayBuffer, options: AlignedViewOptions): Uint8Array;
  /**
   * Writes all of `bytes` at `offset`, on another thread. Throws `RangeError`
   * when the address, length or offset is not aligned, and an error naming
   * the errno when the write fails. Keep `bytes` attached until it settles.
   */
  write(offset: number, bytes: Uint8Array): Promise<void>;
  /** Closes the descriptor once no write is running; later writes throw. Safe to call twice. */
  close(): void;
}

/** Options of {@linkcode DirectWriter.alignedView}. */
export interface AlignedViewOptions {
  /** The bytes of the view. */
  length: number;
  /** The file offset the view's first byte is for (default 0). */
  position?: number;
}

/** What {@linkcode openDirectWriter} gives: a writer, or why the file cannot be written with `O_DIRECT`. */
export type DirectWriterOpening = { writer: DirectWriter } | { unavailable: string };

/** Where distributions keep glibc; tried in order, each only when `--allow-ffi` covers it, then the bare soname. */
export const LIBC_PATHS: readonly string[] = [
  "/lib/x86_64-linux-gnu/libc.so.6",
  "/lib/aarch64-linux-gnu/libc.so.6",
  "/usr/lib64/libc.so.6",
  "/lib64/libc.so.6",
  "libc.so.6",
];

const O_WRONLY = 0o1;
const O_CLOEXEC = 0o2000000;
/** ARM's `fcntl.h` swaps O_DIRECT and O_DIRECTORY relative to x86 and the generic headers. */
const O_DIRECT = Deno.build.arch === "aarch64" ? 0o200000 : 0o40000;
const POSIX_FADV_DONTNEED = 4;
/** The smallest alignment used for `O_DIRECT`: the largest logical block size of common disks. */
const MIN_DIRECT_ALIGNMENT = 4096;
const EINVAL = 22;
/** Names of the errno values a write or open is likely to meet, for messages. */
const ERRNO_NAMES: Record<number, string> = {
  1: "EPERM",
  2: "ENOENT",
  4: "EINTR",
  5: "EIO",
  9: "EBADF",
  13: "EACCES",
  22: "EINVAL",
  27: "EFBIG",
  28: "ENOSPC",
  30: "EROFS",
  95: "EOPNOTSUPP",
  122: "EDQUOT",
};

const SYMBOLS = {
  open: { parameters: ["buffer", "i32", "i32"], result: "i32" },
  close: { parameters: ["i32"], result: "i32" },
  ftruncate: { parameters: ["i32", "i64"], result: "i32" },
  getpagesize: { parameters: [], result: "i32" },
  // These may wait for the disk: run them off the JavaScript thread.
  fdatasync: { parameters: ["i32"], result: "i32", nonblocking: true },
  posix_fadvise: { parameters: ["i32", "i64", "i64", "i32"], result: "i32", nonblocking: true },
  pwrite: { parameters: ["i32", "buffer", "usize", "i64"], result: "isize", nonblocking: true },
  // The same call on this thread, whose errno can be read afterwards (a nonblocking call's errno stays on its thread).
  pwriteHere: { name: "pwrite", parameters: ["i32", "buffer", "usize", "i64"], result: "isize" },
  // Deno.UnsafePointer and UnsafePointerView need --allow-ffi for every library, not just the C library's
  // path: addresses are learnt and read through the C library instead. memset of 0 bytes returns its argument.
  addressOf: { name: "memset", parameters: ["buffer", "i32", "usize"], result: "usize" },
  errnoAddress: { name: "__errno_location", parameters: [], result: "usize" },
  copyFrom: { name: "memcpy", parameters: ["buffer", "usize", "usize"], result: "usize" },
} as const satisfies Deno.ForeignLibraryInterface;

type Libc = Deno.DynamicLibrary<typeof SYMBOLS>["symbols"];

/** The loaded C library, or why it could not be loaded; resolved once per process. */
let libc: { symbols: Libc } | { unavailable: string } | undefined;
let noticeLogged = false;

/**
 * Opens a dropper for `path` (an existing file). Never throws for a missing
 * FFI permission or C library: the dropper is then inactive. Throws when the
 * C library is there but `open(2)` of `path` fails.
 *
 * @example
 * ```ts
 * using dropper = openPageCacheDropper(tmpPath, { log: console.log });
 * if (!dropper.active) console.log("page cache not managed");
 * ```
 */
export function openPageCacheDropper(path: string, options: PageCacheDropperOptions = {}): PageCacheDropper {
  const loaded = loadLibc();
  if ("unavailable" in loaded) {
    if (!noticeLogged) {
      noticeLogged = true;
      options.log?.(`page cache of downloads is not dropped: ${loaded.unavailable}`);
    }
    return inactiveDropper();
  }
  const c = loaded.symbols;
  const fd = c.open(cString(path), O_WRONLY | O_CLOEXEC, 0);
  if (fd < 0) throw new Error(`open(${path}) for page cache control failed: ${errnoText(c)}`);
  const descriptor = new SharedDescriptor(c, fd);
  const dropper: PageCacheDropper = {
    active: true,
    async drop(offset: number, length: number): Promise<void> {
      if (!descriptor.open || length <= 0) return;
      await descriptor.use(async () => {
        if ((await c.fdatasync(fd)) !== 0) throw new Error(`fdatasync(${path}) failed`);
        await c.posix_fadvise(fd, BigInt(offset), BigInt(length), POSIX_FADV_DONTNEED);
      });
    },
    close: () => descriptor.close(),
    [Symbol.dispose]: () => descriptor.close(),
  };
  return dropper;
}

/**
 * Opens `path`, an existing empty file, for `O_DIRECT` writes. Probes with
 * one aligned block of zeros written at offset 0 and truncated away again,
 * since some filesystems accept the open flag and refuse the writes. Resolves
 * to `{ unavailable }` with the reason when FFI is unavailable, or the open or
 * the probe fails with `EINVAL` (no `O_DIRECT` on this filesystem, or a
 * coarser alignment needed); rejects for any other failure of the probe.
 *
 * @example
 * ```ts
 * const opening = await openDirectWriter(tmpPath);
 * if ("unavailable" in opening) console.log(`buffered writes: ${opening.unavailable}`);
 * else {
 *   using writer = opening.writer;
 *   const block = writer.alignedView(new ArrayBuffer(2 * writer.alignment), { length: writer.alignment });
 *   await writer.write(0, block);
 * }
 * ```
 */
export async function openDirectWriter(path: string): Promise<DirectWriterOpening> {
  const loaded = loadLibc();
  if ("unavailable" in loaded) return { unavailable: loaded.unavailable };
  const c = loaded.symbols;
  const alignment = Math.max(MIN_DIRECT_ALIGNMENT, c.getpagesize());
  const fd = c.open(cString(path), O_WRONLY | O_DIRECT | O_CLOEXEC, 0);
  if (fd < 0) return { unavailable: `open(${path}, O_DIRECT) failed: ${errnoText(c)}` };
  const alignedView = (buffer: ArrayBuffer, { length, position = 0 }: AlignedViewOptions): Uint8Array => {
    const skew = (position % alignment - addressOf(c, new Uint8Array(buffer), alignment) + alignment) % alignment;
    if (skew + length > buffer.byteLength) {
      throw new RangeError(
        `alignedView: ${length} bytes aligned to ${alignment} need a buffer of ${length + alignment}, ` +
          `not ${buffer.byteLength}`,
      );
    }
    return new Uint8Array(buffer, skew, length);
  };
  try {
    await pwriteAll(c, fd, path, 0, alignedView(new ArrayBuffer(2 * alignment), { length: alignment }));
  } catch (error) {
    c.close(fd);
    const failure = `O_DIRECT probe: ${(error as Error).message}`;
    if (error instanceof CallError && error.errno === EINVAL) return { unavailable: failure };
    throw new Error(failure, { cause: error });
  }
  if (c.ftruncate(fd, 0n) !== 0) {
    const failure = `ftruncate(${path}) after the O_DIRECT probe failed: ${errnoText(c)}`;
    c.close(fd);
    throw new Error(failure);
  }
  const descriptor = new SharedDescriptor(c, fd);
  const writer: DirectWriter = {
    alignment,
    alignedView,
    async write(offset: number, bytes: Uint8Array): Promise<void> {
      if (bytes.length === 0) return;
      const misaligned = [["offset", offset], ["length", bytes.length], ["address", addressOf(c, bytes, alignment)]]
        .filter(([, value]) => Number(value) % alignment !== 0).map(([name]) => name);
      if (misaligned.length > 0) {
        throw new RangeError(
          `O_DIRECT write of ${bytes.length} bytes at offset ${offset} of ${path}: the ${misaligned.join(" and ")} ` +
            `${misaligned.length === 1 ? "is" : "are"} not a multiple of ${alignment}`,
        );
      }
      if (!descriptor.open) throw new Error(`O_DIRECT write to ${path} after close`);
      await descriptor.use(() => pwriteAll(c, fd, path, offset, bytes));
    },
    close: () => descriptor.close(),
    [Symbol.dispose]: () => descriptor.close(),
  };
  return { writer };
}

/** A failed call into the C library, with its errno. */
class CallError extends Error {
  readonly errno: number;

  constructor(message: string, errno: number) {
    super(message);
    this.errno = errno;
  }
}

/** Writes all of `bytes` at `offset` of `fd` on another thread; throws a CallError when `pwrite` fails. */
async function pwriteAll(c: Libc, fd: number, path: string, offset: number, bytes: Uint8Array): Promise<void> {
  for (let done = 0; done < bytes.length;) {
    const rest = bytes.subarray(done);
    const [length, at] = [BigInt(rest.length), BigInt(offset + done)];
    let written = Number(await c.pwrite(fd, rest, length, at));
    // errno stays on the thread that made the call: ask again on this one to learn it (or get past an EINTR).
    if (written < 0) written = Number(c.pwriteHere(fd, rest, length, at));
    if (written < 0) {
      const errno = errnoOf(c);
      throw new CallError(
        `pwrite of ${rest.length} bytes at offset ${offset + done} of ${path} failed: ${describeErrno(errno)}`,
        errno,
      );
    }
    if (written === 0) throw new Error(`pwrite at offset ${offset + done} of ${path} wrote nothing`);
    done += written;
  }
}

/** The address of `bytes`' first byte modulo `alignment` (`bytes` not empty). */
function addressOf(c: Libc, bytes: Uint8Array, alignment: number): number {
  return Number(BigInt(c.addressOf(bytes, 0, 0n)) % BigInt(alignment));
}

/** A descriptor used by calls on other threads: closed only once none is running. */
class SharedDescriptor {
  readonly #c: Libc;
  readonly #fd: number;
  #open = true;
  #running = 0;

  constructor(c: Libc, fd: number) {
    this.#c = c;
    this.#fd = fd;
  }

  get open(): boolean {
    return this.#open;
  }

  /** Runs `call`, keeping the descriptor open until it settles. */
  async use<T>(call: () => Promise<T>): Promise<T> {
    this.#running++;
    try {
      return await call();
    } finally {
      this.#running--;
      if (this.#running === 0 && !this.#open) this.#c.close(this.#fd);
    }
  }

  close(): void {
    if (!this.#open) return;
    this.#open = false;
    if (this.#running === 0) this.#c.close(this.#fd);
  }
}

/** A dropper that does nothing (no FFI). */
function inactiveDropper(): PageCacheDropper {
  const dropper: PageCacheDropper = {
    active: false,
    drop: () => Promise.resolve(),
    close: () => {},
    [Symbol.dispose]: () => {},
  };
  return dropper;
}

/** The C library's symbols, loaded on first use; or why they are unavailable. */
function loadLibc(): { symbols: Libc } | { unavailable: string } {
  if (libc !== undefined) return libc;
  if (Deno.build.os !== "linux") {
    libc = { unavailable: `posix_fadvise and O_DIRECT are only used on Linux, not ${Deno.build.os}` };
    return libc;
  }
  const failures: string[] = [];
  for (const path of LIBC_PATHS) {
    // Query first: a missing permission must not prompt on a terminal.
    if (Deno.permissions.querySync({ name: "ffi", path }).state !== "granted") continue;
    try {
      libc = { symbols: Deno.dlopen(path, SYMBOLS).symbols };
      return libc;
    } catch (error) {
      failures.push(`${path}: ${(error as Error).message}`);
    }
  }
  libc = {
    unavailable: failures.length === 0
      ? `no --allow-ffi permission for the C library (${LIBC_PATHS.join(", ")})`
      : `cannot load the C library (${failures.join("; ")})`,
  };
  return libc;
}

/** A NUL-terminated copy of `text`. */
function cString(text: string): Uint8Array<ArrayBuffer> {
  return new TextEncoder().encode(`${text}\0`);
}

/** The calling thread's errno (right after a synchronous call). */
function errnoOf(c: Libc): number {
  const errno = new Int32Array(1);
  c.copyFrom(new Uint8Array(errno.buffer), c.errnoAddress(), 4n);
  return errno[0];
}

/** `errno 28 (ENOSPC)`. */
function describeErrno(errno: number): string {
  const name = ERRNO_NAMES[errno];
  return name === undefined ? `errno ${errno}` : `errno ${errno} (${name})`;
}

/** The calling thread's errno as text (right after a synchronous call). */
function errnoText(c: Libc): string {
  return describeErrno(errnoOf(c));
}
