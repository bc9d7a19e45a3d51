/**
 * A minimal tar writer for tests: builds the hostile archives GNU tar
 * refuses to create (`..` names, absolute link targets, NUL in pax paths,
 * bad checksums, devices without root).
 *
 * @module
 */

/** One header (and its data) to write. */
export interface TarRecord {
  name: string;
  /** Type flag: "0" file, "1" hard link, "2" symlink, "3" char device, "5" directory, "6" FIFO, "x", "g", "L", ... */
  type?: string;
  content?: string | Uint8Array;
  linkname?: string;
  mode?: number;
  mtime?: number;
  /** Overrides the size field (the data written is still `content`). */
  size?: number;
  /** Pax records written in an `x` header right before this one. */
  pax?: Record<string, string>;
}

const encoder = new TextEncoder();

/**
 * The tar stream of `records`, ending with two zero blocks unless `end` is false.
 *
 * @example
 * ```ts
 * const tar = tarBytes([{ name: "../escape", content: "x" }]);
 * ```
 */
export function tarBytes(records: TarRecord[], options: { end?: boolean } = {}): Uint8Array<ArrayBuffer> {
  const blocks: Uint8Array[] = [];
  for (const record of records) {
    if (record.pax !== undefined) {
      const data = paxData(record.pax);
      blocks.push(header({ name: "PaxHeaders/x", type: "x" }, data.length), pad(data));
    }
    const data = typeof record.content === "string"
      ? encoder.encode(record.content)
      : record.content ?? new Uint8Array();
    blocks.push(header(record, record.size ?? data.length), pad(data));
  }
  if (options.end !== false) blocks.push(new Uint8Array(1024));
  const out = new Uint8Array(blocks.reduce((sum, block) => sum + block.length, 0));
  let at = 0;
  for (const block of blocks) {
    out.set(block, at);
    at += block.length;
  }
  return out;
}

/**
 * Pax extended header data: `"<length> <key>=<value>\n"` records.
 *
 * @example
 * ```ts
 * paxData({ path: "a\0b" });
 * ```
 */
export function paxData(records: Record<string, string>): Uint8Array {
  const parts: Uint8Array[] = [];
  for (const [key, value] of Object.entries(records)) {
    const body = encoder.encode(` ${key}=${value}\n`);
    let length = body.length + 1;
    while (String(length).length + body.length !== length) length = String(length).length + body.length;
    parts.push(encoder.encode(String(length)), body);
  }
  const out = new Uint8Array(parts.reduce((sum, part) => sum + part.length, 0));
  let at = 0;
  for (const part of parts) {
    out.set(part, at);
    at += part.length;
  }
  return out;
}

/**
 * A gzip member of `bytes`.
 *
 * @example
 * ```ts
 * await Deno.writeFile("evil.tar.gz", await gzip(tarBytes([{ name: "/tmp/x" }])));
 * ```
 */
export async function gzip(bytes: Uint8Array<ArrayBuffer>): Promise<Uint8Array<ArrayBuffer>> {
  const stream = new Blob([bytes]).stream().pipeThrough(new CompressionStream("gzip"));
  return new Uint8Array(await new Response(stream).arrayBuffer());
}

function header(record: TarRecord, size: number): Uint8Array {
  const block = new Uint8Array(512);
  const field = (offset: number, length: number, value: string | Uint8Array) => {
    const bytes = typeof value === "string" ? encoder.encode(value) : value;
    block.set(bytes.subarray(0, length), offset);
  };
  const octal = (offset: number, length: number, value: number) =>
    field(offset, length, value.toString(8).padStart(length - 1, "0") + "\0");
  field(0, 100, record.name);
  octal(100, 8, record.mode ?? (record.type === "5" ? 0o755 : 0o644));
  octal(108, 8, 0);
  octal(116, 8, 0);
  octal(124, 12, size);
  octal(136, 12, record.mtime ?? 1_700_000_000);
  field(148, 8, "        ");
  field(156, 1, record.type ?? "0");
  field(157, 100, record.linkname ?? "");
  field(257, 8, "ustar\x0000");
  field(265, 32, "root");
  field(297, 32, "root");
  octal(148, 7, block.reduce((sum, byte) => sum + byte, 0));
  return block;
}

function pad(data: Uint8Array): Uint8Array {
  const out = new Uint8Array(Math.ceil(data.length / 512) * 512);
  out.set(data);
  return out;
}
