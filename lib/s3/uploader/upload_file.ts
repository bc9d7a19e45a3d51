/**
 * Carrying out one {@linkcode UploadPlan}: upload the file (one PUT, or in
 * parts above `s3uploader.max.single.upload.size`), confirm with HeadObject
 * that S3 holds the expected size and ETag, and only then delete the local
 * file and the journal entry.
 *
 * The file is opened once per attempt, without following a link or waiting
 * on a FIFO, checked to be the selected file, and read only through that
 * handle (never by opening the path again). The bytes are hashed as they
 * stream out: the ETag expected of a single PUT is the md5 of the file, of a
 * multipart upload the md5 of the concatenated part md5s followed by
 * `-<parts>`. Each part's ETag is checked as it is answered.
 * With SSE-KMS, whose ETags are not md5s on AWS, every body is sent with a
 * Content-MD5 (hashed before sending) so S3 itself refuses a corrupt body,
 * and HeadObject must confirm the size.
 *
 * A plan that comes back (a retry, a restart) first asks S3 whether the
 * object is already there with the expected ETag, and resumes its multipart
 * upload from the parts S3 already has (ListParts, each part's md5 checked
 * against the local bytes); without a recorded upload id it aborts any
 * multipart upload left at its key. A plan whose file is gone or changed is
 * dropped, aborting its multipart upload, so no incomplete upload remains.
 *
 * The local file is deleted only if, right before the unlink, it is still
 * the uploaded file in the directory it was found in (same real path, same
 * inode): see `removeIfUnchanged` in file_selection.ts.
 *
 * @module
 */
import {
  AbortMultipartUploadCommand,
  CompleteMultipartUploadCommand,
  CreateMultipartUploadCommand,
  HeadObjectCommand,
  ListMultipartUploadsCommand,
  ListPartsCommand,
  type Part,
  PutObjectCommand,
  type S3Client,
  UploadPartCommand,
} from "@aws-sdk/client-s3";
import type { Logger } from "@logtape/logtape";
import { Buffer } from "node:buffer";
import { createHash } from "node:crypto";
import type { FileHandle } from "node:fs/promises";
import { dirname } from "node:path";
import { Readable } from "node:stream";
import type { Config, UploaderKeys } from "../../config/mod.ts";
import { s3ClientFor } from "../client.ts";
import { compressedTemporaryPath, gzipTo } from "./compress.ts";
import {
  currentIdentity,
  directoryChange,
  type ExpectedDirectory,
  expectedRealPath,
  FileChangedError,
  type FileIdentity,
  openExpected,
  removeIfUnchanged,
  sameFile,
  whatIsAt,
} from "./file_selection.ts";
import type { Journal, UploadPlan } from "./journal.ts";
import type { UploaderSettings } from "./settings.ts";

const MIB = 1024 * 1024;
/** S3 allows at most this many parts. */
const MAX_PARTS = 10_000;
/** Bytes read from the file per chunk of a request body. */
const READ_CHUNK = MIB;
/** CompleteMultipartUpload may take a while for many parts (S3 assembles them before answering). */
const COMPLETE_TIMEOUT_FACTOR = 10;

/** What carrying out a plan needs. */
export interface UploadContext {
  config: Config<UploaderKeys>;
  settings: UploaderSettings;
  journal: Journal;
  log: Logger;
  /** Aborted when in-flight uploads are to be abandoned (shutdown). */
  signal: AbortSignal;
  /** Bytes sent to S3, as they go. */
  onBytes?: (bytes: number) => void;
}

/** How a plan ended (failures are thrown). */
export type UploadOutcome =
  /** S3 holds the object; the local file is deleted (unless it changed meanwhile). */
  | { state: "uploaded"; bytes: number; alreadyThere: boolean; keptChangedFile: boolean }
  /** The file was gone or had changed before it could be uploaded; the plan was dropped. */
  | { state: "dropped"; reason: string };

/** S3 does not hold what was sent; the local file is kept. */
export class UploadVerificationError extends Error {
  constructor(message: string) {
    super(message);
    this.name = "UploadVerificationError";
  }
}

