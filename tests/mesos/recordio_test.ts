import assert from "node:assert/strict";
import { decodeRecords, encodeRecord, RecordIOError } from "../../lib/mesos/recordio.ts";

const text = (bytes: Uint8Array) => new TextDecoder().decode(bytes);
const bytes = (value: string) => new TextEncoder().encode(value);

async function* chunks(...parts: (string | Uint8Array)[]): AsyncGenerator<Uint8Array> {
  for (const part of parts) yield typeof part === "string" ? bytes(part) : part;
}

async function collect(stream: AsyncIterable<Uint8Array>): Promise<string[]> {
  const out: string[] = [];
  for await (const record of decodeRecords(stream)) out.push(text(record));
  return out;
}

Deno.test("encodeRecord() frames a payload with its byte length", () => {
  assert.equal(text(encodeRecord(bytes('{"type":"HEARTBEAT"}'))), '20\n{"type":"HEARTBEAT"}');
  assert.equal(text(encodeRecord(bytes("é"))), "2\né");
});

Deno.test("decodeRecords() with several records in one chunk", async () => {
  assert.deepEqual(await collect(chunks("3\nabc5\nhello1\nx")), ["abc", "hello", "x"]);
});

Deno.test("decodeRecords() with a record split across chunks, headers split too", async () => {
  assert.deepEqual(await collect(chunks("1", "1\nhello", " world", "2", "\nok")), ["hello world", "ok"]);
});

Deno.test("decodeRecords() with one byte per chunk", async () => {
  const stream = "5\nfirst6\nsecond0\n3\nend";
  const single = (async function* () {
    for (const byte of bytes(stream)) yield new Uint8Array([byte]);
  })();
  assert.deepEqual(await collect(single), ["first", "second", "", "end"]);
});

Deno.test("decodeRecords() with a multi-megabyte record", async () => {
  const payload = new Uint8Array(5 * 1024 * 1024).map((_, i) => i % 251);
  const framed = encodeRecord(payload);
  const pieces = [framed.subarray(0, 3), framed.subarray(3, 1_000_003), framed.subarray(1_000_003)];
  const records: Uint8Array[] = [];
  for await (const record of decodeRecords(chunks(...pieces))) records.push(record);
  assert.equal(records.length, 1);
  assert.deepEqual(records[0], payload);
});

Deno.test("decodeRecords() fails clearly on a malformed length", async () => {
  await assert.rejects(
    collect(chunks("12x\nabc")),
    new RecordIOError('malformed RecordIO length "12x": expected decimal digits'),
  );
  await assert.rejects(
    collect(chunks("\nabc")),
    new RecordIOError("malformed RecordIO length: empty before the line feed"),
  );
  await assert.rejects(
    collect(chunks("123456789012345678901\n")),
    new RecordIOError('malformed RecordIO length "123456789012345678901": expected decimal digits'),
  );
});

Deno.test("decodeRecords() fails on a record cut off by the end of the stream, and on an oversized one", async () => {
  await assert.rejects(collect(chunks("10\nabc")), new RecordIOError("stream ended inside a record (3 of 10 bytes)"));
  await assert.rejects(collect(chunks("3\nabc12")), new RecordIOError('stream ended inside a record length ("12")'));
  const stream = decodeRecords(chunks("100\n"), { maxRecordBytes: 99 });
  await assert.rejects(stream.next(), new RecordIOError("RecordIO record of 100 bytes exceeds the 99-byte limit"));
});
