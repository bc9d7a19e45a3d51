import assert from "node:assert/strict";
import { join } from "node:path";
import {
  CLEANUP,
  type CleanupKeys,
  ConfigFileError,
  DOWNLOADER,
  type DownloaderKeys,
  EXECUTOR,
  type ExecutorKeys,
  loadConfig,
  type Program,
  UPLOADER,
  type UploaderKeys,
} from "../../lib/config/mod.ts";
import { existingDirectoryLines, FILES, tempConfigDir } from "./_config_dir.ts";

/** Each file sets the keys from its position on, so each key shows which file won. */
const CASCADE: Record<string, string> = {
  [FILES.base]:
    "s3uploader.metadata.suffix=base\nlogwatcher.metadata.suffix=base\nagent.hostname=base\ns3.region=base\n",
  [FILES.s3base]: "logwatcher.metadata.suffix=s3base\nagent.hostname=s3base\ns3.region=s3base\n",
  [FILES.executor]: "agent.hostname=executor\ns3.region=executor\n",
  [FILES.cleanup]: "s3.region=cleanup\n",
  [FILES.s3uploader]: "agent.hostname=s3uploader\ns3.region=s3uploader\n",
  [FILES.s3downloader]: "agent.hostname=s3downloader\ns3.region=s3downloader\n",
};

const CASCADE_KEYS = [
  "s3uploader.metadata.suffix",
  "logwatcher.metadata.suffix",
  "agent.hostname",
  "s3.region",
] as const;

/** The value and source of each cascade key. */
async function cascade(program: Program): Promise<unknown[]> {
  await using dir = await tempConfigDir(CASCADE);
  const { config, errors, warnings } = await loadConfig<UploaderKeys>(program, {
    configDir: dir.path,
    validate: false,
  });
  assert.deepStrictEqual(errors, []);
  assert.deepStrictEqual(warnings, []);
  assert.deepStrictEqual(
    config.files,
    program.layers.map((layer) => ({ path: dir.file(layer.file), state: "read" })),
  );
  return CASCADE_KEYS.map((key) => {
    const source = config.sourceOf(key);
    return [key, config.get(key), source && { file: source.file.slice(dir.path.length + 1), line: source.line }];
  });
}

/** The errors of loading `files` for `program`, unvalidated, with the temp directory shown as `<dir>`. */
async function parseErrors(program: Program, files: Record<string, string>): Promise<string[]> {
  await using dir = await tempConfigDir(files);
  const { errors } = await loadConfig(program, { configDir: dir.path, validate: false });
  return errors.map((error) => error.replaceAll(dir.path, "<dir>"));
}

Deno.test("loadConfig() layers base, s3base and executor for the executor", async () => {
  assert.deepStrictEqual(await cascade(EXECUTOR), [
    ["s3uploader.metadata.suffix", "base", { file: FILES.base, line: 1 }],
    ["logwatcher.metadata.suffix", "s3base", { file: FILES.s3base, line: 1 }],
    ["agent.hostname", "executor", { file: FILES.executor, line: 1 }],
    ["s3.region", "executor", { file: FILES.executor, line: 2 }],
  ]);
});

Deno.test("loadConfig() layers base, s3base, executor and cleanup for the cleanup job", async () => {
  assert.deepStrictEqual(await cascade(CLEANUP), [
    ["s3uploader.metadata.suffix", "base", { file: FILES.base, line: 1 }],
    ["logwatcher.metadata.suffix", "s3base", { file: FILES.s3base, line: 1 }],
    ["agent.hostname", "executor", { file: FILES.executor, line: 1 }],
    ["s3.region", "cleanup", { file: FILES.cleanup, line: 1 }],
  ]);
});

Deno.test("loadConfig() layers base, s3base and s3uploader for the uploader", async () => {
  assert.deepStrictEqual(await cascade(UPLOADER), [
    ["s3uploader.metadata.suffix", "base", { file: FILES.base, line: 1 }],
    ["logwatcher.metadata.suffix", "s3base", { file: FILES.s3base, line: 1 }],
    ["agent.hostname", "s3uploader", { file: FILES.s3uploader, line: 1 }],
    ["s3.region", "s3uploader", { file: FILES.s3uploader, line: 2 }],
  ]);
});

