import assert from "node:assert/strict";
import {
  CLEANUP,
  DOWNLOADER,
  EXECUTOR,
  formatConfig,
  formatFiles,
  loadConfig,
  type Program,
  UPLOADER,
} from "../../lib/config/mod.ts";
import { FILES, tempConfigDir } from "./_config_dir.ts";

const ACCESS_KEY = "AKIAIOSFODNN7EXAMPLE";
const SECRET_KEY = "wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY";
const BUCKET_ACCESS_KEY = "AKIALOGSEXAMPLE";
const BUCKET_SECRET_KEY = "logs/bucket/SECRET/value";

/** formatConfig() of `program` loaded from `files`, with the temp directory shown as `<dir>`. */
async function dump(program: Program, files: Record<string, string>): Promise<string[]> {
  await using dir = await tempConfigDir(files);
  const { config } = await loadConfig(program, { configDir: dir.path, validate: false });
  return formatConfig(config).map((line) => line.replaceAll(dir.path, "<dir>"));
}

Deno.test("formatConfig() lists every key sorted, with its source, secrets masked", async () => {
  const lines = await dump(DOWNLOADER, {
    [FILES.base]: "root.log.directory=/srv/log\n",
    [FILES.s3base]: `s3.access.key=${ACCESS_KEY}\ns3.secret.key=${SECRET_KEY}\n` +
      `s3.bucket.logs.secret.key=abc\ns3.bucket.logs.access.key=${BUCKET_ACCESS_KEY}\n`,
    [FILES.s3downloader]: "s3downloader.downloader.threads=4\n",
  });
  assert.deepStrictEqual(lines, [
    "agent.hostname=  (default)",
    "artifact.cache.directory=/var/cache/singularity/artifacts  (default)",
    "hubspot.log.level=INFO  (default)",
    "logging.pattern=%-5level [%d] [%.15thread] %logger{35} - %msg%n  (default)",
    "logwatcher.metadata.directory=  (default)",
    "logwatcher.metadata.suffix=.tail.json  (default)",
    "mesos.work.directory=/var/lib/mesos  (default)",
    "obfuscate.keys.comma.separated=key,pass,secret  (default)",
    "root.log.directory=/srv/log  (<dir>/singularity.base.properties:1)",
    "root.log.filename=singularity-s3downloader.log  (default)",
    "root.log.level=INFO  (default)",
    "s3.access.key=***************MPLE  (<dir>/singularity.s3base.properties:1)",
    "s3.bucket.logs.access.key=***************MPLE  (<dir>/singularity.s3base.properties:4)",
    "s3.bucket.logs.secret.key=(OMITTED)  (<dir>/singularity.s3base.properties:3)",
    "s3.downloader.chunk.retries=3  (default)",
    "s3.downloader.chunk.size=8388608  (default)",
    "s3.downloader.chunk.timeout.millis=30000  (default)",
    "s3.downloader.http.download.path=/download  (default)",
    "s3.downloader.http.port=7070  (default)",
    "s3.downloader.http.socket=  (default)",
    "s3.downloader.timeout.millis=60000  (default)",
    "s3.endpoint=  (default)",
    "s3.path.style=true  (default)",
    "s3.region=us-east-1  (default)",
    "s3.secret.key=***************EKEY  (<dir>/singularity.s3base.properties:2)",
    "s3downloader.downloader.threads=4  (<dir>/singularity.s3downloader.properties:1)",
    "s3downloader.http.timeout=1800000  (default)",
    "s3uploader.metadata.directory=/var/lib/singularity/s3uploader  (default)",
    "s3uploader.metadata.suffix=.s3.json  (default)",
  ]);
});

Deno.test("formatConfig() shows the text as set, not the normalised value", async () => {
  const lines = await dump(UPLOADER, {
    [FILES.base]: "root.log.level=debug\nmesos.work.directory=/srv/mesos/\n",
  });
  assert.deepStrictEqual(lines.filter((line) => line.startsWith("root.log.level") || line.startsWith("mesos.")), [
    "mesos.work.directory=/srv/mesos/  (<dir>/singularity.base.properties:2)",
    "root.log.level=debug  (<dir>/singularity.base.properties:1)",
  ]);
});

