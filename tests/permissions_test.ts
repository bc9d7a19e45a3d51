import assert from "node:assert/strict";
import { join } from "node:path";
import { CLEANUP, DOWNLOADER, EXECUTOR, loadConfig, type Program, UPLOADER } from "../lib/config/mod.ts";
import { denoFlags, permissionsFor } from "../lib/permissions.ts";

async function configOf(program: Program, files: Record<string, string>) {
  const dir = await Deno.makeTempDir({ prefix: "permissions-test-" });
  for (const [name, text] of Object.entries(files)) await Deno.writeTextFile(join(dir, name), text);
  const { config } = await loadConfig(program, { configDir: dir, validate: false });
  await Deno.remove(dir, { recursive: true });
  return config;
}

const BASE = "root.log.directory=/srv/log\ns3uploader.metadata.directory=/srv/meta\nmesos.work.directory=/srv/mesos\n";
const S3 =
  "artifact.cache.directory=/srv/cache\ns3.endpoint=http://10.1.2.3:7480\ns3.access.key=AK\ns3.secret.key=SK\n";
const machine = { localAddresses: ["192.0.2.10"], libc: "/lib/x86_64-linux-gnu/libc.so.6" };

Deno.test("permissionsFor() the uploader: its directories, the S3 endpoint and the metrics port only", async () => {
  const config = await configOf(UPLOADER, {
    "singularity.base.properties": BASE,
    "singularity.s3base.properties": S3,
    "singularity.s3uploader.properties": "s3uploader.metrics.port=9108\n",
  });
  assert.deepEqual(denoFlags(permissionsFor(config, machine)), [
    "--allow-read=/srv/meta,/srv/mesos,/srv/log",
    "--allow-write=/srv/meta,/srv/mesos,/srv/log",
    "--allow-net=10.1.2.3:7480,127.0.0.1:9108",
    "--allow-env=AWS_*,HOME",
    "--ignore-env",
    "--allow-sys=hostname,osRelease",
    "--allow-run=lsof,fuser,gzip",
  ]);
});

Deno.test("permissionsFor() the downloader: cache, sandboxes, its port and unix socket, the S3 endpoint", async () => {
  const config = await configOf(DOWNLOADER, {
    "singularity.base.properties": BASE,
    "singularity.s3base.properties": S3 + "s3.downloader.http.port=7171\ns3.downloader.http.socket=/run/dl.sock\n",
  });
  const set = permissionsFor(config, machine);
  assert.deepEqual(set.write, ["/srv/cache", "/srv/mesos", "/srv/log", "/run/dl.sock"]);
  assert.deepEqual(set.net, ["10.1.2.3:7480", "127.0.0.1:7171", "unix:/run/dl.sock"]);
  assert.deepEqual(set.run, []);
  assert.deepEqual(set.ffi, ["/lib/x86_64-linux-gnu/libc.so.6"]);
  assert.ok(denoFlags(set).includes("--allow-ffi=/lib/x86_64-linux-gnu/libc.so.6"));
  assert.ok(!denoFlags(set).some((flag) => flag.startsWith("--allow-run")), "no --allow-run at all");
});

Deno.test("permissionsFor() without static keys adds the instance metadata service; AWS hosts without an endpoint", async () => {
  const config = await configOf(UPLOADER, {
    "singularity.base.properties": BASE,
    "singularity.s3base.properties": "s3.region=eu-west-1\n",
  });
  assert.deepEqual(permissionsFor(config, machine).net, ["s3.eu-west-1.amazonaws.com", "169.254.169.254"]);
});

Deno.test("permissionsFor(): IPv6 agent addresses get brackets, so Deno does not read a group as the port", async () => {
  const config = await configOf(CLEANUP, {
    "singularity.base.properties": BASE,
    "singularity.s3base.properties": S3,
    "singularity.executor.cleanup.properties": "executor.cleanup.results.directory=/srv/results\n" +
      "singularity.hosts=sing1:7099\n",
  });
  const set = permissionsFor(config, { ...machine, localAddresses: ["192.0.2.10", "2001:db8::7"] });
  assert.deepEqual(set.net, [
    "sing1:7099",
    "127.0.0.1:5051",
    "localhost:5051",
    "192.0.2.10:5051",
    "[2001:db8::7]:5051",
  ]);
});