Deno.test("loadConfig() layers base, s3base and s3downloader for the downloader", async () => {
  assert.deepStrictEqual(await cascade(DOWNLOADER), [
    ["s3uploader.metadata.suffix", "base", { file: FILES.base, line: 1 }],
    ["logwatcher.metadata.suffix", "s3base", { file: FILES.s3base, line: 1 }],
    ["agent.hostname", "s3downloader", { file: FILES.s3downloader, line: 1 }],
    ["s3.region", "s3downloader", { file: FILES.s3downloader, line: 2 }],
  ]);
});

Deno.test("loadConfig() reads only the program's own files", async () => {
  await using dir = await tempConfigDir({
    [FILES.executor]: "s3.region=executor\n",
    [FILES.cleanup]: "s3.region=cleanup\n",
    [FILES.s3downloader]: "s3.region=s3downloader\n",
  });
  const { config } = await loadConfig<UploaderKeys>(UPLOADER, { configDir: dir.path, validate: false });
  assert.strictEqual(config.get("s3.region"), "us-east-1");
  assert.strictEqual(config.sourceOf("s3.region"), undefined);
});

Deno.test("loadConfig() lets the last of duplicate keys win", async () => {
  await using dir = await tempConfigDir({ [FILES.base]: "s3.region=first\nagent.hostname=h\ns3.region=second\n" });
  const { config } = await loadConfig<ExecutorKeys>(EXECUTOR, { configDir: dir.path, validate: false });
  assert.strictEqual(config.get("s3.region"), "second");
  assert.deepStrictEqual(config.sourceOf("s3.region"), { file: dir.file(FILES.base), line: 3 });
});

Deno.test("loadConfig() honours an executor key set in the base file", async () => {
  await using dir = await tempConfigDir({
    [FILES.base]: "executor.hard.kill.after.millis=1000\nexecutor.default.user=svc\n",
  });
  const { config, warnings } = await loadConfig<ExecutorKeys>(EXECUTOR, { configDir: dir.path, validate: false });
  assert.strictEqual(config.get("executor.hard.kill.after.millis"), 1000);
  assert.deepStrictEqual(config.sourceOf("executor.hard.kill.after.millis"), { file: dir.file(FILES.base), line: 1 });
  assert.strictEqual(config.get("executor.default.user"), "svc");
  assert.deepStrictEqual(warnings, []);
});

Deno.test("loadConfig() lets the uploader file override s3.access.key", async () => {
  await using dir = await tempConfigDir({
    [FILES.s3base]: "s3.access.key=AKIABASE\n",
    [FILES.s3uploader]: "s3.access.key=AKIAUPLOADER\n",
  });
  const uploader = await loadConfig<UploaderKeys>(UPLOADER, { configDir: dir.path, validate: false });
  assert.strictEqual(uploader.config.get("s3.access.key"), "AKIAUPLOADER");
  const downloader = await loadConfig<DownloaderKeys>(DOWNLOADER, { configDir: dir.path, validate: false });
  assert.strictEqual(downloader.config.get("s3.access.key"), "AKIABASE");
});

Deno.test("loadConfig() ignores keys of other programs without a warning", async () => {
  await using dir = await tempConfigDir({
    [FILES.base]:
      "executor.hard.kill.after.millis=1000\nsingularity.hosts=api:7099\ns3downloader.downloader.threads=3\n",
  });
  const { config, errors, warnings } = await loadConfig(UPLOADER, { configDir: dir.path, validate: false });
  assert.deepStrictEqual(errors, []);
  assert.deepStrictEqual(warnings, []);
  assert.strictEqual(config.get("executor.hard.kill.after.millis"), undefined);
  assert.strictEqual(config.keys().includes("singularity.hosts"), false);
});

Deno.test("loadConfig() with no files", async () => {
  await using dir = await tempConfigDir();
  const { config, errors, warnings } = await loadConfig(CLEANUP, { configDir: dir.path, validate: false });
  assert.deepStrictEqual(config.files, [
    { path: dir.file(FILES.base), state: "missing" },
    { path: dir.file(FILES.s3base), state: "missing" },
    { path: dir.file(FILES.executor), state: "missing" },
    { path: dir.file(FILES.cleanup), state: "missing" },
  ]);
  assert.deepStrictEqual(errors, []);
  assert.deepStrictEqual(warnings, []);
  assert.strictEqual(config.configDir, dir.path);
  assert.strictEqual(config.program, CLEANUP);
});

