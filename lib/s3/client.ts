/**
 * One place that turns the configuration into an `S3Client`: endpoint,
 * region, path-style addressing and which credentials sign the requests.
 *
 * Credentials, first match wins:
 * 1. explicit credentials (an upload metadata file's `s3AccessKey`/`s3SecretKey`);
 * 2. `s3.bucket.<bucket>.access.key` / `s3.bucket.<bucket>.secret.key` for the bucket;
 * 3. `s3.access.key` / `s3.secret.key`;
 * 4. the SDK's default provider chain (environment, `~/.aws`, instance role)
 *    when none of the above is configured.
 *
 * Clients are cached by endpoint, region, addressing and credentials, so
 * every caller may ask for a client per request. Secret keys never appear in
 * errors or in {@linkcode describeS3Target}.
 *
 * @example
 * ```ts
 * import { GetObjectCommand } from "@aws-sdk/client-s3";
 * const s3 = s3ClientFor(config, "my-bucket");
 * const object = await s3.send(new GetObjectCommand({ Bucket: "my-bucket", Key: "a.txt", Range: "bytes=0-99" }));
 * ```
 *
 * @module
 */
import { S3Client } from "@aws-sdk/client-s3";
import { FetchHttpHandler } from "@smithy/fetch-http-handler";
import type { Config } from "../config/config.ts";
import { S3BASE_KEYS } from "../config/keys_s3base.ts";
import { maskValue } from "../config/mask.ts";

/** The keys this module reads; every program that talks to S3 has them. */
export type S3BaseKeys = typeof S3BASE_KEYS;

/** A static key pair, as the configuration and upload metadata hold it. */
export interface S3Credentials {
  accessKey: string;
  secretKey: string;
}

/** Everything a client is built from, with where the credentials came from. */
interface S3Target {
  /** Empty: AWS in `region`. */
  endpoint: string;
  region: string;
  forcePathStyle: boolean;
  /** Undefined: the SDK's default provider chain. */
  credentials: S3Credentials | undefined;
  /** What supplied the credentials, for logs: a key name or a description. */
  credentialSource: string;
}

const ACCESS_FAMILY = "s3.bucket.<bucket>.access.key";
const SECRET_FAMILY = "s3.bucket.<bucket>.secret.key";

const clients = new Map<string, S3Client>();

/**
 * The S3 client for `bucket` (or for no bucket in particular), signed with
 * `override` when given, else with the bucket's keys, else the default keys,
 * else the SDK's default provider chain. Returns the same instance for the
 * same endpoint, region, addressing and credentials. Do not `destroy()` the
 * result; call {@linkcode closeS3Clients} when done with all of them.
 *
 * Throws when only half of a key pair is set, naming the key that is missing.
 *
 * @example
 * ```ts
 * const s3 = s3ClientFor(config, "logs-bucket");
 * const fromMetadata = s3ClientFor(config, "logs-bucket", { accessKey: "AKIA...", secretKey: "..." });
 * ```
 */
export function s3ClientFor(config: Config<S3BaseKeys>, bucket?: string, override?: S3Credentials): S3Client {
  return cachedClient(resolveTarget(config, bucket, override), "node");
}

/**
 * Like {@linkcode s3ClientFor}, but the client sends its requests with Deno's
 * own `fetch` instead of the SDK's `node:http` handler: response bodies
 * stream from native code, which makes a large ranged download about a third
 * faster (bench/s3_download_bench.ts). Used for downloads only; request
 * bodies (uploads) stay on the node handler, which streams files as-is.
 *
 * @example
 * ```ts
 * const s3 = s3DownloadClientFor(config, "artifacts");
 * ```
 */
export function s3DownloadClientFor(config: Config<S3BaseKeys>, bucket?: string): S3Client {
  return cachedClient(resolveTarget(config, bucket), "fetch");
}