/**
 * Carries out `plan` (recorded in the journal by the caller). `fresh` is
 * true for the first attempt of a plan just made: S3 cannot hold anything
 * of it yet, so the checks for an earlier attempt's object are skipped.
 * Throws when the upload or its verification fails; the plan stays in the
 * journal for the next attempt.
 *
 * @example
 * ```ts
 * await journal.record(plan);
 * const outcome = await uploadFile(plan, context, { fresh: true });
 * ```
 */
export async function uploadFile(
  plan: UploadPlan,
  context: UploadContext,
  options: { fresh: boolean },
): Promise<UploadOutcome> {
  const client = clientFor(plan, context);
  // A directory in the path swapped for a link (or replaced) since the file was selected: not read from there.
  const moved = directoryChange(dirname(plan.path), directoryOf(plan, context));
  if (moved !== undefined && moved !== "gone") {
    await dropPlan(plan, client, context, moved);
    return { state: "dropped", reason: moved };
  }
  const now = await currentIdentity(plan.path);
  if (now === undefined || !sameFile(now, plan.file)) {
    const what = now === undefined ? await whatIsAt(plan.path) : "";
    const reason = now !== undefined
      ? "the file changed since it was planned"
      : what === "nothing"
      ? "the file is gone"
      : `the file was replaced by ${what}`;
    await dropPlan(plan, client, context, reason);
    return { state: "dropped", reason };
  }
  const body = await bodyOf(plan, context);
  try {
    return await uploadBody(plan, body, client, context, options.fresh);
  } finally {
    await body.file.close();
  }
}

/** Uploads `body` for `plan` unless S3 holds it already, verifies, deletes the local file. */
async function uploadBody(
  plan: UploadPlan,
  body: Body,
  client: S3Client,
  context: UploadContext,
  fresh: boolean,
): Promise<UploadOutcome> {
  if (plan.multipart === undefined && body.identity.size > context.settings.maxSingleUploadSize) {
    plan.multipart = { partSize: partSizeFor(body.identity.size, context.settings.partSize) };
    await context.journal.record(plan);
  }
  const kms = plan.serverSideEncryption === "aws:kms";
  let expectedETag: string | undefined;
  let alreadyThere = false;
  if (!fresh) {
    const head = await headObject(client, plan, context);
    if (head !== undefined && head.size === body.identity.size) {
      expectedETag = await localETag(body, plan.multipart?.partSize, context);
      alreadyThere = !kms && head.etag === expectedETag;
    }
  }
  if (!alreadyThere) {
    expectedETag = plan.multipart === undefined
      ? await putSingle(plan, body, client, context)
      : await putMultipart(plan, body, client, context, fresh);
    await verify(plan, body.identity.size, expectedETag, kms, client, context);
  }
  return { ...(await finish(plan, context)), bytes: body.identity.size, alreadyThere };
}

/**
 * Drops `plan` whose file is gone or changed: aborts its multipart upload,
 * removes its compressed copy and its journal entry.
 *
 * @example
 * ```ts
 * await dropPlan(plan, clientFor(plan, context), context, "the file is gone");
 * ```
 */
export async function dropPlan(
  plan: UploadPlan,
  client: S3Client,
  context: UploadContext,
  reason: string,
): Promise<void> {
  if (plan.multipart?.uploadId !== undefined) await abortUpload(plan, plan.multipart.uploadId, client, context);
  const head = await headObject(client, plan, context).catch(() => undefined);
  const where = `s3://${plan.bucket}/${plan.key}`;
  if (head !== undefined) {
    context.log.info(`${plan.path}: ${reason}; ${where} exists (${head.size} bytes); forgetting the plan`);
  } else if (reason === "the file is gone") {
    context.log.warn(`${plan.path}: ${reason} before it reached ${where} (deleted by something else?)`);
  } else if (reason.startsWith("the file changed")) {
    context.log.info(`${plan.path}: ${reason}; it will be uploaded afresh`);
  } else {
    context.log.warn(`${plan.path}: ${reason}; not uploading it, forgetting the plan`);
  }
  if (plan.compressed !== undefined) await Deno.remove(plan.compressed.path).catch(() => {});
  await context.journal.remove(plan.path);
}

