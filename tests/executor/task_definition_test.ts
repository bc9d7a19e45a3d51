import assert from "node:assert/strict";
import { join } from "node:path";
import { parseExecutorData } from "../../lib/executor/executor_data.ts";
import {
  buildTaskDefinition,
  deleteTaskDefinition,
  parseTaskDefinition,
  readTaskDefinition,
  type TaskDefinition,
  TaskDefinitionError,
  taskDefinitionJson,
  taskDefinitionPath,
  writeTaskDefinition,
} from "../../lib/executor/task_definition.ts";

const TASK_ID = "team:web-d1-1428000000000-1-agent_1-rack_a";
const SANDBOX =
  "/var/lib/mesos/slaves/S1/frameworks/F1/executors/E1/runs/latest/team_web-d1-1428000000000-1-agent_1-rack_a";
const CONFIG_NAMES = {
  appDirectory: "app",
  serviceLog: "service.log",
  serviceFinishedTailLog: "tail_of_finished_service.log",
  bashLog: "executor.bash.log",
  logrotateStateFile: "logrotate.status",
};

function executorData(fields: Record<string, unknown> = {}) {
  return parseExecutorData(new TextEncoder().encode(JSON.stringify({ cmd: "./run.sh", ...fields })));
}

function definition(fields: Record<string, unknown> = {}): TaskDefinition {
  return buildTaskDefinition(TASK_ID, executorData(fields), {
    taskDirectory: SANDBOX,
    executorPid: 4242,
    ...CONFIG_NAMES,
  });
}

async function withTempDir(body: (directory: string) => Promise<void>): Promise<void> {
  const directory = await Deno.makeTempDir({ prefix: "task_definition_test_" });
  try {
    await body(directory);
  } finally {
    await Deno.remove(directory, { recursive: true });
  }
}

async function assertRejectsWith(promise: Promise<unknown>, message: string): Promise<void> {
  await assert.rejects(promise, (error: unknown) => {
    assert.ok(error instanceof TaskDefinitionError);
    assert.equal(error.message, message);
    return true;
  });
}

Deno.test("buildTaskDefinition() resolves the configured names in the sandbox and keeps the raw executor data", () => {
  const data = executorData({ unknownField: [1, 2], user: "webapp" });
  assert.deepEqual(
    buildTaskDefinition(TASK_ID, data, { taskDirectory: SANDBOX, executorPid: 4242, ...CONFIG_NAMES }),
    {
      taskId: TASK_ID,
      executorData: { cmd: "./run.sh", unknownField: [1, 2], user: "webapp" },
      taskDirectory: SANDBOX,
      executorPid: "4242",
      serviceLogOut: `${SANDBOX}/service.log`,
      serviceLogOutExtension: "log",
      serviceFinishedTailLog: `${SANDBOX}/tail_of_finished_service.log`,
      taskAppDirectory: `${SANDBOX}/app`,
      executorBashOut: `${SANDBOX}/executor.bash.log`,
      logrotateStateFile: `${SANDBOX}/logrotate.status`,
      signatureVerifyOut: `${SANDBOX}/executor.gpg.out`,
    },
  );
});

Deno.test("buildTaskDefinition() lets the executor data name the service log and tail file", () => {
  const built = definition({ serviceLog: "logs/app.out", serviceFinishedTailLog: "logs/tail" });
  assert.equal(built.serviceLogOut, `${SANDBOX}/logs/app.out`);
  assert.equal(built.serviceLogOutExtension, "out");
  assert.equal(built.serviceFinishedTailLog, `${SANDBOX}/logs/tail`);
});

Deno.test("buildTaskDefinition() keeps absolute names, takes a string pid and a signature file name", () => {
  const built = buildTaskDefinition(TASK_ID, executorData(), {
    taskDirectory: "/sandbox",
    executorPid: "77",
    ...CONFIG_NAMES,
    serviceLog: "service",
    bashLog: "/var/log/bash.log",
    signatureVerifyOut: "gpg.txt",
  });
  assert.equal(built.executorPid, "77");
  assert.equal(built.serviceLogOut, "/sandbox/service");
  assert.equal(built.serviceLogOutExtension, "");
  assert.equal(built.executorBashOut, "/var/log/bash.log");
  assert.equal(built.signatureVerifyOut, "/sandbox/gpg.txt");
  assert.throws(
    () => buildTaskDefinition(TASK_ID, executorData(), { taskDirectory: "sandbox", executorPid: 1, ...CONFIG_NAMES }),
    new Error('task directory "sandbox" is not an absolute path'),
  );
});

