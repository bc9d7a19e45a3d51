import assert from "node:assert/strict";
import { join, resolve } from "node:path";
import { install, uninstall } from "../../lib/packaging/install.ts";

const projectDir = resolve(import.meta.dirname!, "../..");

/** A staging root whose configuration points inside it (as the demo does). */
async function stagedRoot(): Promise<{ root: string; etc: string; dirs: Record<string, string> }> {
  const root = await Deno.makeTempDir({ prefix: "install-test-" });
  const etc = join(root, "etc");
  await Deno.mkdir(etc, { recursive: true });
  const dirs = {
    log: join(root, "var/log/singularity"),
    metadata: join(root, "var/lib/singularity/s3uploader"),
    tasks: join(root, "var/lib/singularity/tasks"),
    cache: join(root, "var/cache/singularity/artifacts"),
    results: join(root, "var/lib/singularity/cleanup"),
    logrotate: join(root, "etc/logrotate.d"),
    work: join(root, "var/lib/mesos"),
  };
  await Deno.writeTextFile(
    join(etc, "singularity.base.properties"),
    [
      `root.log.directory=${dirs.log}`,
      `s3uploader.metadata.directory=${dirs.metadata}`,
      `mesos.work.directory=${dirs.work}`,
    ].join("\n") + "\n",
  );
  await Deno.writeTextFile(
    join(etc, "singularity.s3base.properties"),
    `artifact.cache.directory=${dirs.cache}\ns3.endpoint=http://127.0.0.1:7480\ns3.access.key=test\ns3.secret.key=test\n`,
  );
  await Deno.writeTextFile(
    join(etc, "singularity.executor.properties"),
    `executor.global.task.definition.directory=${dirs.tasks}\nexecutor.logrotate.config.folder=${dirs.logrotate}\nexecutor.default.user=root\n`,
  );
  await Deno.writeTextFile(
    join(etc, "singularity.executor.cleanup.properties"),
    `executor.cleanup.results.directory=${dirs.results}\nsingularity.hosts=127.0.0.1:7099\n`,
  );
  return { root, etc, dirs };
}

/** Every file under `dir` with its bytes and modification time. */
async function snapshot(dir: string): Promise<Map<string, string>> {
  const files = new Map<string, string>();
  const walk = async (path: string) => {
    for await (const entry of Deno.readDir(path)) {
      const full = join(path, entry.name);
      if (entry.isDirectory) {
        await walk(full);
        files.set(full, "dir");
      } else {
        const info = await Deno.stat(full);
        const digest = entry.name === "deno" ? String(info.size) : new TextDecoder().decode(await Deno.readFile(full));
        files.set(full, `${info.mtime?.getTime()} ${info.mode} ${digest}`);
      }
    }
  };
  await walk(dir);
  return files;
}

async function run(command: string, args: string[]): Promise<{ code: number; stdout: string; stderr: string }> {
  const output = await new Deno.Command(command, { args, stdout: "piped", stderr: "piped" }).output();
  const decoder = new TextDecoder();
  return { code: output.code, stdout: decoder.decode(output.stdout), stderr: decoder.decode(output.stderr) };
}

