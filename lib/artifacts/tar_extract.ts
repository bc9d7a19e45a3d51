/**
 * Safe, streaming extraction of a `.tar.gz` artifact into a task sandbox,
 * without an external `tar` process. The originals ran
 * `tar -oxzf <file> -C <target>`; this does the same (no owners restored)
 * but refuses anything that would write outside `target`:
 *
 * - entry names that are absolute, contain a `..` component or a NUL byte;
 * - symlinks whose target is absolute or leaves `target`, lexically from the
 *   link's directory or through links already on disk;
 * - hard links to anything that is not an existing path inside `target`;
 * - entries whose parent directory really resolves (after symlinks) outside
 *   `target`: checked one component at a time before anything is created.
 *
 * An existing non-directory at an entry's path is unlinked first (a symlink
 * is removed, never written through); an existing directory stays. Modes keep
 * only the permission bits (`& 0o777`), directories get at least `0o700` for
 * the owner. Devices, FIFOs and other special entries are skipped and listed.
 * Later duplicates win, as with tar. Formats: ustar, GNU (`L`/`K` long names)
 * and pax (`x` and `g` headers: `path`, `linkpath`, `size`, `mtime`).
 * Concatenated gzip members are read one after the other (Deno's
 * `DecompressionStream` stops at the end of the first one).
 *
 * @module
 */

/**
 * An entry the extractor refuses: it would land or point outside the target,
 * or cannot be placed without following or replacing what it must not (a
 * symlinked or non-directory parent, a non-empty directory in the way).
 * Names the archive, the entry and why; entries before it stay extracted.
 *
 * @example
 * ```ts
 * try {
 *   await extractTarGz("/var/cache/singularity/artifacts/app.tar.gz", sandbox);
 * } catch (error) {
 *   if (error instanceof UnsafeArchiveError) console.error(`hostile artifact: entry ${error.entry}`);
 *   throw error;
 * }
 * ```
 */
export class UnsafeArchiveError extends Error {
  /** The archive file. */
  readonly archive: string;
  /** The entry name as stored in the archive. */
  readonly entry: string;

  /** `reason` completes "refusing entry <entry>: ". */
  constructor(archive: string, entry: string, reason: string) {
    super(`${archive}: refusing entry ${JSON.stringify(entry)}: ${reason}`);
    this.name = "UnsafeArchiveError";
    this.archive = archive;
    this.entry = entry;
  }
}

/**
 * A corrupt, truncated or non-gzip archive, or a bad header checksum; names
 * the archive and the offset, in the compressed file (`gzip`) or in the
 * decompressed tar stream (`tar`).
 *
 * @example
 * ```ts
 * const error = new ArchiveFormatError("/cache/app.tar.gz", "tar", 1024, "bad header checksum");
 * console.log(error.message); // "/cache/app.tar.gz: bad header checksum (at tar offset 1024)"
 * ```
 */
export class ArchiveFormatError extends Error {
  /** The archive file. */
  readonly archive: string;
  /** `gzip`: the offset counts compressed bytes of the file; `tar`: bytes of the decompressed tar stream. */
  readonly layer: "gzip" | "tar";
  /** Where the problem was found. */
  readonly offset: number;

  /** `problem` says what is wrong; the message adds the archive and the offset. */
  constructor(archive: string, layer: "gzip" | "tar", offset: number, problem: string) {
    super(`${archive}: ${problem} (at ${layer} offset ${offset})`);
    this.name = "ArchiveFormatError";
    this.archive = archive;
    this.layer = layer;
    this.offset = offset;
  }
}

/** Options of {@linkcode extractTarGz}. */
export interface ExtractOptions {
  /** Aborts the extraction between entries and between chunks of a file; rejects with the signal's reason. */
  signal?: AbortSignal;
}

/** What an extraction created. */
export interface ExtractSummary {
  /** Regular files written. */
  files: number;
  /** Directories created or updated (the target itself is never counted or changed). */
  directories: number;
  /** Symbolic links created. */
  symlinks: number;
  /** Hard links created. */
  hardlinks: number;
  /** Names of entries not extracted: devices, FIFOs, sparse files and unknown types. */
  skipped: string[];
  /** Bytes of regular file content written. */
  bytes: number;
}