/** The SDK's own warnings (a failed streamed request) are not wanted on the console: the caller logs failures. */
const SILENT_SDK_LOGGER = { trace() {}, debug() {}, info() {}, warn() {}, error() {} };

/**
 * The S3 client for `plan`: its own key pair, else the bucket's, else the default (lib/s3/client.ts).
 *
 * @example
 * ```ts
 * await dropPlan(plan, clientFor(plan, context), context, "the file changed");
 * ```
 */
export function clientFor(plan: UploadPlan, context: UploadContext): S3Client {
  const client = s3ClientFor(context.config, plan.bucket, plan.credentials);
  // The cached client is this process's alone; its logger is read at each send.
  (client.config as { logger?: unknown }).logger = SILENT_SDK_LOGGER;
  return client;
}

/** A file whose bytes are uploaded (the original, or its compressed copy), open and checked. */
interface Body {
  path: string;
  identity: FileIdentity;
  /** Read positionally only; closed by {@linkcode uploadFile}. */
  file: FileHandle;
}

/** The file to send for `plan`, compressing first when the plan asks for it and no good copy exists. */
async function bodyOf(plan: UploadPlan, context: UploadContext): Promise<Body> {
  if (plan.compressed === undefined) {
    return { path: plan.path, identity: plan.file, file: await openExpected(plan.path, plan.file) };
  }
  const { path } = plan.compressed;
  const known = plan.compressed.file;
  if (known !== undefined) {
    const now = await currentIdentity(path);
    if (now !== undefined && sameFile(now, known)) {
      return { path, identity: known, file: await openExpected(path, known) };
    }
  }
  // The copy is written beside the file: only into the directory the file was found in.
  const changed = directoryChange(dirname(plan.path), directoryOf(plan, context));
  if (changed !== undefined) {
    throw new FileChangedError(plan.path, changed === "gone" ? "gone" : `not compressed: ${changed}`);
  }
  // No complete copy (never made, or the daemon died while writing it): make one; gzip -n gives the same bytes.
  await Deno.remove(path).catch(() => {});
  const identity = await gzipTo(plan.path, plan.file, path, context.signal);
  plan.compressed = { path, file: identity };
  await context.journal.record(plan);
  return { path, identity, file: await openExpected(path, identity) };
}

/**
 * The directory `plan`'s file must still be in: as recorded when it was selected, or (plans journaled
 * before directories were recorded) where its path says, below `mesos.work.directory`.
 */
function directoryOf(plan: UploadPlan, context: UploadContext): ExpectedDirectory {
  if (plan.directory !== undefined) return plan.directory;
  const expected = expectedRealPath(dirname(plan.path), context.settings.workDirectory);
  return typeof expected === "string" ? { realPath: expected } : expected;
}

/**
 * The part size for a file of `size` bytes: the configured size, larger when the file would need more than
 * 10,000 parts.
 *
 * @example
 * ```ts
 * partSizeFor(12 * 1024 ** 3, 5 * 1024 ** 2); // 5 MiB
 * partSizeFor(100 * 1024 ** 3, 5 * 1024 ** 2); // 11 MiB
 * ```
 */
export function partSizeFor(size: number, configured: number): number {
  const needed = Math.ceil(size / MAX_PARTS);
  return needed <= configured ? configured : Math.ceil(needed / MIB) * MIB;
}