Deno.test("loadConfig() with some files missing", async () => {
  await using dir = await tempConfigDir({ [FILES.s3base]: "s3.region=eu-west-1\n" });
  const { config } = await loadConfig(DOWNLOADER, { configDir: dir.path, validate: false });
  assert.deepStrictEqual(config.files, [
    { path: dir.file(FILES.base), state: "missing" },
    { path: dir.file(FILES.s3base), state: "read" },
    { path: dir.file(FILES.s3downloader), state: "missing" },
  ]);
});

Deno.test("loadConfig() with a directory in place of a property file", async () => {
  await using dir = await tempConfigDir({ [FILES.base]: "s3.region=eu-west-1\n" });
  const path = dir.file(FILES.s3base);
  await Deno.mkdir(path);
  await assert.rejects(loadConfig(UPLOADER, { configDir: dir.path }), (error: unknown) => {
    assert.ok(error instanceof ConfigFileError);
    assert.strictEqual(error.name, "ConfigFileError");
    assert.strictEqual(error.file, path);
    assert.strictEqual(
      error.message,
      `${path}: cannot read configuration: Is a directory (os error 21): readfile '${path}'`,
    );
    return true;
  });
});

Deno.test("loadConfig() with a malformed escape in a property file", async () => {
  await using dir = await tempConfigDir({ [FILES.executor]: "a=1\nexecutor.default.user=\\u00zz\n" });
  await assert.rejects(
    loadConfig(EXECUTOR, { configDir: dir.path }),
    {
      name: "PropertiesSyntaxError",
      message: `${dir.file(FILES.executor)}:2: malformed \\uXXXX escape "\\u00zz" (expected four hex digits)`,
    },
  );
});

Deno.test("loadConfig() defaults", async () => {
  await using dir = await tempConfigDir();
  const { config } = await loadConfig<CleanupKeys>(CLEANUP, { configDir: dir.path, validate: false });
  assert.strictEqual(config.get("executor.hard.kill.after.millis"), 180000);
  assert.strictEqual(config.get("executor.use.local.download.service"), false);
  assert.strictEqual(config.get("executor.cleanup.safe.mode.wont.run.with.no.tasks"), true);
  assert.deepStrictEqual(config.get("obfuscate.keys.comma.separated"), ["key", "pass", "secret"]);
  assert.deepStrictEqual(config.get("executor.logrotate.extras.files"), []);
  assert.strictEqual(config.get("root.log.level"), "INFO");
  assert.strictEqual(config.get("executor.global.task.definition.directory"), "/var/lib/singularity/tasks");
  assert.strictEqual(config.get("executor.task.app.directory"), "app");
  assert.strictEqual(config.get("s3.downloader.http.download.path"), "/download");
  assert.strictEqual(config.get("s3.endpoint"), "");
  assert.strictEqual(config.get("logwatcher.metadata.directory"), "");
  assert.strictEqual(config.get("logging.pattern"), "%-5level [%d] [%.15thread] %logger{35} - %msg%n");
  assert.strictEqual(config.get("singularity.hosts"), undefined);
  assert.strictEqual(config.get("executor.default.user"), undefined);
  assert.strictEqual(config.get("executor.max.task.threads"), undefined);
  assert.strictEqual(config.sourceOf("executor.hard.kill.after.millis"), undefined);
  assert.strictEqual(config.text("executor.hard.kill.after.millis"), "180000");
  assert.strictEqual(config.text("obfuscate.keys.comma.separated"), "key,pass,secret");
  assert.strictEqual(config.text("singularity.hosts"), "");
});

Deno.test("loadConfig() defaults root.log.filename per program", async () => {
  await using dir = await tempConfigDir();
  const names: string[] = [];
  for (const program of [EXECUTOR, CLEANUP, UPLOADER, DOWNLOADER]) {
    const { config } = await loadConfig<UploaderKeys>(program, { configDir: dir.path, validate: false });
    names.push(config.get("root.log.filename"));
  }
  assert.deepStrictEqual(names, [
    "singularity-executor.log",
    "singularity-executor-cleanup.log",
    "singularity-s3uploader.log",
    "singularity-s3downloader.log",
  ]);
});

