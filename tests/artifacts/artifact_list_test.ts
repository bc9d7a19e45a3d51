import assert from "node:assert/strict";
import { join } from "node:path";
import type { RemoteArtifact } from "../../lib/artifacts/artifact.ts";
import { ArtifactListError, listedArtifacts, parseArtifactListFile } from "../../lib/artifacts/artifact_list.ts";

/** A temporary sandbox removed when disposed. */
async function tempSandbox() {
  const path = await Deno.makeTempDir({ prefix: "artifact-list-test-" });
  return {
    path,
    /** Writes `value` (JSON unless a string) to `relative` below the sandbox; returns its path. */
    async write(relative: string, value: unknown): Promise<string> {
      const file = join(path, relative);
      await Deno.mkdir(join(file, ".."), { recursive: true });
      await Deno.writeTextFile(file, typeof value === "string" ? value : JSON.stringify(value));
      return file;
    },
    [Symbol.asyncDispose]: () => Deno.remove(path, { recursive: true }),
  };
}

/** Awaits `promise`, expecting an ArtifactListError with exactly `message` for `file`. */
async function assertListError(promise: Promise<unknown>, file: string, message: string): Promise<void> {
  let caught: unknown;
  try {
    await promise;
  } catch (error) {
    caught = error;
  }
  assert.ok(caught instanceof ArtifactListError, `expected an ArtifactListError, got ${caught}`);
  assert.equal(caught.message, message);
  assert.equal(caught.file, file);
  assert.equal(caught.name, "ArtifactListError");
}

function s3(filename: string, overrides: Record<string, unknown> = {}): Record<string, unknown> {
  return { name: filename, filename, s3Bucket: "bucket", s3ObjectKey: `deploys/${filename}`, ...overrides };
}

const LIST = {
  embeddedArtifacts: [{ name: "cfg", filename: "cfg.txt", content: "aGk=" }],
  externalArtifacts: [{ name: "lib", filename: "lib.jar", url: "https://example.com/lib.jar", filesize: 4 }],
  s3Artifacts: [s3("app.tar.gz", { md5sum: "0123456789ABCDEF0123456789abcdef" })],
  s3ArtifactSignatures: [{ ...s3("app.tar.gz.asc"), artifactFilename: "app.tar.gz" }],
  unknownField: "ignored",
};

Deno.test("parseArtifactListFile() reads the four arrays", async () => {
  await using sandbox = await tempSandbox();
  const list = await parseArtifactListFile(await sandbox.write("list.json", LIST));
  assert.deepEqual(list, {
    embedded: [{ kind: "embedded", name: "cfg", filename: "cfg.txt", content: new TextEncoder().encode("hi") }],
    external: [{ kind: "external", name: "lib", filename: "lib.jar", url: "https://example.com/lib.jar", filesize: 4 }],
    s3: [{
      kind: "s3",
      name: "app.tar.gz",
      filename: "app.tar.gz",
      md5sum: "0123456789abcdef0123456789abcdef",
      s3Bucket: "bucket",
      s3ObjectKey: "deploys/app.tar.gz",
    }],
    s3Signatures: [{
      kind: "s3",
      name: "app.tar.gz.asc",
      filename: "app.tar.gz.asc",
      s3Bucket: "bucket",
      s3ObjectKey: "deploys/app.tar.gz.asc",
      artifactFilename: "app.tar.gz",
    }],
  });
});

Deno.test("parseArtifactListFile() takes absent or null arrays as empty", async () => {
  await using sandbox = await tempSandbox();
  const list = await parseArtifactListFile(
    await sandbox.write("list.json", { embeddedArtifacts: null, s3Artifacts: [s3("a.bin")] }),
  );
  assert.deepEqual(list.embedded, []);
  assert.deepEqual(list.external, []);
  assert.deepEqual(list.s3Signatures, []);
  assert.equal(list.s3.length, 1);
});