/**
 * Extracts the gzip-compressed tar `archive` into the existing directory
 * `target`, streaming (memory stays bounded whatever the entry sizes).
 *
 * @example
 * ```ts
 * const summary = await extractTarGz("/var/cache/singularity/artifacts/app.tar.gz", sandbox);
 * console.log(`${summary.files} files, ${summary.bytes} bytes`);
 * ```
 */
export async function extractTarGz(
  archive: string,
  target: string,
  options: ExtractOptions = {},
): Promise<ExtractSummary> {
  const { signal } = options;
  signal?.throwIfAborted();
  const root = await Deno.realPath(target);
  if (!(await Deno.stat(root)).isDirectory) throw new Error(`extraction target ${target} is not a directory`);
  const file = await Deno.open(archive, { read: true });
  const decompressed = gunzip(readPieces(file), archive, signal);
  try {
    const extractor = new Extractor(archive, root, signal);
    const tar = new TarStream(decompressed, archive, signal);
    await readEntries(tar, archive, signal, (entry) => extractor.extract(entry));
    // Read to the end so a damaged gzip trailer is reported, as `tar -z` does through gzip.
    await tar.drain();
    await extractor.finish();
    return extractor.summary;
  } finally {
    await decompressed.return(undefined);
    file.close();
  }
}

// ---------------------------------------------------------------------------
// gzip

/** Compressed bytes handed to the decompressor per write: bounds one output chunk to ~16 MiB (deflate ≤ 1032:1). */
const PIECE_SIZE = 16 * 1024;
const EMPTY = new Uint8Array(0);
/** Bytes on a plain `ArrayBuffer`, as the compression streams take. */
type Bytes = Uint8Array<ArrayBuffer>;

/** The file's bytes, in pieces of at most {@linkcode PIECE_SIZE}. */
async function* readPieces(file: Deno.FsFile): AsyncGenerator<Bytes> {
  while (true) {
    const buffer = new Uint8Array(PIECE_SIZE);
    const read = await file.read(buffer);
    if (read === null) return;
    yield buffer.subarray(0, read);
  }
}

/** True if `data[i..i+3]` is a gzip member header start (magic and deflate method). */
function isGzipStart(data: Uint8Array, i: number): boolean {
  return data[i] === 0x1f && data[i + 1] === 0x8b && data[i + 2] === 0x08;
}

/**
 * Decompresses every gzip member of `input`. A member can only end right
 * before the next member's magic bytes, so the input is written up to each
 * such position; there, if the 4 bytes just written (the trailer's ISIZE)
 * equal the member's decompressed size, the member is closed (which checks
 * its CRC) and a new one begins.
 */
async function* gunzip(
  input: AsyncIterable<Bytes>,
  archive: string,
  signal: AbortSignal | undefined,
): AsyncGenerator<Uint8Array> {
  let member: GzipMember | undefined;
  let offset = 0;
  let held: Bytes = EMPTY;
  const recent = new Uint8Array(4);
  function remember(bytes: Uint8Array): void {
    if (bytes.length >= 4) {
      recent.set(bytes.subarray(bytes.length - 4));
    } else {
      recent.copyWithin(0, bytes.length);
      recent.set(bytes, 4 - bytes.length);
    }
  }
  async function* feed(bytes: Bytes): AsyncGenerator<Uint8Array> {
    if (bytes.length === 0) return;
    yield* member!.write(bytes);
    remember(bytes);
    offset += bytes.length;
  }
  async function* process(data: Bytes): AsyncGenerator<Uint8Array> {
    let start = 0;
    // The first member starts at 0; for later pieces, position 0 may be a held-back magic.
    const from = member === undefined ? 1 : 0;
    if (member === undefined) {
      if (!isGzipStart(data, 0)) {
        const first = [...data.subarray(0, 3)].map((byte) => `0x${byte.toString(16).padStart(2, "0")}`).join(" ");
        throw new ArchiveFormatError(archive, "gzip", 0, `not gzip data (starts with ${first || "nothing"})`);
      }
      member = new GzipMember(archive, 0);
    }
    for (let i = data.indexOf(0x1f, from); i !== -1 && i + 2 < data.length; i = data.indexOf(0x1f, i + 1)) {
      if (!isGzipStart(data, i)) continue;
      yield* feed(data.subarray(start, i));
      start = i;
      const isize = new DataView(recent.buffer).getUint32(0, true);
      if (member.written >= 18 && isize === member.produced % 2 ** 32) {
        yield* member.finish();
        member = new GzipMember(archive, offset);
      }
    }
    yield* feed(data.subarray(start));
  }
  try {
    for await (const piece of input) {
      signal?.throwIfAborted();
      const data = held.length === 0 ? piece : concat(held, piece);
      // A magic split across pieces: hold its first bytes back until the next piece.
      const keep = data.at(-1) === 0x1f ? 1 : data.at(-2) === 0x1f && data.at(-1) === 0x8b ? 2 : 0;
      held = data.slice(data.length - keep);
      if (data.length > keep) yield* process(data.subarray(0, data.length - keep));
    }
    if (held.length > 0 || member === undefined) yield* process(held);
    yield* member!.finish();
  } finally {
    member?.cancel();
  }
}

