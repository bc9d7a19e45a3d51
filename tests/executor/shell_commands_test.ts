import assert from "node:assert/strict";
import { join } from "node:path";
import { EXECUTOR, type ExecutorKeys, loadConfig } from "../../lib/config/mod.ts";
import {
  encodeShellCommandUpdate,
  parseFrameworkMessage,
  runShellCommand,
  type ShellCommandConfigError,
  shellCommandPrograms,
  type ShellCommandRequest,
  type ShellCommandsConfig,
  shellCommandsConfig,
  type ShellCommandUpdate,
} from "../../lib/executor/shell_commands.ts";
import { parseTaskId } from "../../lib/executor/task_id.ts";

/** The shell command keys as they are meant to join `EXECUTOR_KEYS` (until then, a layer of their own). */
const PROGRAM = EXECUTOR;

const TASK_ID = parseTaskId("web-d1-1428000000000-1-agent_1-rack_a");
const TIMESTAMP = 1500000000000;
const HEADER = /^#\n# \w{3} \w{3} \d{2} \d{2}:\d{2}:\d{2} \S+ \d{4} -- Launching (.*)\n#\n/;

/** The shell command settings from `properties` in `singularity.executor.properties`. */
async function configFrom(properties: string): Promise<ShellCommandsConfig> {
  const dir = await Deno.makeTempDir({ prefix: "shell-config-" });
  try {
    await Deno.writeTextFile(join(dir, "singularity.executor.properties"), properties);
    const { config, errors, warnings } = await loadConfig<ExecutorKeys>(PROGRAM, { configDir: dir, validate: false });
    assert.deepEqual([...errors, ...warnings], []);
    return shellCommandsConfig(config);
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
}

/** A sandbox directory and a running `sleep` standing in for the task's process. */
async function withTask(body: (sandbox: string, pid: number) => Promise<void>): Promise<void> {
  const sandbox = await Deno.realPath(await Deno.makeTempDir({ prefix: "shell-sandbox-" }));
  const task = new Deno.Command("sleep", { args: ["30"], stdout: "null", stderr: "null" }).spawn();
  try {
    await body(sandbox, task.pid);
  } finally {
    task.kill("SIGKILL");
    await task.status;
    await Deno.remove(sandbox, { recursive: true });
  }
}

function request(name: string, shellCommand: Partial<ShellCommandRequest["shellCommand"]> = {}): ShellCommandRequest {
  return { taskId: TASK_ID, user: "ops", timestamp: TIMESTAMP, shellCommand: { name, options: [], ...shellCommand } };
}

/** Runs `shellRequest` and returns every update sent, checking their request id and timestamps. */
async function run(
  shellRequest: ShellCommandRequest,
  task: { sandbox: string; pid?: number; user?: string },
  config: ShellCommandsConfig,
  options: { signal?: AbortSignal } = {},
): Promise<ShellCommandUpdate[]> {
  const updates: ShellCommandUpdate[] = [];
  const before = Date.now();
  const last = await runShellCommand(shellRequest, { user: "webapp", ...task }, {
    config,
    send: (update) => void updates.push(update),
    ...options,
  });
  assert.equal(last, updates.at(-1));
  for (const update of updates) {
    assert.deepEqual(update.shellRequestId, {
      taskId: TASK_ID,
      name: shellRequest.shellCommand.name,
      timestamp: TIMESTAMP,
    });
    assert.ok(update.timestamp >= before && update.timestamp <= Date.now());
  }
  return updates;
}

/** The updates without the parts checked by {@linkcode run}. */
function summary(updates: ShellCommandUpdate[]): Record<string, string | undefined>[] {
  return updates.map(({ updateType, message, outputFilename }) => ({ updateType, message, outputFilename }));
}

/** One command `name` with `argv` and the other settings at their defaults. */
function oneCommand(name: string, argv: string[], extra: Partial<ShellCommandsConfig> = {}): ShellCommandsConfig {
  return {
    commands: new Map([[name, { command: argv, options: new Map() }]]),
    prefix: [],
    outFileTemplate: "executor.commands.{NAME}.{TIMESTAMP}.log",
    pidFile: ".task-pid",
    pidPlaceholder: "{PID}",
    userPlaceholder: "{USER}",
    ...extra,
  };
}

Deno.test("shellCommandsConfig() reads commands, options in file order, the prefix switch and the defaults", async () => {
  const config = await configFrom([
    'executor.shell.command.jstack=["jstack","-l","{PID}"]',
    "executor.shell.command.jstack.option.mixed=-m",
    "executor.shell.command.jstack.option.force=-F",
    "executor.shell.command.env.skip.command.prefix=TRUE",
    'executor.shell.command.env=["env"]',
    "executor.shell.commands.prefix=sudo, -n ,-u,{USER}",
  ].join("\n"));
  assert.deepEqual(config, {
    commands: new Map([
      ["jstack", {
        command: ["jstack", "-l", "{PID}"],
        options: new Map([["mixed", "-m"], ["force", "-F"]]),
        skipCommandPrefix: false,
      }],
      ["env", { command: ["env"], options: new Map(), skipCommandPrefix: true }],
    ]),
    prefix: ["sudo", "-n", "-u", "{USER}"],
    outFileTemplate: "executor.commands.{NAME}.{TIMESTAMP}.log",
    pidFile: ".task-pid",
    pidPlaceholder: "{PID}",
    userPlaceholder: "{USER}",
  });
  assert.deepEqual(shellCommandPrograms(config), ["sudo", "env"]);

  const custom = await configFrom(
    "executor.shell.commands.out.file=cmd-{NAME}.log\nexecutor.shell.commands.pid.file=run/pid\n",
  );
  assert.deepEqual([custom.commands.size, custom.prefix, custom.outFileTemplate, custom.pidFile], [
    0,
    [],
    "cmd-{NAME}.log",
    "run/pid",
  ]);
});

Deno.test("shellCommandsConfig() names the malformed key, its value and what was expected", async () => {
  const argv = 'expected a JSON array of argv strings, e.g. ["jstack","-l","{PID}"]';
  const cases: [string, string][] = [
    ["executor.shell.command.a=jstack -l", `executor.shell.command.a=jstack -l: ${argv}`],
    ["executor.shell.command.a=[]", `executor.shell.command.a=[]: ${argv}`],
    ['executor.shell.command.a=["ps",1]', `executor.shell.command.a=["ps",1]: ${argv}`],
    ['executor.shell.command.a=["","x"]', 'executor.shell.command.a=["","x"]: the program (first element) is empty'],
    [
      "executor.shell.command.b.option.force=-F",
      'executor.shell.command.b.option.force: there is no command "b" (set executor.shell.command.b too)',
    ],
    [
      'executor.shell.command.a=["ps"]\nexecutor.shell.command.a.option.=-F',
      'executor.shell.command.a.option.=-F: expected an option name after ".option." and the flag as the value',
    ],
    [
      'executor.shell.command.a=["ps"]\nexecutor.shell.command.a.skip.command.prefix=yes',
      "executor.shell.command.a.skip.command.prefix=yes: expected true or false",
    ],
  ];
  for (const [properties, expected] of cases) {
    await assert.rejects(configFrom(properties), (error: ShellCommandConfigError) => {
      assert.equal(error.name, "ShellCommandConfigError");
      assert.equal(error.message, expected);
      return true;
    });
  }
});

Deno.test("runShellCommand() fills {PID} and {USER}, appends option flags and reports ACKED, STARTED, FINISHED", async () => {
  await withTask(async (sandbox, pid) => {
    const script = 'echo "user=$1 flags=$2,$3 sandbox=$TASK_SANDBOX_DIR cwd=$PWD"; ps -o comm= -p "$0"; echo oops >&2';
    const config: ShellCommandsConfig = {
      ...oneCommand("x", []),
      commands: new Map([["Inspect Task", {
        command: ["bash", "-c", script, "{PID}", "{USER}"],
        options: new Map([["verbose", "-v"], ["unused", "-u"], ["quick", "-q"]]),
      }]]),
      prefix: ["env", "HELLO=1"],
    };
    const updates = await run(
      request("Inspect Task", { options: ["quick", "verbose", "unknown"] }),
      { sandbox, pid },
      config,
    );
    const argv = `env HELLO=1 bash -c ${script} ${pid} webapp -v -q`;
    const outputFilename = `executor.commands.inspect-task.${TIMESTAMP}.log`;
    assert.deepEqual(summary(updates), [
      { updateType: "ACKED", message: argv, outputFilename },
      { updateType: "STARTED", message: updates[1].message, outputFilename: undefined },
      { updateType: "FINISHED", message: "Finished with code 0", outputFilename: undefined },
    ]);
    assert.match(updates[1].message ?? "", /^pid - [1-9][0-9]*$/);
    assert.notEqual(updates[1].message, `pid - ${pid}`);

    const output = await Deno.readTextFile(join(sandbox, outputFilename));
    assert.equal(HEADER.exec(output)?.[1], argv);
    assert.deepEqual(output.replace(HEADER, "").split("\n").sort(), [
      "",
      "oops",
      "sleep",
      `user=webapp flags=-v,-q sandbox=${sandbox} cwd=${sandbox}`,
    ]);

    // A second run appends to the same file.
    await run(request("Inspect Task"), { sandbox, pid }, config);
    const again = await Deno.readTextFile(join(sandbox, outputFilename));
    assert.equal(again.match(/ -- Launching /g)?.length, 2);
  });
});

Deno.test("runShellCommand() takes {PID} from .task-pid, and answers INVALID when it is not a pid", async () => {
  await withTask(async (sandbox, pid) => {
    const config = oneCommand("pid", ["echo", "{PID}", "{PID}"], { pidFile: "run/.task-pid" });
    await Deno.mkdir(join(sandbox, "run"));
    await Deno.writeTextFile(join(sandbox, "run/.task-pid"), "4242\n");
    const updates = await run(request("pid"), { sandbox, pid }, config);
    assert.deepEqual(summary(updates)[0], {
      updateType: "ACKED",
      message: "echo 4242 4242",
      outputFilename: `executor.commands.pid.${TIMESTAMP}.log`,
    });
    assert.equal(updates.at(-1)?.message, "Finished with code 0");
    const output = await Deno.readTextFile(join(sandbox, `executor.commands.pid.${TIMESTAMP}.log`));
    assert.equal(output.replace(HEADER, ""), "4242 4242\n");

    const invalid = async (reason: string) =>
      assert.deepEqual(summary(await run(request("pid"), { sandbox, pid }, config)), [{
        updateType: "INVALID",
        message: `No PID found due to exception reading pid file: run/.task-pid ${reason}`,
        outputFilename: undefined,
      }]);
    const contents = [["abc\n", '"abc\\n"'], ["", '""'], ["0", '"0"'], ["12 13", '"12 13"']];
    for (const [content, shown] of [...contents, ["9".repeat(30), "30 characters"]]) {
      await Deno.writeTextFile(join(sandbox, "run/.task-pid"), content);
      await invalid(`holds ${shown}, not a process id`);
    }
    // Without {PID} the pid file is not read.
    const noPid = oneCommand("true", ["true"], { pidFile: "run/.task-pid" });
    assert.equal((await run(request("true"), { sandbox, pid }, noPid)).at(-1)?.updateType, "FINISHED");

    // The task cannot make the executor quote another file.
    const secret = await Deno.makeTempFile({ prefix: "shell-secret-" });
    try {
      await Deno.remove(join(sandbox, "run/.task-pid"));
      await Deno.symlink(secret, join(sandbox, "run/.task-pid"));
      await invalid("leads outside the task sandbox");
    } finally {
      await Deno.remove(secret);
    }
    await Deno.remove(join(sandbox, "run/.task-pid"));
    await Deno.mkdir(join(sandbox, "run/.task-pid"));
    await invalid("is not a regular file");

    // Without the file, {PID} is the task's pid.
    await Deno.remove(join(sandbox, "run/.task-pid"));
    assert.equal((await run(request("pid"), { sandbox, pid }, config))[0].message, `echo ${pid} ${pid}`);
  });
});

Deno.test("runShellCommand() answers INVALID for an unknown command, listing the available ones", async () => {
  await withTask(async (sandbox, pid) => {
    const config: ShellCommandsConfig = {
      ...oneCommand("x", []),
      commands: new Map([
        ["jstack", { command: ["jstack", "{PID}"], options: new Map() }],
        ["lsof", { command: ["lsof", "-p", "{PID}"], options: new Map() }],
      ]),
    };
    assert.deepEqual(summary(await run(request("jmap"), { sandbox, pid }, config)), [{
      updateType: "INVALID",
      message:
        '"jmap" command not found. If this command was added or modified after the task launched, then the task ' +
        "must be restarted to find it. Currently available commands are: [jstack, lsof]",
      outputFilename: undefined,
    }]);
    assert.deepEqual([...Deno.readDirSync(sandbox)], []);
  });
});

Deno.test("runShellCommand() answers INVALID when the task has no process", async () => {
  await withTask(async (sandbox) => {
    const updates = await run(request("x"), { sandbox }, oneCommand("x", ["true"]));
    assert.deepEqual(summary(updates), [
      { updateType: "INVALID", message: "No task process found", outputFilename: undefined },
    ]);
  });
});

Deno.test("runShellCommand() names the output file from logfileName or the sanitised name, inside the sandbox", async () => {
  await withTask(async (sandbox, pid) => {
    const outputFilenameOf = async (name: string, logfileName?: string) => {
      const config = oneCommand(name, ["true"]);
      const updates = await run(
        request(name, logfileName === undefined ? {} : { logfileName }),
        { sandbox, pid },
        config,
      );
      return updates[0].outputFilename ?? `${updates[0].updateType}: ${updates[0].message}`;
    };
    assert.equal(
      await outputFilenameOf("Thread Dump/All\tNow"),
      `executor.commands.thread-dump-all-now.${TIMESTAMP}.log`,
    );
    assert.equal(await outputFilenameOf("Thread Dump", "dump"), `executor.commands.dump.${TIMESTAMP}.log`);
    assert.equal(await outputFilenameOf("x", "a$&b"), `executor.commands.a$&b.${TIMESTAMP}.log`);
    assert.equal(await outputFilenameOf("x", "{TIMESTAMP}"), `executor.commands.${TIMESTAMP}.${TIMESTAMP}.log`);
    assert.ok((await Deno.stat(join(sandbox, `executor.commands.a$&b.${TIMESTAMP}.log`))).isFile);

    assert.equal(
      await outputFilenameOf("x", "/../../../etc/x"),
      'INVALID: Output file "executor.commands./../../../etc/x.1500000000000.log" is outside the task sandbox',
    );
    // Through a directory link that leaves the sandbox, or onto a link the task planted.
    const outside = await Deno.makeTempDir({ prefix: "shell-outside-" });
    try {
      await Deno.symlink(outside, join(sandbox, "executor.commands.out"));
      assert.equal(
        await outputFilenameOf("x", "out/x"),
        'INVALID: Output file "executor.commands.out/x.1500000000000.log" is outside the task sandbox',
      );
      await Deno.symlink(join(outside, "target"), join(sandbox, `executor.commands.planted.${TIMESTAMP}.log`));
      assert.equal(
        await outputFilenameOf("planted"),
        'INVALID: Output file "executor.commands.planted.1500000000000.log" exists and is not a regular file',
      );
      assert.deepEqual([...Deno.readDirSync(outside)], []);
    } finally {
      await Deno.remove(outside, { recursive: true });
    }
  });
});

Deno.test("runShellCommand() reports a command's exit code as FINISHED, and FAILED when it cannot start", async () => {
  await withTask(async (sandbox, pid) => {
    const exits = await run(request("exit"), { sandbox, pid }, oneCommand("exit", ["bash", "-c", "exit 3"]));
    assert.deepEqual(summary(exits).map((update) => update.updateType), ["ACKED", "STARTED", "FINISHED"]);
    assert.equal(exits[2].message, "Finished with code 3");

    const killed = await run(request("kill"), { sandbox, pid }, oneCommand("kill", ["bash", "-c", "kill -KILL $$"]));
    assert.equal(killed.at(-1)?.message, "Finished with code 137");

    const missing = await run(request("gone"), { sandbox, pid }, oneCommand("gone", ["/nonexistent/bin/tool", "-x"]));
    assert.deepEqual(summary(missing).map((update) => update.updateType), ["ACKED", "FAILED"]);
    assert.match(missing[1].message ?? "", /^Failed - NotFound \(Failed to spawn '\/nonexistent\/bin\/tool': .+\)$/);
    // As in the original, the header is written before the start fails.
    const output = await Deno.readTextFile(join(sandbox, `executor.commands.gone.${TIMESTAMP}.log`));
    assert.equal(HEADER.exec(output)?.[1], "/nonexistent/bin/tool -x");

    // An output file in a directory that does not exist cannot be written.
    const nowhere = await run(request("x", { logfileName: "no/such" }), { sandbox, pid }, oneCommand("x", ["true"]));
    assert.deepEqual(summary(nowhere).map((update) => update.updateType), ["ACKED", "FAILED"]);
    assert.match(nowhere[1].message ?? "", /^Failed - NotFound \(.+\)$/);
  });
});

Deno.test("runShellCommand() stops the command when its signal aborts, and survives a failing send", async () => {
  await withTask(async (sandbox, pid) => {
    const abort = new AbortController();
    const config = oneCommand("sleep", ["sleep", "30"]);
    const running = run(request("sleep"), { sandbox, pid }, config, { signal: abort.signal });
    await new Promise((done) => setTimeout(done, 200));
    abort.abort();
    assert.equal((await running).at(-1)?.message, "Finished with code 143");

    const logged: string[] = [];
    const last = await runShellCommand(request("true"), { sandbox, pid, user: "webapp" }, {
      config: oneCommand("true", ["true"]),
      send: () => Promise.reject(new Error("agent unreachable")),
      log: (line) => logged.push(line),
    });
    assert.equal(last.message, "Finished with code 0");
    assert.ok(
      logged.includes("shell command true (1500000000000): sending the ACKED update failed: agent unreachable"),
    );
  });
});

Deno.test("parseFrameworkMessage() reads a shell command request, with or without @class", () => {
  const taskId = { id: TASK_ID.id, requestId: "web", deployId: "d1", startedAt: 1428000000000, instanceNo: 1 };
  const withClass = parseFrameworkMessage(new TextEncoder().encode(JSON.stringify({
    "@class": ".SingularityTaskShellCommandRequest",
    taskId: { ...taskId, host: "agent-1", rackId: "rack-a", unknownField: true },
    user: "ops",
    timestamp: TIMESTAMP,
    shellCommand: { name: "jstack", options: ["force"], user: "ops", logfileName: "dump", extra: 1 },
  })));
  assert.deepEqual(withClass, {
    type: "shell-command",
    request: {
      taskId: TASK_ID,
      user: "ops",
      timestamp: TIMESTAMP,
      shellCommand: { name: "jstack", options: ["force"], user: "ops", logfileName: "dump" },
    },
  });
  const withoutClass = parseFrameworkMessage(new TextEncoder().encode(JSON.stringify({
    taskId: { id: TASK_ID.id },
    user: null,
    timestamp: TIMESTAMP,
    shellCommand: { name: "lsof", options: null, logfileName: null },
  })));
  assert.deepEqual(withoutClass, {
    type: "shell-command",
    request: { taskId: TASK_ID, timestamp: TIMESTAMP, shellCommand: { name: "lsof", options: [] } },
  });
  const fullName = parseFrameworkMessage(new TextEncoder().encode(JSON.stringify({
    "@class": "com.hubspot.singularity.SingularityTaskShellCommandRequest",
    taskId: { id: TASK_ID.id },
    timestamp: 1,
    shellCommand: { name: "lsof" },
  })));
  assert.equal(fullName.type, "shell-command");
});

Deno.test("parseFrameworkMessage() reads a destroy message", () => {
  const destroy = (body: Record<string, unknown>) =>
    parseFrameworkMessage(new TextEncoder().encode(JSON.stringify({
      "@class": ".SingularityTaskDestroyFrameworkMessage",
      taskId: { id: TASK_ID.id },
      ...body,
    })));
  assert.deepEqual(destroy({ user: "ops" }), { type: "destroy", taskId: TASK_ID, user: "ops" });
  assert.deepEqual(destroy({ user: null }), { type: "destroy", taskId: TASK_ID });
  assert.deepEqual(
    parseFrameworkMessage(new TextEncoder().encode(JSON.stringify({
      "@class": "com.hubspot.singularity.SingularityTaskDestroyFrameworkMessage",
      taskId: { id: TASK_ID.id },
    }))),
    { type: "destroy", taskId: TASK_ID },
  );
});

Deno.test("parseFrameworkMessage() says what is wrong with garbage and malformed messages", () => {
  const parse = (data: string | Uint8Array) =>
    parseFrameworkMessage(typeof data === "string" ? new TextEncoder().encode(data) : data);
  const invalid = (error: string) => ({ type: "invalid", error });
  assert.deepEqual(
    parse(new Uint8Array([0xff, 0xfe, 0x00, 0x7b])),
    invalid("framework message of 4 bytes is not UTF-8 text"),
  );
  assert.match((parse("kill it") as { error: string }).error, /^framework message of 7 bytes is not JSON: /);
  assert.deepEqual(parse("[1,2]"), invalid("framework message: expected a JSON object, got [1,2]"));
  assert.deepEqual(parse("null"), invalid("framework message: expected a JSON object, got null"));
  assert.deepEqual(
    parse('{"@class":".SingularityTaskCleanup","taskId":{}}'),
    invalid(
      'framework message: unknown @class ".SingularityTaskCleanup" (expected .SingularityTaskShellCommandRequest ' +
        "or .SingularityTaskDestroyFrameworkMessage)",
    ),
  );
  assert.deepEqual(
    parse('{"@class":".SingularityTaskDestroyFrameworkMessage"}'),
    invalid("framework message .SingularityTaskDestroyFrameworkMessage: taskId: expected an object, got nothing"),
  );
  const noClass = "framework message (no @class, read as a shell command request)";
  const id = `{"id":"${TASK_ID.id}"}`;
  assert.deepEqual(
    parse(`{"taskId":${id},"shellCommand":{"name":"x"}}`),
    invalid(`${noClass}: timestamp: expected milliseconds since the epoch, got nothing`),
  );
  assert.deepEqual(
    parse(`{"taskId":${id},"timestamp":1}`),
    invalid(`${noClass}: shellCommand: expected an object, got nothing`),
  );
  assert.deepEqual(
    parse(`{"taskId":${id},"timestamp":1,"shellCommand":{"name":""}}`),
    invalid(`${noClass}: shellCommand.name: expected a non-empty string, got ""`),
  );
  assert.deepEqual(
    parse(`{"taskId":${id},"timestamp":1,"shellCommand":{"name":"x","options":"force"}}`),
    invalid(`${noClass}: shellCommand.options: expected an array of strings, got "force"`),
  );
  assert.deepEqual(
    parse(`{"taskId":${id},"timestamp":1,"shellCommand":{"name":"x","logfileName":7}}`),
    invalid(`${noClass}: shellCommand.logfileName: expected a string, got 7`),
  );
  assert.deepEqual(
    parse(`{"taskId":{"id":"nope"},"timestamp":1,"shellCommand":{"name":"x"}}`),
    invalid(
      `${noClass}: taskId.id: task id "nope": expected <requestId>-<deployId>-<startedAt>-<instanceNo>-` +
        '<sanitizedHost>-<sanitizedRackId> (6 parts separated by "-"), got 1 part',
    ),
  );
});

Deno.test("encodeShellCommandUpdate() writes the JSON Singularity's scheduler reads", () => {
  const shellRequestId = { taskId: TASK_ID, name: "jstack", timestamp: TIMESTAMP };
  const taskId = {
    id: TASK_ID.id,
    requestId: "web",
    deployId: "d1",
    startedAt: 1428000000000,
    instanceNo: 1,
    host: "agent_1",
    sanitizedHost: "agent_1",
    sanitizedRackId: "rack_a",
    rackId: "rack_a",
  };
  const acked = encodeShellCommandUpdate({
    shellRequestId,
    timestamp: 1500000000123,
    message: "jstack -l 42",
    outputFilename: "executor.commands.jstack.1500000000000.log",
    updateType: "ACKED",
  });
  assert.equal(
    new TextDecoder().decode(acked),
    JSON.stringify({
      shellRequestId: { taskId, name: "jstack", timestamp: TIMESTAMP },
      timestamp: 1500000000123,
      message: "jstack -l 42",
      outputFilename: "executor.commands.jstack.1500000000000.log",
      updateType: "ACKED",
    }),
  );
  const finished = encodeShellCommandUpdate({ shellRequestId, timestamp: 1, updateType: "FINISHED" });
  assert.deepEqual(JSON.parse(new TextDecoder().decode(finished)), {
    shellRequestId: { taskId, name: "jstack", timestamp: TIMESTAMP },
    timestamp: 1,
    updateType: "FINISHED",
  });
});
