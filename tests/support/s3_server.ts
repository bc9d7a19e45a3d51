/**
 * The real S3 server the tests talk to (radosgw from `scripts/s3_test_server.sh`),
 * throw-away buckets on it, and configuration directories pointing at it.
 *
 * @example
 * ```ts
 * import { PutObjectCommand } from "@aws-sdk/client-s3";
 * import { UPLOADER, type UploaderKeys } from "../../lib/config/mod.ts";
 * import { s3ClientFor } from "../../lib/s3/client.ts";
 *
 * await requireS3Server();
 * await using setup = await loadTestConfig<UploaderKeys>(UPLOADER);
 * const s3 = s3ClientFor(setup.config);
 * await using bucket = await createTestBucket(s3, "example");
 * await s3.send(new PutObjectCommand({ Bucket: bucket.name, Key: "k", Body: "v" }));
 * ```
 *
 * @module
 */
import {
  AbortMultipartUploadCommand,
  CreateBucketCommand,
  DeleteBucketCommand,
  DeleteObjectCommand,
  ListMultipartUploadsCommand,
  ListObjectsV2Command,
  type S3Client,
} from "@aws-sdk/client-s3";
import { stringify } from "dot-properties";
import { join } from "node:path";
import { type Config, type KeyTable, loadConfig, type Program } from "../../lib/config/mod.ts";
import { closeS3Clients, type S3Credentials } from "../../lib/s3/client.ts";

/** The test S3 endpoint: `S3_TEST_ENDPOINT`, default the radosgw of `scripts/s3_test_server.sh`. */
export const S3_TEST_ENDPOINT: string = Deno.env.get("S3_TEST_ENDPOINT") || "http://127.0.0.1:7480";

/** The key pair the test server accepts (`S3_TEST_ACCESS_KEY` / `S3_TEST_SECRET_KEY`, default test/test). */
export const S3_TEST_CREDENTIALS: Readonly<S3Credentials> = {
  accessKey: Deno.env.get("S3_TEST_ACCESS_KEY") || "test",
  secretKey: Deno.env.get("S3_TEST_SECRET_KEY") || "test",
};

let answered = false;

/**
 * Resolves when the test S3 server answers HTTP; otherwise throws an error
 * that says how to start it.
 *
 * @example
 * ```ts
 * await requireS3Server();
 * ```
 */
export async function requireS3Server(): Promise<void> {
  if (answered) return;
  const abort = new AbortController();
  const timer = setTimeout(() => abort.abort(), 3000);
  try {
    const response = await fetch(`${S3_TEST_ENDPOINT}/`, { signal: abort.signal });
    await response.body?.cancel();
    answered = true;
  } catch (error) {
    const cause = (error as Error).cause;
    const reason = abort.signal.aborted
      ? "no answer within 3 s"
      : cause instanceof Error
      ? cause.message
      : (error as Error).message;
    throw new Error(
      `no S3 test server answers at ${S3_TEST_ENDPOINT} (${reason}); ` +
        `start one with: bash scripts/s3_test_server.sh start (or set S3_TEST_ENDPOINT)`,
    );
  } finally {
    clearTimeout(timer);
  }
}

/** A bucket made for one test; `await using` removes it with everything in it. */
export interface TestBucket extends AsyncDisposable {
  readonly name: string;
  /** Aborts open multipart uploads, deletes every object, then the bucket. */
  remove(): Promise<void>;
}

/**
 * Creates a bucket with a unique name starting with `test-<label>-`.
 *
 * @example
 * ```ts
 * await using bucket = await createTestBucket(s3, "range");
 * console.log(bucket.name); // "test-range-m4x1k2-8f3a"
 * ```
 */
export async function createTestBucket(client: S3Client, label: string): Promise<TestBucket> {
  const clean = label.toLowerCase().replace(/[^a-z0-9-]+/g, "-").replace(/^-+|-+$/g, "").slice(0, 30) || "bucket";
  const random = crypto.getRandomValues(new Uint8Array(3)).reduce((s, b) => s + b.toString(16).padStart(2, "0"), "");
  const name = `test-${clean}-${Date.now().toString(36)}-${random}`;
  await client.send(new CreateBucketCommand({ Bucket: name }));
  let removed = false;
  const remove = async (): Promise<void> => {
    if (removed) return;
    await emptyBucket(client, name);
    await client.send(new DeleteBucketCommand({ Bucket: name }));
    removed = true;
  };
  return { name, remove, [Symbol.asyncDispose]: remove };
}

/** Aborts the bucket's multipart uploads and deletes its objects, one request each. */
async function emptyBucket(client: S3Client, bucket: string): Promise<void> {
  const uploads = await client.send(new ListMultipartUploadsCommand({ Bucket: bucket }));
  for (const upload of uploads.Uploads ?? []) {
    await client.send(new AbortMultipartUploadCommand({ Bucket: bucket, Key: upload.Key, UploadId: upload.UploadId }));
  }
  let token: string | undefined;
  do {
    const page = await client.send(new ListObjectsV2Command({ Bucket: bucket, ContinuationToken: token }));
    for (const object of page.Contents ?? []) {
      await client.send(new DeleteObjectCommand({ Bucket: bucket, Key: object.Key }));
    }
    token = page.IsTruncated ? page.NextContinuationToken : undefined;
  } while (token !== undefined);
}

