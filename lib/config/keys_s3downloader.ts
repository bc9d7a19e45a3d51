/**
 * Keys of `singularity.s3downloader.properties`.
 *
 * @module
 */
import type { KeyTable, Layer } from "./schema.ts";

/** Keys of the downloader service. */
export const S3DOWNLOADER_KEYS = {
  "s3downloader.http.timeout": {
    type: "integer",
    default: "1800000",
    min: 1,
    doc: "Longest time a download request is held open when it names no timeoutMillis.",
    era: "properties",
  },
  "s3downloader.downloader.threads": {
    type: "integer",
    default: "25",
    min: 1,
    doc: "How many artifact downloads run at once; further requests queue.",
    era: "properties",
  },
} as const satisfies KeyTable;

/** `singularity.s3downloader.properties`. */
export const S3DOWNLOADER_LAYER: Layer = {
  file: "singularity.s3downloader.properties",
  title: "Properties of singularity-s3-downloader (port and path are in singularity.s3base.properties).",
  keys: S3DOWNLOADER_KEYS,
};
