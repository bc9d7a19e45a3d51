import assert from "node:assert/strict";
import { join } from "node:path";
import { EXECUTOR, type ExecutorKeys } from "../../lib/config/mod.ts";
import { parseExecutorData } from "../../lib/executor/executor_data.ts";
import { buildTaskDefinition, type TaskDefinition } from "../../lib/executor/task_definition.ts";
import { setUpTaskLogs, tearDownTaskLogs } from "../../lib/executor/task_logs.ts";
import { parseUploadMetadata } from "../../lib/s3/upload_metadata.ts";
import { gunzipFile } from "../support/gzip.ts";
import { loadTestConfig } from "../support/s3_server.ts";

const TASK_ID = "web-deploy1-1795849200000-0-agent_1.example.com-rack1";

/** A sandbox, a configuration pointing every directory into a temp dir, and the task's definition. */
async function setup(
  fields: Record<string, unknown> = {},
  properties: Record<string, string> = {},
  taskId = TASK_ID,
) {
  const root = await Deno.makeTempDir({ prefix: "task-logs-" });
  const dirs = {
    sandbox: join(root, "sandbox", taskId),
    logrotate: join(root, "logrotate.d"),
    hourly: join(root, "logrotate.d", "hourly"),
    cron: join(root, "cron.d"),
    tail: join(root, "logwatcher"),
    tasks: join(root, "tasks"),
  };
  for (const dir of [dirs.sandbox, dirs.logrotate, dirs.cron, dirs.tail, dirs.tasks]) {
    await Deno.mkdir(dir, { recursive: true });
  }
  const loaded = await loadTestConfig<ExecutorKeys>(EXECUTOR, {
    properties: {
      "executor.default.user": "root",
      "executor.global.task.definition.directory": dirs.tasks,
      "executor.logrotate.config.folder": dirs.logrotate,
      "executor.logrotate.hourly.config.folder": dirs.hourly,
      "executor.cron.directory": dirs.cron,
      "logwatcher.metadata.directory": dirs.tail,
      "executor.s3.uploader.bucket": "task-logs",
      "executor.s3.uploader.pattern": "%requestId/%group/%tag/%deployId/%host/%taskId/%Y-%index-%filename",
      "executor.service.log.tail.lines.to.save": "3",
      ...properties,
    },
  });
  const data = parseExecutorData(new TextEncoder().encode(JSON.stringify({ cmd: "true", ...fields })));
  const definition: TaskDefinition = buildTaskDefinition(taskId, data, {
    taskDirectory: dirs.sandbox,
    executorPid: Deno.pid,
    appDirectory: "app",
    serviceLog: "service.log",
    serviceFinishedTailLog: "tail_of_finished_service.log",
    bashLog: "executor.bash.log",
    logrotateStateFile: "logrotate.status",
  });
  const lines: string[] = [];
  const metadataDir = loaded.config.text("s3uploader.metadata.directory");
  return {
    ...dirs,
    config: loaded.config,
    data,
    definition,
    lines,
    context: { config: loaded.config, log: (line: string) => lines.push(line) },
    metadataDir,
    async metadata(name: string) {
      const path = join(metadataDir, name);
      return parseUploadMetadata(await Deno.readTextFile(path), path);
    },
    metadataNames: () => [...Deno.readDirSync(metadataDir)].map((e) => e.name).sort(),
    async [Symbol.asyncDispose]() {
      await loaded[Symbol.asyncDispose]();
      await Deno.remove(root, { recursive: true });
    },
  };
}

Deno.test("setUpTaskLogs() writes the service log, the logrotate config and unfinished upload metadata", async () => {
  await using env = await setup({ loggingTag: "web-tag", requestGroup: "blue" });
  await setUpTaskLogs(env.definition, env.data, env.context);
  assert.equal((await Deno.stat(join(env.sandbox, "service.log"))).size, 0);
  const config = await Deno.readTextFile(join(env.logrotate, TASK_ID));
  assert.equal(
    config,
    [
      "dateext",
      "compress",
      "daily",
      "copytruncate",
      "nomail",
      "nosharedscripts",
      "rotate 20",
      "maxage 7",
      "notifempty",
      "",
      `"${env.sandbox}/service.log" {`,
      "  dateformat -%Y%m%d%s",
      "  olddir logs",
      "}",
      "",
    ].join("\n"),
  );
  assert.deepEqual(env.metadataNames(), [`${TASK_ID}.s3.json`]);
  assert.deepEqual(await env.metadata(`${TASK_ID}.s3.json`), {
    directory: join(env.sandbox, "logs"),
    fileGlob: "{service.log}*.gz*",
    s3Bucket: "task-logs",
    s3KeyFormat: `web/blue/web-tag/deploy1/agent_1.example.com/${TASK_ID}/%Y-%index-%filename`,
    finished: false,
    checkSubdirectories: false,
    compressBeforeUpload: false,
    checkIfOpen: true,
  });
  const tails = [...Deno.readDirSync(env.tail)];
  assert.equal(tails.length, 1);
  assert.match(tails[0].name, /^[0-9a-f]{64}\.tail\.json$/);
  assert.deepEqual(JSON.parse(await Deno.readTextFile(join(env.tail, tails[0].name))), {
    filename: join(env.sandbox, "service.log"),
    tag: "web-tag",
    extraFields: {},
    finished: false,
  });
});