Deno.test("taskDefinitionPath() names the file after the sandbox", () => {
  assert.equal(
    taskDefinitionPath("/var/lib/singularity/tasks", ".task.json", TASK_ID),
    "/var/lib/singularity/tasks/team_web-d1-1428000000000-1-agent_1-rack_a.task.json",
  );
  assert.throws(() => taskDefinitionPath("/tasks", ".task.json", "../x"), /not usable as a file name/);
});

Deno.test("writeTaskDefinition() writes the Java field names, the state file under both keys, mode 0644", async () => {
  await withTempDir(async (directory) => {
    const previous = Deno.umask(0o077);
    let path: string;
    try {
      path = await writeTaskDefinition(directory, ".task.json", definition());
    } finally {
      Deno.umask(previous);
    }
    assert.equal(path, join(directory, "team_web-d1-1428000000000-1-agent_1-rack_a.task.json"));
    assert.equal(
      await Deno.readTextFile(path),
      JSON.stringify({
        taskId: TASK_ID,
        executorData: { cmd: "./run.sh" },
        taskDirectory: SANDBOX,
        executorPid: "4242",
        serviceLogOut: `${SANDBOX}/service.log`,
        serviceLogOutExtension: "log",
        serviceFinishedTailLog: `${SANDBOX}/tail_of_finished_service.log`,
        taskAppDirectory: `${SANDBOX}/app`,
        executorBashOut: `${SANDBOX}/executor.bash.log`,
        logrotateStateFile: `${SANDBOX}/logrotate.status`,
        logrotateStateFilePath: `${SANDBOX}/logrotate.status`,
        signatureVerifyOut: `${SANDBOX}/executor.gpg.out`,
      }),
    );
    assert.equal((await Deno.stat(path)).mode! & 0o777, 0o644);
    assert.deepEqual([...Deno.readDirSync(directory)].map((entry) => entry.name), [
      "team_web-d1-1428000000000-1-agent_1-rack_a.task.json",
    ]);
  });
});

Deno.test("writeTaskDefinition() replaces an existing file and its mode", async () => {
  await withTempDir(async (directory) => {
    const path = taskDefinitionPath(directory, ".task.json", TASK_ID);
    await Deno.writeTextFile(path, "old", { mode: 0o600 });
    await Deno.chmod(path, 0o600);
    await writeTaskDefinition(directory, ".task.json", definition({ user: "second" }));
    assert.deepEqual((await readTaskDefinition(path)).executorData, { cmd: "./run.sh", user: "second" });
    assert.equal((await Deno.stat(path)).mode! & 0o777, 0o644);
  });
});

Deno.test("writeTaskDefinition() into a missing directory fails and leaves nothing behind", async () => {
  await withTempDir(async (directory) => {
    await assert.rejects(
      writeTaskDefinition(join(directory, "missing"), ".task.json", definition()),
      Deno.errors.NotFound,
    );
    assert.deepEqual([...Deno.readDirSync(directory)], []);
  });
});

Deno.test("readTaskDefinition() reads back what writeTaskDefinition() wrote", async () => {
  await withTempDir(async (directory) => {
    const written = definition({ loggingTag: "web", s3UploaderAdditionalFiles: ["gc.log"] });
    const path = await writeTaskDefinition(directory, ".task.json", written);
    assert.deepEqual(await readTaskDefinition(path), written);
  });
});

