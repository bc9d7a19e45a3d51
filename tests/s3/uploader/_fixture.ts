/**
 * What the uploader tests share: a configuration against radosgw with a
 * metadata directory and a work directory for sandboxes, a fresh bucket,
 * metadata files, the bucket's content, and a logger that records lines.
 *
 * @module
 */
import {
  DeleteBucketCommand,
  DeleteObjectCommand,
  GetObjectCommand,
  ListMultipartUploadsCommand,
  ListObjectsV2Command,
  type S3Client,
} from "@aws-sdk/client-s3";
import type { Logger } from "@logtape/logtape";
import { join } from "node:path";
import { md5OfBytes } from "../../../lib/artifacts/md5.ts";
import { UPLOADER, type UploaderKeys } from "../../../lib/config/mod.ts";
import { closeS3Clients, s3ClientFor } from "../../../lib/s3/client.ts";
import { type UploadMetadata, writeUploadMetadata } from "../../../lib/s3/upload_metadata.ts";
import { JOURNAL_DIRECTORY, parsePlan, type UploadPlan } from "../../../lib/s3/uploader/journal.ts";
import { UploaderService } from "../../../lib/s3/uploader/service.ts";
import {
  createTestBucket,
  loadTestConfig,
  requireS3Server,
  type TestBucket,
  type TestConfig,
} from "../../support/s3_server.ts";

export const MIB = 1024 * 1024;

/** One object of the bucket. */
export interface StoredObject {
  key: string;
  size: number;
  etag: string;
  md5: string;
  storageClass: string;
}

/** A logger that keeps its lines as `LEVEL message`. */
export interface RecordingLogger {
  log: Logger;
  lines: string[];
}

/**
 * A logger recording `LEVEL message` lines (and printing them when UPLOADER_TEST_LOG is set).
 *
 * @example
 * ```ts
 * const { log, lines } = recordingLogger();
 * ```
 */
export function recordingLogger(): RecordingLogger {
  const lines: string[] = [];
  const print = Deno.env.get("UPLOADER_TEST_LOG") !== undefined;
  const record = (level: string) => (message: unknown) => {
    const line = `${level} ${String(message)}`;
    lines.push(line);
    if (print) console.error(line);
  };
  const log = {
    trace: record("TRACE"),
    debug: record("DEBUG"),
    info: record("INFO"),
    warn: record("WARN"),
    warning: record("WARN"),
    error: record("ERROR"),
    fatal: record("FATAL"),
    with: () => log,
    getChild: () => log,
  };
  return { log: log as unknown as Logger, lines };
}

/** The uploader fixture. */
export interface Fixture extends AsyncDisposable {
  setup: TestConfig<UploaderKeys>;
  s3: S3Client;
  bucket: TestBucket;
  /** mesos.work.directory: sandboxes go below it. */
  work: string;
  metadataDir: string;
  logger: RecordingLogger;
  /** Creates `<work>/<name>` (and parents) and returns it. */
  dir(name: string): Promise<string>;
  /** Writes a metadata file (atomically, like the executor) with these fields over defaults for `directory`. */
  metadata(name: string, directory: string, fields?: Partial<UploadMetadata>): Promise<string>;
  /** A started service (no periodic passes: tests call runPass). */
  service(): Promise<UploaderService>;
  /** The bucket's objects by key, with their bytes' md5. */
  objects(): Promise<Map<string, StoredObject>>;
  /** The bucket's keys, sorted (no downloads). */
  keys(): Promise<string[]>;
  /** Keys of incomplete multipart uploads in the bucket. */
  multipartUploads(): Promise<string[]>;
}

/** Settings that keep tests short: 5 MiB parts (radosgw's minimum), quick retries. */
export const TEST_PROPERTIES: Record<string, string> = {
  "s3uploader.check.uploads.every.seconds": "3600",
  "s3uploader.recheck.files.every.seconds": "3600",
  "s3uploader.max.single.upload.size": String(5 * MIB),
  "s3uploader.upload.part.size": String(5 * MIB),
  "s3uploader.retry.count": "2",
  "s3uploader.retry.wait.ms": "100",
  "s3uploader.stall.timeout.millis": "5000",
  "s3uploader.shutdown.grace.millis": "2000",
};

/**
 * The fixture: `await using f = await fixture("label")`.
 *
 * @example
 * ```ts
 * await using f = await fixture("keys", { "s3uploader.retry.count": "1" });
 * ```
 */