/** One PUT, hashing as the bytes go; resolves to the expected ETag (the md5). */
async function putSingle(plan: UploadPlan, body: Body, client: S3Client, context: UploadContext): Promise<string> {
  const size = body.identity.size;
  const kms = plan.serverSideEncryption === "aws:kms";
  const contentMd5 = kms ? Buffer.from(await md5OfRange(body, 0, size), "hex").toString("base64") : undefined;
  const hash = createHash("md5");
  await sendWithBody(context, async (signal, progress) => {
    const stream = rangeStream(body, 0, size, hash, progress);
    try {
      await client.send(
        new PutObjectCommand({
          Bucket: plan.bucket,
          Key: plan.key,
          Body: stream,
          ContentLength: size,
          ...objectOptions(plan, size),
          ...(contentMd5 === undefined ? {} : { ContentMD5: contentMd5 }),
          ...sse(plan),
        }),
        { abortSignal: signal },
      );
    } finally {
      stream.destroy();
    }
  });
  return hash.digest("hex");
}

/**
 * A multipart upload: resumes the recorded one (keeping the parts S3 has whose md5 matches the local bytes)
 * or creates one, sends the missing parts a few at a time, completes it; resolves to the expected ETag.
 */
async function putMultipart(
  plan: UploadPlan,
  body: Body,
  client: S3Client,
  context: UploadContext,
  fresh: boolean,
): Promise<string> {
  const multipart = plan.multipart!;
  const size = body.identity.size;
  const count = Math.ceil(size / multipart.partSize);
  const existing = new Map<number, Part>();
  if (multipart.uploadId !== undefined) {
    const parts = await listParts(plan, multipart.uploadId, client, context);
    if (parts === undefined) {
      context.log.info(`${plan.path}: multipart upload ${multipart.uploadId} no longer exists; starting a new one`);
      multipart.uploadId = undefined;
    } else {
      for (const part of parts) existing.set(part.PartNumber!, part);
      context.log.info(
        `${plan.path}: resuming multipart upload to s3://${plan.bucket}/${plan.key} (${existing.size} of ${count} parts in S3)`,
      );
    }
  } else if (!fresh) {
    // The daemon may have died between creating an upload and journaling its id: the key is this plan's alone.
    await abortUploadsAt(plan, client, context);
  }
  if (multipart.uploadId === undefined) {
    const created = await send(
      context,
      (signal) =>
        client.send(
          new CreateMultipartUploadCommand({
            Bucket: plan.bucket,
            Key: plan.key,
            ...objectOptions(plan, size),
            ...sse(plan),
          }),
          { abortSignal: signal },
        ),
    );
    if (!created.UploadId) {
      throw new Error(`CreateMultipartUpload for s3://${plan.bucket}/${plan.key} gave no UploadId`);
    }
    multipart.uploadId = created.UploadId;
    await context.journal.record(plan);
  }
  const uploadId = multipart.uploadId;
  const digests: Buffer[] = new Array(count);
  let next = 0;
  const kms = plan.serverSideEncryption === "aws:kms";
  const worker = async () => {
    while (next < count && !context.signal.aborted) {
      const index = next++;
      const number = index + 1;
      const start = index * multipart.partSize;
      const length = Math.min(multipart.partSize, size - start);
      const have = existing.get(number);
      if (have !== undefined && have.Size === length) {
        const md5 = await md5OfRange(body, start, length);
        if (have.ETag !== undefined && unquote(have.ETag) === md5) {
          digests[index] = Buffer.from(md5, "hex");
          continue;
        }
      }
      const contentMd5 = kms ? Buffer.from(await md5OfRange(body, start, length), "hex").toString("base64") : undefined;
      const hash = createHash("md5");
      const answer = await sendWithBody(context, async (signal, progress) => {
        const stream = rangeStream(body, start, length, hash, progress);
        try {
          return await client.send(
            new UploadPartCommand({
              Bucket: plan.bucket,
              Key: plan.key,
              UploadId: uploadId,
              PartNumber: number,
              Body: stream,
              ContentLength: length,
              ...(contentMd5 === undefined ? {} : { ContentMD5: contentMd5 }),
            }),
            { abortSignal: signal },
          );
        } finally {
          stream.destroy();
        }
      });
      const digest = hash.digest();
      if (!kms && (answer.ETag === undefined || unquote(answer.ETag) !== digest.toString("hex"))) {
        throw new UploadVerificationError(
          `part ${number} of ${plan.path}: S3 answered ETag ${answer.ETag}, the bytes sent have md5 ${
            digest.toString("hex")
          }`,
        );
      }
      digests[index] = digest;
    }
  };
  await Promise.all(Array.from({ length: Math.min(context.settings.partConcurrency, count) }, worker));
  context.signal.throwIfAborted();
  await send(
    context,
    (signal) =>
      client.send(
        new CompleteMultipartUploadCommand({
          Bucket: plan.bucket,
          Key: plan.key,
          UploadId: uploadId,
          MultipartUpload: {
            Parts: digests.map((digest, i) => ({ PartNumber: i + 1, ETag: `"${digest.toString("hex")}"` })),
          },
        }),
        { abortSignal: signal },
      ),
    COMPLETE_TIMEOUT_FACTOR,
  );
  return multipartETag(digests);
}

