import assert from "node:assert/strict";
import { join } from "node:path";
import type { S3Artifact } from "../../lib/artifacts/artifact.ts";
import { ArtifactVerificationError } from "../../lib/artifacts/cache.ts";
import {
  ArtifactSignatureError,
  type CachedArtifact,
  type CachedSignature,
  type SignatureSettings,
  signatureSettings,
  verifyArtifactSignatures,
  type VerifySignaturesOptions,
} from "../../lib/artifacts/signatures.ts";
import { EXECUTOR, type ExecutorKeys, loadConfig } from "../../lib/config/mod.ts";

/**
 * A verifier standing in for gpg (written into each test's directory): prints
 * its argv and working directory, says something on stderr, and exits 0 when
 * the signature file holds the artifact's sha256, else 3.
 */
const SHA256_VERIFIER_SCRIPT = [
  `printf 'arg: %s\\n' "$@"`,
  `echo "cwd: $PWD"`,
  `echo "checking $1" >&2`,
  `[ "$(sha256sum < "$1" | cut -d' ' -f1)" = "$(cat "$2")" ] || exit 3`,
  "",
].join("\n");

const HAS_GPG = (() => {
  try {
    return new Deno.Command("gpg", { args: ["--version"], stdout: "null", stderr: "null" }).outputSync().success;
  } catch {
    return false;
  }
})();

async function sha256(text: string): Promise<string> {
  const digest = await crypto.subtle.digest("SHA-256", new TextEncoder().encode(text));
  return Array.from(new Uint8Array(digest), (byte) => byte.toString(16).padStart(2, "0")).join("");
}

function s3(filename: string): S3Artifact {
  return { kind: "s3", name: filename, filename, s3Bucket: "bucket", s3ObjectKey: `deploys/${filename}` };
}

/** A cache and a sandbox in a temporary directory, with helpers to fill the cache. */
async function setup() {
  const root = await Deno.makeTempDir({ prefix: "signatures-test-" });
  const cache = join(root, "cache");
  const sandbox = join(root, "sandbox");
  await Deno.mkdir(cache);
  await Deno.mkdir(sandbox);
  const verifier = join(root, "verify.sh");
  await Deno.writeTextFile(verifier, SHA256_VERIFIER_SCRIPT);
  const logs: string[] = [];
  return {
    cache,
    sandbox,
    logs,
    verifier,
    outputPath: join(sandbox, "executor.gpg.out"),
    /** Caches an artifact with `content` under `cacheName` (default: its file name). */
    async artifact(filename: string, content: string, cacheName = filename): Promise<CachedArtifact> {
      const path = join(cache, cacheName);
      await Deno.writeTextFile(path, content);
      return { artifact: s3(filename), path };
    },
    /** Caches a signature of `artifactFilename` whose content is the sha256 of `signed`. */
    async signature(filename: string, artifactFilename: string, signed: string): Promise<CachedSignature> {
      const path = join(cache, filename);
      await Deno.writeTextFile(path, await sha256(signed));
      return { signature: { ...s3(filename), artifactFilename }, path };
    },
    /** The options with the sha256 verifier, failing on nothing but invalid signatures. */
    options(
      artifacts: CachedArtifact[],
      signatures: CachedSignature[],
      overrides: Partial<VerifySignaturesOptions> = {},
    ): VerifySignaturesOptions {
      return {
        artifacts,
        signatures,
        command: ["bash", verifier, "{artifactPath}", "{artifactSignaturePath}"],
        failOnInvalid: true,
        failOnArtifactWithoutSignature: false,
        failOnSignatureWithoutArtifact: false,
        sandbox,
        outputFile: "executor.gpg.out",
        log: (line) => logs.push(line),
        ...overrides,
      };
    },
    warnings: () => logs.filter((line) => line.startsWith("WARN ")).map((line) => line.slice(5)),
    [Symbol.asyncDispose]: () => Deno.remove(root, { recursive: true }),
  };
}

async function outputExists(path: string): Promise<boolean> {
  return await Deno.stat(path).then(() => true, () => false);
}

/** Awaits `promise`, expecting an ArtifactSignatureError with exactly `message`. */
async function assertSignatureError(promise: Promise<unknown>, message: string): Promise<void> {
  let caught: unknown;
  try {
    await promise;
  } catch (error) {
    caught = error;
  }
  assert.ok(caught instanceof ArtifactSignatureError, `expected an ArtifactSignatureError, got ${caught}`);
  assert.ok(caught instanceof ArtifactVerificationError);
  assert.equal(caught.name, "ArtifactSignatureError");
  assert.equal(caught.message, message);
}