export async function fixture(label: string, properties: Record<string, string> = {}): Promise<Fixture> {
  await requireS3Server();
  const work = await Deno.makeTempDir({ prefix: "uploader-work-" });
  const setup = await loadTestConfig<UploaderKeys>(UPLOADER, {
    properties: { "mesos.work.directory": work, ...TEST_PROPERTIES, ...properties },
  });
  // The test's own client goes straight to the server, whatever endpoint (a proxy) the uploader is given.
  const direct = await loadTestConfig<UploaderKeys>(UPLOADER, { validate: false });
  const s3 = s3ClientFor(direct.config);
  const bucket = await createTestBucket(s3, label);
  const metadataDir = setup.config.text("s3uploader.metadata.directory");
  const logger = recordingLogger();
  const services: UploaderService[] = [];
  const self: Fixture = {
    setup,
    s3,
    bucket,
    work,
    metadataDir,
    logger,
    dir: async (name) => {
      const path = join(work, name);
      await Deno.mkdir(path, { recursive: true });
      return path;
    },
    metadata: (name, directory, fields = {}) =>
      writeUploadMetadata(metadataDir, name, {
        directory,
        fileGlob: "*.log",
        s3Bucket: bucket.name,
        s3KeyFormat: "%filename",
        finished: false,
        checkSubdirectories: false,
        compressBeforeUpload: false,
        checkIfOpen: false,
        ...fields,
      }),
    service: async () => {
      const service = new UploaderService(setup.config, logger.log);
      services.push(service);
      await service.start({ schedule: false });
      return service;
    },
    objects: () => listObjects(s3, bucket.name),
    keys: async () => {
      const keys: string[] = [];
      let token: string | undefined;
      do {
        const page = await s3.send(new ListObjectsV2Command({ Bucket: bucket.name, ContinuationToken: token }));
        keys.push(...(page.Contents ?? []).map((object) => object.Key!));
        token = page.IsTruncated ? page.NextContinuationToken : undefined;
      } while (token !== undefined);
      return keys.sort();
    },
    multipartUploads: async () => {
      const page = await s3.send(new ListMultipartUploadsCommand({ Bucket: bucket.name }));
      return (page.Uploads ?? []).map((upload) => upload.Key!);
    },
    [Symbol.asyncDispose]: async () => {
      for (const service of services) await service.stop();
      await bucket.remove();
      closeS3Clients();
      await setup[Symbol.asyncDispose]();
      await direct[Symbol.asyncDispose]();
      await Deno.remove(work, { recursive: true });
    },
  };
  return self;
}

/**
 * The objects of `bucket` with their bytes' md5.
 *
 * @example
 * ```ts
 * const objects = await listObjects(s3, "logs");
 * ```
 */
export async function listObjects(s3: S3Client, bucket: string): Promise<Map<string, StoredObject>> {
  const objects = new Map<string, StoredObject>();
  let token: string | undefined;
  do {
    const page = await s3.send(new ListObjectsV2Command({ Bucket: bucket, ContinuationToken: token }));
    for (const object of page.Contents ?? []) {
      const got = await s3.send(new GetObjectCommand({ Bucket: bucket, Key: object.Key }));
      const bytes = await got.Body!.transformToByteArray();
      objects.set(object.Key!, {
        key: object.Key!,
        size: object.Size!,
        etag: (object.ETag ?? "").replaceAll('"', ""),
        md5: md5OfBytes(bytes),
        storageClass: got.StorageClass ?? "STANDARD",
      });
    }
    token = page.IsTruncated ? page.NextContinuationToken : undefined;
  } while (token !== undefined);
  return objects;
}

/**
 * Waits until `condition` holds (checked every 20 ms), failing after `timeoutMs` with `what`.
 *
 * @example
 * ```ts
 * await waitFor(() => service.registry.size === 2, "two uploaders");
 * ```
 */
export async function waitFor(condition: () => boolean | Promise<boolean>, what: string, timeoutMs = 10_000) {
  const deadline = Date.now() + timeoutMs;
  while (!(await condition())) {
    if (Date.now() > deadline) throw new Error(`timed out after ${timeoutMs} ms waiting for ${what}`);
    await new Promise((resolve) => setTimeout(resolve, 20));
  }
}

/**
 * Deletes every object of `bucket`, then the bucket (for buckets a test made itself).
 *
 * @example
 * ```ts
 * await removeBucket(s3, "test-creds-x");
 * ```
 */
export async function removeBucket(s3: S3Client, bucket: string): Promise<void> {
  for (const key of (await listObjects(s3, bucket)).keys()) {
    await s3.send(new DeleteObjectCommand({ Bucket: bucket, Key: key }));
  }
  await s3.send(new DeleteBucketCommand({ Bucket: bucket }));
}

/**
 * The plans in the journal of `metadataDir`, read without touching anything (unlike `Journal.open`, which
 * removes temporary files a running daemon may be writing). A plan removed while it is read is left out; no
 * journal directory yet is an empty journal.
 *
 * @example
 * ```ts
 * const plans = await journalPlans(f.metadataDir);
 * ```
 */
export async function journalPlans(metadataDir: string): Promise<UploadPlan[]> {
  const dir = join(metadataDir, JOURNAL_DIRECTORY);
  const plans: UploadPlan[] = [];
  let entries: Deno.DirEntry[];
  try {
    entries = [...Deno.readDirSync(dir)];
  } catch (error) {
    // Not made yet: the uploader was killed before its journal was opened.
    if (error instanceof Deno.errors.NotFound) return plans;
    throw error;
  }
  for (const entry of entries) {
    if (!entry.name.endsWith(".json") || entry.name.startsWith(".")) continue;
    try {
      plans.push(parsePlan(await Deno.readTextFile(join(dir, entry.name)), entry.name));
    } catch (error) {
      if (!(error instanceof Deno.errors.NotFound)) throw error;
    }
  }
  return plans.sort((a, b) => a.createdAt.localeCompare(b.createdAt));
}

/** Writes `bytes` to `path` with modification time `mtime` (default: an hour ago, a rotated log). */
export async function writeLog(path: string, bytes: Uint8Array | string, mtime?: Date): Promise<void> {
  await Deno.writeFile(path, typeof bytes === "string" ? new TextEncoder().encode(bytes) : bytes);
  const when = mtime ?? new Date(Date.now() - 3_600_000);
  await Deno.utime(path, when, when);
}