/**
 * The ETag S3 gives a multipart object: the md5 of the parts' md5 digests, then `-<number of parts>`.
 *
 * @example
 * ```ts
 * multipartETag([md5a, md5b, md5c]); // "8a2494bec621a53f0fb505c7272fc8ad-3"
 * ```
 */
export function multipartETag(digests: readonly Uint8Array[]): string {
  const hash = createHash("md5");
  for (const digest of digests) hash.update(digest);
  return `${hash.digest("hex")}-${digests.length}`;
}

/** The ETag S3 should have for `body` uploaded whole (`partSize` undefined) or in parts. */
async function localETag(body: Body, partSize: number | undefined, context: UploadContext): Promise<string> {
  const size = body.identity.size;
  if (partSize === undefined) return await md5OfRange(body, 0, size);
  const digests: Buffer[] = [];
  for (let start = 0; start < size; start += partSize) {
    context.signal.throwIfAborted();
    digests.push(Buffer.from(await md5OfRange(body, start, Math.min(partSize, size - start)), "hex"));
  }
  return multipartETag(digests);
}

/** HeadObject: the object's size and ETag (unquoted), or undefined when there is none. */
async function headObject(
  client: S3Client,
  plan: UploadPlan,
  context: UploadContext,
): Promise<{ size: number; etag: string; storageClass?: string } | undefined> {
  try {
    const head = await send(
      context,
      (signal) => client.send(new HeadObjectCommand({ Bucket: plan.bucket, Key: plan.key }), { abortSignal: signal }),
    );
    return { size: head.ContentLength ?? -1, etag: unquote(head.ETag ?? ""), storageClass: head.StorageClass };
  } catch (error) {
    const status = (error as { $metadata?: { httpStatusCode?: number } }).$metadata?.httpStatusCode;
    if ((error as Error).name === "NotFound" || status === 404) return undefined;
    throw error;
  }
}

/** Confirms S3 holds `size` bytes with the expected ETag at the plan's key. */
async function verify(
  plan: UploadPlan,
  size: number,
  expectedETag: string,
  kms: boolean,
  client: S3Client,
  context: UploadContext,
): Promise<void> {
  const head = await headObject(client, plan, context);
  const where = `s3://${plan.bucket}/${plan.key}`;
  if (head === undefined) throw new UploadVerificationError(`${where} does not exist after uploading ${plan.path}`);
  if (head.size !== size) {
    throw new UploadVerificationError(`${where} has ${head.size} bytes, ${plan.path} has ${size}`);
  }
  // With SSE-KMS the ETag is not an md5 on AWS; Content-MD5 on every body had S3 check the bytes instead.
  if (!kms && head.etag !== expectedETag) {
    throw new UploadVerificationError(`${where} has ETag ${head.etag}, expected ${expectedETag} for ${plan.path}`);
  }
}

/**
 * Deletes the local file (if it is still the uploaded one, in the directory it was found in), the compressed
 * copy and the journal entry.
 */