Deno.test("permissionsFor() the cleanup job: Singularity hosts and the local agent, no S3", async () => {
  const config = await configOf(CLEANUP, {
    "singularity.base.properties": BASE,
    "singularity.s3base.properties": S3,
    "singularity.executor.properties": "executor.global.task.definition.directory=/srv/tasks\n" +
      "executor.logrotate.command=/usr/sbin/logrotate\n",
    "singularity.executor.cleanup.properties": "executor.cleanup.results.directory=/srv/results\n" +
      "singularity.hosts=sing1:7099,sing2:7099\n",
  });
  const set = permissionsFor(config, machine);
  assert.deepEqual(set.net, ["sing1:7099", "sing2:7099", "127.0.0.1:5051", "localhost:5051", "192.0.2.10:5051"]);
  assert.deepEqual(set.write, [
    "/srv/meta",
    "/srv/tasks",
    "/etc/logrotate.d",
    "/etc/logrotate.d/hourly",
    "/etc/cron.d",
    "/srv/results",
    "/srv/mesos",
    "/srv/log",
  ]);
  assert.deepEqual(set.run, ["ps", "gzip", "/usr/sbin/logrotate"]);
  assert.deepEqual(set.env, ["HOME"]);
});

Deno.test("permissionsFor() the executor: network unrestricted unless external artifact hosts are listed", async () => {
  const files = {
    "singularity.base.properties": BASE,
    "singularity.s3base.properties": S3,
    "singularity.executor.properties":
      "executor.global.task.definition.directory=/srv/tasks\nmesos.agent.host=agent1\n" +
      'executor.shell.command.jstack=["/usr/bin/jstack","-l","{PID}"]\n',
  };
  const open = permissionsFor(await configOf(EXECUTOR, files), machine);
  assert.equal(open.net, undefined);
  assert.ok(denoFlags(open).includes("--allow-net"));
  assert.deepEqual(open.env, ["MESOS_*", "USER", "AWS_*", "HOME"]);
  assert.deepEqual(open.run, ["bash", "sudo", "kill", "ps", "gzip", "logrotate", "/usr/bin/gpg", "/usr/bin/jstack"]);
  assert.deepEqual(open.ffi, ["/lib/x86_64-linux-gnu/libc.so.6"]);

  files["singularity.executor.properties"] +=
    "executor.external.artifact.hosts=artifacts.example.com, cdn.example.com:8443\n";
  const listed = permissionsFor(await configOf(EXECUTOR, files), machine);
  assert.deepEqual(listed.net, [
    "10.1.2.3:7480",
    "127.0.0.1:7070",
    "agent1:5051",
    "artifacts.example.com",
    "cdn.example.com:8443",
  ]);
});

Deno.test("permissionsFor() refuses a directory containing a comma (Deno's list separator)", async () => {
  const config = await configOf(UPLOADER, { "singularity.base.properties": "root.log.directory=/srv/a,b\n" });
  assert.throws(
    () => permissionsFor(config, machine),
    { message: 'root.log.directory = "/srv/a,b": a path containing a comma cannot be granted' },
  );
});

Deno.test("missingPermissions() names what a restricted process was not granted", async () => {
  const dir = await Deno.makeTempDir({ prefix: "permissions-child-" });
  try {
    const script = join(dir, "probe.ts");
    await Deno.writeTextFile(
      script,
      `import { missingPermissions } from ${JSON.stringify(new URL("../lib/permissions.ts", import.meta.url).href)};
console.log(JSON.stringify(await missingPermissions({
  read: ["${dir}", "/srv/other"], write: ["${dir}"], net: ["127.0.0.1:7480", "10.9.9.9:80"], env: [], sys: [], run: [],
})));`,
    );
    const output = await new Deno.Command(Deno.execPath(), {
      args: ["run", "--no-prompt", `--allow-read=${dir}`, `--allow-write=${dir}`, "--allow-net=127.0.0.1:7480", script],
      stdout: "piped",
      stderr: "piped",
    }).output();
    assert.equal(output.code, 0, new TextDecoder().decode(output.stderr));
    assert.deepEqual(JSON.parse(new TextDecoder().decode(output.stdout)), ["read /srv/other", "network 10.9.9.9:80"]);
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});
