/**
 * Keys of `singularity.base.properties`, read by all four programs.
 *
 * @module
 */
import type { KeyTable, Layer } from "./schema.ts";

/** Keys shared by every program. */
export const BASE_KEYS = {
  "s3uploader.metadata.directory": {
    type: "directory",
    default: "/var/lib/singularity/s3uploader",
    doc: "Where the executor and cleanup write S3 upload metadata files and the uploader watches for them.",
    requiredBy: ["executor", "cleanup", "uploader"],
    mustExistFor: ["executor", "cleanup", "uploader"],
    era: "properties",
  },
  "s3uploader.metadata.suffix": {
    type: "string",
    default: ".s3.json",
    doc: "Only files ending with this suffix are upload metadata.",
    era: "properties",
  },
  "logwatcher.metadata.directory": {
    type: "directory",
    default: "",
    doc: "Where the executor writes tail metadata for tasks with a loggingTag. Empty: none is written.",
    mustExistFor: ["executor", "cleanup"],
    era: "properties",
  },
  "logwatcher.metadata.suffix": {
    type: "string",
    default: ".tail.json",
    doc: "Suffix of tail metadata files.",
    era: "properties",
  },
  "mesos.work.directory": {
    type: "directory",
    default: "/var/lib/mesos",
    doc:
      "The Mesos agent's --work_dir. Task sandboxes live below it; the programs may read and write only there among task files.",
    era: "new",
  },
  "root.log.directory": {
    type: "directory",
    default: "/var/log/singularity",
    doc: "Directory of each program's own log file.",
    requiredBy: ["executor", "cleanup", "uploader", "downloader"],
    mustExistFor: ["executor", "cleanup", "uploader", "downloader"],
    era: "properties",
  },
  "root.log.filename": {
    type: "string",
    defaultFor: {
      executor: "singularity-executor.log",
      cleanup: "singularity-executor-cleanup.log",
      uploader: "singularity-s3uploader.log",
      downloader: "singularity-s3downloader.log",
    },
    doc: "File name of the program's log in root.log.directory; each program has its own default.",
    era: "properties",
  },
  "root.log.level": {
    type: "level",
    default: "INFO",
    doc: "Level for log records from libraries.",
    era: "properties",
  },
  "hubspot.log.level": {
    type: "level",
    default: "INFO",
    doc: "Level for the programs' own log records.",
    era: "properties",
  },
  "logging.pattern": {
    type: "string",
    default: "%-5level [%d] [%.15thread] %logger{35} - %msg%n",
    doc:
      "Logback-style line pattern: %level %d %thread %logger{N} %msg %n %X{taskId} %contextName, with width modifiers.",
    era: "properties",
  },
  "obfuscate.keys.comma.separated": {
    type: "list",
    default: "key,pass,secret",
    doc: "Keys containing any of these substrings have their values masked in logs and --print-config.",
    era: "properties",
  },
  "agent.hostname": {
    type: "string",
    default: "",
    doc: "Host name used for %host in S3 keys. Empty: the machine's host name.",
    era: "later",
  },
} as const satisfies KeyTable;

/** `singularity.base.properties`. */
export const BASE_LAYER: Layer = {
  file: "singularity.base.properties",
  title: "Properties used by all Singularity agent helpers.",
  keys: BASE_KEYS,
};