/** One gzip member through a `DecompressionStream`, written and read in lock step. */
class GzipMember {
  /** Compressed bytes written so far. */
  written = 0;
  /** Decompressed bytes read so far. */
  produced = 0;
  readonly #archive: string;
  readonly #start: number;
  readonly #writer: WritableStreamDefaultWriter<BufferSource>;
  readonly #reader: ReadableStreamDefaultReader<Uint8Array>;
  #pending: Promise<ReadableStreamReadResult<Uint8Array>>;

  constructor(archive: string, start: number) {
    this.#archive = archive;
    this.#start = start;
    const stream = new DecompressionStream("gzip");
    this.#writer = stream.writable.getWriter();
    this.#reader = stream.readable.getReader();
    this.#pending = this.#read();
  }

  /** Writes `bytes` and yields all the output they produce (complete when this returns). */
  async *write(bytes: Bytes): AsyncGenerator<Uint8Array> {
    const written = this.#writer.write(bytes).then(() => undefined);
    while (true) {
      // The transform enqueues before the write settles, and the pending read is listed first,
      // so every output chunk of this write is taken before the loop ends.
      const result = await this.#guard(Promise.race([this.#pending, written]), bytes.length);
      if (result === undefined) break; // written, and all its output taken
      if (result.done) throw new Error("gzip decompressor ended before its input was closed");
      this.#pending = this.#read();
      this.produced += result.value.length;
      yield result.value;
    }
    this.written += bytes.length;
  }

  /** Closes the member (checking its CRC and size) and yields the remaining output. */
  async *finish(): AsyncGenerator<Uint8Array> {
    const closed = this.#writer.close();
    closed.catch(() => {});
    while (true) {
      const result = await this.#guard(this.#pending, 0);
      if (result.done) break;
      this.#pending = this.#read();
      this.produced += result.value.length;
      yield result.value;
    }
    await this.#guard(closed, 0);
  }

  /** Releases the streams after an error or an early stop. */
  cancel(): void {
    this.#reader.cancel().catch(() => {});
    this.#writer.abort().catch(() => {});
  }

  #read(): Promise<ReadableStreamReadResult<Uint8Array>> {
    const read = this.#reader.read();
    read.catch(() => {}); // awaited later; an error before then must not count as unhandled
    return read;
  }

  async #guard<T>(promise: Promise<T>, extra: number): Promise<T> {
    try {
      return await promise;
    } catch (error) {
      const message = error instanceof Error ? error.message : String(error);
      // Deno's wording when bytes follow the end of the member and are not another member.
      const cause = message === "failed to write whole buffer" ? "data after the end of the member" : message;
      const offset = this.#start + this.written + extra;
      const member = `in the gzip member starting at gzip offset ${this.#start}`;
      throw new ArchiveFormatError(this.#archive, "gzip", offset, `corrupt or truncated gzip data ${member}: ${cause}`);
    }
  }
}

function concat(a: Bytes, b: Bytes): Bytes {
  const out = new Uint8Array(a.length + b.length);
  out.set(a);
  out.set(b, a.length);
  return out;
}

// ---------------------------------------------------------------------------
// tar

