import assert from "node:assert/strict";
import { join } from "node:path";
import { PutObjectCommand } from "@aws-sdk/client-s3";
import { getLogger } from "@logtape/logtape";
import { parseEmbeddedArtifact, parseExternalArtifact, parseS3Artifact } from "../../lib/artifacts/artifact.ts";
import { ArtifactVerificationError } from "../../lib/artifacts/cache.ts";
import { md5OfBytes } from "../../lib/artifacts/md5.ts";
import { ArtifactPlacementError } from "../../lib/artifacts/place.ts";
import { stageArtifacts, type StagingServices } from "../../lib/artifacts/stage.ts";
import { DOWNLOADER, type DownloaderKeys, EXECUTOR, type ExecutorKeys } from "../../lib/config/mod.ts";
import { closeS3Clients, s3ClientFor } from "../../lib/s3/client.ts";
import { DownloadServiceError, downloadThroughService } from "../../lib/s3/download_client.ts";
import { DownloadService } from "../../lib/s3/download_service.ts";
import { fetchS3Artifact } from "../../lib/s3/fetch_s3_artifact.ts";
import { createTestBucket, loadTestConfig, requireS3Server } from "../support/s3_server.ts";

const encoder = new TextEncoder();

/** A local HTTP server for external artifacts; counts requests per path. */
function fileServer(files: Record<string, Uint8Array<ArrayBuffer>>) {
  const hits: string[] = [];
  const server = Deno.serve({ hostname: "127.0.0.1", port: 0, onListen: () => {} }, (request) => {
    const path = new URL(request.url).pathname;
    hits.push(path);
    const body = files[path];
    return body ? new Response(body) : new Response("no such file", { status: 404 });
  });
  return { url: `http://127.0.0.1:${server.addr.port}`, hits, close: () => server.shutdown() };
}

async function setup() {
  await requireS3Server();
  const sandbox = await Deno.makeTempDir({ prefix: "stage-sandbox-" });
  const test = await loadTestConfig<ExecutorKeys>(EXECUTOR, { validate: false });
  const s3 = s3ClientFor(test.config);
  const bucket = await createTestBucket(s3, "stage");
  const logs: string[] = [];
  const services: StagingServices = {
    cacheDirectory: test.config.text("artifact.cache.directory"),
    fetchS3: (artifact, signal) => fetchS3Artifact(test.config, artifact, { signal }),
    urlTimeoutMs: 10_000,
    log: (line) => logs.push(line),
    warn: (line) => logs.push(`WARN ${line}`),
  };
  return {
    sandbox,
    config: test.config,
    bucket: bucket.name,
    services,
    logs,
    put: (key: string, bytes: Uint8Array) =>
      s3.send(new PutObjectCommand({ Bucket: bucket.name, Key: key, Body: bytes })),
    async [Symbol.asyncDispose]() {
      await bucket.remove();
      closeS3Clients();
      await test[Symbol.asyncDispose]();
      await Deno.remove(sandbox, { recursive: true });
    },
  };
}

const none = { embedded: [], s3: [], external: [] };

Deno.test("stageArtifacts() places embedded, S3 and URL artifacts, in target folders, through the cache", async () => {
  await using env = await setup();
  const s3Bytes = encoder.encode("from s3\n");
  const urlBytes = encoder.encode("from a URL\n");
  await env.put("lib/s3.txt", s3Bytes);
  const server = fileServer({ "/files/url.txt": urlBytes });
  try {
    await stageArtifacts(
      {
        embedded: [
          parseEmbeddedArtifact({
            name: "cfg",
            filename: "cfg.json",
            content: btoa('{"a":1}'),
            targetFolderRelativeToTask: "app/conf",
          }, "e"),
        ],
        s3: [
          parseS3Artifact({
            name: "s",
            filename: "s3.txt",
            s3Bucket: env.bucket,
            s3ObjectKey: "lib/s3.txt",
            md5sum: md5OfBytes(s3Bytes),
          }, "s"),
        ],
        external: [
          parseExternalArtifact({
            name: "u",
            filename: "url.txt",
            url: `${server.url}/files/url.txt`,
            filesize: urlBytes.length,
          }, "x"),
        ],
      },
      env.sandbox,
      env.services,
      new AbortController().signal,
    );
    assert.equal(await Deno.readTextFile(join(env.sandbox, "app/conf/cfg.json")), '{"a":1}');
    assert.deepEqual(await Deno.readFile(join(env.sandbox, "s3.txt")), s3Bytes);
    assert.deepEqual(await Deno.readFile(join(env.sandbox, "url.txt")), urlBytes);
    assert.equal((await Deno.stat(join(env.sandbox, "url.txt"))).mode! & 0o777, 0o644);
    // A second staging into another sandbox is served from the cache.
    const again = await Deno.makeTempDir({ prefix: "stage-again-" });
    await stageArtifacts(
      {
        ...none,
        external: [
          parseExternalArtifact({
            name: "u",
            filename: "url.txt",
            url: `${server.url}/files/url.txt`,
            filesize: urlBytes.length,
          }, "x"),
        ],
      },
      again,
      env.services,
      new AbortController().signal,
    );
    assert.deepEqual(server.hits, ["/files/url.txt"]);
    await Deno.remove(again, { recursive: true });
  } finally {
    await server.close();
  }
});

