import assert from "node:assert/strict";
import { join } from "node:path";
import {
  bashEscaped,
  deployEnv,
  type EnvironmentVariable,
  runnerScript,
  RunnerScriptError,
  type RunnerScriptOptions,
  writeRunnerScripts,
} from "../../lib/executor/runner_script.ts";

const TEST_USER = "sgtest";
const HOME_OF_RUNNER = "/nonexistent/runner-home";
const PATH = "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin";
/** What the task writes into its working directory: environment (NUL-separated), user, soft open-files limit, ids. */
const PROBE = "env -0 > env.out; id -un > user.out; ulimit -Sn > ulimit.out; ps -o pgid=,sid= -p $$ > ids.out; " +
  "echo to-stdout; echo to-stderr >&2";
const decoder = new TextDecoder();

/** Hostile values and what the task must see for each. */
const HOSTILE: { name: string; value?: string; expected: string }[] = [
  { name: "DOUBLE_QUOTE", value: 'a"b', expected: 'a"b' },
  { name: "SINGLE_QUOTE", value: "it's", expected: "it's" },
  { name: "BACKTICKS", value: "back`tick` `id`", expected: "back`tick` `id`" },
  { name: "BANG", value: "!event", expected: "!event" },
  { name: "BANGS", value: "a!!b !$ !-1 '!'", expected: "a!!b !$ !-1 '!'" },
  { name: "HOME_REFERENCE", value: "$HOME", expected: HOME_OF_RUNNER },
  { name: "BRACED_REFERENCE", value: "${HOME}/bin", expected: `${HOME_OF_RUNNER}/bin` },
  { name: "BACKSLASHES", value: 'a\\b\\\\c\\n\\t\\"', expected: 'a\\b\\\\c\\n\\t\\"' },
  { name: "BACKSLASH_DOLLAR", value: "\\$HOME", expected: `\\${HOME_OF_RUNNER}` },
  { name: "LONE_DOLLARS", value: "5$ and $ alone$", expected: "5$ and $ alone$" },
  { name: "NEWLINE", value: "line one\nline two", expected: "line one\nline two" },
  { name: "BACKSLASH_NEWLINE", value: "a\\\nb", expected: "a\\\nb" },
  { name: "CONTROL", value: "tab\there\rcr", expected: "tab\there\rcr" },
  { name: "UNICODE", value: "héllo ✓ 日本語 🚀", expected: "héllo ✓ 日本語 🚀" },
  { name: "EMPTY", value: "", expected: "" },
  { name: "ABSENT", expected: "" },
  { name: "TRAILING_BACKSLASH", value: "ends with\\", expected: "ends with\\" },
  { name: "SHELL_SYNTAX", value: "x; touch injected # not a comment", expected: "x; touch injected # not a comment" },
  { name: "FIRST", value: "one", expected: "one" },
  { name: "BUILDS_ON_FIRST", value: "$FIRST-two", expected: "one-two" },
  { name: "TWICE", value: "first", expected: "second" },
  { name: "TWICE", value: "second", expected: "second" },
];

function options(overrides: Partial<RunnerScriptOptions> = {}): RunnerScriptOptions {
  return {
    taskId: "web-deploy1-1700000000000-0-host-rack",
    environment: [],
    user: "root",
    executorUser: "root",
    cmd: PROBE,
    appDirectory: "app",
    logsDirectory: "logs",
    serviceLog: "service.log",
    ...overrides,
  };
}

/** Creates the test user once (a system user without home), as the agent's task users exist. */
async function ensureTestUser(): Promise<number> {
  const id = async () =>
    await new Deno.Command("id", { args: ["-u", TEST_USER], stdout: "piped", stderr: "null" }).output();
  let found = await id();
  if (!found.success) {
    const added = await new Deno.Command("useradd", {
      args: ["--system", "--no-create-home", "--shell", "/usr/sbin/nologin", TEST_USER],
      stderr: "piped",
    }).output();
    // 9: created meanwhile by another test.
    if (!added.success && added.code !== 9) throw new Error(`useradd ${TEST_USER}: ${decoder.decode(added.stderr)}`);
    found = await id();
  }
  return Number(decoder.decode(found.stdout).trim());
}