Deno.test("parseArtifactListFile() refuses a missing file, naming it", async () => {
  await using sandbox = await tempSandbox();
  const file = join(sandbox.path, "absent.json");
  await assertListError(parseArtifactListFile(file), file, `artifact list ${file}: not found`);
});

Deno.test("parseArtifactListFile() names the file and the field path of a malformed entry", async () => {
  await using sandbox = await tempSandbox();
  const file = await sandbox.write("list.json", { s3Artifacts: [s3("a.bin"), s3("b.bin", { s3Bucket: "" })] });
  await assertListError(
    parseArtifactListFile(file),
    file,
    `artifact list ${file}: s3Artifacts[1].s3Bucket: expected a non-empty string, got ""`,
  );
  const signatures = await sandbox.write("signatures.json", { s3ArtifactSignatures: [s3("a.asc")] });
  await assertListError(
    parseArtifactListFile(signatures),
    signatures,
    `artifact list ${signatures}: s3ArtifactSignatures[0].artifactFilename: expected a non-empty string, got nothing`,
  );
  const notArray = await sandbox.write("not_array.json", { externalArtifacts: { url: "x" } });
  await assertListError(
    parseArtifactListFile(notArray),
    notArray,
    `artifact list ${notArray}: externalArtifacts: expected an array, got {"url":"x"}`,
  );
});

Deno.test("parseArtifactListFile() refuses text that is not JSON, and JSON that is not an object", async () => {
  await using sandbox = await tempSandbox();
  const broken = await sandbox.write("broken.json", '{"s3Artifacts": [');
  await assert.rejects(parseArtifactListFile(broken), (error: Error) => {
    assert.ok(error instanceof ArtifactListError);
    assert.match(error.message, new RegExp(`^artifact list ${broken}: not valid JSON \\(.+\\)$`));
    return true;
  });
  const array = await sandbox.write("array.json", "[1, 2]");
  await assertListError(
    parseArtifactListFile(array),
    array,
    `artifact list ${array}: expected a JSON object, got [1,2]`,
  );
});

Deno.test("listedArtifacts() reads every list from its placed file and returns the union, in order", async () => {
  await using sandbox = await tempSandbox();
  await sandbox.write("lists/first.json", { s3Artifacts: [s3("one.bin")], externalArtifacts: LIST.externalArtifacts });
  await sandbox.write("second.json", {
    s3Artifacts: [s3("two.bin")],
    s3ArtifactSignatures: LIST.s3ArtifactSignatures,
    embeddedArtifacts: LIST.embeddedArtifacts,
  });
  // A file named like a list but not flagged as one is not read.
  await sandbox.write("plain.json", "not json");
  const artifacts: RemoteArtifact[] = [
    {
      kind: "s3",
      name: "first",
      filename: "first.json",
      s3Bucket: "b",
      s3ObjectKey: "first.json",
      isArtifactList: true,
      targetFolderRelativeToTask: "lists",
    },
    { kind: "s3", name: "plain", filename: "plain.json", s3Bucket: "b", s3ObjectKey: "plain.json" },
    {
      kind: "external",
      name: "second",
      filename: "second.json",
      url: "https://example.com/second.json",
      isArtifactList: true,
    },
  ];
  const logs: string[] = [];
  const warnings: string[] = [];
  const union = await listedArtifacts(artifacts, sandbox.path, {
    log: (line) => logs.push(line),
    warn: (line) => warnings.push(line),
  });
  assert.deepEqual(union.s3.map((artifact) => artifact.filename), ["one.bin", "two.bin"]);
  assert.deepEqual(union.external.map((artifact) => artifact.filename), ["lib.jar"]);
  assert.deepEqual(union.embedded.map((artifact) => artifact.filename), ["cfg.txt"]);
  assert.deepEqual(union.s3Signatures.map((signature) => signature.artifactFilename), ["app.tar.gz"]);
  assert.deepEqual(logs, [
    `artifact list ${
      join(sandbox.path, "lists/first.json")
    }: 0 embedded, 1 S3, 0 S3 signature(s), 1 external artifact(s)`,
    `artifact list ${join(sandbox.path, "second.json")}: 1 embedded, 1 S3, 1 S3 signature(s), 0 external artifact(s)`,
  ]);
  assert.deepEqual(warnings, []);
});

