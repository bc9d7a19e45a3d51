import assert from "node:assert/strict";
import { join, resolve } from "node:path";

const projectDir = resolve(import.meta.dirname!, "../..");

async function build(env: Record<string, string>, out: string) {
  const output = await new Deno.Command(Deno.execPath(), {
    args: ["run", "-A", join(projectDir, "scripts/build.ts"), "--config-dir", out, "--out", out],
    env: { ...env, NO_COLOR: "1", DENO_NO_UPDATE_CHECK: "1" },
    stdout: "piped",
    stderr: "piped",
  }).output();
  const decoder = new TextDecoder();
  return { code: output.code, stdout: decoder.decode(output.stdout), stderr: decoder.decode(output.stderr) };
}

Deno.test("deno task build falls back to bundle + launcher when deno compile has no runtime", async () => {
  const out = await Deno.makeTempDir({ prefix: "build-test-" });
  try {
    const result = await build({ DENORT_BIN: "/nonexistent/denort" }, out);
    assert.equal(result.code, 0, result.stderr);
    assert.match(result.stdout, /deno compile has no runtime to build on .* using bundle \+ launcher/);
    for (const binary of ["singularity-executor", "singularity-s3-downloader"]) {
      const launcher = await Deno.readTextFile(join(out, "bin", binary));
      assert.match(launcher, /^#!\/bin\/sh\n/);
      assert.ok((await Deno.stat(join(out, "lib/singularity", `${binary}.js`))).isFile);
      const help = await new Deno.Command(join(out, "bin", binary), { args: ["--help"], stdout: "piped" }).output();
      assert.match(new TextDecoder().decode(help.stdout), new RegExp(`^usage: ${binary} `));
    }
  } finally {
    await Deno.remove(out, { recursive: true });
  }
});

Deno.test("REQUIRE_COMPILE=1 makes the fallback an error", async () => {
  const out = await Deno.makeTempDir({ prefix: "build-test-" });
  try {
    const result = await build({ DENORT_BIN: "/nonexistent/denort", REQUIRE_COMPILE: "1" }, out);
    assert.equal(result.code, 1);
    assert.match(result.stderr, /^build failed: deno compile of singularity-executor failed:\n.*denort/s);
    await assert.rejects(Deno.stat(join(out, "bin/singularity-executor")), Deno.errors.NotFound);
  } finally {
    await Deno.remove(out, { recursive: true });
  }
});

Deno.test("a compiled binary that does not run as the program (DENORT_BIN = the full deno) fails the build", async () => {
  const out = await Deno.makeTempDir({ prefix: "build-test-" });
  try {
    const result = await build({ DENORT_BIN: Deno.execPath() }, out);
    assert.equal(result.code, 1);
    assert.match(result.stderr, /does not run as singularity-executor \(bad DENORT_BIN\?\)/);
    await assert.rejects(Deno.stat(join(out, "bin/singularity-executor")), Deno.errors.NotFound);
  } finally {
    await Deno.remove(out, { recursive: true });
  }
});

Deno.test("a configuration the permission set cannot be computed from is refused at startup, naming the key", async () => {
  const dir = await Deno.makeTempDir({ prefix: "bad-permissions-" });
  try {
    await Deno.mkdir(join(dir, "log,s"));
    await Deno.writeTextFile(join(dir, "singularity.base.properties"), `root.log.directory=${dir}/log,s\n`);
    await Deno.writeTextFile(join(dir, "singularity.s3base.properties"), `artifact.cache.directory=${dir}\n`);
    const output = await new Deno.Command(Deno.execPath(), {
      args: ["run", "-A", join(projectDir, "main_downloader.ts"), "--config-dir", dir],
      stdout: "piped",
      stderr: "piped",
    }).output();
    assert.equal(output.code, 1);
    assert.equal(
      new TextDecoder().decode(output.stderr).trim(),
      `singularity-s3-downloader: invalid configuration: root.log.directory = "${dir}/log,s": ` +
        "a path containing a comma cannot be granted",
    );
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});