/** A sandbox (0700, root's, like a Mesos one), with optional system profile.d and app/.profile.d files. */
async function sandboxWith(files: { profile?: Record<string, string>; appProfile?: Record<string, string> } = {}) {
  const sandbox = await Deno.makeTempDir({ prefix: "runner-sandbox-" });
  const profileDirectory = await Deno.makeTempDir({ prefix: "runner-profile.d-" });
  for (const [name, text] of Object.entries(files.profile ?? {})) {
    await Deno.writeTextFile(join(profileDirectory, name), text);
  }
  if (files.appProfile) {
    await Deno.mkdir(join(sandbox, "app", ".profile.d"), { recursive: true });
    for (const [name, text] of Object.entries(files.appProfile)) {
      await Deno.writeTextFile(join(sandbox, "app", ".profile.d", name), text);
    }
  }
  return {
    sandbox,
    profileDirectory,
    app: (name: string) => join(sandbox, "app", name),
    read: (name: string) => Deno.readTextFile(join(sandbox, name)),
    async [Symbol.asyncDispose]() {
      await Deno.remove(sandbox, { recursive: true });
      await Deno.remove(profileDirectory, { recursive: true });
    },
  };
}

/** Runs `bash runner.sh` in the sandbox as the executor does: new session (setsid), minimal environment. */
async function runRunner(sandbox: string) {
  const child = new Deno.Command("bash", {
    args: ["runner.sh"],
    cwd: sandbox,
    clearEnv: true,
    env: { PATH, HOME: HOME_OF_RUNNER },
    detached: true,
    stdin: "null",
    stdout: "piped",
    stderr: "piped",
  }).spawn();
  const output = await child.output();
  return {
    pid: child.pid,
    code: output.code,
    bashLog: decoder.decode(output.stdout) + decoder.decode(output.stderr),
  };
}

/** The NUL-separated output of `env -0` as a map. */
async function readEnv(path: string): Promise<Map<string, string>> {
  const entries = (await Deno.readTextFile(path)).split("\0").filter((entry) => entry !== "");
  return new Map(entries.map((entry) => [entry.slice(0, entry.indexOf("=")), entry.slice(entry.indexOf("=") + 1)]));
}

function assertHostileValues(env: Map<string, string>): void {
  for (const { name, expected } of HOSTILE) assert.equal(env.get(name), expected, name);
}

function hostileEnvironment(): EnvironmentVariable[] {
  return HOSTILE.map(({ name, value }) => value === undefined ? { name } : { name, value });
}

function modeOf(info: Deno.FileInfo): number {
  return (info.mode ?? 0) & 0o7777;
}

Deno.test("bashEscaped() writes values as the originals' bashEscaped helper", () => {
  assert.equal(bashEscaped(undefined), '""');
  assert.equal(bashEscaped(""), '""');
  assert.equal(bashEscaped('a"b'), '"a\\"b"');
  assert.equal(bashEscaped("it's"), `"it's"`);
  assert.equal(bashEscaped("back`tick`"), '"back\\`tick\\`"');
  assert.equal(bashEscaped("!event"), `""'!'"event"`);
  assert.equal(bashEscaped("$HOME/x"), '"$HOME/x"');
  assert.equal(bashEscaped("ends\\"), '"ends\\\\"');
  assert.equal(bashEscaped("a\nb"), '"a\nb"');
  assert.equal(bashEscaped("日本 🚀"), '"日本 🚀"');
});

Deno.test("deployEnv() writes a header and one export per variable, in order", () => {
  const text = deployEnv({
    taskId: "web-1",
    environment: [{ name: "PORT", value: "31000" }, { name: "GREETING", value: 'say "hi"!' }, { name: "EMPTY" }],
  });
  assert.equal(
    text,
    [
      "# This file was automatically generated.",
      "# Task ID: web-1",
      "#",
      "# The task's Mesos environment, sourced by runner.sh. Values are in double quotes:",
      '# `$NAME` and `$(...)` in a value expand when this file is sourced; \\ " ` and ! are literal.',
      "",
      'export PORT="31000"',
      `export GREETING="say \\"hi\\""'!'""`,
      'export EMPTY=""',
      "",
    ].join("\n"),
  );
});