async function finish(
  plan: UploadPlan,
  context: UploadContext,
): Promise<{ state: "uploaded"; keptChangedFile: boolean }> {
  // Checked right before the unlink: a path swapped for another file, a link or a FIFO, or a directory in its
  // path swapped for a link, since the upload is not deleted.
  const removal = removeIfUnchanged(plan.path, plan.file, directoryOf(plan, context));
  const keptChangedFile = removal.state === "kept";
  if (removal.state === "kept") {
    context.log.warn(
      `${plan.path}: not deleted after its upload to s3://${plan.bucket}/${plan.key}: ${removal.reason}; ` +
        `it is looked at again next pass`,
    );
  }
  if (plan.compressed !== undefined) await Deno.remove(plan.compressed.path).catch(() => {});
  await context.journal.remove(plan.path);
  return { state: "uploaded", keptChangedFile };
}

/** ListParts (all pages); undefined when the upload does not exist any more. */
async function listParts(
  plan: UploadPlan,
  uploadId: string,
  client: S3Client,
  context: UploadContext,
): Promise<Part[] | undefined> {
  const parts: Part[] = [];
  let marker: string | undefined;
  try {
    do {
      const page = await send(
        context,
        (signal) =>
          client.send(
            new ListPartsCommand({ Bucket: plan.bucket, Key: plan.key, UploadId: uploadId, PartNumberMarker: marker }),
            { abortSignal: signal },
          ),
      );
      parts.push(...(page.Parts ?? []));
      marker = page.IsTruncated ? page.NextPartNumberMarker : undefined;
    } while (marker !== undefined);
  } catch (error) {
    const status = (error as { $metadata?: { httpStatusCode?: number } }).$metadata?.httpStatusCode;
    if ((error as Error).name === "NoSuchUpload" || status === 404) return undefined;
    throw error;
  }
  return parts;
}

/** Aborts one multipart upload of the plan's key (gone already is fine). */
async function abortUpload(
  plan: UploadPlan,
  uploadId: string,
  client: S3Client,
  context: UploadContext,
): Promise<void> {
  try {
    await send(
      context,
      (signal) =>
        client.send(new AbortMultipartUploadCommand({ Bucket: plan.bucket, Key: plan.key, UploadId: uploadId }), {
          abortSignal: signal,
        }),
    );
    context.log.info(`aborted multipart upload ${uploadId} of s3://${plan.bucket}/${plan.key}`);
  } catch (error) {
    const status = (error as { $metadata?: { httpStatusCode?: number } }).$metadata?.httpStatusCode;
    if ((error as Error).name !== "NoSuchUpload" && status !== 404) throw error;
  }
}

/** Aborts every multipart upload in flight at exactly the plan's key. */
async function abortUploadsAt(plan: UploadPlan, client: S3Client, context: UploadContext): Promise<void> {
  let keyMarker: string | undefined;
  let uploadIdMarker: string | undefined;
  do {
    const page = await send(
      context,
      (signal) =>
        client.send(
          new ListMultipartUploadsCommand({
            Bucket: plan.bucket,
            Prefix: plan.key,
            KeyMarker: keyMarker,
            UploadIdMarker: uploadIdMarker,
          }),
          { abortSignal: signal },
        ),
    );
    for (const upload of page.Uploads ?? []) {
      if (upload.Key === plan.key && upload.UploadId) await abortUpload(plan, upload.UploadId, client, context);
    }
    keyMarker = page.IsTruncated ? page.NextKeyMarker : undefined;
    uploadIdMarker = page.IsTruncated ? page.NextUploadIdMarker : undefined;
  } while (keyMarker !== undefined);
}

/** Storage class (when the object is over the plan's threshold) and content headers. */
function objectOptions(plan: UploadPlan, size: number) {
  const storageClass = plan.storageClass !== undefined &&
      (plan.storageClassOverBytes === undefined || size > plan.storageClassOverBytes)
    ? plan.storageClass
    : undefined;
  return {
    ...(storageClass === undefined ? {} : { StorageClass: storageClass as PutObjectCommand["input"]["StorageClass"] }),
    ...(plan.contentType === undefined ? {} : { ContentType: plan.contentType }),
    ...(plan.contentEncoding === undefined ? {} : { ContentEncoding: plan.contentEncoding }),
  };
}