const BLOCK = 512;
/** Largest pax or GNU long-name record read into memory. */
const MAX_META = 1024 * 1024;

/** Sequential reader of the decompressed tar stream; `offset` counts bytes consumed. */
class TarStream {
  offset = 0;
  readonly #chunks: AsyncIterator<Uint8Array>;
  readonly #archive: string;
  readonly #signal: AbortSignal | undefined;
  #current: Uint8Array = EMPTY;

  constructor(chunks: AsyncIterator<Uint8Array>, archive: string, signal: AbortSignal | undefined) {
    this.#chunks = chunks;
    this.#archive = archive;
    this.#signal = signal;
  }

  /** Exactly `length` bytes; `undefined` if `maybeEnd` and the stream ends before the first of them. */
  async readExact(length: number, what: string, maybeEnd = false): Promise<Uint8Array | undefined> {
    const out = new Uint8Array(length);
    let filled = 0;
    for await (const chunk of this.read(length, what, maybeEnd)) {
      if (chunk === undefined) return undefined;
      out.set(chunk, filled);
      filled += chunk.length;
    }
    return out;
  }

  /** Yields `length` bytes as views; at a clean end before any byte yields `undefined` if `maybeEnd`. */
  async *read(length: number, what: string, maybeEnd = false): AsyncGenerator<Uint8Array | undefined> {
    let left = length;
    while (left > 0) {
      if (this.#current.length === 0 && !(await this.#next())) {
        if (maybeEnd && left === length) {
          yield undefined;
          return;
        }
        throw new ArchiveFormatError(this.#archive, "tar", this.offset, `unexpected end of archive ${what}`);
      }
      const take = Math.min(left, this.#current.length);
      const view = this.#current.subarray(0, take);
      this.#current = this.#current.subarray(take);
      this.offset += take;
      left -= take;
      yield view;
    }
  }

  /** Skips `length` bytes. */
  async skip(length: number, what: string): Promise<void> {
    for await (const _ of this.read(length, what)) this.#signal?.throwIfAborted();
  }

  /** Consumes the rest of the stream (after the end-of-archive block). */
  async drain(): Promise<void> {
    this.#current = EMPTY;
    while (await this.#next()) {
      this.#signal?.throwIfAborted();
      this.#current = EMPTY;
    }
  }

  async #next(): Promise<boolean> {
    while (true) {
      const next = await this.#chunks.next();
      if (next.done) return false;
      if (next.value.length > 0) {
        this.#current = next.value;
        return true;
      }
    }
  }
}

/** One archive member, after pax and GNU long-name headers are applied. */
interface TarEntry {
  /** The name as stored (for messages and `skipped`). */
  name: string;
  kind: "file" | "directory" | "symlink" | "hardlink" | "skip";
  /** Permission bits only. */
  mode: number;
  /** Seconds since the epoch. */
  mtime: number;
  size: number;
  linkname: string;
  /** The file's content (regular files only); must be consumed before the next entry. */
  content: AsyncIterable<Uint8Array>;
}

/** Reads headers and calls `onEntry` for every member until the end-of-archive block. */
async function readEntries(
  tar: TarStream,
  archive: string,
  signal: AbortSignal | undefined,
  onEntry: (entry: TarEntry) => Promise<void>,
): Promise<void> {
  const globals = new Map<string, string>();
  let local = new Map<string, string>();
  let longName: string | undefined;
  let longLink: string | undefined;
  while (true) {
    signal?.throwIfAborted();
    const at = tar.offset;
    const block = await tar.readExact(BLOCK, "inside a header", true);
    if (block === undefined || block.every((byte) => byte === 0)) return;
    const header = parseHeader(block, archive, at);
    const padding = (BLOCK - (header.size % BLOCK)) % BLOCK;
    const meta = async (what: string): Promise<Uint8Array> => {
      if (header.size > MAX_META) {
        throw new ArchiveFormatError(archive, "tar", at, `${what} of ${header.size} bytes is larger than ${MAX_META}`);
      }
      const data = (await tar.readExact(header.size, `inside a ${what}`))!;
      await tar.skip(padding, `inside a ${what}`);
      return data;
    };
    switch (header.type) {
      case "x":
        for (const [key, value] of parsePax(await meta("pax header"), archive, at)) local.set(key, value);
        continue;
      case "g":
        for (const [key, value] of parsePax(await meta("pax global header"), archive, at)) {
          if (value === "") globals.delete(key);
          else globals.set(key, value);
        }
        continue;
      case "L":
        longName = cString(await meta("GNU long name"));
        continue;
      case "K":
        longLink = cString(await meta("GNU long link name"));
        continue;
    }
    const attribute = (key: string): string | undefined => {
      const value = local.get(key) ?? globals.get(key);
      return value === "" ? undefined : value;
    };
    const name = attribute("path") ?? longName ?? header.name;
    const size = paxNumber(attribute("size"), "size", archive, at, /^\d+$/) ?? header.size;
    const sparse = [...local.keys(), ...globals.keys()].some((key) => key.startsWith("GNU.sparse."));
    const entry: TarEntry = {
      name,
      kind: sparse ? "skip" : kindOf(header.type, name),
      mode: header.mode & 0o777,
      mtime: paxNumber(attribute("mtime"), "mtime", archive, at, /^-?\d+(\.\d+)?$/) ?? header.mtime,
      size,
      linkname: attribute("linkpath") ?? longLink ?? header.linkname,
      content: EMPTY_CONTENT,
    };
    local = new Map();
    longName = longLink = undefined;
    // Links, devices, directories and FIFOs (types 1-6) carry no data, whatever their size field says.
    const dataSize = "123456".includes(header.type) ? 0 : size;
    const dataPadding = (BLOCK - (dataSize % BLOCK)) % BLOCK;
    const what = `inside the content of entry ${JSON.stringify(name)}`;
    if (header.type === "V") {
      await tar.skip(dataSize + dataPadding, what); // a volume label names the archive, not a file
      continue;
    }
    let consumed = false;
    if (entry.kind === "file") {
      entry.content = (async function* () {
        consumed = true;
        for await (const chunk of tar.read(size, what)) yield chunk!;
      })();
    }
    await onEntry(entry);
    if (!consumed) await tar.skip(dataSize, what);
    await tar.skip(dataPadding, what);
  }
}

const EMPTY_CONTENT: AsyncIterable<Uint8Array> = (async function* () {})();

function kindOf(type: string, name: string): TarEntry["kind"] {
  switch (type) {
    case "0":
    case "\0":
    case "7":
      // Pre-POSIX archives mark directories only by the trailing slash.
      return name.endsWith("/") ? "directory" : "file";
    case "1":
      return "hardlink";
    case "2":
      return "symlink";
    case "5":
    case "D":
      return "directory";
    default:
      return "skip";
  }
}

interface TarHeader {
  name: string;
  mode: number;
  size: number;
  mtime: number;
  type: string;
  linkname: string;
}

const latin = new TextDecoder("latin1");
const utf8 = new TextDecoder("utf-8", { ignoreBOM: true });

/** Parses and checksum-verifies a 512-byte header block found at tar offset `at`. */
function parseHeader(block: Uint8Array, archive: string, at: number): TarHeader {
  const stored = parseNumber(block, 148, 8, "checksum", archive, at);
  let unsigned = 0;
  let signed = 0;
  for (let i = 0; i < BLOCK; i++) {
    const byte = i >= 148 && i < 156 ? 0x20 : block[i];
    unsigned += byte;
    signed += byte > 127 ? byte - 256 : byte;
  }
  // Some old tars summed signed bytes; GNU tar accepts either.
  if (stored !== unsigned && stored !== signed) {
    throw new ArchiveFormatError(
      archive,
      "tar",
      at,
      `bad header checksum (stored 0o${stored.toString(8)}, computed 0o${unsigned.toString(8)})`,
    );
  }
  const magic = latin.decode(block.subarray(257, 263));
  let name = cString(block.subarray(0, 100));
  if (magic === "ustar\0") {
    const prefix = cString(block.subarray(345, 500));
    if (prefix !== "") name = `${prefix}/${name}`;
  }
  return {
    name,
    mode: parseNumber(block, 100, 8, "mode", archive, at),
    size: parseNumber(block, 124, 12, "size", archive, at),
    mtime: parseNumber(block, 136, 12, "mtime", archive, at),
    type: String.fromCharCode(block[156]),
    linkname: cString(block.subarray(157, 257)),
  };
}

/** A numeric header field: octal text, or GNU base-256 when the high bit of the first byte is set. */
function parseNumber(
  block: Uint8Array,
  start: number,
  length: number,
  field: string,
  archive: string,
  at: number,
): number {
  const bytes = block.subarray(start, start + length);
  if (bytes[0] & 0x80) {
    // GNU base-256: big-endian; a first byte of 0xff marks a negative (two's complement) value.
    let big = 0n;
    for (const byte of bytes) big = (big << 8n) | BigInt(byte);
    const bits = BigInt(8 * length);
    big = bytes[0] === 0xff ? big - (1n << bits) : big & ((1n << (bits - 1n)) - 1n);
    const value = Number(big);
    if (!Number.isSafeInteger(value) || (value < 0 && field !== "mtime")) {
      throw new ArchiveFormatError(archive, "tar", at, `base-256 ${field} field ${big} is out of range`);
    }
    return value;
  }
  const text = latin.decode(bytes);
  const match = /^ *([0-7]*)[ \0]*$/.exec(text);
  if (match === null) {
    throw new ArchiveFormatError(archive, "tar", at, `${field} field ${JSON.stringify(text)} is not an octal number`);
  }
  return match[1] === "" ? 0 : parseInt(match[1], 8);
}

/** Text up to the first NUL (UTF-8; bytes that are not UTF-8 become U+FFFD, as Deno paths are strings). */
function cString(bytes: Uint8Array): string {
  const end = bytes.indexOf(0);
  return utf8.decode(end === -1 ? bytes : bytes.subarray(0, end));
}

/** Records `"<length> <key>=<value>\n"` of a pax header found at tar offset `at`. */
function parsePax(data: Uint8Array, archive: string, at: number): Map<string, string> {
  const records = new Map<string, string>();
  let pos = 0;
  while (pos < data.length && data[pos] !== 0) {
    const space = data.indexOf(0x20, pos);
    const lengthText = latin.decode(data.subarray(pos, space === -1 ? pos : space));
    const length = Number(lengthText);
    const end = pos + length;
    if (space === -1 || !/^\d+$/.test(lengthText) || end <= space || end > data.length || data[end - 1] !== 0x0a) {
      throw new ArchiveFormatError(archive, "tar", at, `malformed pax record at byte ${pos} of the pax header`);
    }
    const record = utf8.decode(data.subarray(space + 1, end - 1));
    const equals = record.indexOf("=");
    if (equals <= 0) {
      throw new ArchiveFormatError(archive, "tar", at, `pax record ${JSON.stringify(record)} has no key=value`);
    }
    records.set(record.slice(0, equals), record.slice(equals + 1));
    pos = end;
  }
  return records;
}

/** A numeric pax value, if present. */
function paxNumber(
  value: string | undefined,
  key: string,
  archive: string,
  at: number,
  form: RegExp,
): number | undefined {
  if (value === undefined) return undefined;
  const number = Number(value);
  if (!form.test(value) || !Number.isFinite(number) || Math.abs(number) > Number.MAX_SAFE_INTEGER) {
    throw new ArchiveFormatError(archive, "tar", at, `pax ${key}=${JSON.stringify(value)} is not a valid number`);
  }
  return number;
}

// ---------------------------------------------------------------------------
// extraction

/** Creates entries below the real path `root`, refusing anything that would land outside it. */
class Extractor {
  readonly summary: ExtractSummary = { files: 0, directories: 0, symlinks: 0, hardlinks: 0, skipped: [], bytes: 0 };
  readonly #archive: string;
  readonly #root: string;
  readonly #signal: AbortSignal | undefined;
  /** Directory mtimes, set at the end (creating children changes them). */
  readonly #directoryTimes = new Map<string, number>();