Deno.test("formatConfig() never shows a secret, for any program", async () => {
  const secrets = `s3.access.key=${ACCESS_KEY}\ns3.secret.key=${SECRET_KEY}\n` +
    `s3.bucket.logs.access.key=${BUCKET_ACCESS_KEY}\ns3.bucket.logs.secret.key=${BUCKET_SECRET_KEY}\n`;
  const files = Object.fromEntries(Object.values(FILES).map((file) => [file, secrets]));
  for (const program of [EXECUTOR, CLEANUP, UPLOADER, DOWNLOADER]) {
    const output = (await dump(program, files)).join("\n");
    for (const secret of [ACCESS_KEY, SECRET_KEY, BUCKET_ACCESS_KEY, BUCKET_SECRET_KEY]) {
      assert.strictEqual(output.includes(secret), false, `${program.name} shows ${secret}`);
    }
    assert.strictEqual(output.includes("s3.secret.key=***************EKEY  ("), true);
    assert.strictEqual(output.includes("s3.bucket.logs.secret.key=***************alue  ("), true);
  }
});

Deno.test("formatConfig() with custom obfuscate.keys.comma.separated", async () => {
  // The custom list replaces the default one, as in the originals.
  const lines = await dump(EXECUTOR, {
    [FILES.base]: "obfuscate.keys.comma.separated=hostname,user\nagent.hostname=agent-17.example.com\n",
    [FILES.s3base]: "s3.region=eu-west-1\ns3.access.key=AKIAPLAIN\n",
    [FILES.executor]: "executor.default.user=root\n",
  });
  const shown = ["agent.hostname", "executor.default.user", "obfuscate.keys", "s3.access.key", "s3.region"];
  assert.deepStrictEqual(lines.filter((line) => shown.some((key) => line.startsWith(key))), [
    "agent.hostname=***************.com  (<dir>/singularity.base.properties:2)",
    "executor.default.user=(OMITTED)  (<dir>/singularity.executor.properties:1)",
    "obfuscate.keys.comma.separated=hostname,user  (<dir>/singularity.base.properties:1)",
    "s3.access.key=AKIAPLAIN  (<dir>/singularity.s3base.properties:2)",
    "s3.region=eu-west-1  (<dir>/singularity.s3base.properties:1)",
  ]);
});

Deno.test("formatConfig() shows an empty secret as empty", async () => {
  const lines = await dump(UPLOADER, {});
  assert.deepStrictEqual(lines.filter((line) => line.startsWith("s3.secret.key")), ["s3.secret.key=  (default)"]);
});

Deno.test("formatConfig() masks secrets when obfuscate.keys.comma.separated is set empty", async () => {
  // An empty value means the default markers; it must not switch masking off.
  const lines = await dump(UPLOADER, {
    [FILES.base]: "obfuscate.keys.comma.separated=\n",
    [FILES.s3base]: `s3.secret.key=${SECRET_KEY}\n`,
  });
  assert.deepStrictEqual(lines.filter((line) => line.startsWith("s3.secret.key")), [
    "s3.secret.key=***************EKEY  (<dir>/singularity.s3base.properties:1)",
  ]);
  assert.strictEqual(lines.join("\n").includes(SECRET_KEY), false);
});

Deno.test("formatConfig() shows the default of a key set empty", async () => {
  // The program uses the default; the dump must say so.
  const lines = await dump(DOWNLOADER, { [FILES.s3base]: "s3.region=eu-west-1\ns3.downloader.http.port=\n" });
  assert.deepStrictEqual(lines.filter((line) => line.startsWith("s3.downloader.http.port")), [
    "s3.downloader.http.port=7070  (default)",
  ]);
});

Deno.test("formatFiles() lists the files read and missing, in layering order", async () => {
  await using dir = await tempConfigDir({
    [FILES.base]: "",
    [FILES.executor]: "executor.default.user=svc\n",
  });
  const { config } = await loadConfig(CLEANUP, { configDir: dir.path, validate: false });
  assert.deepStrictEqual(formatFiles(config), [
    `read    ${dir.file(FILES.base)}`,
    `missing ${dir.file(FILES.s3base)}`,
    `read    ${dir.file(FILES.executor)}`,
    `missing ${dir.file(FILES.cleanup)}`,
  ]);
});
