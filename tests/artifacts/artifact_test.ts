import assert from "node:assert/strict";
import {
  ArtifactFormatError,
  parseArtifactList,
  parseEmbeddedArtifact,
  parseExternalArtifact,
  parseS3Artifact,
} from "../../lib/artifacts/artifact.ts";
import { parseDownloadRequest } from "../../lib/s3/download_request.ts";

Deno.test("parseS3Artifact() keeps the fields, lowercases the md5 and ignores unknown fields", () => {
  assert.deepEqual(
    parseS3Artifact({
      name: "app",
      filename: "app.tar.gz",
      md5sum: "9E107D9D372BB6826BD81D3542A419D6",
      filesize: 42,
      s3Bucket: "bucket",
      s3ObjectKey: "path/app.tar.gz",
      targetFolderRelativeToTask: "lib",
      somethingNew: true,
    }, "s3Artifacts[0]"),
    {
      kind: "s3",
      name: "app",
      filename: "app.tar.gz",
      md5sum: "9e107d9d372bb6826bd81d3542a419d6",
      filesize: 42,
      s3Bucket: "bucket",
      s3ObjectKey: "path/app.tar.gz",
      targetFolderRelativeToTask: "lib",
    },
  );
});

Deno.test("parseEmbeddedArtifact() decodes base64 content", () => {
  const artifact = parseEmbeddedArtifact({ name: "cfg", filename: "cfg.json", content: "eyJhIjoxfQ==" }, "x");
  assert.equal(new TextDecoder().decode(artifact.content), '{"a":1}');
});

Deno.test("artifact parsers name the field and the bad value", () => {
  const cases: [() => unknown, string][] = [
    [
      () => parseS3Artifact({ filename: "a", s3Bucket: "b" }, "s3Artifacts[1]"),
      "s3Artifacts[1].s3ObjectKey: expected a non-empty string, got nothing",
    ],
    [
      () => parseS3Artifact({ filename: "../x", s3Bucket: "b", s3ObjectKey: "k" }, "s3Artifacts[0]"),
      's3Artifacts[0].filename: "../x" must be a plain file name (no "/", not "." or "..")',
    ],
    [
      () => parseS3Artifact({ filename: "a/b", s3Bucket: "b", s3ObjectKey: "k" }, "a"),
      'a.filename: "a/b" must be a plain file name (no "/", not "." or "..")',
    ],
    [
      () => parseS3Artifact({ filename: "..", s3Bucket: "b", s3ObjectKey: "k" }, "a"),
      'a.filename: ".." must be a plain file name (no "/", not "." or "..")',
    ],
    [
      () => parseS3Artifact({ filename: "a", s3Bucket: "b", s3ObjectKey: "k", md5sum: "xyz" }, "a"),
      'a.md5sum: "xyz" is not 32 hex digits',
    ],
    [
      () => parseS3Artifact({ filename: "a", s3Bucket: "b", s3ObjectKey: "k", filesize: -1 }, "a"),
      "a.filesize: expected a whole number of bytes, got -1",
    ],
    [
      () =>
        parseS3Artifact(
          { filename: "a", s3Bucket: "b", s3ObjectKey: "k", targetFolderRelativeToTask: "x/../../y" },
          "a",
        ),
      'a.targetFolderRelativeToTask: "x/../../y" must stay inside the task sandbox (no "..")',
    ],
    [
      () => parseExternalArtifact({ filename: "a", url: "ftp://example.com/a" }, "e"),
      'e.url: "ftp://example.com/a" is not an http or https URL',
    ],
    [() => parseEmbeddedArtifact({ filename: "a", content: "not base64!" }, "m"), "m.content: not valid base64"],
    [() => parseArtifactList({}, "s3Artifacts", parseS3Artifact), "s3Artifacts: expected an array, got {}"],
    [() => parseArtifactList([7], "s3Artifacts", parseS3Artifact), "s3Artifacts[0]: expected an object, got 7"],
  ];
  for (const [parse, message] of cases) assert.throws(parse, new ArtifactFormatError(message));
  assert.deepEqual(parseArtifactList(null, "x", parseS3Artifact), []);
});

Deno.test("parseDownloadRequest() validates the target directory, the artifact and the timeout", () => {
  const s3Artifact = { name: "a", filename: "a.bin", s3Bucket: "b", s3ObjectKey: "k" };
  assert.deepEqual(parseDownloadRequest({ targetDirectory: "/srv/task", s3Artifact, timeoutMillis: 5000 }), {
    targetDirectory: "/srv/task",
    s3Artifact: { kind: "s3", ...s3Artifact },
    timeoutMillis: 5000,
  });
  const cases: [unknown, string][] = [
    [[], "request body: expected a JSON object, got []"],
    [{ s3Artifact }, 'targetDirectory: expected an absolute path without "..", got nothing'],
    [
      { targetDirectory: "relative", s3Artifact },
      'targetDirectory: expected an absolute path without "..", got "relative"',
    ],
    [
      { targetDirectory: "/srv/../etc", s3Artifact },
      'targetDirectory: expected an absolute path without "..", got "/srv/../etc"',
    ],
    [{ targetDirectory: "/srv" }, "s3Artifact: expected an object, got nothing"],
    [
      { targetDirectory: "/srv", s3Artifact, timeoutMillis: "soon" },
      'timeoutMillis: expected a positive whole number, got "soon"',
    ],
  ];
  for (const [body, message] of cases) {
    assert.throws(() => parseDownloadRequest(body), new ArtifactFormatError(message));
  }
});