  constructor(archive: string, root: string, signal: AbortSignal | undefined) {
    this.#archive = archive;
    this.#root = root;
    this.#signal = signal;
  }

  async extract(entry: TarEntry): Promise<void> {
    this.#signal?.throwIfAborted();
    if (entry.kind === "skip") {
      this.summary.skipped.push(entry.name);
      return;
    }
    const components = this.#components(entry.name, entry.name, "its name");
    if (components.length === 0) {
      if (entry.kind === "directory") return; // "./": the target itself stays as it is
      throw this.#unsafe(entry.name, "it names the target directory itself");
    }
    const parent = await this.#parent(entry.name, components);
    const path = `${parent}/${components.at(-1)}`;
    switch (entry.kind) {
      case "directory":
        return await this.#directory(entry, path);
      case "file":
        return await this.#file(entry, path);
      case "symlink":
        return await this.#symlink(entry, components, parent, path);
      case "hardlink":
        return await this.#hardlink(entry, path);
    }
  }

  /** Sets directory mtimes, on paths that are still real directories below the root. */
  async finish(): Promise<void> {
    const now = new Date();
    for (const [path, mtime] of this.#directoryTimes) {
      this.#signal?.throwIfAborted();
      const info = await lstatOrUndefined(path);
      if (info?.isDirectory && (await Deno.realPath(path)) === path) await Deno.utime(path, now, mtime);
    }
  }

