/**
 * Keys of `singularity.executor.properties`, read by the executor and the
 * cleanup job.
 *
 * @module
 */
import type { KeyTable, Layer } from "./schema.ts";

const NO_THREAD_POOLS = "the Deno runtime has no thread pools to size";

/** Keys of the executor (the cleanup job reads them too). */
export const EXECUTOR_KEYS = {
  "executor.global.task.definition.directory": {
    type: "directory",
    default: "/var/lib/singularity/tasks",
    doc: "Where task definition files are written (read by the cleanup job).",
    requiredBy: ["executor", "cleanup"],
    mustExistFor: ["executor", "cleanup"],
    era: "properties",
  },
  "executor.global.task.definition.suffix": {
    type: "string",
    default: ".task.json",
    doc: "Suffix of task definition files.",
    era: "properties",
  },
  "executor.default.user": {
    type: "string",
    doc: "User that runs tasks whose executor data names none.",
    requiredBy: ["executor"],
    era: "properties",
  },
  "executor.task.app.directory": {
    type: "relative-path",
    default: "app",
    doc: "Sandbox subdirectory the task runs in; removed after a successful task.",
    era: "properties",
  },
  "executor.task.java.log.path": {
    type: "relative-path",
    default: "executor.java.log",
    doc: "Per-task executor log in the sandbox (the name is kept from the Java executor).",
    era: "properties",
  },
  "executor.task.bash.log.path": {
    type: "relative-path",
    default: "executor.bash.log",
    doc: "Output of runner.sh itself, in the sandbox.",
    era: "properties",
  },
  "executor.task.service.log.path": {
    type: "relative-path",
    default: "service.log",
    doc: "The task's stdout and stderr, in the sandbox.",
    era: "properties",
  },
  "executor.service.log.tail.lines.to.save": {
    type: "integer",
    default: "500",
    doc: "Lines of the service log copied to the tail file when a task ends (0 or less: none).",
    era: "properties",
  },
  "executor.service.log.tail.file.name": {
    type: "relative-path",
    default: "tail_of_finished_service.log",
    doc: "Name of the tail file in the sandbox.",
    era: "properties",
  },
  "executor.hard.kill.after.millis": {
    type: "integer",
    default: "180000",
    min: 0,
    doc: "Default delay between SIGTERM and SIGKILL when a task is killed.",
    era: "properties",
  },
  "executor.num.core.kill.threads": {
    type: "integer",
    default: "1",
    min: 1,
    doc: "Kill scheduler threads in the Java executor.",
    noEffect: NO_THREAD_POOLS,
    era: "properties",
  },
  "executor.num.core.thread.check.threads": {
    type: "integer",
    default: "1",
    min: 1,
    doc: "Thread checker threads in the Java executor.",
    noEffect: NO_THREAD_POOLS,
    era: "properties",
  },
  "executor.check.threads.every.millis": {
    type: "integer",
    default: "5000",
    min: 100,
    doc: "How often the thread count of each task's process tree is checked.",
    era: "properties",
  },
  "executor.max.task.threads": {
    type: "integer",
    min: 1,
    doc:
      "Thread limit for tasks whose executor data sets no maxTaskThreads. Unset: no limit. (The Java executor never enforced it.)",
    era: "properties",
  },
  "executor.status.update.max.task.message.length": {
    type: "integer",
    default: "80",
    min: 1,
    doc: "Status update messages are cut to this many characters.",
    era: "properties",
  },
  "executor.shutdown.timeout.millis": {
    type: "integer",
    default: "300000",
    min: 0,
    doc: "Longest wait for tasks to be killed and torn down when the executor shuts down.",
    era: "properties",
  },
  "executor.idle.shutdown.after.millis": {
    type: "integer",
    default: "30000",
    min: 0,
    doc: "The executor exits after having no task for this long.",
    era: "properties",
  },
  "executor.shutdown.stop.driver.after.millis": {
    type: "integer",
    default: "5000",
    min: 0,
    doc: "Pause before the Java executor stopped its driver, so final updates could flush.",
    noEffect: "the executor waits for the agent to acknowledge its final updates instead",
    era: "properties",
  },
  "executor.logrotate.command": {
    type: "command",
    default: "logrotate",
    doc: "The logrotate program.",
    era: "properties",
  },
  "executor.logrotate.config.folder": {
    type: "directory",
    default: "/etc/logrotate.d",
    doc: "Where the per-task logrotate configuration (named by task id) is written.",
    mustExistFor: ["executor", "cleanup"],
    era: "properties",
  },
  "executor.logrotate.state.file": {
    type: "relative-path",
    default: "logrotate.status",
    doc: "logrotate state file for executor-forced rotations, in the sandbox.",
    era: "properties",
  },
  "executor.logrotate.to.directory": {
    type: "relative-path",
    default: "logs",
    doc: "Directory (relative to the service log) rotated logs go to.",
    era: "properties",
  },
  "executor.logrotate.maxage.days": {
    type: "integer",
    default: "7",
    min: 0,
    doc: "logrotate maxage for rotated logs.",
    era: "properties",
  },
  "executor.logrotate.count": {
    type: "integer",
    default: "20",
    min: 0,
    doc: "logrotate rotate count.",
    era: "properties",
  },
  "executor.logrotate.dateformat": {
    type: "string",
    default: "-%Y%m%d%s",
    doc: "logrotate dateformat for the service log.",
    era: "properties",
  },
  "executor.logrotate.extras.dateformat": {
    type: "string",
    default: "-%Y%m%d",
    doc: "logrotate dateformat for the extra files.",
    era: "properties",
  },
  "executor.logrotate.extras.files": {
    type: "list",
    default: "",
    doc: "Extra files (relative to the sandbox, globs allowed) to rotate.",
    era: "properties",
  },
  "executor.logrotate.frequency": {
    type: "string",
    default: "DAILY",
    choices: ["EVERY_MINUTE", "EVERY_FIVE_MINUTES", "HOURLY", "DAILY", "WEEKLY", "MONTHLY"],
    doc:
      "How often the service log is rotated when the task does not say (logrotateFrequency). DAILY, WEEKLY and MONTHLY go to the system logrotate; faster ones to a cron file.",
    era: "later",
  },
  "executor.logrotate.hourly.config.folder": {
    type: "directory",
    default: "/etc/logrotate.d/hourly",
    doc:
      "Where logrotate configurations for HOURLY or faster rotation go (run by the task's cron file, not by the system logrotate).",
    era: "later",
  },
  "executor.cron.directory": {
    type: "directory",
    default: "/etc/cron.d",
    doc:
      "Where the cron file for HOURLY or faster rotation goes (named singularity-logrotate-<task id>: cron skips names with dots).",
    era: "later",
  },
  "executor.logrotate.ignore.output": {
    type: "boolean",
    default: "false",
    doc: "Send the output of cron-driven logrotate runs to /dev/null.",
    era: "later",
  },
  "executor.logrotate.compress.command": {
    type: "string",
    default: "",
    doc: "logrotate compresscmd (empty: logrotate's default, gzip).",
    era: "later",
  },
  "executor.logrotate.uncompress.command": {
    type: "string",
    default: "",
    doc: "logrotate uncompresscmd (empty: logrotate's default).",
    era: "later",
  },
  "executor.logrotate.compress.options": {
    type: "string",
    default: "",
    doc: "logrotate compressoptions (empty: logrotate's default).",
    era: "later",
  },
  "executor.logrotate.compress.extension": {
    type: "string",
    default: "",
    doc: "logrotate compressext (empty: logrotate's default for the command).",
    era: "later",
  },
  "executor.logrotate.after.bytes": {
    type: "integer",
    min: 0,
    doc: "Declared by the Java executor and never used.",
    noEffect: "the originals never used it either",
    era: "properties",
  },
  "executor.s3.uploader.bucket": {
    type: "string",
    default: "",
    doc: "Bucket task logs are uploaded to. Empty: no S3 upload metadata is written.",
    aliases: ["executor.s3.uplaoder.bucket"],
    era: "properties",
  },
  "executor.s3.uploader.pattern": {
    type: "string",
    default: "%requestId/%Y/%m/%taskId_%index-%s-%filename",
    doc:
      "S3 key template for task logs (tokens: %requestId %group %tag %deployId %host %taskId %index %s %filename %fileext %Y %m %d %H and more).",
    era: "properties",
  },
  "executor.s3.uploader.extras.files": {
    type: "list",
    default: "",
    doc: "Extra file-name prefixes included in the S3 upload glob.",
    era: "properties",
  },
  "executor.use.local.download.service": {
    type: "boolean",
    default: "false",
    doc: "Fetch S3 artifacts through singularity-s3-downloader (falls back to in-process download).",
    era: "properties",
  },
  "executor.local.download.service.timeout.millis": {
    type: "integer",
    default: "180000",
    min: 1,
    doc: "Request timeout for the downloader service (also sent as timeoutMillis).",
    era: "properties",
  },
  "executor.external.artifact.timeout.millis": {
    type: "integer",
    default: "600000",
    min: 1,
    doc: "Time budget for downloading one external (URL) artifact.",
    era: "new",
  },
  "executor.external.artifact.hosts": {
    type: "list",
    default: "",
    doc:
      "Hosts (host or host:port) external URL artifacts may come from. Empty: any host, which leaves the executor's network access unrestricted.",
    era: "new",
  },
  "executor.artifact.signature.verification.command": {
    type: "list",
    default: "/usr/bin/gpg,--batch,--verify,{artifactSignaturePath},{artifactPath}",
    doc:
      "Command that checks an S3 artifact's signature, as comma-separated argv (no shell). {artifactPath} and {artifactSignaturePath} are the cache paths; exit code 0 means valid. (The originals' default passed only the signature, which gpg cannot match to an md5-prefixed cache name.)",
    era: "later",
  },
  "executor.artifact.signature.fail.on.invalid": {
    type: "boolean",
    default: "true",
    doc: "Fail the task when the signature command exits non-zero (false: log it and go on).",
    era: "later",
  },
  "executor.artifact.signature.fail.on.artifact.without.signature": {
    type: "boolean",
    default: "false",
    doc: "When a task has signatures, fail it if one of its S3 artifacts has none (false: log it).",
    era: "later",
  },
  "executor.artifact.signature.fail.on.signature.without.artifact": {
    type: "boolean",
    default: "false",
    doc: "Fail the task when a signature names an artifact the task does not have (false: log it).",
    era: "later",
  },
  "executor.artifact.signature.output.file": {
    type: "relative-path",
    default: "executor.gpg.out",
    doc: "File in the task sandbox the signature command's output is appended to.",
    era: "later",
  },
  "executor.shell.command.<name>": {
    type: "string",
    doc:
      'A shell command the scheduler may run by name: a JSON array of argv strings, e.g. ["jstack","-l","{PID}"]; {PID} becomes the task\'s pid (or the pid file\'s content) and {USER} the task\'s user. executor.shell.command.<name>.option.<option>=<flag> appends a flag when a request names the option; executor.shell.command.<name>.skip.command.prefix=true runs it without the prefix.',
    era: "later",
  },
  "executor.shell.commands.prefix": {
    type: "list",
    default: "",
    doc: "argv elements put before every shell command (placeholders apply), e.g. sudo,-u,{USER}.",
    era: "later",
  },
  "executor.shell.commands.out.file": {
    type: "relative-path",
    default: "executor.commands.{NAME}.{TIMESTAMP}.log",
    doc:
      "Shell command output file in the sandbox; {NAME} is the request's logfileName or the command name, {TIMESTAMP} the request's timestamp.",
    era: "later",
  },
  "executor.shell.commands.pid.file": {
    type: "relative-path",
    default: ".task-pid",
    doc: "File in the sandbox whose content, when it exists, is the pid {PID} stands for.",
    era: "later",
  },
  "executor.mesos.encoding": {
    type: "string",
    default: "protobuf",
    choices: ["protobuf", "json"],
    doc: "Encoding of calls to and events from the Mesos agent (v1 executor API).",
    era: "new",
  },
  "mesos.agent.host": {
    type: "string",
    default: "",
    doc: "Host of the Mesos agent on this machine. Empty: the first non-loopback IPv4 address.",
    era: "new",
  },
  "mesos.agent.port": {
    type: "integer",
    default: "5051",
    min: 1,
    max: 65535,
    doc: "Port of the Mesos agent on this machine.",
    era: "new",
  },
} as const satisfies KeyTable;

/** `singularity.executor.properties`. */
export const EXECUTOR_LAYER: Layer = {
  file: "singularity.executor.properties",
  title: "Properties of singularity-executor (also read by singularity-executor-cleanup).",
  keys: EXECUTOR_KEYS,
};