Deno.test("parseTaskDefinition() accepts either spelling of the state file key", () => {
  const json = taskDefinitionJson(definition());
  const { logrotateStateFilePath: _, ...writtenKeyOnly } = json;
  const { logrotateStateFile: __, ...readKeyOnly } = json;
  const encode = (value: unknown) => new TextEncoder().encode(JSON.stringify(value));
  assert.equal(parseTaskDefinition(encode(writtenKeyOnly), "a").logrotateStateFile, `${SANDBOX}/logrotate.status`);
  assert.equal(parseTaskDefinition(encode(readKeyOnly), "b").logrotateStateFile, `${SANDBOX}/logrotate.status`);
  assert.equal(
    parseTaskDefinition(encode({ ...json, logrotateStateFilePath: "/other/state", logrotateStateFile: "/x" }), "c")
      .logrotateStateFile,
    "/other/state",
  );
});

Deno.test("parseTaskDefinition() reads a properties-era file: bare names, no tail file, a numeric pid", () => {
  const javaFile = {
    taskId: "r-d-1-1-h-k",
    executorData: { cmd: "x", embeddedArtifacts: [], user: null },
    taskDirectory: "/sandbox/r-d-1-1-h-k",
    executorPid: 912,
    serviceLogOut: "/sandbox/r-d-1-1-h-k/service.log",
    taskAppDirectory: "/sandbox/r-d-1-1-h-k/app",
    executorBashOut: "executor.bash.log",
    logrotateStateFile: "/sandbox/r-d-1-1-h-k/logrotate.status",
    signatureVerifyOut: null,
    somethingElse: true,
  };
  assert.deepEqual(parseTaskDefinition(new TextEncoder().encode(JSON.stringify(javaFile)), "old.task.json"), {
    taskId: "r-d-1-1-h-k",
    executorData: { cmd: "x", embeddedArtifacts: [], user: null },
    taskDirectory: "/sandbox/r-d-1-1-h-k",
    executorPid: "912",
    serviceLogOut: "/sandbox/r-d-1-1-h-k/service.log",
    serviceLogOutExtension: "log",
    taskAppDirectory: "/sandbox/r-d-1-1-h-k/app",
    executorBashOut: "/sandbox/r-d-1-1-h-k/executor.bash.log",
    logrotateStateFile: "/sandbox/r-d-1-1-h-k/logrotate.status",
  });
  const later = { ...javaFile, signatureVerifyOut: "executor.gpg.out", serviceFinishedTailLog: "tail.log" };
  const parsed = parseTaskDefinition(new TextEncoder().encode(JSON.stringify(later)), "new.task.json");
  assert.equal(parsed.signatureVerifyOut, "/sandbox/r-d-1-1-h-k/executor.gpg.out");
  assert.equal(parsed.serviceFinishedTailLog, "/sandbox/r-d-1-1-h-k/tail.log");
});

Deno.test("readTaskDefinition() names the file when it is empty, not JSON or not a definition", async () => {
  await withTempDir(async (directory) => {
    const path = join(directory, "t.task.json");
    const where = `task definition ${path}`;
    await assertRejectsWith(
      readTaskDefinition(path),
      `${where}: cannot be read (No such file or directory (os error 2): readfile '${path}')`,
    );
    const valid = taskDefinitionJson(definition());
    const cases: [string, string][] = [
      ["", `${where}: the file is empty`],
      [
        '{"taskId": "r-d-1-1-h',
        `${where}: not valid JSON (Unterminated string in JSON at position 21 (line 1 column 22))`,
      ],
      ["[]", `${where}: expected a JSON object, got []`],
      [JSON.stringify({ ...valid, taskId: undefined }), `${where}: taskId: expected a non-empty string, got nothing`],
      [JSON.stringify({ ...valid, taskId: 5 }), `${where}: taskId: expected a non-empty string, got 5`],
      [JSON.stringify({ ...valid, executorData: "x" }), `${where}: executorData: expected an object, got "x"`],
      [JSON.stringify({ ...valid, executorData: null }), `${where}: executorData: expected an object, got null`],
      [
        JSON.stringify({ ...valid, taskDirectory: "sandbox" }),
        `${where}: taskDirectory: "sandbox" is not an absolute path`,
      ],
      [
        JSON.stringify({ ...valid, executorPid: undefined }),
        `${where}: executorPid: expected a non-empty string, got nothing`,
      ],
      [JSON.stringify({ ...valid, executorPid: 1.5 }), `${where}: executorPid: expected a non-empty string, got 1.5`],
      [
        JSON.stringify({ ...valid, serviceLogOut: "" }),
        `${where}: serviceLogOut: expected a non-empty string, got ""`,
      ],
      [
        JSON.stringify({ ...valid, taskAppDirectory: [] }),
        `${where}: taskAppDirectory: expected a non-empty string, got []`,
      ],
      [
        JSON.stringify({ ...valid, executorBashOut: undefined }),
        `${where}: executorBashOut: expected a non-empty string, got nothing`,
      ],
      [
        JSON.stringify({ ...valid, logrotateStateFile: undefined, logrotateStateFilePath: null }),
        `${where}: logrotateStateFile: expected a non-empty string, got nothing`,
      ],
      [
        JSON.stringify({ ...valid, logrotateStateFilePath: 3 }),
        `${where}: logrotateStateFilePath: expected a non-empty string, got 3`,
      ],
      [
        JSON.stringify({ ...valid, serviceFinishedTailLog: true }),
        `${where}: serviceFinishedTailLog: expected a non-empty string, got true`,
      ],
      [
        JSON.stringify({ ...valid, signatureVerifyOut: 1 }),
        `${where}: signatureVerifyOut: expected a non-empty string, got 1`,
      ],
    ];
    for (const [content, message] of cases) {
      await Deno.writeTextFile(path, content);
      await assertRejectsWith(readTaskDefinition(path), message);
    }
    await Deno.writeFile(path, new Uint8Array([0x7b, 0xff, 0x7d]));
    await assertRejectsWith(readTaskDefinition(path), `${where}: not valid UTF-8 (3 bytes)`);
  });
});

