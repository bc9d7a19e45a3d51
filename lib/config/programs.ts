/**
 * The four programs: their names, entrypoints and the property files each one
 * reads, in layering order (later files win).
 *
 * @module
 */
import { BASE_KEYS, BASE_LAYER } from "./keys_base.ts";
import { S3BASE_KEYS, S3BASE_LAYER } from "./keys_s3base.ts";
import { EXECUTOR_KEYS, EXECUTOR_LAYER } from "./keys_executor.ts";
import { CLEANUP_KEYS, CLEANUP_LAYER } from "./keys_cleanup.ts";
import { S3UPLOADER_KEYS, S3UPLOADER_LAYER } from "./keys_s3uploader.ts";
import { S3DOWNLOADER_KEYS, S3DOWNLOADER_LAYER } from "./keys_s3downloader.ts";
import type { Layer, ProgramName } from "./schema.ts";

/** A program as the configuration, build and install code see it. */
export interface Program {
  readonly name: ProgramName;
  /** The installed command name. */
  readonly binary: string;
  /** The Deno entrypoint, relative to the project root. */
  readonly entrypoint: string;
  /** One line for --help and the README. */
  readonly summary: string;
  /** Property files read, in order; a later file overrides an earlier one. */
  readonly layers: readonly Layer[];
}

/** Every layer, in the order the files are documented. */
export const ALL_LAYERS: readonly Layer[] = [
  BASE_LAYER,
  S3BASE_LAYER,
  EXECUTOR_LAYER,
  CLEANUP_LAYER,
  S3UPLOADER_LAYER,
  S3DOWNLOADER_LAYER,
];

/** The executor's keys. */
export type ExecutorKeys = typeof BASE_KEYS & typeof S3BASE_KEYS & typeof EXECUTOR_KEYS;
/** The cleanup job's keys. */
export type CleanupKeys = ExecutorKeys & typeof CLEANUP_KEYS;
/** The uploader's keys. */
export type UploaderKeys = typeof BASE_KEYS & typeof S3BASE_KEYS & typeof S3UPLOADER_KEYS;
/** The downloader's keys. */
export type DownloaderKeys = typeof BASE_KEYS & typeof S3BASE_KEYS & typeof S3DOWNLOADER_KEYS;

/** singularity-executor. */
export const EXECUTOR: Program = {
  name: "executor",
  binary: "singularity-executor",
  entrypoint: "main_executor.ts",
  summary: "Mesos custom executor that stages, runs, supervises and reports Singularity tasks.",
  layers: [BASE_LAYER, S3BASE_LAYER, EXECUTOR_LAYER],
};

/** singularity-executor-cleanup. */
export const CLEANUP: Program = {
  name: "cleanup",
  binary: "singularity-executor-cleanup",
  entrypoint: "main_cleanup.ts",
  summary: "Hourly job that finishes the tasks of executors that died (final log rotation, upload, sandbox cleanup).",
  layers: [BASE_LAYER, S3BASE_LAYER, EXECUTOR_LAYER, CLEANUP_LAYER],
};

/** singularity-s3-uploader. */
export const UPLOADER: Program = {
  name: "uploader",
  binary: "singularity-s3-uploader",
  entrypoint: "main_uploader.ts",
  summary: "Daemon that uploads task logs named by metadata files to S3 and deletes them once S3 holds them.",
  layers: [BASE_LAYER, S3BASE_LAYER, S3UPLOADER_LAYER],
};

/** singularity-s3-downloader. */
export const DOWNLOADER: Program = {
  name: "downloader",
  binary: "singularity-s3-downloader",
  entrypoint: "main_downloader.ts",
  summary: "Localhost HTTP service that downloads S3 artifacts into the shared cache and places them for the executor.",
  layers: [BASE_LAYER, S3BASE_LAYER, S3DOWNLOADER_LAYER],
};

/** All programs, in install order. */
export const PROGRAMS: readonly Program[] = [EXECUTOR, CLEANUP, UPLOADER, DOWNLOADER];