Deno.test("install() lays out programs, property files, directories and system files; a second run changes nothing", async () => {
  const { root, etc, dirs } = await stagedRoot();
  try {
    const edited = "# operator's own file\ns3uploader.max.upload.threads=7\n";
    await Deno.writeTextFile(join(etc, "singularity.s3uploader.properties"), edited);
    const first = await install({ projectDir, root });
    const states = new Map(first.map((change) => [change.path, change.state]));
    assert.equal(states.get(join(etc, "singularity.s3uploader.properties")), "kept");
    assert.equal(states.get(join(etc, "singularity.s3downloader.properties")), "created");
    for (const dir of [dirs.log, dirs.metadata, dirs.tasks, dirs.cache, dirs.results]) {
      assert.ok((await Deno.stat(dir)).isDirectory, `${dir} was created`);
    }
    for (
      const binary of [
        "singularity-executor",
        "singularity-executor-cleanup",
        "singularity-s3-uploader",
        "singularity-s3-downloader",
      ]
    ) {
      const help = await run(join(root, "usr/local/bin", binary), ["--help"]);
      assert.equal(help.code, 0, help.stderr);
      assert.match(help.stdout, new RegExp(`^usage: ${binary} `));
    }
    assert.equal(
      await Deno.readTextFile(join(root, "etc/cron.d/singularity-executor-cleanup")),
      "# singularity-executor-cleanup: finishes tasks whose executor died. Installed by scripts/install.ts.\n" +
        "# Its own log is in root.log.directory; each run writes a results file to executor.cleanup.results.directory.\n" +
        "0 * * * * root /usr/local/bin/singularity-executor-cleanup > /dev/null 2>&1\n",
    );
    const unit = await Deno.readTextFile(join(root, "etc/systemd/system/singularity-s3-uploader.service"));
    assert.match(unit, /^ExecStart=\/usr\/local\/bin\/singularity-s3-uploader$/m);
    assert.match(unit, /^Restart=on-failure$/m);
    const template = await Deno.readTextFile(join(etc, "singularity.s3downloader.properties"));
    assert.match(template, /^#s3downloader\.downloader\.threads=25$/m);

    const before = await snapshot(root);
    const second = await install({ projectDir, root });
    assert.deepEqual(second.filter((change) => !["unchanged", "kept"].includes(change.state)), []);
    assert.deepEqual(await snapshot(root), before);
    assert.equal(await Deno.readTextFile(join(etc, "singularity.s3uploader.properties")), edited);
  } finally {
    await Deno.remove(root, { recursive: true });
  }
});

Deno.test("install() --dry-run changes nothing, and uninstall() keeps property files and data", async () => {
  const { root, etc, dirs } = await stagedRoot();
  try {
    const before = await snapshot(root);
    const planned = await install({ projectDir, root, dryRun: true });
    assert.ok(planned.some((change) => change.path === join(root, "usr/local/bin/singularity-executor")));
    assert.ok(planned.some((change) => change.path === dirs.cache && change.state === "created"));
    assert.deepEqual(await snapshot(root), before);

    await install({ projectDir, root });
    const removed = await uninstall({ projectDir, root });
    assert.ok(removed.some((change) => change.path === join(root, "usr/local/bin/singularity-s3-uploader")));
    await assert.rejects(Deno.stat(join(root, "usr/local/lib/singularity")), Deno.errors.NotFound);
    await assert.rejects(Deno.stat(join(root, "etc/cron.d/singularity-executor-cleanup")), Deno.errors.NotFound);
    assert.ok((await Deno.stat(join(etc, "singularity.base.properties"))).isFile);
    assert.ok((await Deno.stat(dirs.tasks)).isDirectory);
  } finally {
    await Deno.remove(root, { recursive: true });
  }
});

Deno.test("installed launchers run in place and after the tree is copied, and refuse what their set does not grant", async () => {
  const { root, etc, dirs } = await stagedRoot();
  const copy = await Deno.makeTempDir({ prefix: "install-copy-" });
  try {
    await install({ projectDir, root });
    const uploader = join(root, "usr/local/bin/singularity-s3-uploader");
    const inPlace = await run(uploader, ["--print-config"]);
    assert.equal(inPlace.code, 0, inPlace.stderr);
    assert.match(inPlace.stdout, new RegExp(`^read    ${etc}/singularity.base.properties$`, "m"));
    assert.match(inPlace.stdout, /^s3\.secret\.key=\(OMITTED\) {2}\(/m);
    assert.match(inPlace.stdout, /^s3uploader\.max\.upload\.threads=25 {2}\(default\)$/m);

    // Another configuration directory is outside the launcher's read set.
    const elsewhere = await Deno.makeTempDir({ prefix: "install-elsewhere-" });
    await Deno.writeTextFile(join(elsewhere, "singularity.base.properties"), "root.log.directory=/tmp\n");
    const refused = await run(uploader, ["--print-config", "--config-dir", elsewhere]);
    await Deno.remove(elsewhere, { recursive: true });
    assert.equal(refused.code, 1);
    assert.equal(
      refused.stderr.trim(),
      `singularity-s3-uploader: ${elsewhere}/singularity.base.properties: cannot read configuration: ` +
        "outside this program's permission set (read)",
    );

    // A directory added to the configuration after install is outside the set: refused before any work.
    const laterDir = join(root, "var/lib/singularity/added-later");
    await Deno.mkdir(laterDir, { recursive: true });
    await Deno.writeTextFile(
      join(etc, "singularity.s3uploader.properties"),
      `s3uploader.metadata.directory=${laterDir}\n`,
    );
    const outside = await run(uploader, []);
    assert.equal(outside.code, 1);
    assert.match(
      outside.stderr,
      new RegExp(
        `s3uploader\\.metadata\\.directory = "${laterDir}": outside this program's permission set ` +
          `\\(it must exist before singularity-s3-uploader starts\\)`,
      ),
    );
    await Deno.remove(join(etc, "singularity.s3uploader.properties"));

    // The staged tree, copied elsewhere, finds its bundle, runtime and configuration relative to itself.
    const copied = await run("cp", ["-a", `${root}/.`, copy]);
    assert.equal(copied.code, 0, copied.stderr);
    await Deno.remove(join(root, "usr/local/lib/singularity"), { recursive: true });
    const moved = await run(join(copy, "usr/local/bin/singularity-s3-uploader"), ["--print-config"]);
    assert.equal(moved.code, 0, moved.stderr);
    assert.match(moved.stdout, new RegExp(`^read    ${copy}/etc/singularity.base.properties$`, "m"));
    assert.ok(dirs.log.startsWith(root));
  } finally {
    await Deno.remove(root, { recursive: true });
    await Deno.remove(copy, { recursive: true });
  }
});