Deno.test("listedArtifacts() with no lists reads nothing", async () => {
  await using sandbox = await tempSandbox();
  const union = await listedArtifacts(
    [{ kind: "s3", name: "a", filename: "a.json", s3Bucket: "b", s3ObjectKey: "a", isArtifactList: false }],
    sandbox.path,
  );
  assert.deepEqual(union, { embedded: [], external: [], s3: [], s3Signatures: [] });
});

Deno.test("listedArtifacts() expands one level: a list inside a list is returned, not read, with a warning", async () => {
  await using sandbox = await tempSandbox();
  const outer = await sandbox.write("outer.json", {
    s3Artifacts: [s3("inner.json", { isArtifactList: true }), s3("data.bin")],
  });
  // Present and valid, yet never read: expansion stops at one level.
  await sandbox.write("inner.json", { s3Artifacts: [s3("deeper.bin")] });
  const warnings: string[] = [];
  const union = await listedArtifacts(
    [{ kind: "s3", name: "outer", filename: "outer.json", s3Bucket: "b", s3ObjectKey: "k", isArtifactList: true }],
    sandbox.path,
    { warn: (line) => warnings.push(line) },
  );
  assert.deepEqual(union.s3.map((artifact) => [artifact.filename, artifact.isArtifactList]), [
    ["inner.json", true],
    ["data.bin", undefined],
  ]);
  assert.deepEqual(warnings, [
    `artifact inner.json (s3://bucket/deploys/inner.json) in artifact list ${outer} is itself an artifact list; ` +
    "it is fetched but not expanded (artifact lists are expanded one level deep)",
  ]);
});

Deno.test("listedArtifacts() fails when a list was not placed where expected, naming the artifact and the path", async () => {
  await using sandbox = await tempSandbox();
  const file = join(sandbox.path, "conf", "list.json");
  await assertListError(
    listedArtifacts(
      [{
        kind: "s3",
        name: "app-lists",
        filename: "list.json",
        s3Bucket: "b",
        s3ObjectKey: "k/list.json",
        isArtifactList: true,
        targetFolderRelativeToTask: "conf",
      }],
      sandbox.path,
    ),
    file,
    `artifact app-lists (s3://b/k/list.json) is an artifact list, but artifact list ${file}: not found`,
  );
});

Deno.test("listedArtifacts() passes a malformed list's field error through, naming the file", async () => {
  await using sandbox = await tempSandbox();
  const file = await sandbox.write("list.json", { externalArtifacts: [{ filename: "x", url: "ftp://example.com/x" }] });
  await assertListError(
    listedArtifacts(
      [{ kind: "external", name: "l", filename: "list.json", url: "https://example.com/l", isArtifactList: true }],
      sandbox.path,
    ),
    file,
    `artifact l (https://example.com/l) is an artifact list, but artifact list ${file}: ` +
      `externalArtifacts[0].url: "ftp://example.com/x" is not an http or https URL`,
  );
});

Deno.test("listedArtifacts() looks where targetFor says", async () => {
  await using sandbox = await tempSandbox();
  await sandbox.write("elsewhere/list.json", { s3Artifacts: [s3("x.bin")] });
  const seen: string[] = [];
  const union = await listedArtifacts(
    [{ kind: "s3", name: "l", filename: "list.json", s3Bucket: "b", s3ObjectKey: "k", isArtifactList: true }],
    sandbox.path,
    {
      targetFor: (artifact, dir) => {
        seen.push(`${artifact.filename} in ${dir}`);
        return join(dir, "elsewhere");
      },
    },
  );
  assert.deepEqual(seen, [`list.json in ${sandbox.path}`]);
  assert.deepEqual(union.s3.map((artifact) => artifact.filename), ["x.bin"]);
});
