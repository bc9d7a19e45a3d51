/**
 * Keeps a file being written from filling the page cache: write a range,
 * then {@linkcode PageCacheDropper.drop} it — `fdatasync(2)` turns its dirty
 * pages clean, `posix_fadvise(POSIX_FADV_DONTNEED)` evicts them. Page cache of
 * big downloads charged to a task's memory cgroup got tasks OOM-killed in the
 * original; it is the reason the separate downloader service exists.
 *
 * Deno's `FsFile` exposes no file descriptor, so the calls go through FFI on
 * the C library, on a descriptor of our own for the same file (the page cache
 * belongs to the inode, not to a descriptor). Needs `--allow-ffi` for the C
 * library; without it (or without a glibc) dropping is a no-op and the first
 * dropper of the process logs why, once.
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
const POSIX_FADV_DONTNEED = 4;

const SYMBOLS = {
  open: { parameters: ["buffer", "i32", "i32"], result: "i32" },
  close: { parameters: ["i32"], result: "i32" },
  // Both may wait for the disk: run them off the JavaScript thread.
  fdatasync: { parameters: ["i32"], result: "i32", nonblocking: true },
  posix_fadvise: { parameters: ["i32", "i64", "i64", "i32"], result: "i32", nonblocking: true },
  __errno_location: { parameters: [], result: "pointer" },
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
  const fd = c.open(new TextEncoder().encode(`${path}\0`), O_WRONLY | O_CLOEXEC, 0);
  if (fd < 0) throw new Error(`open(${path}) for page cache control failed: errno ${errno(c)}`);
  let open = true;
  let pending = 0;
  let closeWhenIdle = false;
  const closeNow = () => {
    c.close(fd);
  };
  const dropper: PageCacheDropper = {
    active: true,
    async drop(offset: number, length: number): Promise<void> {
      if (!open || length <= 0) return;
      // The descriptor must outlive the calls running on other threads.
      pending++;
      try {
        if ((await c.fdatasync(fd)) !== 0) throw new Error(`fdatasync(${path}) failed`);
        await c.posix_fadvise(fd, BigInt(offset), BigInt(length), POSIX_FADV_DONTNEED);
      } finally {
        pending--;
        if (pending === 0 && closeWhenIdle) closeNow();
      }
    },
    close(): void {
      if (!open) return;
      open = false;
      if (pending === 0) closeNow();
      else closeWhenIdle = true;
    },
    [Symbol.dispose]: () => dropper.close(),
  };
  return dropper;
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
    libc = { unavailable: `posix_fadvise is only used on Linux, not ${Deno.build.os}` };
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

/** The calling thread's errno (right after a synchronous call). */
function errno(c: Libc): number {
  const pointer = c.__errno_location();
  return pointer === null ? -1 : new Deno.UnsafePointerView(pointer).getInt32();
}
