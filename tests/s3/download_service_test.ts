import assert from "node:assert/strict";
import { join, resolve } from "node:path";
import { PutObjectCommand } from "@aws-sdk/client-s3";
import { getLogger } from "@logtape/logtape";
import { md5OfBytes } from "../../lib/artifacts/md5.ts";
import { DOWNLOADER, type DownloaderKeys } from "../../lib/config/mod.ts";
import { parseMetrics } from "../../lib/metrics.ts";
import { closeS3Clients, s3ClientFor } from "../../lib/s3/client.ts";
import { DownloadService } from "../../lib/s3/download_service.ts";
import { createTestBucket, loadTestConfig, requireS3Server, S3_TEST_ENDPOINT } from "../support/s3_server.ts";
import { startS3Proxy } from "../support/s3_proxy.ts";

const log = getLogger(["test", "downloader"]);

function freePort(): number {
  const listener = Deno.listen({ hostname: "127.0.0.1", port: 0 });
  const port = (listener.addr as Deno.NetAddr).port;
  listener.close();
  return port;
}

async function tarball(files: Record<string, string>): Promise<Uint8Array> {
  const dir = await Deno.makeTempDir({ prefix: "tarball-" });
  try {
    for (const [name, text] of Object.entries(files)) {
      await Deno.mkdir(join(dir, "src", name, ".."), { recursive: true });
      await Deno.writeTextFile(join(dir, "src", name), text);
    }
    const output = await new Deno.Command("tar", { args: ["-czf", join(dir, "a.tar.gz"), "-C", join(dir, "src"), "."] })
      .output();
    assert.equal(output.code, 0);
    return await Deno.readFile(join(dir, "a.tar.gz"));
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
}

/** A downloader service on a free port, S3 behind a counting proxy, a work directory for sandboxes. */
async function setup(properties: Record<string, string> = {}) {
  await requireS3Server();
  const proxy = await startS3Proxy(new URL(S3_TEST_ENDPOINT).host);
  const work = await Deno.makeTempDir({ prefix: "downloader-work-" });
  const port = freePort();
  const test = await loadTestConfig<DownloaderKeys>(DOWNLOADER, {
    properties: {
      "s3.endpoint": proxy.endpoint,
      "s3.downloader.http.port": String(port),
      "mesos.work.directory": work,
      "s3.downloader.chunk.size": String(256 * 1024),
      ...properties,
    },
  });
  const s3 = s3ClientFor(test.config);
  const bucket = await createTestBucket(s3, "downloader");
  const service = new DownloadService(test.config, log);
  await service.start();
  const url = `http://127.0.0.1:${port}/download`;
  const post = async (body: unknown, path = "/download") => {
    const response = await fetch(`http://127.0.0.1:${port}${path}`, {
      method: "POST",
      headers: { "Content-Type": "application/json" },
      body: typeof body === "string" ? body : JSON.stringify(body),
    });
    return { status: response.status, body: await response.text() };
  };
  const put = (key: string, bytes: Uint8Array) =>
    s3.send(new PutObjectCommand({ Bucket: bucket.name, Key: key, Body: bytes }));
  return {
    config: test.config,
    proxy,
    work,
    port,
    url,
    bucket: bucket.name,
    service,
    post,
    put,
    async [Symbol.asyncDispose]() {
      await service.stop();
      await bucket.remove();
      closeS3Clients();
      await proxy.close();
      await test[Symbol.asyncDispose]();
      await Deno.remove(work, { recursive: true });
    },
  };
}

Deno.test("download service: a plain file is copied and a .tar.gz extracted into the target; 200 with an empty body", async () => {
  await using env = await setup();
  const tool = new TextEncoder().encode("#!/bin/sh\necho tool\n");
  const app = await tarball({ "app/run.sh": "echo run\n", "app/conf/a.properties": "a=1\n" });
  await env.put("tool.sh", tool);
  await env.put("app.tar.gz", app);
  const target = join(env.work, "task-1");
  const plain = await env.post({
    targetDirectory: target,
    s3Artifact: {
      name: "tool",
      filename: "tool.sh",
      s3Bucket: env.bucket,
      s3ObjectKey: "tool.sh",
      md5sum: md5OfBytes(tool),
    },
  });
  assert.deepEqual(plain, { status: 200, body: "" });
  assert.deepEqual(await Deno.readFile(join(target, "tool.sh")), tool);
  const tar = await env.post({
    targetDirectory: target,
    s3Artifact: {
      name: "app",
      filename: "app.tar.gz",
      s3Bucket: env.bucket,
      s3ObjectKey: "app.tar.gz",
      filesize: app.length,
    },
  });
  assert.deepEqual(tar, { status: 200, body: "" });
  assert.equal(await Deno.readTextFile(join(target, "app/run.sh")), "echo run\n");
  assert.equal(await Deno.readTextFile(join(target, "app/conf/a.properties")), "a=1\n");
  const cache = env.config.text("artifact.cache.directory");
  assert.ok((await Deno.stat(join(cache, `${md5OfBytes(tool)}-tool.sh`))).isFile);
  assert.ok((await Deno.stat(join(cache, "app.tar.gz"))).isFile);
});

Deno.test("download service: every error answer names what was wrong", async () => {
  await using env = await setup();
  await env.put("data.bin", new Uint8Array([1, 2, 3]));
  const target = join(env.work, "task-2");
  const artifact = { name: "data", filename: "data.bin", s3Bucket: env.bucket, s3ObjectKey: "data.bin" };

  const wrongPath = await env.post({ targetDirectory: target, s3Artifact: artifact }, "/elsewhere");
  assert.deepEqual(wrongPath, { status: 404, body: "not found: downloads are served at POST /download\n" });
  const get = await fetch(env.url);
  assert.equal(get.status, 405);
  assert.equal(get.headers.get("allow"), "POST");
  assert.equal(await get.text(), "method GET not allowed: use POST\n");
  const huge = await env.post("x".repeat(2 * 1024 * 1024));
  assert.equal(huge.status, 413);
  assert.match(huge.body, /over the 1048576-byte limit/);
  const notJson = await env.post("{nope");
  assert.equal(notJson.status, 400);
  assert.match(notJson.body, /^request body is not JSON: /);
  const noKey = await env.post({ targetDirectory: target, s3Artifact: { ...artifact, s3ObjectKey: "" } });
  assert.deepEqual(noKey, { status: 400, body: 's3Artifact.s3ObjectKey: expected a non-empty string, got ""\n' });
  const outside = await env.post({ targetDirectory: "/etc/cron.d", s3Artifact: artifact });
  assert.deepEqual(outside, {
    status: 400,
    body: `targetDirectory: /etc/cron.d is outside mesos.work.directory (${env.work})\n`,
  });
  const missing = await env.post({ targetDirectory: target, s3Artifact: { ...artifact, s3ObjectKey: "missing.bin" } });
  assert.equal(missing.status, 500);
  assert.match(missing.body, new RegExp(`s3://${env.bucket}/missing\\.bin`));
  const badMd5 = await env.post({ targetDirectory: target, s3Artifact: { ...artifact, md5sum: "0".repeat(32) } });
  assert.equal(badMd5.status, 500);
  assert.match(badMd5.body, /md5 mismatch: expected 0{32}, downloaded 5289df737df57326fcdd22597afb1fac/);
  await assert.rejects(
    Deno.stat(join(target, "data.bin")),
    Deno.errors.NotFound,
    "a file that failed verification was placed",
  );
  const cached = [...Deno.readDirSync(env.config.text("artifact.cache.directory"))].map((entry) => entry.name);
  assert.deepEqual(cached, [], "a file that failed verification was cached");
});

Deno.test("download service: past the request's timeoutMillis the answer is 500 'Hit client timeout'", async () => {
  await using env = await setup();
  await env.put("slow.bin", new Uint8Array(10));
  let release!: () => void;
  env.proxy.hold = new Promise((resolve) => release = resolve);
  const started = Date.now();
  const answer = await env.post({
    targetDirectory: join(env.work, "task-3"),
    s3Artifact: { name: "slow", filename: "slow.bin", s3Bucket: env.bucket, s3ObjectKey: "slow.bin", filesize: 10 },
    timeoutMillis: 400,
  });
  const waited = Date.now() - started;
  release();
  env.proxy.hold = undefined;
  assert.equal(answer.status, 500);
  assert.equal(answer.body, `Hit client timeout (400 ms) for artifact slow (s3://${env.bucket}/slow.bin)\n`);
  assert.ok(waited >= 380 && waited < 3000, `answered after ${waited} ms`);
});

Deno.test("download service: 50 concurrent requests for one artifact make one S3 download", async () => {
  await using env = await setup();
  const bytes = new Uint8Array(1024 * 1024 + 17).map((_, i) => (i * 31) % 251);
  await env.put("shared.bin", bytes);
  const artifact = {
    name: "shared",
    filename: "shared.bin",
    s3Bucket: env.bucket,
    s3ObjectKey: "shared.bin",
    filesize: bytes.length,
    md5sum: md5OfBytes(bytes),
  };
  env.proxy.requests.length = 0;
  const answers = await Promise.all(
    Array.from(
      { length: 50 },
      (_, i) => env.post({ targetDirectory: join(env.work, `task-${i}`), s3Artifact: artifact }),
    ),
  );
  assert.deepEqual(new Set(answers.map((a) => a.status)), new Set([200]));
  for (let i = 0; i < 50; i++) assert.deepEqual(await Deno.readFile(join(env.work, `task-${i}`, "shared.bin")), bytes);
  // Counted at the S3 side of the proxy: the ranged GETs of one download, and nothing else.
  const gets = env.proxy.requests.filter((request) => request.path === `/${env.bucket}/shared.bin`);
  const ranges = gets.map((request) => request.range).sort();
  assert.equal(new Set(ranges).size, ranges.length, `a range was fetched twice: ${ranges.join(" ")}`);
  assert.ok(gets.every((request) => request.method === "GET"));
  const metrics = parseMetrics(env.service.metrics.render());
  assert.equal(metrics.get("singularity_s3_downloader_downloads_total"), 1);
  assert.equal(metrics.get("singularity_s3_downloader_cache_hits_total"), 49);
  assert.equal(metrics.get('singularity_s3_downloader_requests_total{code="200"}'), 50);
});

Deno.test("download service: beyond s3downloader.downloader.threads, downloads queue", async () => {
  await using env = await setup({ "s3downloader.downloader.threads": "1" });
  await env.put("one.bin", new Uint8Array(5));
  await env.put("two.bin", new Uint8Array(6));
  let release!: () => void;
  env.proxy.hold = new Promise((resolve) => release = resolve);
  const request = (key: string, size: number) =>
    env.post({
      targetDirectory: join(env.work, "task-q"),
      s3Artifact: { name: key, filename: key, s3Bucket: env.bucket, s3ObjectKey: key, filesize: size },
    });
  const both = Promise.all([request("one.bin", 5), request("two.bin", 6)]);
  const metricsUrl = `http://127.0.0.1:${env.port}/metrics`;
  let metrics = new Map<string, number>();
  for (let i = 0; i < 100; i++) {
    metrics = parseMetrics(await (await fetch(metricsUrl)).text());
    if (metrics.get("singularity_s3_downloader_downloads_queued") === 1) break;
    await new Promise((r) => setTimeout(r, 20));
  }
  assert.equal(metrics.get("singularity_s3_downloader_downloads_active"), 1);
  assert.equal(metrics.get("singularity_s3_downloader_downloads_queued"), 1);
  release();
  env.proxy.hold = undefined;
  assert.deepEqual((await both).map((answer) => answer.status), [200, 200]);
});

Deno.test("singularity-s3-downloader --status reports the running service; exit 1 when none answers", async () => {
  await using env = await setup();
  await env.put("s.bin", new Uint8Array(3));
  await env.post({
    targetDirectory: join(env.work, "t"),
    s3Artifact: { name: "s", filename: "s.bin", s3Bucket: env.bucket, s3ObjectKey: "s.bin" },
  });
  const main = resolve(import.meta.dirname!, "../../main_downloader.ts");
  const status = await new Deno.Command(Deno.execPath(), {
    args: ["run", "-A", main, "--status", "--config-dir", env.config.configDir],
    stdout: "piped",
  }).output();
  const text = new TextDecoder().decode(status.stdout);
  assert.equal(status.code, 0, text);
  assert.match(
    text,
    new RegExp(`^singularity-s3-downloader answering at http://127\\.0\\.0\\.1:${env.port}/metrics$`, "m"),
  );
  assert.match(text, /^ {2}requests answered: {2}200: 1$/m);
  assert.match(text, /^ {2}downloads: {10}1 \(3 bytes\)$/m);
  await env.service.stop();
  const down = await new Deno.Command(Deno.execPath(), {
    args: ["run", "-A", main, "--status", "--config-dir", env.config.configDir],
    stdout: "piped",
  }).output();
  assert.equal(down.code, 1);
  assert.match(new TextDecoder().decode(down.stdout), /is not answering at/);
});