Deno.test("loadConfig() with root.log.filename set", async () => {
  await using dir = await tempConfigDir({ [FILES.base]: "root.log.filename=helper.log\n" });
  const { config } = await loadConfig<ExecutorKeys>(EXECUTOR, { configDir: dir.path, validate: false });
  assert.strictEqual(config.get("root.log.filename"), "helper.log");
});

Deno.test("loadConfig() with an empty value uses the default", async () => {
  await using dir = await tempConfigDir({
    [FILES.s3base]: "s3.downloader.http.port=\ns3.region=   \ns3.path.style=\n",
    [FILES.executor]:
      "executor.hard.kill.after.millis=\nexecutor.logrotate.extras.files=\nexecutor.logrotate.command=\n",
  });
  const { config, errors } = await loadConfig<ExecutorKeys>(EXECUTOR, { configDir: dir.path, validate: false });
  assert.deepStrictEqual(errors, []);
  assert.strictEqual(config.get("s3.downloader.http.port"), 7070);
  assert.strictEqual(config.get("s3.region"), "us-east-1");
  assert.strictEqual(config.get("s3.path.style"), true);
  assert.strictEqual(config.get("executor.hard.kill.after.millis"), 180000);
  assert.deepStrictEqual(config.get("executor.logrotate.extras.files"), []);
  assert.strictEqual(config.get("executor.logrotate.command"), "logrotate");
});

Deno.test("loadConfig() trims values", async () => {
  await using dir = await tempConfigDir({
    [FILES.s3base]: "s3.region = eu-west-1   \ns3.downloader.http.port=8080\t\n",
  });
  const { config } = await loadConfig<DownloaderKeys>(DOWNLOADER, { configDir: dir.path, validate: false });
  assert.strictEqual(config.get("s3.region"), "eu-west-1");
  assert.strictEqual(config.text("s3.region"), "eu-west-1");
  assert.strictEqual(config.get("s3.downloader.http.port"), 8080);
});

Deno.test("loadConfig() normalises typed values", async () => {
  await using dir = await tempConfigDir({
    [FILES.base]: "root.log.level=debug\nhubspot.log.level=Warn\nmesos.work.directory=/srv/mesos/\n",
    [FILES.s3base]: "s3.path.style=FALSE\ns3.endpoint=http://127.0.0.1:7480/\n",
    [FILES.cleanup]: "singularity.hosts=api1:7099, api2.example.com:8080,\n",
    [FILES.executor]: "executor.logrotate.extras.files= a.log, ,b/*.log\nexecutor.hard.kill.after.millis=+250\n",
  });
  const { config, errors } = await loadConfig<CleanupKeys>(CLEANUP, { configDir: dir.path, validate: false });
  assert.deepStrictEqual(errors, []);
  assert.strictEqual(config.get("root.log.level"), "DEBUG");
  assert.strictEqual(config.get("hubspot.log.level"), "WARN");
  assert.strictEqual(config.get("mesos.work.directory"), "/srv/mesos");
  assert.strictEqual(config.get("s3.path.style"), false);
  assert.strictEqual(config.get("s3.endpoint"), "http://127.0.0.1:7480");
  assert.deepStrictEqual(config.get("singularity.hosts"), ["api1:7099", "api2.example.com:8080"]);
  assert.deepStrictEqual(config.get("executor.logrotate.extras.files"), ["a.log", "b/*.log"]);
  assert.strictEqual(config.get("executor.hard.kill.after.millis"), 250);
  assert.strictEqual(config.text("mesos.work.directory"), "/srv/mesos/");
});

Deno.test("loadConfig() accepts the seed's executor.s3.uplaoder.bucket with a warning", async () => {
  await using dir = await tempConfigDir({
    [FILES.executor]: "# install guide\nexecutor.s3.uplaoder.bucket=task-logs\n",
  });
  const { config, warnings } = await loadConfig<ExecutorKeys>(EXECUTOR, { configDir: dir.path, validate: false });
  assert.strictEqual(config.get("executor.s3.uploader.bucket"), "task-logs");
  assert.deepStrictEqual(config.sourceOf("executor.s3.uploader.bucket"), { file: dir.file(FILES.executor), line: 2 });
  assert.deepStrictEqual(warnings, [
    `${dir.file(FILES.executor)}:2: "executor.s3.uplaoder.bucket" is a misspelling (from the original install guide);` +
    ` read as "executor.s3.uploader.bucket"`,
  ]);
});