Deno.test("verifyArtifactSignatures() runs the command on a matching pair, in the sandbox, appending its output", async () => {
  await using t = await setup();
  const artifact = await t.artifact("app.tar.gz", "application bytes");
  const signature = await t.signature("app.tar.gz.sig", "app.tar.gz", "application bytes");
  await Deno.writeTextFile(t.outputPath, "earlier output\n");
  const report = await verifyArtifactSignatures(t.options([artifact], [signature]));
  assert.deepEqual(report, {
    verified: ["app.tar.gz"],
    invalid: [],
    artifactsWithoutSignature: [],
    signaturesWithoutArtifact: [],
    missing: [],
  });
  assert.deepEqual(t.logs, ["signature app.tar.gz.sig of artifact app.tar.gz: valid"]);
  const lines = (await Deno.readTextFile(t.outputPath)).split("\n");
  assert.equal(lines[0], "earlier output");
  assert.match(lines[1], /^--- \d{4}-\d\d-\d\dT[\d:.]+Z /);
  assert.equal(lines[1].slice(lines[1].indexOf("Z ") + 2), `bash ${t.verifier} ${artifact.path} ${signature.path}`);
  // stdout and stderr come through separate pipes: their relative order is not fixed.
  assert.deepEqual(lines.slice(2).sort(), [
    "",
    `arg: ${artifact.path}`,
    `arg: ${signature.path}`,
    `checking ${artifact.path}`,
    `cwd: ${t.sandbox}`,
  ]);
});

Deno.test("verifyArtifactSignatures() replaces every placeholder, also inside longer arguments", async () => {
  await using t = await setup();
  const artifact = await t.artifact("a.bin", "a", "0123-a.bin");
  const signature = await t.signature("a.bin.sig", "a.bin", "a");
  await verifyArtifactSignatures(t.options([artifact], [signature], {
    outputFile: "logs/gpg.out",
    command: [
      "/bin/sh",
      "-c",
      `printf '%s\\n' "$@" > args.txt`,
      "sh",
      "--data={artifactPath}",
      "{artifactSignaturePath}:{artifactSignaturePath}",
      "{artifactpath} stays",
    ],
  }));
  assert.deepEqual((await Deno.readTextFile(join(t.sandbox, "args.txt"))).split("\n"), [
    `--data=${t.cache}/0123-a.bin`,
    `${signature.path}:${signature.path}`,
    "{artifactpath} stays",
    "",
  ]);
  assert.match(await Deno.readTextFile(join(t.sandbox, "logs/gpg.out")), /^--- .* \/bin\/sh -c /);
});

Deno.test("verifyArtifactSignatures() fails on an invalid signature, naming the artifact and the exit code", async () => {
  await using t = await setup();
  const artifact = await t.artifact("app.tar.gz", "tampered bytes");
  const signature = await t.signature("app.tar.gz.sig", "app.tar.gz", "application bytes");
  await assertSignatureError(
    verifyArtifactSignatures(t.options([artifact], [signature])),
    `signature app.tar.gz.sig of artifact app.tar.gz: invalid: bash exited with code 3; see ${t.outputPath}`,
  );
  assert.match(await Deno.readTextFile(t.outputPath), new RegExp(`checking ${artifact.path}\n`));
});

Deno.test("verifyArtifactSignatures() only warns about an invalid signature when told not to fail, and goes on", async () => {
  await using t = await setup();
  const bad = await t.artifact("bad.bin", "tampered");
  const good = await t.artifact("good.bin", "good");
  const signatures = [
    await t.signature("bad.sig", "bad.bin", "original"),
    await t.signature("good.sig", "good.bin", "good"),
  ];
  const report = await verifyArtifactSignatures(t.options([bad, good], signatures, { failOnInvalid: false }));
  assert.deepEqual(report.invalid, [{ filename: "bad.bin", code: 3 }]);
  assert.deepEqual(report.verified, ["good.bin"]);
  assert.deepEqual(t.warnings(), [
    `signature bad.sig of artifact bad.bin: invalid: bash exited with code 3; see ${t.outputPath}`,
  ]);
  const output = await Deno.readTextFile(t.outputPath);
  assert.equal(output.match(/^--- /gm)?.length, 2, "one header per verification");
});

Deno.test("verifyArtifactSignatures() warns about an artifact without a signature, or fails when told to", async () => {
  await using t = await setup();
  const signed = await t.artifact("signed.bin", "s");
  const unsigned = await t.artifact("unsigned.bin", "u");
  const signature = await t.signature("signed.sig", "signed.bin", "s");
  const report = await verifyArtifactSignatures(t.options([signed, unsigned], [signature]));
  assert.deepEqual(report.artifactsWithoutSignature, ["unsigned.bin"]);
  assert.deepEqual(report.verified, ["signed.bin"]);
  assert.deepEqual(t.warnings(), ["no signature for artifact(s) unsigned.bin"]);

  await Deno.remove(t.outputPath);
  await assertSignatureError(
    verifyArtifactSignatures(t.options([signed, unsigned], [signature], { failOnArtifactWithoutSignature: true })),
    "no signature for artifact(s) unsigned.bin",
  );
  assert.equal(await outputExists(t.outputPath), false, "nothing is verified before failing");
});