Deno.test("deleteTaskDefinition() removes the file and says whether it was there", async () => {
  await withTempDir(async (directory) => {
    const path = await writeTaskDefinition(directory, ".task.json", definition());
    assert.equal(await deleteTaskDefinition(path), true);
    assert.equal(await deleteTaskDefinition(path), false);
    assert.deepEqual([...Deno.readDirSync(directory)], []);
  });
});

Deno.test("writeTaskDefinition() is atomic: a reader polling during many rewrites never sees partial JSON", async () => {
  await withTempDir(async (directory) => {
    // Large and small versions, so a torn write would show as truncated or mixed JSON.
    const big = definition({ cmd: "x", loggingExtraFields: { padding: "p".repeat(256 * 1024) } });
    const small = definition({ cmd: "y" });
    const path = await writeTaskDefinition(directory, ".task.json", small);
    let writing = true;
    let reads = 0;
    let failure: unknown;
    const seen = new Set<string>();
    const reader = (async () => {
      while (writing) {
        try {
          seen.add(String(parseTaskDefinition(await Deno.readFile(path), path).executorData.cmd));
          reads++;
        } catch (error) {
          failure = error;
          return;
        }
      }
    })();
    const readerInOtherProcess = new Deno.Command(Deno.execPath(), {
      args: [
        "eval",
        `const [path, stop] = Deno.args;
         let reads = 0;
         while (true) {
           try { await Deno.stat(stop); break; } catch { /* not yet */ }
           JSON.parse(await Deno.readTextFile(path));
           reads++;
         }
         console.log(reads);`,
        path,
        join(directory, "stop"),
      ],
      stdout: "piped",
      stderr: "piped",
    }).spawn();
    try {
      for (let round = 0; round < 300 && failure === undefined; round++) {
        await writeTaskDefinition(directory, ".task.json", round % 2 === 0 ? big : small);
      }
    } finally {
      writing = false;
      await Deno.writeTextFile(join(directory, "stop"), "");
    }
    await reader;
    const other = await readerInOtherProcess.output();
    assert.equal(failure, undefined);
    assert.equal(new TextDecoder().decode(other.stderr), "");
    assert.ok(other.success);
    assert.ok(Number(new TextDecoder().decode(other.stdout)) > 0);
    assert.ok(reads > 0);
    assert.deepEqual([...seen].sort(), ["x", "y"]);
    assert.deepEqual(await readTaskDefinition(path), small);
    assert.deepEqual([...Deno.readDirSync(directory)].map((entry) => entry.name).sort(), [
      "stop",
      "team_web-d1-1428000000000-1-agent_1-rack_a.task.json",
    ]);
  });
});