Deno.test("loadConfig() lets the later of the misspelt and the right bucket key win", async () => {
  await using dir = await tempConfigDir({
    [FILES.executor]: "executor.s3.uploader.bucket=right\nexecutor.s3.uplaoder.bucket=misspelt\n",
  });
  const { config } = await loadConfig<ExecutorKeys>(EXECUTOR, { configDir: dir.path, validate: false });
  assert.strictEqual(config.get("executor.s3.uploader.bucket"), "misspelt");
});

Deno.test("loadConfig() ignores the misspelt bucket key for the uploader", async () => {
  await using dir = await tempConfigDir({ [FILES.base]: "executor.s3.uplaoder.bucket=task-logs\n" });
  const { config, warnings } = await loadConfig(UPLOADER, { configDir: dir.path, validate: false });
  assert.deepStrictEqual(warnings, []);
  assert.strictEqual(config.keys().includes("executor.s3.uploader.bucket"), false);
});

Deno.test("loadConfig() warns about unknown keys", async () => {
  await using dir = await tempConfigDir({
    [FILES.s3base]: "s3.acess.key=AKIA\nexecutor.hard.kill.after.milis=5\ncompletely.unrelated.setting=1\n",
  });
  const { warnings } = await loadConfig(UPLOADER, { configDir: dir.path, validate: false });
  const file = dir.file(FILES.s3base);
  assert.deepStrictEqual(warnings, [
    `${file}:1: unknown key "s3.acess.key" (ignored); did you mean "s3.access.key"?`,
    `${file}:2: unknown key "executor.hard.kill.after.milis" (ignored); did you mean "executor.hard.kill.after.millis"?`,
    `${file}:3: unknown key "completely.unrelated.setting" (ignored)`,
  ]);
});

Deno.test("loadConfig() warns about keys without effect", async () => {
  await using dir = await tempConfigDir({ [FILES.executor]: "executor.num.core.kill.threads=4\n" });
  const { config, warnings } = await loadConfig<ExecutorKeys>(EXECUTOR, { configDir: dir.path, validate: false });
  assert.strictEqual(config.get("executor.num.core.kill.threads"), 4);
  assert.deepStrictEqual(warnings, [
    `${dir.file(FILES.executor)}:1: executor.num.core.kill.threads has no effect:` +
    ` the Deno runtime has no thread pools to size`,
  ]);
});

Deno.test("loadConfig() with family keys", async () => {
  await using dir = await tempConfigDir({
    [FILES.s3base]: "s3.bucket.logs.access.key=AKIALOGS\n" +
      "s3.bucket.logs.secret.key=logs-secret\n" +
      "s3.bucket.my.bucket.access.key=AKIAMY\n",
    [FILES.s3downloader]: "s3.bucket.logs.access.key=AKIALOGS2\n",
  });
  const { config, warnings } = await loadConfig<DownloaderKeys>(DOWNLOADER, { configDir: dir.path, validate: false });
  assert.deepStrictEqual(warnings, []);
  assert.deepStrictEqual(
    config.family("s3.bucket.<bucket>.access.key"),
    new Map([["logs", "AKIALOGS2"], ["my.bucket", "AKIAMY"]]),
  );
  assert.deepStrictEqual(config.family("s3.bucket.<bucket>.secret.key"), new Map([["logs", "logs-secret"]]));
  assert.deepStrictEqual(config.sourceOf("s3.bucket.logs.access.key"), { file: dir.file(FILES.s3downloader), line: 1 });
  assert.strictEqual(config.text("s3.bucket.my.bucket.access.key"), "AKIAMY");
  assert.deepStrictEqual(config.keys().filter((key) => key.startsWith("s3.bucket.")), [
    "s3.bucket.logs.access.key",
    "s3.bucket.logs.secret.key",
    "s3.bucket.my.bucket.access.key",
  ]);
});