Deno.test("verifyArtifactSignatures() warns about a signature without an artifact, or fails when told to", async () => {
  await using t = await setup();
  const artifact = await t.artifact("app.bin", "a");
  const signatures = [await t.signature("app.sig", "app.bin", "a"), await t.signature("gone.sig", "gone.bin", "g")];
  const report = await verifyArtifactSignatures(t.options([artifact], signatures));
  assert.deepEqual(report.signaturesWithoutArtifact, ["gone.sig"]);
  assert.deepEqual(report.verified, ["app.bin"]);
  assert.deepEqual(t.warnings(), ["no matching artifact for signature(s) gone.sig (for gone.bin)"]);

  await Deno.remove(t.outputPath);
  await assertSignatureError(
    verifyArtifactSignatures(t.options([artifact], signatures, { failOnSignatureWithoutArtifact: true })),
    "no matching artifact for signature(s) gone.sig (for gone.bin)",
  );
  assert.equal(await outputExists(t.outputPath), false, "nothing is verified before failing");
});

Deno.test("verifyArtifactSignatures() keeps the first of duplicate artifacts and of duplicate signatures, warning", async () => {
  await using t = await setup();
  const first = await t.artifact("app.bin", "first", "1-app.bin");
  const second = await t.artifact("app.bin", "second", "2-app.bin");
  const signatures = [
    await t.signature("app.sig", "app.bin", "first"),
    await t.signature("app-again.sig", "app.bin", "second"),
  ];
  const report = await verifyArtifactSignatures(t.options([first, second], signatures));
  assert.deepEqual(report.verified, ["app.bin"]);
  assert.deepEqual(t.warnings(), [
    "duplicate artifact file name app.bin: artifact app.bin (s3://bucket/deploys/app.bin) is checked, " +
    "artifact app.bin (s3://bucket/deploys/app.bin) is not",
    "duplicate signatures for artifact app.bin: app.sig is used, app-again.sig is not",
  ]);
  const output = await Deno.readTextFile(t.outputPath);
  assert.ok(output.includes(`arg: ${first.path}\narg: ${signatures[0].path}\n`));
  assert.ok(!output.includes(second.path) && !output.includes(signatures[1].path));
});

Deno.test("verifyArtifactSignatures() without signatures checks nothing, even when artifacts must be signed", async () => {
  await using t = await setup();
  const artifact = await t.artifact("app.bin", "a");
  const report = await verifyArtifactSignatures(t.options([artifact], [], { failOnArtifactWithoutSignature: true }));
  assert.deepEqual(report.artifactsWithoutSignature, []);
  assert.deepEqual(t.logs, ["no artifact signatures given; skipping signature verification"]);
  assert.equal(await outputExists(t.outputPath), false);
});

Deno.test("verifyArtifactSignatures() skips an artifact missing from the cache, with a warning", async () => {
  await using t = await setup();
  const signature = await t.signature("app.sig", "app.bin", "a");
  const missing: CachedArtifact = { artifact: s3("app.bin"), path: join(t.cache, "app.bin") };
  const report = await verifyArtifactSignatures(t.options([missing], [signature]));
  assert.deepEqual(report.missing, ["app.bin"]);
  assert.deepEqual(report.verified, []);
  assert.deepEqual(t.warnings(), [`artifact app.bin not found at ${missing.path}; its signature is not checked`]);
  assert.equal(await outputExists(t.outputPath), false);
});

Deno.test("verifyArtifactSignatures() treats a verifier that cannot run as an invalid signature", async () => {
  await using t = await setup();
  const options = t.options([await t.artifact("a.bin", "a")], [await t.signature("a.sig", "a.bin", "a")], {
    command: [join(t.sandbox, "no-such-verifier"), "{artifactSignaturePath}"],
  });
  await assert.rejects(verifyArtifactSignatures(options), (error: Error) => {
    assert.ok(error instanceof ArtifactSignatureError);
    assert.match(
      error.message,
      /^signature a\.sig of artifact a\.bin: invalid: cannot run .*no-such-verifier \(.+\); see /,
    );
    return true;
  });
  const report = await verifyArtifactSignatures({ ...options, failOnInvalid: false });
  assert.deepEqual(report.invalid, [{ filename: "a.bin", code: -1 }]);
});

