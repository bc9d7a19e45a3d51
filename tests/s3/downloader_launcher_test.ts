/**
 * singularity-s3-downloader as operators run it: installed into a staging
 * root, started from its launcher with the permission flags computed from its
 * configuration, doing a real download from the S3 test server.
 */
import assert from "node:assert/strict";
import { join, resolve } from "node:path";
import { PutObjectCommand } from "@aws-sdk/client-s3";
import { md5OfBytes } from "../../lib/artifacts/md5.ts";
import { UPLOADER } from "../../lib/config/mod.ts";
import { closeS3Clients, s3ClientFor } from "../../lib/s3/client.ts";
import { install } from "../../lib/packaging/install.ts";
import { machineFacts } from "../../lib/packaging/machine.ts";
import { createTestBucket, loadTestConfig, requireS3Server, S3_TEST_ENDPOINT } from "../support/s3_server.ts";

const projectDir = resolve(import.meta.dirname!, "../..");

Deno.test("the installed downloader downloads with exactly its permission set and stops on SIGTERM", async () => {
  await requireS3Server();
  const root = await Deno.makeTempDir({ prefix: "downloader-install-" });
  const clientConfig = await loadTestConfig(UPLOADER, { validate: false });
  const s3 = s3ClientFor(clientConfig.config);
  const bucket = await createTestBucket(s3, "installed-downloader");
  try {
    const bytes = new Uint8Array(700_000).map((_, i) => i % 253);
    await s3.send(new PutObjectCommand({ Bucket: bucket.name, Key: "app.bin", Body: bytes }));
    const listener = Deno.listen({ hostname: "127.0.0.1", port: 0 });
    const port = (listener.addr as Deno.NetAddr).port;
    listener.close();
    const dirs = {
      log: join(root, "var/log/singularity"),
      cache: join(root, "var/cache/artifacts"),
      work: join(root, "var/lib/mesos"),
    };
    await Deno.mkdir(join(root, "etc"), { recursive: true });
    await Deno.writeTextFile(
      join(root, "etc/singularity.base.properties"),
      `root.log.directory=${dirs.log}\nmesos.work.directory=${dirs.work}\n`,
    );
    await Deno.writeTextFile(
      join(root, "etc/singularity.s3base.properties"),
      `artifact.cache.directory=${dirs.cache}\ns3.endpoint=${S3_TEST_ENDPOINT}\ns3.access.key=test\ns3.secret.key=test\n` +
        `s3.downloader.http.port=${port}\ns3.downloader.chunk.size=200000\n`,
    );
    await install({ projectDir, root, machine: machineFacts() });
    await Deno.mkdir(dirs.work, { recursive: true });

    const launcher = join(root, "usr/local/bin/singularity-s3-downloader");
    const child = new Deno.Command(launcher, { stdout: "piped", stderr: "piped" }).spawn();
    try {
      let response: Response | undefined;
      for (let i = 0; i < 100 && response === undefined; i++) {
        try {
          response = await fetch(`http://127.0.0.1:${port}/metrics`);
        } catch {
          await new Promise((r) => setTimeout(r, 100));
        }
      }
      assert.ok(response, "the downloader did not start listening");
      await response.body?.cancel();
      const target = join(dirs.work, "slaves/S1/frameworks/F/executors/E/runs/R");
      const answer = await fetch(`http://127.0.0.1:${port}/download`, {
        method: "POST",
        body: JSON.stringify({
          targetDirectory: target,
          s3Artifact: {
            name: "app",
            filename: "app.bin",
            s3Bucket: bucket.name,
            s3ObjectKey: "app.bin",
            md5sum: md5OfBytes(bytes),
          },
        }),
      });
      assert.equal(answer.status, 200, await answer.text());
      assert.deepEqual(await Deno.readFile(join(target, "app.bin")), bytes);
    } finally {
      child.kill("SIGTERM");
    }
    const output = await child.output();
    assert.equal(output.code, 0, new TextDecoder().decode(output.stderr));
    const logText = await Deno.readTextFile(join(dirs.log, "singularity-s3downloader.log"));
    assert.match(logText, /singularity-s3-downloader \S+ starting/);
    assert.match(logText, /SIGTERM: stopping/);
    assert.doesNotMatch(logText, /NotCapable|Requires .* access/);
    // O_DIRECT works with FFI on the C library only (chunks of 200,000 bytes: most blocks direct, some buffered).
    assert.match(logText, /700000 bytes .* [1-9]\d* bytes written with O_DIRECT and [1-9]\d* through the page cache/);
    assert.doesNotMatch(logText, /s3\.secret\.key=test/);
  } finally {
    await bucket.remove();
    closeS3Clients();
    await clientConfig[Symbol.asyncDispose]();
    await Deno.remove(root, { recursive: true });
  }
});