Deno.test("loadConfig() without family keys", async () => {
  await using dir = await tempConfigDir();
  const { config } = await loadConfig<DownloaderKeys>(DOWNLOADER, { configDir: dir.path, validate: false });
  assert.deepStrictEqual(config.family("s3.bucket.<bucket>.access.key"), new Map());
  assert.strictEqual(config.keys().some((key) => key.includes("<")), false);
});

Deno.test("loadConfig() with a bad integer", async () => {
  assert.deepStrictEqual(
    await parseErrors(EXECUTOR, {
      [FILES.executor]: "executor.hard.kill.after.millis=soon\nexecutor.service.log.tail.lines.to.save=1.5\n",
    }),
    [
      `<dir>/${FILES.executor}:2: executor.service.log.tail.lines.to.save = "1.5": expected a whole number`,
      `<dir>/${FILES.executor}:1: executor.hard.kill.after.millis = "soon": expected a whole number of at least 0`,
    ],
  );
});

Deno.test("loadConfig() with an out-of-range integer", async () => {
  assert.deepStrictEqual(
    await parseErrors(EXECUTOR, {
      [FILES.executor]: "mesos.agent.port=70000\nexecutor.check.threads.every.millis=50\n",
      [FILES.s3base]: "s3.downloader.chunk.size=99999999999999999999\n",
    }),
    [
      `<dir>/${FILES.s3base}:1: s3.downloader.chunk.size = "99999999999999999999": expected a whole number of at least 1`,
      `<dir>/${FILES.executor}:2: executor.check.threads.every.millis = "50": expected a whole number of at least 100`,
      `<dir>/${FILES.executor}:1: mesos.agent.port = "70000": expected a whole number from 1 to 65535`,
    ],
  );
});

Deno.test("loadConfig() with a bad boolean", async () => {
  assert.deepStrictEqual(await parseErrors(UPLOADER, { [FILES.s3base]: "s3.path.style=yes\n" }), [
    `<dir>/${FILES.s3base}:1: s3.path.style = "yes": expected true or false`,
  ]);
});

Deno.test("loadConfig() with a bad level", async () => {
  assert.deepStrictEqual(await parseErrors(DOWNLOADER, { [FILES.base]: "hubspot.log.level=LOUD\n" }), [
    `<dir>/${FILES.base}:1: hubspot.log.level = "LOUD": expected one of TRACE, DEBUG, INFO, WARN, ERROR, OFF`,
  ]);
});

Deno.test("loadConfig() with a relative directory and file", async () => {
  assert.deepStrictEqual(
    await parseErrors(DOWNLOADER, {
      [FILES.base]: "mesos.work.directory=var/lib/mesos\n",
      [FILES.s3base]: "s3.downloader.http.socket=run/downloader.sock\n",
    }),
    [
      `<dir>/${FILES.base}:1: mesos.work.directory = "var/lib/mesos": expected an absolute path`,
      `<dir>/${FILES.s3base}:1: s3.downloader.http.socket = "run/downloader.sock": expected an absolute path`,
    ],
  );
});

Deno.test("loadConfig() with a bad relative path", async () => {
  assert.deepStrictEqual(
    await parseErrors(EXECUTOR, {
      [FILES.executor]:
        "executor.task.app.directory=app/../../etc\nexecutor.task.service.log.path=/var/log/service.log\n",
    }),
    [
      `<dir>/${FILES.executor}:1: executor.task.app.directory = "app/../../etc":` +
      ` expected a path relative to the task sandbox, without '..'`,
      `<dir>/${FILES.executor}:2: executor.task.service.log.path = "/var/log/service.log":` +
      ` expected a path relative to the task sandbox, without '..'`,
    ],
  );
});

Deno.test("loadConfig() with a bad URL", async () => {
  assert.deepStrictEqual(await parseErrors(UPLOADER, { [FILES.s3base]: "s3.endpoint=ftp://example.com\n" }), [
    `<dir>/${FILES.s3base}:1: s3.endpoint = "ftp://example.com": expected an http:// or https:// URL`,
  ]);
  assert.deepStrictEqual(await parseErrors(UPLOADER, { [FILES.s3uploader]: "s3.endpoint=not a url\n" }), [
    `<dir>/${FILES.s3uploader}:1: s3.endpoint = "not a url": expected an http:// or https:// URL`,
  ]);
});