/** Options of {@linkcode writeTestConfigDir} and {@linkcode loadTestConfig}. */
export interface TestConfigOptions {
  /**
   * Properties written to the program's last property file, so they override
   * the test defaults (an empty value unsets a default, e.g. `"s3.access.key": ""`).
   */
  properties?: Record<string, string>;
}

/** A temporary configuration directory; `await using` deletes it with everything below it. */
export interface TestConfigDir extends AsyncDisposable {
  /** The property files plus the directories they name: `log/`, `metadata/`, `artifacts/`. */
  readonly dir: string;
}

/**
 * Writes property files for `program` into a fresh temporary directory: S3 at
 * {@linkcode S3_TEST_ENDPOINT} with the test keys, path-style, and log,
 * metadata and artifact cache directories created inside it. For tests that
 * start a program with `--config-dir`.
 *
 * @example
 * ```ts
 * await using setup = await writeTestConfigDir(UPLOADER, { properties: { "s3uploader.retry.count": "1" } });
 * // deno run -A main_uploader.ts --config-dir <setup.dir>
 * ```
 */
export async function writeTestConfigDir(program: Program, options: TestConfigOptions = {}): Promise<TestConfigDir> {
  const dir = await Deno.makeTempDir({ prefix: "singularity-test-config-" });
  const remove = (): Promise<void> => Deno.remove(dir, { recursive: true });
  try {
    const directories = { log: join(dir, "log"), metadata: join(dir, "metadata"), artifacts: join(dir, "artifacts") };
    for (const path of Object.values(directories)) await Deno.mkdir(path);
    const files = new Map<string, Record<string, string>>([
      ["singularity.base.properties", {
        "root.log.directory": directories.log,
        "s3uploader.metadata.directory": directories.metadata,
      }],
      ["singularity.s3base.properties", {
        "artifact.cache.directory": directories.artifacts,
        "s3.endpoint": S3_TEST_ENDPOINT,
        "s3.region": "us-east-1",
        "s3.path.style": "true",
        "s3.access.key": S3_TEST_CREDENTIALS.accessKey,
        "s3.secret.key": S3_TEST_CREDENTIALS.secretKey,
      }],
    ]);
    const last = program.layers.at(-1)!.file;
    files.set(last, { ...files.get(last), ...options.properties });
    for (const [file, properties] of files) {
      await Deno.writeTextFile(join(dir, file), stringify(properties) + "\n");
    }
    return { dir, [Symbol.asyncDispose]: remove };
  } catch (error) {
    await remove();
    throw error;
  }
}

/** Options of {@linkcode loadTestConfig}. */
export interface LoadTestConfigOptions extends TestConfigOptions {
  /** Check required keys and directories (default true). */
  validate?: boolean;
}

/** A loaded test configuration; `await using` deletes its directory. */
export interface TestConfig<T extends KeyTable> extends TestConfigDir {
  readonly config: Config<T>;
  /** Warnings from loading (unknown keys, for one). */
  readonly warnings: readonly string[];
}

/**
 * {@linkcode writeTestConfigDir}, then loads `program`'s configuration from
 * there. Throws with the loader's errors if any.
 *
 * @example
 * ```ts
 * await using setup = await loadTestConfig<UploaderKeys>(UPLOADER, {
 *   properties: { "s3.bucket.logs.access.key": "other", "s3.bucket.logs.secret.key": "other-secret" },
 * });
 * setup.config.get("s3.endpoint"); // "http://127.0.0.1:7480"
 * ```
 */
export async function loadTestConfig<T extends KeyTable>(
  program: Program,
  options: LoadTestConfigOptions = {},
): Promise<TestConfig<T>> {
  const setup = await writeTestConfigDir(program, options);
  try {
    const { config, errors, warnings } = await loadConfig<T>(program, {
      configDir: setup.dir,
      validate: options.validate,
    });
    if (errors.length > 0) {
      throw new Error(`test configuration in ${setup.dir} for ${program.name} has errors:\n  ${errors.join("\n  ")}`);
    }
    return { config, dir: setup.dir, warnings, [Symbol.asyncDispose]: () => setup[Symbol.asyncDispose]() };
  } catch (error) {
    await setup[Symbol.asyncDispose]();
    throw error;
  }
}

/** Closes the cached S3 clients when a test's scope ends (declare it first so it runs last). */
export function closingClients(): Disposable {
  return { [Symbol.dispose]: closeS3Clients };
}

/** `length` random bytes (getRandomValues takes at most 64 KiB at a time). */
export function randomBytes(length: number): Uint8Array {
  const bytes = new Uint8Array(length);
  for (let offset = 0; offset < length; offset += 65536) {
    crypto.getRandomValues(bytes.subarray(offset, Math.min(offset + 65536, length)));
  }
  return bytes;
}