Deno.test("stageArtifacts() refuses an embedded artifact with the wrong md5 and places nothing", async () => {
  await using env = await setup();
  await assert.rejects(
    stageArtifacts(
      {
        ...none,
        embedded: [
          parseEmbeddedArtifact({ name: "cfg", filename: "cfg.json", content: btoa("x"), md5sum: "0".repeat(32) }, "e"),
        ],
      },
      env.sandbox,
      env.services,
      new AbortController().signal,
    ),
    new ArtifactVerificationError(
      `embedded artifact cfg (cfg.json): md5 mismatch: expected ${"0".repeat(32)}, content has ${
        md5OfBytes(encoder.encode("x"))
      }`,
    ),
  );
  assert.deepEqual([...Deno.readDirSync(env.sandbox)], []);
});

Deno.test("stageArtifacts() with a URL answering 404 fails naming the URL; an existing different file is a conflict", async () => {
  await using env = await setup();
  const server = fileServer({ "/a.txt": encoder.encode("a") });
  try {
    await assert.rejects(
      stageArtifacts(
        {
          ...none,
          external: [parseExternalArtifact({ name: "gone", filename: "gone.txt", url: `${server.url}/gone.txt` }, "x")],
        },
        env.sandbox,
        env.services,
        new AbortController().signal,
      ),
      { message: `${server.url}/gone.txt: HTTP 404 Not Found` },
    );
    await Deno.writeTextFile(join(env.sandbox, "a.txt"), "something else");
    await assert.rejects(
      stageArtifacts(
        {
          ...none,
          external: [parseExternalArtifact({ name: "a", filename: "a.txt", url: `${server.url}/a.txt` }, "x")],
        },
        env.sandbox,
        env.services,
        new AbortController().signal,
      ),
      ArtifactPlacementError,
    );
  } finally {
    await server.close();
  }
});

Deno.test("stageArtifacts() through the download service, and the fallback when the service fails", async () => {
  await using env = await setup();
  const bytes = encoder.encode("via the service\n");
  await env.put("svc.txt", bytes);
  const listener = Deno.listen({ hostname: "127.0.0.1", port: 0 });
  const port = (listener.addr as Deno.NetAddr).port;
  listener.close();
  const downloaderConfig = await loadTestConfig<DownloaderKeys>(DOWNLOADER, {
    properties: {
      "s3.downloader.http.port": String(port),
      "mesos.work.directory": env.sandbox,
      "artifact.cache.directory": env.config.text("artifact.cache.directory"),
    },
  });
  const service = new DownloadService(downloaderConfig.config, getLogger(["test"]));
  await service.start();
  try {
    const artifact = parseS3Artifact(
      { name: "svc", filename: "svc.txt", s3Bucket: env.bucket, s3ObjectKey: "svc.txt" },
      "s",
    );
    const address = { port, path: "/download", timeoutMs: 10_000 };
    const inProcess: string[] = [];
    const services: StagingServices = {
      ...env.services,
      fetchS3: (a, signal) => {
        inProcess.push(a.name);
        return env.services.fetchS3(a, signal);
      },
      downloadService: (requests, signal) => downloadThroughService(requests, address, signal),
    };
    await stageArtifacts({ ...none, s3: [artifact] }, env.sandbox, services, new AbortController().signal);
    assert.deepEqual(await Deno.readFile(join(env.sandbox, "svc.txt")), bytes);
    assert.deepEqual(inProcess, []);

    // The service refuses a target outside its work directory: the executor falls back to downloading itself.
    const elsewhere = await Deno.makeTempDir({ prefix: "stage-elsewhere-" });
    await stageArtifacts({ ...none, s3: [artifact] }, elsewhere, services, new AbortController().signal);
    assert.deepEqual(await Deno.readFile(join(elsewhere, "svc.txt")), bytes);
    assert.deepEqual(inProcess, ["svc"]);
    assert.ok(
      env.logs.some((line) =>
        /^WARN the download service failed: .*HTTP 400 targetDirectory: .* is outside mesos\.work\.directory.*; downloading in-process instead$/
          .test(line)
      ),
      env.logs.join("\n"),
    );
    await Deno.remove(elsewhere, { recursive: true });
  } finally {
    await service.stop();
    await downloaderConfig[Symbol.asyncDispose]();
  }
});

Deno.test("downloadThroughService() names every failed artifact when the service is not running", async () => {
  const artifact = parseS3Artifact({ name: "x", filename: "x", s3Bucket: "b", s3ObjectKey: "k" }, "s");
  await assert.rejects(
    downloadThroughService([{ artifact, targetDirectory: "/tmp/t" }], { port: 9, path: "/download", timeoutMs: 2000 }),
    (error: unknown) =>
      error instanceof DownloadServiceError &&
      /^the download service failed: artifact x \(s3:\/\/b\/k\): /.test(error.message),
  );
});

Deno.test("stageArtifacts() stops when the signal aborts (a kill during staging)", async () => {
  await using env = await setup();
  let release!: () => void;
  const stalled = new Promise<void>((resolve) => release = resolve);
  const server = Deno.serve({ hostname: "127.0.0.1", port: 0, onListen: () => {} }, async () => {
    await stalled;
    return new Response("late");
  });
  const controller = new AbortController();
  const staging = stageArtifacts(
    {
      ...none,
      external: [
        parseExternalArtifact(
          { name: "slow", filename: "slow.txt", url: `http://127.0.0.1:${server.addr.port}/slow` },
          "x",
        ),
      ],
    },
    env.sandbox,
    env.services,
    controller.signal,
  );
  setTimeout(() => controller.abort(), 200);
  await assert.rejects(staging, { message: `http://127.0.0.1:${server.addr.port}/slow: cancelled` });
  release();
  await server.shutdown();
  assert.deepEqual([...Deno.readDirSync(env.sandbox)], []);
  assert.deepEqual([...Deno.readDirSync(env.config.text("artifact.cache.directory"))], []);
});