  async #directory(entry: TarEntry, path: string): Promise<void> {
    if (!(await this.#clear(entry.name, path, true))) await Deno.mkdir(path, { mode: 0o700 });
    // `path` is a directory, not a symlink (just checked or created), so chmod cannot reach elsewhere.
    await Deno.chmod(path, entry.mode | 0o700);
    this.#directoryTimes.set(path, entry.mtime);
    this.summary.directories++;
  }

  async #file(entry: TarEntry, path: string): Promise<void> {
    await this.#clear(entry.name, path, false);
    // createNew (O_EXCL) never follows a symlink planted at the path.
    const file = await Deno.open(path, { write: true, createNew: true, mode: 0o600 });
    try {
      for await (const chunk of entry.content) {
        this.#signal?.throwIfAborted();
        for (let done = 0; done < chunk.length;) done += await file.write(chunk.subarray(done));
        this.summary.bytes += chunk.length;
      }
      await file.utime(new Date(), entry.mtime);
    } finally {
      file.close();
    }
    await Deno.chmod(path, entry.mode);
    this.summary.files++;
  }

  async #symlink(entry: TarEntry, components: string[], parent: string, path: string): Promise<void> {
    const target = entry.linkname;
    const said = `its link target ${JSON.stringify(target)}`;
    if (target === "") throw this.#unsafe(entry.name, "it is a symlink with an empty target");
    if (target.includes("\0")) throw this.#unsafe(entry.name, `${said} contains a NUL byte`);
    if (target.startsWith("/")) throw this.#unsafe(entry.name, `${said} is absolute`);
    if (leavesRoot(components.length - 1, target)) {
      throw this.#unsafe(entry.name, `${said} leaves the target directory`);
    }
    // Also resolve through what is on disk: with `a` -> `.`, the target `a/..` is the target's parent.
    const parts = target.split("/").filter((part) => part !== "" && part !== ".");
    for (let i = parts.length; i > 0; i--) {
      let real: string;
      try {
        real = await Deno.realPath(`${parent}/${parts.slice(0, i).join("/")}`);
      } catch {
        continue; // not there (yet): try a shorter prefix, the rest is checked lexically
      }
      if (!this.#inside(real)) throw this.#unsafe(entry.name, `${said} resolves to ${real}, outside the target`);
      if (leavesRoot(this.#depth(real), parts.slice(i).join("/"))) {
        throw this.#unsafe(entry.name, `${said} leaves the target directory`);
      }
      break;
    }
    await this.#clear(entry.name, path, false);
    await Deno.symlink(target, path);
    this.summary.symlinks++;
  }

  async #hardlink(entry: TarEntry, path: string): Promise<void> {
    const said = `its hard link target ${JSON.stringify(entry.linkname)}`;
    const components = this.#components(entry.name, entry.linkname, said);
    if (components.length === 0) throw this.#unsafe(entry.name, `${said} is the target directory itself`);
    let sourceParent: string;
    let real: string;
    try {
      sourceParent = await Deno.realPath([this.#root, ...components.slice(0, -1)].join("/"));
      real = await Deno.realPath(`${sourceParent}/${components.at(-1)}`);
    } catch (error) {
      if (error instanceof Deno.errors.NotFound) throw this.#unsafe(entry.name, `${said} does not exist`);
      throw error;
    }
    if (!this.#inside(sourceParent) || !this.#inside(real)) {
      throw this.#unsafe(entry.name, `${said} resolves to ${real}, outside the target`);
    }
    const source = `${sourceParent}/${components.at(-1)}`;
    if (source !== path) {
      await this.#clear(entry.name, path, false);
      await Deno.link(source, path);
    }
    this.summary.hardlinks++;
  }

  /** The name's components without `.` and empty ones; refuses absolute names, `..` and NUL. */
  #components(entry: string, name: string, said: string): string[] {
    if (name.includes("\0")) throw this.#unsafe(entry, `${said} contains a NUL byte`);
    if (name.startsWith("/")) throw this.#unsafe(entry, `${said} is an absolute path`);
    const components = name.split("/").filter((part) => part !== "" && part !== ".");
    if (components.includes("..")) throw this.#unsafe(entry, `${said} has a ".." component`);
    return components;
  }

  /**
   * The real path of the entry's parent directory, creating missing
   * directories one at a time, each only after its own parent has been
   * resolved inside the root.
   */
  async #parent(entry: string, components: string[]): Promise<string> {
    let real = this.#root;
    for (const [index, name] of components.slice(0, -1).entries()) {
      const path = `${real}/${name}`;
      const shown = components.slice(0, index + 1).join("/");
      const info = await lstatOrUndefined(path);
      if (info === undefined) {
        await Deno.mkdir(path);
        real = path;
      } else if (info.isDirectory) {
        real = path;
      } else if (info.isSymlink) {
        let resolved: string;
        try {
          resolved = await Deno.realPath(path);
        } catch {
          throw this.#unsafe(entry, `its parent ${shown} is a symlink that does not resolve`);
        }
        if (!this.#inside(resolved)) {
          throw this.#unsafe(entry, `its parent ${shown} resolves to ${resolved}, outside the target`);
        }
        if (!(await Deno.stat(resolved)).isDirectory) {
          throw this.#unsafe(entry, `its parent ${shown} is not a directory`);
        }
        real = resolved;
      } else {
        throw this.#unsafe(entry, `its parent ${shown} is not a directory`);
      }
    }
    const check = await Deno.realPath(real);
    if (!this.#inside(check)) {
      throw this.#unsafe(entry, `its parent directory resolves to ${check}, outside the target`);
    }
    return check;
  }

