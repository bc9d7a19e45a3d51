/**
 * Keys of `singularity.s3base.properties`, read by all four programs.
 *
 * @module
 */
import type { KeyTable, Layer } from "./schema.ts";

/** Keys for programs that talk to S3. */
export const S3BASE_KEYS = {
  "artifact.cache.directory": {
    type: "directory",
    default: "/var/cache/singularity/artifacts",
    doc: "Shared cache of downloaded artifacts (executor and downloader).",
    requiredBy: ["executor", "downloader"],
    mustExistFor: ["executor", "downloader"],
    era: "properties",
  },
  "s3.access.key": {
    type: "string",
    default: "",
    doc: "Default AWS access key id. Empty: no static credentials.",
    era: "properties",
  },
  "s3.secret.key": {
    type: "string",
    default: "",
    doc: "Default AWS secret access key.",
    era: "properties",
  },
  "s3.bucket.<bucket>.access.key": {
    type: "string",
    doc: "Access key id for one bucket (overrides s3.access.key for that bucket).",
    era: "later",
  },
  "s3.bucket.<bucket>.secret.key": {
    type: "string",
    doc: "Secret access key for one bucket.",
    era: "later",
  },
  "s3.endpoint": {
    type: "url",
    default: "",
    doc: "S3 endpoint URL for S3-compatible stores (e.g. http://127.0.0.1:7480). Empty: AWS in s3.region.",
    era: "later",
  },
  "s3.region": {
    type: "string",
    default: "us-east-1",
    doc: "Region used to sign requests (and to pick the AWS endpoint when s3.endpoint is empty).",
    era: "new",
  },
  "s3.path.style": {
    type: "boolean",
    default: "true",
    doc:
      "Address buckets as <endpoint>/<bucket> (true) rather than <bucket>.<endpoint>; needed to restrict network access to one host.",
    era: "new",
  },
  "s3.downloader.chunk.size": {
    type: "integer",
    default: "8388608",
    min: 1,
    doc:
      "Size in bytes of each parallel ranged GET of an S3 artifact. The originals used 100 MiB; chunks are hashed in order with at most 32 MiB held ahead, so small chunks keep the 4 parallel requests busy.",
    era: "properties",
  },
  "s3.downloader.timeout.millis": {
    type: "integer",
    default: "60000",
    min: 1,
    doc: "Time budget for all chunks of one S3 artifact download.",
    era: "properties",
  },
  "s3.downloader.chunk.timeout.millis": {
    type: "integer",
    default: "30000",
    min: 1,
    doc: "Time budget for one attempt at one chunk.",
    era: "later",
  },
  "s3.downloader.chunk.retries": {
    type: "integer",
    default: "3",
    min: 0,
    doc: "Retries of a failed chunk (attempts = retries + 1).",
    era: "later",
  },
  "s3.downloader.http.port": {
    type: "integer",
    default: "7070",
    min: 1,
    max: 65535,
    doc: "The downloader listens on 127.0.0.1 at this port; the executor posts there.",
    era: "properties",
  },
  "s3.downloader.http.download.path": {
    type: "url-path",
    default: "/download",
    doc: "The only request path the downloader accepts downloads on.",
    era: "properties",
  },
  "s3.downloader.http.socket": {
    type: "file",
    default: "",
    doc: "Unix socket the downloader also listens on and the executor prefers. Empty: none.",
    era: "later",
  },
} as const satisfies KeyTable;

/** `singularity.s3base.properties`. */
export const S3BASE_LAYER: Layer = {
  file: "singularity.s3base.properties",
  title: "Properties used by the helpers that talk to S3.",
  keys: S3BASE_KEYS,
};
