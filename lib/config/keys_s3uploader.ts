/**
 * Keys of `singularity.s3uploader.properties`.
 *
 * @module
 */
import type { KeyTable, Layer } from "./schema.ts";

const MIB = 1024 * 1024;

/** Keys of the uploader daemon. */
export const S3UPLOADER_KEYS = {
  "s3uploader.poll.for.shutdown.millis": {
    type: "integer",
    default: "1000",
    min: 1,
    doc: "How often the Java uploader's watch loop looked for a shutdown request.",
    noEffect: "the uploader reacts to SIGTERM at once",
    era: "properties",
  },
  "s3uploader.check.uploads.every.seconds": {
    type: "integer",
    default: "600",
    min: 1,
    doc: "Period of the upload pass over all registered metadata.",
    era: "properties",
  },
  "s3uploader.stop.checking.after.hours.without.new.file": {
    type: "integer",
    default: "168",
    doc: "A metadata file with no matching file for this many hours expires (negative: never).",
    era: "properties",
  },
  "s3uploader.max.upload.threads": {
    type: "integer",
    default: "25",
    min: 1,
    doc: "How many uploaders run at once (files within one uploader go one after another).",
    era: "properties",
  },
  "s3uploader.max.single.upload.size": {
    type: "integer",
    default: String(5 * 1024 * MIB),
    min: 5 * MIB,
    max: 5 * 1024 * MIB,
    doc: "Files larger than this many bytes are uploaded in parts.",
    era: "bridge",
  },
  "s3uploader.upload.part.size": {
    type: "integer",
    default: String(20 * MIB),
    min: 5 * MIB,
    max: 5 * 1024 * MIB,
    doc: "Part size in bytes for multipart uploads.",
    era: "bridge",
  },
  "s3uploader.retry.wait.ms": {
    type: "integer",
    default: "1000",
    min: 0,
    doc: "Wait between attempts to upload one file.",
    era: "bridge",
  },
  "s3uploader.retry.count": {
    type: "integer",
    default: "2",
    min: 1,
    doc: "Attempts per file per pass.",
    era: "bridge",
  },
  "s3uploader.check.for.open.files": {
    type: "boolean",
    default: "true",
    doc: "Skip files that some process still has open.",
    era: "bridge",
  },
  "s3uploader.check.open.files.via.fuser": {
    type: "boolean",
    default: "false",
    doc: "Use fuser instead of lsof for the open-file check.",
    era: "later",
  },
  "s3uploader.recheck.files.every.seconds": {
    type: "integer",
    default: "600",
    min: 1,
    doc: "Period of the full rescan of the metadata directory (catches missed file events).",
    era: "later",
  },
  "s3uploader.content.headers": {
    type: "string",
    default: "",
    doc:
      'Content-Type and Content-Encoding of uploaded objects by file name suffix, first match wins, as a JSON list: [{"filenameEndsWith":".log.gz","contentType":"text/plain","contentEncoding":"gzip"}]. Empty: none.',
    era: "later",
  },
  "s3uploader.upload.part.concurrency": {
    type: "integer",
    default: "4",
    min: 1,
    max: 64,
    doc: "How many parts of one multipart upload are sent at once.",
    era: "new",
  },
  "s3uploader.stall.timeout.millis": {
    type: "integer",
    default: "60000",
    min: 100,
    doc: "An S3 request that moves no bytes for this long is abandoned (the file is retried).",
    era: "new",
  },
  "s3uploader.shutdown.grace.millis": {
    type: "integer",
    default: "10000",
    min: 0,
    doc:
      "On SIGTERM, uploads in flight get this long to finish; the rest are abandoned and resumed to the same key at the next start.",
    era: "new",
  },
  "s3uploader.metrics.port": {
    type: "integer",
    default: "0",
    min: 0,
    max: 65535,
    doc: "Serve GET /metrics (Prometheus text) on 127.0.0.1 at this port. 0: off.",
    era: "new",
  },
} as const satisfies KeyTable;

/** `singularity.s3uploader.properties`. */
export const S3UPLOADER_LAYER: Layer = {
  file: "singularity.s3uploader.properties",
  title: "Properties of singularity-s3-uploader (may also override s3.access.key and s3.secret.key).",
  keys: S3UPLOADER_KEYS,
};