Deno.test("deployEnv() refuses names that are not shell identifiers, naming the variable", () => {
  for (const name of ["1ABC", "A-B", "A B", "", "ÄPFEL", "A=B", "A\nB", "$A"]) {
    assert.throws(
      () => deployEnv({ taskId: "t", environment: [{ name: "GOOD", value: "1" }, { name, value: "x" }] }),
      (error: Error) =>
        error instanceof RunnerScriptError &&
        error.message.startsWith(`environment variable ${JSON.stringify(name)}: not a valid shell variable name`),
      name,
    );
  }
  assert.throws(
    () => deployEnv({ taskId: "t", environment: [{ name: "NUL", value: "a\0b" }] }),
    /environment variable NUL: the value contains a NUL byte/,
  );
});

Deno.test("writeRunnerScripts() writes nothing when a variable is refused", async () => {
  await using box = await sandboxWith();
  await assert.rejects(
    writeRunnerScripts(
      box.sandbox,
      options({ environment: [{ name: "OK", value: "1" }, { name: "NOT-OK", value: "" }] }),
    ),
    /environment variable "NOT-OK"/,
  );
  assert.deepEqual(await Array.fromAsync(Deno.readDir(box.sandbox)), []);
});

Deno.test("writeRunnerScripts() writes deploy.env 0644 and runner.sh 0755 and leaves no temporary file", async () => {
  await using box = await sandboxWith();
  const previous = Deno.umask(0o077);
  try {
    const paths = await writeRunnerScripts(box.sandbox, options());
    assert.deepEqual(paths, {
      deployEnv: join(box.sandbox, "deploy.env"),
      runnerScript: join(box.sandbox, "runner.sh"),
    });
    await Deno.writeTextFile(paths.deployEnv, "stale");
    await writeRunnerScripts(box.sandbox, options());
  } finally {
    Deno.umask(previous);
  }
  assert.equal(modeOf(await Deno.stat(join(box.sandbox, "deploy.env"))), 0o644);
  assert.equal(modeOf(await Deno.stat(join(box.sandbox, "runner.sh"))), 0o755);
  assert.match(await box.read("deploy.env"), /^# This file was automatically generated\./);
  const names = (await Array.fromAsync(Deno.readDir(box.sandbox))).map((entry) => entry.name).sort();
  assert.deepEqual(names, ["deploy.env", "runner.sh"]);
});

Deno.test("runnerScript() switches user and changes owners only when it should", () => {
  const same = runnerScript(options({ user: "root", executorUser: "root" }));
  assert.doesNotMatch(same, /sudo|chown|chgrp/);
  assert.match(same, /^exec \/bin\/bash -c -- "\$runner_command" >> '..\/service.log' 2>&1$/m);

  const asRoot = runnerScript(options({ user: "www", executorUser: "root" }));
  assert.match(asRoot, /^exec sudo -E -u 'www' \/bin\/bash -c -- "\$runner_command" >> '..\/service.log' 2>&1$/m);
  assert.match(asRoot, /^chown -R -- 'www' '?app'? /m);
  assert.match(asRoot, /^chown -R -- 'www' \.\/tmp /m);
  assert.match(asRoot, /^chown -R -- 'www' 'logs' /m);

  // A non-root executor switches through sudo but cannot chown: those steps are left out.
  const notRoot = runnerScript(options({ user: "www", executorUser: "deploy" }));
  assert.match(notRoot, /^exec sudo -E -u 'www' /m);
  assert.doesNotMatch(notRoot, /chown|chgrp/);

  const sameNotRoot = runnerScript(options({ user: "deploy", executorUser: "deploy" }));
  assert.doesNotMatch(sameNotRoot, /sudo|chown|chgrp/);
});

Deno.test("runnerScript() follows the originals' order and never starts a session of its own", () => {
  const text = runnerScript(options({ profileDirectory: "/etc/profile.d", taskId: "it's\na task" }));
  assert.match(text, /^#!\/bin\/bash\n#\n# This script was automatically generated\.\n# Task ID: it's\?a task\n/);
  assert.match(text, /^export MESOS_TASK_ID='it'\\''s\na task'$/m);
  const steps = [
    "for runner_profile in '/etc/profile.d'/*.sh",
    "source ./deploy.env",
    "mkdir ./tmp",
    "mkdir -p -- 'logs'",
    "mkdir -p -- 'app'",
    "cd -- 'app'",
    "for runner_profile in .profile.d/*",
    "exec /bin/bash",
  ];
  const positions = steps.map((step) => text.indexOf(step));
  assert.ok(positions.every((position) => position >= 0), `${positions}`);
  assert.deepEqual(positions, [...positions].sort((a, b) => a - b));
  assert.doesNotMatch(text, /^\s*(setsid|set -m|set -e)\b/m);
});

Deno.test("runnerScript() puts the service log relative to the app directory", () => {
  assert.match(
    runnerScript(options({ appDirectory: "deep/app/", serviceLog: "service.log" })),
    />> '..\/..\/service.log' 2>&1$/m,
  );
  assert.match(runnerScript(options({ appDirectory: "app", serviceLog: "logs2/out.log" })), />> '..\/logs2\/out.log'/m);
});

Deno.test("runnerScript() refuses options it cannot write safely, naming the field", () => {
  const cases: [Partial<RunnerScriptOptions>, RegExp][] = [
    [{ maxOpenFiles: 0 }, /^maxOpenFiles = 0: expected a whole number of at least 1$/],
    [{ maxOpenFiles: 1.5 }, /^maxOpenFiles = 1.5/],
    [{ user: "" }, /^user "": expected a user name/],
    [{ user: "-rf" }, /^user "-rf": expected a user name/],
    [{ user: "www:adm" }, /^user "www:adm"/],
    [{ user: "two words" }, /^user "two words"/],
    [{ executorUser: "" }, /^executorUser "": expected a user name/],
    [{ appDirectory: "/abs" }, /^appDirectory "\/abs": expected a path inside the sandbox/],
    [{ appDirectory: "../escape" }, /^appDirectory "..\/escape"/],
    [{ appDirectory: "." }, /^appDirectory "."/],
    [{ logsDirectory: "" }, /^logsDirectory ""/],
    [{ serviceLog: "a/../../x" }, /^serviceLog "a\/..\/..\/x"/],
    [{ cmd: "a\0b" }, /^cmd "a\\u0000b": contains a NUL byte$/],
  ];
  for (const [overrides, message] of cases) {
    assert.throws(
      () => runnerScript(options(overrides)),
      (error: Error) => error instanceof RunnerScriptError && message.test(error.message),
      JSON.stringify(overrides),
    );
  }
});

Deno.test("runner.sh: hostile values reach the task byte for byte; $ references expand", async () => {
  await using box = await sandboxWith();
  await writeRunnerScripts(
    box.sandbox,
    options({
      taskId: `task "it's" $HOME`,
      environment: hostileEnvironment(),
      cmd: "env -0 > env.out;",
      extraCmdLineArgs: ["echo", "extra   args"],
      profileDirectory: box.profileDirectory,
    }),
  );
  const run = await runRunner(box.sandbox);
  assert.equal(run.code, 0, run.bashLog);
  const env = await readEnv(box.app("env.out"));
  assertHostileValues(env);
  assert.equal(env.get("MESOS_TASK_ID"), `task "it's" $HOME`);
  assert.equal(await box.read("service.log"), "extra args\n");
  assert.equal(await Deno.stat(join(box.sandbox, "injected")).catch(() => "absent"), "absent");
  assert.equal(await Deno.stat(box.app("injected")).catch(() => "absent"), "absent");
});

Deno.test("runner.sh without switching user: app/ as cwd, service.log, tmp/ and logs/, ulimit, session", async () => {
  await using box = await sandboxWith();
  await writeRunnerScripts(box.sandbox, options({ maxOpenFiles: 1234, profileDirectory: box.profileDirectory }));
  const run = await runRunner(box.sandbox);
  assert.equal(run.code, 0, run.bashLog);
  assert.equal((await Deno.readTextFile(box.app("user.out"))).trim(), "root");
  assert.equal((await Deno.readTextFile(box.app("ulimit.out"))).trim(), "1234");
  assert.equal(await box.read("service.log"), "to-stdout\nto-stderr\n");
  assert.equal(modeOf(await Deno.stat(join(box.sandbox, "tmp"))), 0o750);
  assert.equal(modeOf(await Deno.stat(join(box.sandbox, "logs"))), 0o755);
  // The task stays in the session and process group the executor started runner.sh in.
  assert.deepEqual((await Deno.readTextFile(box.app("ids.out"))).trim().split(/\s+/).map(Number), [run.pid, run.pid]);
  assert.match(run.bashLog, /Executing with \/bin\/bash -c, output >> \.\.\/service\.log:\n/);
});

Deno.test("runner.sh keeps the inherited open-files limit without maxOpenFiles, and passes the exit code", async () => {
  await using box = await sandboxWith();
  await writeRunnerScripts(box.sandbox, options({ cmd: `${PROBE}; exit 7`, profileDirectory: box.profileDirectory }));
  const run = await runRunner(box.sandbox);
  assert.equal(run.code, 7, run.bashLog);
  const inherited = await new Deno.Command("bash", { args: ["-c", "ulimit -Sn"], stdout: "piped" }).output();
  assert.equal(await Deno.readTextFile(box.app("ulimit.out")), decoder.decode(inherited.stdout));
});

Deno.test("runner.sh runs a command line that starts with - as a command, not as bash options", async () => {
  await using box = await sandboxWith();
  await writeRunnerScripts(box.sandbox, options({ cmd: "-n", profileDirectory: box.profileDirectory }));
  const run = await runRunner(box.sandbox);
  assert.equal(run.code, 127, run.bashLog);
  assert.match(await box.read("service.log"), /-n: command not found/);
  assert.match(run.bashLog, /output >> \.\.\/service\.log:\n-n\n$/);
});

Deno.test("runner.sh sources profile.d (output discarded), then deploy.env, then app/.profile.d", async () => {
  await using box = await sandboxWith({
    profile: {
      "10-system.sh": "export FROM_SYSTEM=system OVERRIDDEN=by-profile\necho profile-noise; echo profile-noise >&2\n",
      "20-false.sh": "false\n",
      "not-a-script.txt": "export NOT_SOURCED=1\n",
    },
    appProfile: {
      "a.sh": "export FROM_APP=$FROM_DEPLOY-app\nNOT_EXPORTED=plain\n",
      "b": "export SECOND=$FROM_APP-second\n",
    },
  });
  await writeRunnerScripts(
    box.sandbox,
    options({
      environment: [{ name: "OVERRIDDEN", value: "by-deploy.env" }, { name: "FROM_DEPLOY", value: "deploy" }],
      cmd: `${PROBE}; echo "$NOT_EXPORTED" > plain.out`,
      profileDirectory: box.profileDirectory,
    }),
  );
  const run = await runRunner(box.sandbox);
  assert.equal(run.code, 0, run.bashLog);
  const env = await readEnv(box.app("env.out"));
  assert.equal(env.get("FROM_SYSTEM"), "system");
  assert.equal(env.get("OVERRIDDEN"), "by-deploy.env");
  assert.equal(env.get("NOT_SOURCED"), undefined);
  assert.equal(env.get("FROM_APP"), "deploy-app");
  assert.equal(env.get("SECOND"), "deploy-app-second");
  assert.equal((await Deno.readTextFile(box.app("plain.out"))).trim(), "plain");
  assert.doesNotMatch(run.bashLog, /profile-noise/);
  assert.match(run.bashLog, /Sourced .*10-system\.sh/);
  assert.match(run.bashLog, /Sourced \.profile\.d\/a\.sh\nSourced \.profile\.d\/b\n/);
});

Deno.test({
  name: "runner.sh switching user: runs as the user, owns its files, ulimit and single quotes through sudo",
  ignore: Deno.uid() !== 0,
  async fn() {
    const uid = await ensureTestUser();
    await using box = await sandboxWith();
    await writeRunnerScripts(
      box.sandbox,
      options({
        user: TEST_USER,
        environment: hostileEnvironment(),
        maxOpenFiles: 1234,
        cmd: `${PROBE}; echo 'it'"'"'s "quoted"' > quote.out; touch ../tmp/probe; ls ../logs > /dev/null && echo ok >`,
        extraCmdLineArgs: ["logs.out"],
        profileDirectory: box.profileDirectory,
      }),
    );
    const run = await runRunner(box.sandbox);
    assert.equal(run.code, 0, run.bashLog);
    assert.equal((await Deno.readTextFile(box.app("user.out"))).trim(), TEST_USER);
    assert.equal((await Deno.readTextFile(box.app("ulimit.out"))).trim(), "1234");
    assert.equal(await Deno.readTextFile(box.app("quote.out")), `it's "quoted"\n`);
    assert.equal(await Deno.readTextFile(box.app("logs.out")), "ok\n");
    assertHostileValues(await readEnv(box.app("env.out")));
    for (const file of ["env.out", "user.out", "ulimit.out", "quote.out", "logs.out"]) {
      assert.equal((await Deno.stat(box.app(file))).uid, uid, file);
    }
    assert.equal((await Deno.stat(join(box.sandbox, "tmp", "probe"))).uid, uid);
    const tmp = await Deno.stat(join(box.sandbox, "tmp"));
    assert.deepEqual([tmp.uid, modeOf(tmp)], [uid, 0o750]);
    const logs = await Deno.stat(join(box.sandbox, "logs"));
    assert.deepEqual([logs.uid, modeOf(logs)], [uid, 0o755]);
    assert.equal((await Deno.stat(join(box.sandbox, "app"))).uid, uid);
    // Files outside tmp/, logs/ and app/ stay the executor's.
    assert.equal((await Deno.stat(join(box.sandbox, "runner.sh"))).uid, 0);
    assert.equal((await Deno.stat(join(box.sandbox, "service.log"))).uid, 0);
    assert.equal(await box.read("service.log"), "to-stdout\nto-stderr\n");
    assert.deepEqual((await Deno.readTextFile(box.app("ids.out"))).trim().split(/\s+/).map(Number), [run.pid, run.pid]);
  },
});

Deno.test({
  name: "runner.sh switching user without maxOpenFiles keeps the inherited limit",
  ignore: Deno.uid() !== 0,
  async fn() {
    await ensureTestUser();
    await using box = await sandboxWith();
    await writeRunnerScripts(box.sandbox, options({ user: TEST_USER, profileDirectory: box.profileDirectory }));
    const run = await runRunner(box.sandbox);
    assert.equal(run.code, 0, run.bashLog);
    assert.equal((await Deno.readTextFile(box.app("user.out"))).trim(), TEST_USER);
    const inherited = await new Deno.Command("bash", { args: ["-c", "ulimit -Sn"], stdout: "piped" }).output();
    assert.equal(await Deno.readTextFile(box.app("ulimit.out")), decoder.decode(inherited.stdout));
  },
});

Deno.test({
  name: "runner.sh stops before the task when a step fails (an unknown user)",
  ignore: Deno.uid() !== 0,
  async fn() {
    await using box = await sandboxWith();
    await writeRunnerScripts(
      box.sandbox,
      options({ user: "no-such-user-sgtest", profileDirectory: box.profileDirectory }),
    );
    const run = await runRunner(box.sandbox);
    assert.equal(run.code, 1);
    assert.match(run.bashLog, /runner\.sh: id -g no-such-user-sgtest failed; the task is not started\n$/);
    assert.equal(await Deno.stat(box.app("env.out")).catch(() => "absent"), "absent");
  },
});

Deno.test("runner.sh applies a maxOpenFiles above the hard limit as a task failure", async () => {
  await using box = await sandboxWith();
  await writeRunnerScripts(box.sandbox, options({ maxOpenFiles: 2 ** 40, profileDirectory: box.profileDirectory }));
  const run = await runRunner(box.sandbox);
  assert.notEqual(run.code, 0);
  assert.match(await box.read("service.log"), /ulimit/);
  assert.equal(await Deno.stat(box.app("env.out")).catch(() => "absent"), "absent");
});