Deno.test("verifyArtifactSignatures() kills the verifier when the signal aborts", async () => {
  await using t = await setup();
  const controller = new AbortController();
  const started = Date.now();
  const run = verifyArtifactSignatures(
    t.options([await t.artifact("a.bin", "a")], [await t.signature("a.sig", "a.bin", "a")], {
      command: ["bash", "-c", "echo started; exec sleep 30"],
      signal: controller.signal,
    }),
  );
  while (!(await Deno.readTextFile(t.outputPath).catch(() => "")).includes("started")) {
    await new Promise((resolve) => setTimeout(resolve, 10));
  }
  controller.abort(new Error("task killed"));
  await assert.rejects(run, { message: "task killed" });
  assert.ok(Date.now() - started < 10_000);
});

Deno.test({
  name: "verifyArtifactSignatures() with real gpg: a good detached signature passes, a tampered artifact fails",
  ignore: !HAS_GPG,
  async fn() {
    await using t = await setup();
    const home = join(t.cache, "..", "gnupg");
    await Deno.mkdir(home, { mode: 0o700 });
    const gpg = async (...args: string[]) => {
      const result = await new Deno.Command("gpg", { args: ["--homedir", home, "--batch", ...args] }).output();
      assert.ok(result.success, new TextDecoder().decode(result.stderr));
    };
    try {
      await gpg(
        "--passphrase",
        "",
        "--quick-gen-key",
        "Signing Test <signing@example.com>",
        "ed25519",
        "sign",
        "never",
      );
      const artifact = await t.artifact("app.tar.gz", "application bytes", "c0ffee-app.tar.gz");
      const signaturePath = join(t.cache, "app.tar.gz.asc");
      await gpg("--armor", "--detach-sign", "--output", signaturePath, artifact.path);
      const signature: CachedSignature = {
        signature: { ...s3("app.tar.gz.asc"), artifactFilename: "app.tar.gz" },
        path: signaturePath,
      };
      const command = ["gpg", "--homedir", home, "--batch", "--verify", "{artifactSignaturePath}", "{artifactPath}"];
      const report = await verifyArtifactSignatures(t.options([artifact], [signature], { command }));
      assert.deepEqual(report.verified, ["app.tar.gz"]);
      assert.match(await Deno.readTextFile(t.outputPath), /Good signature from "Signing Test <signing@example.com>"/);

      await Deno.writeTextFile(artifact.path, "tampered bytes");
      await assertSignatureError(
        verifyArtifactSignatures(t.options([artifact], [signature], { command })),
        `signature app.tar.gz.asc of artifact app.tar.gz: invalid: gpg exited with code 1; see ${t.outputPath}`,
      );
      assert.match(await Deno.readTextFile(t.outputPath), /BAD signature from "Signing Test <signing@example.com>"/);
    } finally {
      // gpg started an agent for this home directory; stop exactly that one.
      await new Deno.Command("gpgconf", { args: ["--homedir", home, "--kill", "gpg-agent"] }).output();
    }
  },
});

Deno.test("signatureSettings() gives the documented defaults for keys the configuration does not set", async () => {
  const dir = await Deno.makeTempDir({ prefix: "signatures-config-" });
  try {
    const { config } = await loadConfig<ExecutorKeys>(EXECUTOR, { configDir: dir, validate: false });
    const expected: SignatureSettings = {
      command: ["/usr/bin/gpg", "--batch", "--verify", "{artifactSignaturePath}", "{artifactPath}"],
      failOnInvalid: true,
      failOnArtifactWithoutSignature: false,
      failOnSignatureWithoutArtifact: false,
      outputFile: "executor.gpg.out",
    };
    assert.deepEqual(signatureSettings(config), expected);
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("signatureSettings() reads set values from the executor configuration", async () => {
  const dir = await Deno.makeTempDir({ prefix: "signatures-config-" });
  try {
    await Deno.writeTextFile(
      join(dir, "singularity.executor.properties"),
      [
        "executor.artifact.signature.verification.command= /usr/bin/gpgv , --keyring, /etc/keys.gpg, {artifactSignaturePath}, {artifactPath}",
        "executor.artifact.signature.fail.on.invalid=FALSE",
        "executor.artifact.signature.fail.on.artifact.without.signature=true",
        "executor.artifact.signature.fail.on.signature.without.artifact=True",
        "executor.artifact.signature.output.file=logs/gpg.out",
      ].join("\n"),
    );
    const { config, errors } = await loadConfig<ExecutorKeys>(EXECUTOR, { configDir: dir, validate: false });
    assert.deepEqual(errors, []);
    assert.deepEqual(signatureSettings(config), {
      command: ["/usr/bin/gpgv", "--keyring", "/etc/keys.gpg", "{artifactSignaturePath}", "{artifactPath}"],
      failOnInvalid: false,
      failOnArtifactWithoutSignature: true,
      failOnSignatureWithoutArtifact: true,
      outputFile: "logs/gpg.out",
    });
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});