/** Server-side encryption headers. */
function sse(plan: UploadPlan) {
  if (plan.serverSideEncryption === undefined) return {};
  return {
    ServerSideEncryption: plan.serverSideEncryption,
    ...(plan.kmsKeyId === undefined ? {} : { SSEKMSKeyId: plan.kmsKeyId }),
  };
}

/** An ETag without its quotes. */
function unquote(etag: string): string {
  return etag.replace(/^"|"$/g, "");
}

/** The md5 (hex) of `length` bytes of `body` from `start`. */
async function md5OfRange(body: Body, start: number, length: number): Promise<string> {
  const hash = createHash("md5");
  const buffer = new Uint8Array(Math.min(READ_CHUNK, Math.max(length, 1)));
  let done = 0;
  while (done < length) {
    const want = Math.min(buffer.length, length - done);
    const { bytesRead } = await body.file.read(buffer, 0, want, start + done);
    if (bytesRead === 0) throw new FileChangedError(body.path, "shorter than when it was selected");
    hash.update(buffer.subarray(0, bytesRead));
    done += bytesRead;
  }
  return hash.digest("hex");
}

/**
 * A request body of `length` bytes of `body` from `start`, read positionally from its checked handle, each
 * chunk hashed and reported to `progress` as S3 takes it.
 */
function rangeStream(
  body: Body,
  start: number,
  length: number,
  hash: ReturnType<typeof createHash>,
  progress: (bytes: number) => void,
): Readable {
  async function* chunks() {
    let done = 0;
    while (done < length) {
      // A fresh buffer per chunk: the HTTP client may still hold the previous one.
      const chunk = new Uint8Array(Math.min(READ_CHUNK, length - done));
      let filled = 0;
      while (filled < chunk.length) {
        const { bytesRead } = await body.file.read(chunk, filled, chunk.length - filled, start + done + filled);
        if (bytesRead === 0) throw new FileChangedError(body.path, "shorter than when it was selected");
        filled += bytesRead;
      }
      hash.update(chunk);
      done += filled;
      progress(filled);
      yield chunk;
    }
  }
  return Readable.from(chunks(), { objectMode: false, highWaterMark: 2 * READ_CHUNK });
}

/** Runs one S3 request, abandoned when the daemon abandons uploads or after the stall timeout (× `factor`). */
async function send<T>(
  context: UploadContext,
  request: (signal: AbortSignal) => Promise<T>,
  factor = 1,
): Promise<T> {
  const signal = AbortSignal.any([context.signal, AbortSignal.timeout(context.settings.stallTimeoutMs * factor)]);
  return await request(signal);
}

/**
 * Runs one S3 request with a body, abandoned when the daemon abandons uploads or when no body byte has gone
 * out for the stall timeout.
 */
async function sendWithBody<T>(
  context: UploadContext,
  request: (signal: AbortSignal, progress: (bytes: number) => void) => Promise<T>,
): Promise<T> {
  const stall = new AbortController();
  const limit = context.settings.stallTimeoutMs;
  let last = Date.now();
  const timer = setInterval(() => {
    if (Date.now() - last > limit) stall.abort(new Error(`no progress for ${limit} ms`));
  }, Math.min(1000, Math.max(50, limit / 4)));
  try {
    return await request(AbortSignal.any([context.signal, stall.signal]), (bytes) => {
      last = Date.now();
      context.onBytes?.(bytes);
    });
  } finally {
    clearInterval(timer);
  }
}

/**
 * A compressed copy's path for a new plan (unique per plan).
 *
 * @example
 * ```ts
 * newCompressedPath("/s/logs/service.log"); // "/s/logs/.service.log.gz.<uuid>.s3uploader.tmp"
 * ```
 */
export function newCompressedPath(path: string): string {
  return compressedTemporaryPath(path, crypto.randomUUID());
}
