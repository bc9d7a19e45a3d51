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
  "singularity.client.credentials.header": {
    type: "string",
    default: "",
    doc:
      "Name of a header sent with every Singularity API request (for example Authorization), its value singularity.client.credentials.secret. Empty: none.",
    era: "later",
  },
  "singularity.client.credentials.secret": {
    type: "string",
    default: "",
    doc:
      "Value of the singularity.client.credentials.header header (a token); masked in logs and --print-config. Empty: none.",
    era: "later",
  },
  "executor.cleanup.http.timeout.millis": {
    type: "integer",
    default: "10000",
    min: 1,
    doc:
      "Timeout of each request to the Mesos agent and to each Singularity host; a host that times out counts as down.",
    era: "new",
  },
} as const satisfies KeyTable;

/** `singularity.executor.cleanup.properties`. */
export const CLEANUP_LAYER: Layer = {
  file: "singularity.executor.cleanup.properties",
  title: "Properties of singularity-executor-cleanup.",
  keys: CLEANUP_KEYS,
};