Deno.test("tearDownTaskLogs() saves the tail, rotates with the real logrotate, finishes the metadata, removes the config", async () => {
  await using env = await setup({ loggingTag: "web-tag" });
  await setUpTaskLogs(env.definition, env.data, env.context);
  await Deno.writeTextFile(join(env.sandbox, "service.log"), "one\ntwo\nthree\nfour\nfive\n");
  const result = await tearDownTaskLogs(env.definition, env.data, env.context);
  assert.deepEqual(result, { ok: true, problems: [] });
  assert.equal(await Deno.readTextFile(join(env.sandbox, "tail_of_finished_service.log")), "three\nfour\nfive\n");
  assert.equal((await Deno.stat(join(env.sandbox, "service.log"))).size, 0, "copytruncate empties the service log");
  const rotated = [...Deno.readDirSync(join(env.sandbox, "logs"))].map((e) => e.name);
  assert.equal(rotated.length, 1);
  assert.match(rotated[0], /^service\.log-\d{8}\d{10}\.gz$/);
  assert.equal(await gunzipFile(join(env.sandbox, "logs", rotated[0])), "one\ntwo\nthree\nfour\nfive\n");
  await assert.rejects(Deno.stat(join(env.logrotate, TASK_ID)), Deno.errors.NotFound);
  const metadata = await env.metadata(`${TASK_ID}.s3.json`);
  assert.equal(metadata.finished, true);
  assert.equal(metadata.uploadImmediately, true);
  const tails = [...Deno.readDirSync(env.tail)];
  assert.equal(JSON.parse(await Deno.readTextFile(join(env.tail, tails[0].name))).finished, true);
});

/** The decompressed content of every `.gz` in `dir`, by name. */
async function gunzipAll(dir: string): Promise<Map<string, string>> {
  const out = new Map<string, string>();
  for (const entry of Deno.readDirSync(dir)) {
    if (!entry.name.endsWith(".gz")) continue;
    out.set(entry.name, await gunzipFile(join(dir, entry.name)));
  }
  return out;
}

Deno.test("tearDownTaskLogs() rotates a service log whose path has blanks, quotes, $, % and glob characters", async () => {
  const hostile = `we b'$x%d*[1]-d1-1795849200000-0-agent_1-rack1`;
  await using env = await setup({}, {}, hostile);
  await setUpTaskLogs(env.definition, env.data, env.context);
  // A file a glob in the configuration would also have matched: it must stay untouched.
  const decoy = join(env.sandbox, "..", `we b'$x%dX[1]-d1-1795849200000-0-agent_1-rack1`);
  await Deno.mkdir(decoy);
  await Deno.writeTextFile(join(decoy, "service.log"), "decoy\n");
  await Deno.writeTextFile(join(env.sandbox, "service.log"), "hostile\n");
  assert.deepEqual(await tearDownTaskLogs(env.definition, env.data, env.context), { ok: true, problems: [] });
  assert.deepEqual([...(await gunzipAll(join(env.sandbox, "logs"))).values()], ["hostile\n"]);
  assert.equal(await Deno.readTextFile(join(decoy, "service.log")), "decoy\n");
  const metadata = await env.metadata(`${hostile}.s3.json`);
  assert.equal(metadata.fileGlob, "{service.log}*.gz*");
  assert.equal(
    metadata.s3KeyFormat,
    `we b'$x%d*[1]/%group/%tag/d1/agent_1/${hostile}/%Y-%index-%filename`.replace("%group", "default").replace(
      "/%tag",
      "/",
    ),
  );
});

