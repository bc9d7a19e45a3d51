import assert from "node:assert/strict";
import { join } from "node:path";
import {
  parseUploadMetadata,
  type UploadMetadata,
  uploadMetadataFileName,
  writeUploadMetadata,
} from "../../lib/s3/upload_metadata.ts";

const MINIMAL = { directory: "/s/logs", fileGlob: "*.gz", s3Bucket: "b", s3KeyFormat: "%filename" };

Deno.test("parseUploadMetadata() fills the defaults; null counts as absent; unknown fields are ignored", () => {
  assert.deepEqual(parseUploadMetadata(JSON.stringify({ ...MINIMAL, pid: null, whatever: 1 }), "t.s3.json"), {
    ...MINIMAL,
    finished: false,
    checkSubdirectories: false,
    compressBeforeUpload: false,
    checkIfOpen: true,
  });
});

Deno.test("parseUploadMetadata() reads every optional field", () => {
  const full = {
    ...MINIMAL,
    finished: true,
    onFinishGlob: "*.log",
    pid: 42,
    s3AccessKey: "AK",
    s3SecretKey: "SK",
    finishedAfterMillisWithoutNewFile: -1,
    storageClass: "STANDARD_IA",
    applyStorageClassIfOverBytes: 10,
    uploadImmediately: true,
    checkSubdirectories: true,
    compressBeforeUpload: true,
    checkIfOpen: false,
    encryptionKey: "kms-1",
    useS3ServerSideEncryption: true,
  };
  assert.deepEqual(parseUploadMetadata(JSON.stringify({ ...full, uploaderType: "S3" }), "t.s3.json"), full);
});

Deno.test("parseUploadMetadata() names the file, field and value of bad input", () => {
  const cases: [string, RegExp][] = [
    ["", /t\.s3\.json: empty \(still being written\?\)$/],
    ['{"directory": "/s', /t\.s3\.json: not valid JSON \(it ends early: still being written\?\)/],
    ["[]", /t\.s3\.json: expected a JSON object, got \[\]$/],
    [
      JSON.stringify({ ...MINIMAL, s3Bucket: undefined }),
      /field s3Bucket = nothing: expected a non-empty string \(required\)/,
    ],
    [JSON.stringify({ ...MINIMAL, directory: "logs" }), /field directory = "logs": expected an absolute path/],
    [JSON.stringify({ ...MINIMAL, finished: "yes" }), /field finished = "yes": expected true or false/],
    [JSON.stringify({ ...MINIMAL, pid: 1.5 }), /field pid = 1\.5: expected a whole number of at least 1/],
    [JSON.stringify({ ...MINIMAL, uploaderType: "GCS" }), /field uploaderType = "GCS": expected "S3"/],
  ];
  for (const [text, expected] of cases) {
    assert.throws(() => parseUploadMetadata(text, "t.s3.json"), expected, text);
  }
});

Deno.test("parseUploadMetadata() never shows a credential in its error", () => {
  assert.throws(
    () => parseUploadMetadata(JSON.stringify({ ...MINIMAL, s3SecretKey: ["hunter2-secret"] }), "t.s3.json"),
    (error: Error) => !error.message.includes("hunter2") && /s3SecretKey = \(hidden\)/.test(error.message),
  );
});

Deno.test("writeUploadMetadata() writes readable JSON atomically, 0600, leaving no temporary file", async () => {
  const dir = await Deno.makeTempDir();
  try {
    const metadata: UploadMetadata = {
      ...MINIMAL,
      finished: false,
      checkSubdirectories: false,
      compressBeforeUpload: false,
      checkIfOpen: true,
    };
    const path = await writeUploadMetadata(dir, uploadMetadataFileName("t1", ".s3.json"), metadata);
    assert.equal(path, join(dir, "t1.s3.json"));
    assert.deepEqual(parseUploadMetadata(await Deno.readTextFile(path), path), metadata);
    assert.equal((await Deno.stat(path)).mode! & 0o777, 0o600);
    assert.deepEqual([...Deno.readDirSync(dir)].map((e) => e.name), ["t1.s3.json"]);
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("uploadMetadataFileName() adds the hint; refuses names that would leave the directory or hide", () => {
  assert.equal(uploadMetadataFileName("t1", ".s3.json", "file2"), "t1-file2.s3.json");
  assert.throws(() => uploadMetadataFileName("../t1", ".s3.json"), /must not contain "\/" or start with "\."/);
});

Deno.test("parseUploadMetadata(): a JSON syntax error near a credential does not show the text", () => {
  const text = '{"directory":"/s","s3SecretKey":wJalrXUtnFEMIK7MDENGbPxRfiCYEXAMPLEKEY}';
  assert.throws(
    () => parseUploadMetadata(text, "t.s3.json"),
    (error: Error) => !error.message.includes("wJalr") && /not valid JSON \(a syntax error\)$/.test(error.message),
  );
});