  /**
   * Makes room at `path`: keeps an existing directory if `keepDirectory`
   * (returns true), else unlinks whatever is there (a symlink itself, never
   * its target; an empty directory). A non-empty directory is refused.
   */
  async #clear(entry: string, path: string, keepDirectory: boolean): Promise<boolean> {
    const info = await lstatOrUndefined(path);
    if (info === undefined) return false;
    if (info.isDirectory && keepDirectory) return true;
    try {
      await Deno.remove(path);
    } catch (error) {
      if (info.isDirectory) throw this.#unsafe(entry, `it would replace the non-empty directory ${path}`);
      throw error;
    }
    return false;
  }

  #inside(real: string): boolean {
    return real === this.#root || real.startsWith(this.#root === "/" ? "/" : `${this.#root}/`);
  }

  /** Components of a real path below the root. */
  #depth(real: string): number {
    return real.slice(this.#root.length).split("/").filter((part) => part !== "").length;
  }

  #unsafe(entry: string, reason: string): UnsafeArchiveError {
    return new UnsafeArchiveError(this.#archive, entry, reason);
  }
}

/** True if the relative `path`, walked from `depth` components below the root, ever goes above it. */
function leavesRoot(depth: number, path: string): boolean {
  for (const part of path.split("/")) {
    if (part === "" || part === ".") continue;
    depth += part === ".." ? -1 : 1;
    if (depth < 0) return true;
  }
  return false;
}

async function lstatOrUndefined(path: string): Promise<Deno.FileInfo | undefined> {
  try {
    return await Deno.lstat(path);
  } catch (error) {
    if (error instanceof Deno.errors.NotFound) return undefined;
    throw error;
  }
}