Deno.test("tearDownTaskLogs() rotates the extra files in place, and names them in the upload glob", async () => {
  await using env = await setup({}, {
    "executor.logrotate.extras.files": "app/access.log,app/*.out",
    "executor.s3.uploader.extras.files": "access.log",
  });
  await Deno.mkdir(join(env.sandbox, "app"));
  await setUpTaskLogs(env.definition, env.data, env.context);
  const config = await Deno.readTextFile(join(env.logrotate, TASK_ID));
  assert.match(
    config,
    new RegExp(
      `\n"${env.sandbox}/app/access.log" "${env.sandbox}/app/\\*.out" \\{\n  dateformat -%Y%m%d\n  missingok\n\\}\n$`,
    ),
  );
  await Deno.writeTextFile(join(env.sandbox, "app", "access.log"), "GET /\n");
  await Deno.writeTextFile(join(env.sandbox, "app", "gc.out"), "gc\n");
  assert.deepEqual(await tearDownTaskLogs(env.definition, env.data, env.context), { ok: true, problems: [] });
  const day = await gunzipAll(join(env.sandbox, "app"));
  assert.deepEqual([...day.keys()].map((name) => name.replace(/\d{8}/, "DATE")).sort(), [
    "access.log-DATE.gz",
    "gc.out-DATE.gz",
  ]);
  assert.deepEqual([...day.values()].sort(), ["GET /\n", "gc\n"]);
  assert.equal((await env.metadata(`${TASK_ID}.s3.json`)).fileGlob, "{service.log,access.log}*.gz*");
});

Deno.test("setUpTaskLogs() puts an HOURLY service log in a cron-driven config; teardown runs and removes it", async () => {
  await using env = await setup({ logrotateFrequency: "HOURLY" }, { "executor.logrotate.ignore.output": "true" });
  await setUpTaskLogs(env.definition, env.data, env.context);
  const hourly = join(env.hourly, `${TASK_ID}.HOURLY`);
  assert.match(await Deno.readTextFile(hourly), /^dateext\ncompress\nhourly\n[^]*\n"[^"]+\/service\.log" \{\n/);
  assert.doesNotMatch(await Deno.readTextFile(join(env.logrotate, TASK_ID)), /service\.log/);
  const cronFile = join(env.cron, "singularity-logrotate-web-deploy1-1795849200000-0-agent_1_example_com-rack1");
  assert.equal(
    await Deno.readTextFile(cronFile),
    `# Rotates the service log of Singularity task ${TASK_ID} HOURLY.\n` +
      `0 * * * * root logrotate -f -s ${env.sandbox}/logrotate.status ${hourly} > /dev/null 2>&1\n`,
  );
  await Deno.writeTextFile(join(env.sandbox, "service.log"), "hourly\n");
  assert.deepEqual(await tearDownTaskLogs(env.definition, env.data, env.context), { ok: true, problems: [] });
  assert.deepEqual([...(await gunzipAll(join(env.sandbox, "logs"))).values()], ["hourly\n"]);
  for (const path of [hourly, cronFile, join(env.logrotate, TASK_ID)]) {
    await assert.rejects(Deno.stat(path), Deno.errors.NotFound, path);
  }
});

Deno.test("tearDownTaskLogs() with a failing logrotate keeps its config and the metadata unfinished, and says why", async () => {
  const fake = await Deno.makeTempFile({ suffix: ".sh" });
  await Deno.writeTextFile(fake, "#!/bin/sh\necho 'error: disk on fire' >&2\nexit 3\n");
  await Deno.chmod(fake, 0o755);
  try {
    await using env = await setup({}, { "executor.logrotate.command": fake });
    await setUpTaskLogs(env.definition, env.data, env.context);
    const result = await tearDownTaskLogs(env.definition, env.data, env.context);
    assert.equal(result.ok, false);
    assert.equal(result.problems.length, 1);
    assert.match(
      result.problems[0],
      /^logrotate \(its configuration is kept for the cleanup job\): .* exited with 3: error: disk on fire$/,
    );
    assert.ok((await Deno.stat(join(env.logrotate, TASK_ID))).isFile);
    assert.equal((await env.metadata(`${TASK_ID}.s3.json`)).finished, false);
    assert.equal(env.lines.length, 1);
    assert.match(env.lines[0], /disk on fire/);
  } finally {
    await Deno.remove(fake);
  }
});

