/**
 * Keys of `singularity.executor.cleanup.properties`.
 *
 * @module
 */
import type { KeyTable, Layer } from "./schema.ts";

/** Keys of the cleanup job. */
export const CLEANUP_KEYS = {
  "executor.cleanup.results.directory": {
    type: "directory",
    default: "/var/lib/singularity/cleanup",
    doc: "Where each run writes its <millis>.cleanup.json results file.",
    requiredBy: ["cleanup"],
    mustExistFor: ["cleanup"],
    era: "properties",
  },
  "executor.cleanup.results.suffix": {
    type: "string",
    default: ".cleanup.json",
    doc: "Suffix of results files.",
    era: "properties",
  },
  "executor.cleanup.safe.mode.wont.run.with.no.tasks": {
    type: "boolean",
    default: "true",
    doc: "Abort, touching nothing, when Singularity reports no active task on this agent.",
    era: "properties",
  },
  "executor.cleanup.cleanup.app.directory.of.failed.tasks.after.millis": {
    type: "integer",
    default: "86400000",
    min: 0,
    doc: "Keep the app directory of a FAILED task this long after it failed.",
    era: "properties",
  },
  "singularity.hosts": {
    type: "host-ports",
    doc: "Singularity API hosts as host:port, comma-separated; tried one after another.",
    requiredBy: ["cleanup"],
    era: "properties",
  },
  "singularity.context.path": {
    type: "string",
    default: "singularity/api",
    doc: "Path prefix of the Singularity API.",
    era: "properties",
  },
} as const satisfies KeyTable;

/** `singularity.executor.cleanup.properties`. */
export const CLEANUP_LAYER: Layer = {
  file: "singularity.executor.cleanup.properties",
  title: "Properties of singularity-executor-cleanup.",
  keys: CLEANUP_KEYS,
};
