/**
 * RecordIO, the framing of the executor's event stream: each record is its
 * payload length in decimal ASCII, a line feed, then the payload bytes.
 * Record boundaries are unrelated to HTTP chunk boundaries, so decoding works
 * on the byte stream.
 *
 * @module
 */

/** The stream is not valid RecordIO. */
export class RecordIOError extends Error {
  constructor(message: string) {
    super(message);
    this.name = "RecordIOError";
  }
}

/** Options of {@linkcode decodeRecords}. */
export interface DecodeOptions {
  /** Largest accepted record, in bytes (default 64 MiB: TaskInfo.data can be large). */
  maxRecordBytes?: number;
}

const LF = 0x0a;
/** A uint64 has at most 20 decimal digits. */
const MAX_HEADER_DIGITS = 20;

/**
 * Yields the records of a RecordIO byte stream. Throws {@linkcode RecordIOError}
 * on a malformed length or a record cut off by the end of the stream.
 *
 * @example
 * ```ts
 * for await (const record of decodeRecords(response.body!)) handle(record);
 * ```
 */
export async function* decodeRecords(
  stream: AsyncIterable<Uint8Array>,
  options: DecodeOptions = {},
): AsyncGenerator<Uint8Array> {
  const max = options.maxRecordBytes ?? 64 * 1024 * 1024;
  let header = "";
  let record: Uint8Array | undefined;
  let filled = 0;
  for await (const chunk of stream) {
    let offset = 0;
    while (offset < chunk.length) {
      if (record === undefined) {
        const byte = chunk[offset++];
        if (byte !== LF) {
          if (byte < 0x30 || byte > 0x39 || header.length >= MAX_HEADER_DIGITS) {
            throw new RecordIOError(
              `malformed RecordIO length ${
                JSON.stringify(header + String.fromCharCode(byte))
              }: expected decimal digits`,
            );
          }
          header += String.fromCharCode(byte);
          continue;
        }
        if (header === "") throw new RecordIOError("malformed RecordIO length: empty before the line feed");
        const length = Number(header);
        if (length > max) throw new RecordIOError(`RecordIO record of ${length} bytes exceeds the ${max}-byte limit`);
        header = "";
        record = new Uint8Array(length);
        filled = 0;
      }
      const take = Math.min(record.length - filled, chunk.length - offset);
      record.set(chunk.subarray(offset, offset + take), filled);
      filled += take;
      offset += take;
      if (filled === record.length) {
        const done = record;
        record = undefined;
        yield done;
      }
    }
    if (record !== undefined && filled === record.length) {
      const done = record;
      record = undefined;
      yield done;
    }
  }
  if (record !== undefined) {
    throw new RecordIOError(`stream ended inside a record (${filled} of ${record.length} bytes)`);
  }
  if (header !== "") throw new RecordIOError(`stream ended inside a record length ("${header}")`);
}

/**
 * One record, framed.
 *
 * @example
 * ```ts
 * encodeRecord(new TextEncoder().encode('{"type":"HEARTBEAT"}')); // "20\n{...}"
 * ```
 */
export function encodeRecord(payload: Uint8Array): Uint8Array {
  const header = new TextEncoder().encode(`${payload.length}\n`);
  const framed = new Uint8Array(header.length + payload.length);
  framed.set(header);
  framed.set(payload, header.length);
  return framed;
}