Deno.test("task upload metadata: additional files get their own metadata; the default one covers the rotated service log", async () => {
  await using env = await setup({
    s3UploaderAdditionalFiles: [
      "app/gc.log",
      {
        filename: "*.hprof",
        directory: "app",
        s3UploaderFilenameHint: "heap",
        s3UploaderBucket: "dumps",
        compressBeforeUpload: true,
      },
    ],
    s3StorageClass: "STANDARD_IA",
    applyS3StorageClassAfterBytes: 1000,
  });
  await setUpTaskLogs(env.definition, env.data, env.context);
  assert.deepEqual(env.metadataNames(), [
    `${TASK_ID}-default.s3.json`,
    `${TASK_ID}-file1.s3.json`,
    `${TASK_ID}-heap.s3.json`,
  ]);
  const rotated = await env.metadata(`${TASK_ID}-default.s3.json`);
  assert.equal(rotated.fileGlob, "service.log*.[gb]z*");
  assert.equal(rotated.storageClass, "STANDARD_IA");
  assert.equal(rotated.applyStorageClassIfOverBytes, 1000);
  const file1 = await env.metadata(`${TASK_ID}-file1.s3.json`);
  assert.equal(file1.directory, env.sandbox);
  assert.equal(file1.fileGlob, "app/gc.log*.[gb]z*");
  const heap = await env.metadata(`${TASK_ID}-heap.s3.json`);
  assert.deepEqual([heap.directory, heap.fileGlob, heap.s3Bucket, heap.compressBeforeUpload], [
    join(env.sandbox, "app"),
    "*.hprof*",
    "dumps",
    true,
  ]);
});

Deno.test("task upload metadata: an additional file's directory outside the sandbox is refused, naming it", async () => {
  await assert.rejects(
    setup({ s3UploaderAdditionalFiles: [{ filename: "x.log", directory: "app/../../other" }] }),
    /s3UploaderAdditionalFiles\[0\]\.directory: "app\/\.\.\/\.\.\/other" must stay inside the task sandbox/,
  );
});

Deno.test("tearDownTaskLogs() with skipLogrotateAndCompress uploads the service log itself", async () => {
  await using env = await setup({ skipLogrotateAndCompress: true });
  await setUpTaskLogs(env.definition, env.data, env.context);
  assert.doesNotMatch(await Deno.readTextFile(join(env.logrotate, TASK_ID)), /service\.log/);
  await Deno.writeTextFile(join(env.sandbox, "service.log"), "raw\n");
  assert.deepEqual(await tearDownTaskLogs(env.definition, env.data, env.context), { ok: true, problems: [] });
  assert.equal(await Deno.readTextFile(join(env.sandbox, "service.log")), "raw\n");
  await assert.rejects(Deno.stat(join(env.sandbox, "tail_of_finished_service.log")), Deno.errors.NotFound);
  const unrotated = await env.metadata(`${TASK_ID}-unrotated.s3.json`);
  assert.deepEqual([unrotated.directory, unrotated.fileGlob, unrotated.finished], [env.sandbox, "service.log", true]);
});

Deno.test("tearDownTaskLogs() does not read a service log that is a symlink, and keeps an existing tail file", async () => {
  await using env = await setup({ serviceLog: "app/service.log" });
  await Deno.mkdir(join(env.sandbox, "app"));
  await Deno.writeTextFile(join(env.sandbox, "secret"), "secret\n");
  await setUpTaskLogs(env.definition, env.data, env.context);
  await Deno.remove(join(env.sandbox, "app", "service.log"));
  await Deno.symlink(join(env.sandbox, "secret"), join(env.sandbox, "app", "service.log"));
  const result = await tearDownTaskLogs(env.definition, env.data, env.context);
  assert.equal(result.ok, false);
  assert.match(result.problems.join("\n"), /app\/service\.log is a symlink; not read/);
  await assert.rejects(Deno.stat(join(env.sandbox, "tail_of_finished_service.log")), Deno.errors.NotFound);
  assert.equal(await Deno.readTextFile(join(env.sandbox, "secret")), "secret\n");
});

Deno.test("tearDownTaskLogs() does not hang on a FIFO put where the service log was", async () => {
  await using env = await setup({ serviceLog: "app/service.log" });
  await Deno.mkdir(join(env.sandbox, "app"));
  await setUpTaskLogs(env.definition, env.data, env.context);
  await Deno.remove(join(env.sandbox, "app", "service.log"));
  const made = await new Deno.Command("mkfifo", { args: [join(env.sandbox, "app", "service.log")] }).output();
  assert.equal(made.code, 0);
  const result = await tearDownTaskLogs(env.definition, env.data, env.context);
  assert.equal(result.ok, false);
  assert.match(result.problems.join("\n"), /app\/service\.log is not a regular file; not read/);
  await assert.rejects(Deno.stat(join(env.sandbox, "tail_of_finished_service.log")), Deno.errors.NotFound);
});