Deno.test("loadConfig() with a bad URL path", async () => {
  assert.deepStrictEqual(
    await parseErrors(DOWNLOADER, { [FILES.s3base]: "s3.downloader.http.download.path=download\n" }),
    [`<dir>/${FILES.s3base}:1: s3.downloader.http.download.path = "download": expected a URL path starting with /`],
  );
});

Deno.test("loadConfig() with a bad command", async () => {
  assert.deepStrictEqual(
    await parseErrors(EXECUTOR, { [FILES.executor]: "executor.logrotate.command=bin/logrotate\n" }),
    [
      `<dir>/${FILES.executor}:1: executor.logrotate.command = "bin/logrotate": expected a program name or an absolute path`,
    ],
  );
});

Deno.test("loadConfig() with bad host-ports", async () => {
  assert.deepStrictEqual(await parseErrors(CLEANUP, { [FILES.cleanup]: "singularity.hosts=api1:7099,api2\n" }), [
    `<dir>/${FILES.cleanup}:1: singularity.hosts = "api1:7099,api2": expected comma-separated host:port pairs` +
    ` (bad item "api2")`,
  ]);
  assert.deepStrictEqual(await parseErrors(CLEANUP, { [FILES.cleanup]: "singularity.hosts=,\n" }), [
    `<dir>/${FILES.cleanup}:1: singularity.hosts = ",": expected comma-separated host:port pairs (bad item "")`,
  ]);
});

Deno.test("loadConfig() masks secrets in error messages", async () => {
  await using dir = await tempConfigDir({
    [FILES.base]: "obfuscate.keys.comma.separated=key,pass,secret,chunk,cache\n",
    [FILES.s3base]: "s3.downloader.chunk.size=hunter2-bad\nartifact.cache.directory=/nonexistent/hunter2/dir\n",
  });
  const { errors } = await loadConfig(DOWNLOADER, { configDir: dir.path });
  const file = dir.file(FILES.s3base);
  assert.deepStrictEqual(errors.filter((error) => error.startsWith(file)), [
    `${file}:1: s3.downloader.chunk.size = "***************-bad": expected a whole number of at least 1`,
    `${file}:2: artifact.cache.directory = "***************/dir": no such directory` +
    ` (it must exist before singularity-s3-downloader starts)`,
  ]);
  assert.strictEqual(errors.join("\n").includes("hunter2"), false);
});

Deno.test("loadConfig() with every program's directories and required keys set", async () => {
  await using dir = await tempConfigDir();
  await Deno.writeTextFile(dir.file(FILES.base), await existingDirectoryLines(dir.path));
  await Deno.writeTextFile(dir.file(FILES.executor), "executor.default.user=svc\n");
  await Deno.writeTextFile(dir.file(FILES.cleanup), "singularity.hosts=api:7099\n");
  for (const program of [EXECUTOR, CLEANUP, UPLOADER, DOWNLOADER]) {
    const { errors, warnings } = await loadConfig(program, { configDir: dir.path });
    assert.deepStrictEqual([program.name, errors, warnings], [program.name, [], []]);
  }
});

Deno.test("loadConfig() without executor.default.user for the executor", async () => {
  await using dir = await tempConfigDir();
  await Deno.writeTextFile(dir.file(FILES.base), await existingDirectoryLines(dir.path));
  await Deno.writeTextFile(dir.file(FILES.executor), "executor.default.user=   \n");
  const executor = await loadConfig(EXECUTOR, { configDir: dir.path });
  assert.deepStrictEqual(executor.errors, [
    `executor.default.user is not set; singularity-executor needs it (set it in ${dir.file(FILES.executor)})`,
  ]);
  await Deno.writeTextFile(dir.file(FILES.cleanup), "singularity.hosts=api:7099\n");
  const cleanup = await loadConfig(CLEANUP, { configDir: dir.path });
  assert.deepStrictEqual(cleanup.errors, []);
});