/** The cached client for `target` and `transport`, made on first use. */
function cachedClient(target: S3Target, transport: "node" | "fetch"): S3Client {
  const cacheKey = JSON.stringify([
    transport,
    target.endpoint,
    target.region,
    target.forcePathStyle,
    target.credentials?.accessKey ?? null,
    target.credentials?.secretKey ?? null,
  ]);
  let client = clients.get(cacheKey);
  if (client === undefined) {
    client = new S3Client({
      ...(target.endpoint === "" ? {} : { endpoint: target.endpoint }),
      region: target.region,
      forcePathStyle: target.forcePathStyle,
      ...(target.credentials === undefined ? {} : {
        credentials: { accessKeyId: target.credentials.accessKey, secretAccessKey: target.credentials.secretKey },
      }),
      ...(transport === "fetch" ? { requestHandler: new FetchHttpHandler() } : {}),
      // Since 3.729 the SDK defaults to WHEN_SUPPORTED: streaming bodies go out as aws-chunked with a CRC32
      // trailer, which radosgw 16 answers with 411 MissingContentLength (other S3 stores mishandle it too).
      // Integrity is checked with Content-MD5 and ETags instead, which every S3 store supports.
      requestChecksumCalculation: "WHEN_REQUIRED",
      responseChecksumValidation: "WHEN_REQUIRED",
    });
    clients.set(cacheKey, client);
  }
  return client;
}

/**
 * Where requests for `bucket` go and which credentials sign them, for logs:
 * the access key masked, the secret key never.
 *
 * @example
 * ```ts
 * describeS3Target(config, "logs");
 * // "s3://logs at http://127.0.0.1:7480 (region us-east-1, path-style), credentials from s3.access.key (***************KEY1)"
 * ```
 */
export function describeS3Target(config: Config<S3BaseKeys>, bucket?: string, override?: S3Credentials): string {
  const target = resolveTarget(config, bucket, override);
  const where = target.endpoint === "" ? "AWS" : target.endpoint;
  const addressing = target.forcePathStyle ? "path-style" : "virtual-hosted";
  const key = target.credentials === undefined ? "" : ` (${maskValue(target.credentials.accessKey)})`;
  return `s3://${bucket ?? ""} at ${where} (region ${target.region}, ${addressing}), ` +
    `credentials from ${target.credentialSource}${key}`;
}

/**
 * Destroys every cached client (closing their keep-alive sockets) and empties
 * the cache; later calls of {@linkcode s3ClientFor} build new clients.
 *
 * @example
 * ```ts
 * closeS3Clients(); // at shutdown, or at the end of a test
 * ```
 */
export function closeS3Clients(): void {
  for (const client of clients.values()) client.destroy();
  clients.clear();
}

/** The endpoint, region, addressing and credentials for `bucket`. */
function resolveTarget(config: Config<S3BaseKeys>, bucket: string | undefined, override?: S3Credentials): S3Target {
  const region = config.get("s3.region") || S3BASE_KEYS["s3.region"].default;
  const forcePathStyle = config.get("s3.path.style") ?? S3BASE_KEYS["s3.path.style"].default === "true";
  const base = { endpoint: config.get("s3.endpoint") ?? "", region, forcePathStyle };
  if (override !== undefined) {
    return { ...base, credentials: explicit(override), credentialSource: "explicit credentials" };
  }
  if (bucket !== undefined) {
    const accessKey = config.family(ACCESS_FAMILY).get(bucket) ?? "";
    const secretKey = config.family(SECRET_FAMILY).get(bucket) ?? "";
    const accessName = ACCESS_FAMILY.replace("<bucket>", bucket);
    const secretName = SECRET_FAMILY.replace("<bucket>", bucket);
    const credentials = pair(accessName, accessKey, secretName, secretKey);
    if (credentials !== undefined) return { ...base, credentials, credentialSource: accessName };
  }
  const credentials = pair(
    "s3.access.key",
    config.text("s3.access.key"),
    "s3.secret.key",
    config.text("s3.secret.key"),
  );
  if (credentials !== undefined) return { ...base, credentials, credentialSource: "s3.access.key" };
  return { ...base, credentials: undefined, credentialSource: "the SDK default provider chain" };
}

/** Explicit credentials, both halves required. */
function explicit(override: S3Credentials): S3Credentials {
  const accessKey = override.accessKey.trim();
  const secretKey = override.secretKey.trim();
  if (accessKey === "" || secretKey === "") {
    const missing = accessKey === "" ? "access key" : "secret key";
    throw new Error(`explicit S3 credentials have an empty ${missing}; give both keys or neither`);
  }
  return { accessKey, secretKey };
}

/** The key pair from two configuration keys; undefined when neither is set; an error when one is. */
function pair(accessName: string, accessKey: string, secretName: string, secretKey: string): S3Credentials | undefined {
  if (accessKey === "" && secretKey === "") return undefined;
  if (accessKey === "") throw new Error(`${secretName} is set but ${accessName} is not; set both or neither`);
  if (secretKey === "") throw new Error(`${accessName} is set but ${secretName} is not; set both or neither`);
  return { accessKey, secretKey };
}