Deno.test("loadConfig() without singularity.hosts for the cleanup job", async () => {
  await using dir = await tempConfigDir();
  await Deno.writeTextFile(dir.file(FILES.base), await existingDirectoryLines(dir.path));
  const { errors } = await loadConfig(CLEANUP, { configDir: dir.path });
  assert.deepStrictEqual(errors, [
    `singularity.hosts is not set; singularity-executor-cleanup needs it (set it in ${dir.file(FILES.cleanup)})`,
  ]);
});

Deno.test("loadConfig() with an empty singularity.hosts for the cleanup job", async () => {
  await using dir = await tempConfigDir({ [FILES.cleanup]: "singularity.hosts=\n" });
  await Deno.writeTextFile(dir.file(FILES.base), await existingDirectoryLines(dir.path));
  const { errors } = await loadConfig(CLEANUP, { configDir: dir.path });
  assert.deepStrictEqual(errors, [
    `singularity.hosts is not set; singularity-executor-cleanup needs it (set it in ${dir.file(FILES.cleanup)})`,
  ]);
});

Deno.test("loadConfig() without validation", async () => {
  await using dir = await tempConfigDir({ [FILES.base]: "root.log.directory=/nonexistent/log\n" });
  const { errors } = await loadConfig(CLEANUP, { configDir: dir.path, validate: false });
  assert.deepStrictEqual(errors, []);
});

Deno.test("loadConfig() with a directory that does not exist", async () => {
  await using dir = await tempConfigDir();
  await Deno.writeTextFile(dir.file(FILES.base), await existingDirectoryLines(dir.path));
  const missing = join(dir.path, "no-such-cache");
  await Deno.writeTextFile(dir.file(FILES.s3downloader), `# the cache\nartifact.cache.directory=${missing}/\n`);
  const { errors } = await loadConfig(DOWNLOADER, { configDir: dir.path });
  assert.deepStrictEqual(errors, [
    `${dir.file(FILES.s3downloader)}:2: artifact.cache.directory = "${missing}": no such directory` +
    ` (it must exist before singularity-s3-downloader starts)`,
  ]);
});

Deno.test("loadConfig() with a file where a directory must be", async () => {
  await using dir = await tempConfigDir();
  await Deno.writeTextFile(dir.file(FILES.base), await existingDirectoryLines(dir.path));
  const file = join(dir.path, "a-file");
  await Deno.writeTextFile(file, "");
  await Deno.writeTextFile(dir.file(FILES.s3uploader), `root.log.directory=${file}\n`);
  const { errors } = await loadConfig(UPLOADER, { configDir: dir.path });
  assert.deepStrictEqual(errors, [
    `${dir.file(FILES.s3uploader)}:1: root.log.directory = "${file}": not a directory` +
    ` (it must exist before singularity-s3-uploader starts)`,
  ]);
});

Deno.test("loadConfig() checks logwatcher.metadata.directory only for the executor and cleanup", async () => {
  await using dir = await tempConfigDir();
  const missing = join(dir.path, "no-such-logwatcher");
  await Deno.writeTextFile(
    dir.file(FILES.base),
    await existingDirectoryLines(dir.path) + `logwatcher.metadata.directory=${missing}\nexecutor.default.user=svc\n`,
  );
  const executor = await loadConfig(EXECUTOR, { configDir: dir.path });
  assert.deepStrictEqual(executor.errors, [
    `${dir.file(FILES.base)}:7: logwatcher.metadata.directory = "${missing}": no such directory` +
    ` (it must exist before singularity-executor starts)`,
  ]);
  const uploader = await loadConfig(UPLOADER, { configDir: dir.path });
  assert.deepStrictEqual(uploader.errors, []);
});

Deno.test("loadConfig() with a required directory that is not absolute", async () => {
  // One error: the value is set, only malformed; "is not set" would mislead.
  await using dir = await tempConfigDir();
  await Deno.writeTextFile(dir.file(FILES.base), await existingDirectoryLines(dir.path));
  await Deno.writeTextFile(dir.file(FILES.s3uploader), "root.log.directory=var/log\n");
  const { errors } = await loadConfig(UPLOADER, { configDir: dir.path });
  assert.deepStrictEqual(errors, [
    `${dir.file(FILES.s3uploader)}:1: root.log.directory = "var/log": expected an absolute path`,
  ]);
});
