import assert from "node:assert/strict";
import { ArtifactFormatError } from "../../lib/artifacts/artifact.ts";
import {
  type ExecutorData,
  ExecutorDataError,
  isSuccessfulExit,
  LOGROTATE_FREQUENCIES,
  parseExecutorData,
  parseExecutorDataObject,
  parseS3ArtifactSignature,
} from "../../lib/executor/executor_data.ts";

function encode(value: unknown): Uint8Array {
  return new TextEncoder().encode(typeof value === "string" ? value : JSON.stringify(value));
}

/** Asserts that parsing `value` (bytes, or JSON of it) throws an ExecutorDataError with exactly `message`. */
function assertRefused(value: unknown, message: string): ExecutorDataError {
  let caught: unknown;
  try {
    parseExecutorData(value === undefined || value instanceof Uint8Array ? value : encode(value));
  } catch (error) {
    caught = error;
  }
  assert.ok(caught instanceof ExecutorDataError, `expected an ExecutorDataError for ${JSON.stringify(value)}`);
  assert.equal(caught.message, message);
  assert.equal(caught.name, "ExecutorDataError");
  return caught;
}

const FULL = {
  cmd: "java -jar app.jar",
  embeddedArtifacts: [{ name: "cfg", filename: "cfg.txt", content: "aGk=", md5sum: null }],
  externalArtifacts: [
    { name: "lib", filename: "lib.tar.gz", url: "https://example.com/lib.tar.gz", filesize: 10, isArtifactList: false },
  ],
  s3Artifacts: [{ name: "app", filename: "app.tar.gz", s3Bucket: "bucket", s3ObjectKey: "deploys/app.tar.gz" }],
  s3ArtifactSignatures: [
    {
      name: "app-sig",
      filename: "app.tar.gz.asc",
      s3Bucket: "bucket",
      s3ObjectKey: "deploys/app.tar.gz.asc",
      artifactFilename: "app.tar.gz",
    },
  ],
  successfulExitCodes: [0, 3, -1],
  user: "webapp",
  runningSentinel: "/tmp/running",
  extraCmdLineArgs: ["--port", "$PORT0"],
  loggingTag: "web",
  loggingExtraFields: { team: "infra", "log-type": "access" },
  sigKillProcessesAfterMillis: 120000,
  maxTaskThreads: 500,
  preserveTaskSandboxAfterFinish: true,
  maxOpenFiles: 65536,
  skipLogrotateAndCompress: false,
  logrotateFrequency: "HOURLY",
  s3UploaderAdditionalFiles: [
    "gc.log",
    {
      filename: "access*.log",
      s3UploaderBucket: "logs-bucket",
      s3UploaderKeyPattern: "%requestId/%Y/%m/%filename",
      s3UploaderFilenameHint: "access",
      directory: "app/logs",
      s3StorageClass: "STANDARD_IA",
      applyS3StorageClassAfterBytes: 1048576,
      checkSubdirectories: true,
      compressBeforeUpload: true,
      checkIfOpen: false,
    },
  ],
  defaultS3Bucket: "default-bucket",
  s3UploaderKeyPattern: "%requestId/%Y/%m/%taskId_%index-%s%fileext",
  serviceLog: "logs/service.log",
  serviceFinishedTailLog: "logs/tail.log",
  requestGroup: "frontend",
  s3StorageClass: "GLACIER",
  applyS3StorageClassAfterBytes: 0,
  cpuHardLimit: 4,
  healthcheckOptions: {
    uri: "/health",
    healthcheckResultFilePath: "healthy",
    maxRetries: 10,
    intervalSeconds: 5,
    portIndex: 0,
  },
  somethingNewer: { ignored: true },
};

Deno.test("parseExecutorData() reads the minimal task data with empty lists", () => {
  assert.deepEqual(
    parseExecutorData(encode({ cmd: "./run.sh" })),
    {
      cmd: "./run.sh",
      embeddedArtifacts: [],
      externalArtifacts: [],
      s3Artifacts: [],
      s3ArtifactSignatures: [],
      successfulExitCodes: [],
      extraCmdLineArgs: [],
      loggingExtraFields: {},
      raw: { cmd: "./run.sh" },
    } satisfies ExecutorData,
  );
});

Deno.test("parseExecutorData() reads every field, the later superset included, and keeps the raw object", () => {
  const data = parseExecutorData(encode(FULL));
  assert.deepEqual(
    data,
    {
      cmd: "java -jar app.jar",
      embeddedArtifacts: [{ kind: "embedded", name: "cfg", filename: "cfg.txt", content: new Uint8Array([104, 105]) }],
      externalArtifacts: [
        {
          kind: "external",
          name: "lib",
          filename: "lib.tar.gz",
          url: "https://example.com/lib.tar.gz",
          filesize: 10,
          isArtifactList: false,
        },
      ],
      s3Artifacts: [
        { kind: "s3", name: "app", filename: "app.tar.gz", s3Bucket: "bucket", s3ObjectKey: "deploys/app.tar.gz" },
      ],
      s3ArtifactSignatures: [
        {
          kind: "s3",
          name: "app-sig",
          filename: "app.tar.gz.asc",
          s3Bucket: "bucket",
          s3ObjectKey: "deploys/app.tar.gz.asc",
          artifactFilename: "app.tar.gz",
        },
      ],
      successfulExitCodes: [0, 3, -1],
      user: "webapp",
      runningSentinel: "/tmp/running",
      extraCmdLineArgs: ["--port", "$PORT0"],
      loggingTag: "web",
      loggingExtraFields: { team: "infra", "log-type": "access" },
      sigKillProcessesAfterMillis: 120000,
      maxTaskThreads: 500,
      preserveTaskSandboxAfterFinish: true,
      maxOpenFiles: 65536,
      skipLogrotateAndCompress: false,
      logrotateFrequency: "HOURLY",
      s3UploaderAdditionalFiles: [
        { filename: "gc.log", checkSubdirectories: false, compressBeforeUpload: false, checkIfOpen: true },
        {
          filename: "access*.log",
          s3UploaderBucket: "logs-bucket",
          s3UploaderKeyPattern: "%requestId/%Y/%m/%filename",
          s3UploaderFilenameHint: "access",
          directory: "app/logs",
          s3StorageClass: "STANDARD_IA",
          applyS3StorageClassAfterBytes: 1048576,
          checkSubdirectories: true,
          compressBeforeUpload: true,
          checkIfOpen: false,
        },
      ],
      defaultS3Bucket: "default-bucket",
      s3UploaderKeyPattern: "%requestId/%Y/%m/%taskId_%index-%s%fileext",
      serviceLog: "logs/service.log",
      serviceFinishedTailLog: "logs/tail.log",
      requestGroup: "frontend",
      s3StorageClass: "GLACIER",
      applyS3StorageClassAfterBytes: 0,
      cpuHardLimit: 4,
      healthcheckOptions: { healthcheckResultFilePath: "healthy", maxRetries: 10, intervalSeconds: 5 },
      raw: FULL,
    } satisfies ExecutorData,
  );
});

Deno.test("parseExecutorData() reads null as absent", () => {
  const nulls: Record<string, unknown> = { cmd: "x" };
  for (const key of Object.keys(FULL)) if (key !== "cmd") nulls[key] = null;
  const data = parseExecutorData(encode(nulls));
  assert.deepEqual({ ...data, raw: undefined }, {
    cmd: "x",
    embeddedArtifacts: [],
    externalArtifacts: [],
    s3Artifacts: [],
    s3ArtifactSignatures: [],
    successfulExitCodes: [],
    extraCmdLineArgs: [],
    loggingExtraFields: {},
    raw: undefined,
  });
  assert.deepEqual(data.raw, nulls);
});

Deno.test("parseExecutorData() reads empty names as absent, and keeps an empty list of uploader files", () => {
  const data = parseExecutorData(encode({
    cmd: "x",
    defaultS3Bucket: "",
    s3UploaderKeyPattern: "",
    serviceLog: "",
    serviceFinishedTailLog: "",
    s3StorageClass: "",
    s3UploaderAdditionalFiles: [],
    healthcheckOptions: {},
    loggingTag: "",
  }));
  assert.equal(data.defaultS3Bucket, undefined);
  assert.equal(data.s3UploaderKeyPattern, undefined);
  assert.equal(data.serviceLog, undefined);
  assert.equal(data.serviceFinishedTailLog, undefined);
  assert.equal(data.s3StorageClass, undefined);
  assert.deepEqual(data.s3UploaderAdditionalFiles, []);
  assert.deepEqual(data.healthcheckOptions, {});
  assert.equal(data.loggingTag, "");
  assert.equal("s3UploaderAdditionalFiles" in parseExecutorData(encode({ cmd: "x" })), false);
});

Deno.test("parseExecutorData() gives uploader files defaults and keeps a plain directory", () => {
  const data = parseExecutorData(encode({
    cmd: "x",
    s3UploaderAdditionalFiles: [{ filename: "a.log", directory: "", s3UploaderBucket: "" }, {
      filename: "b.log",
      directory: ".",
      checkIfOpen: null,
    }],
  }));
  assert.deepEqual(data.s3UploaderAdditionalFiles, [
    { filename: "a.log", checkSubdirectories: false, compressBeforeUpload: false, checkIfOpen: true },
    { filename: "b.log", directory: ".", checkSubdirectories: false, compressBeforeUpload: false, checkIfOpen: true },
  ]);
});

Deno.test("parseExecutorData() accepts every logrotate frequency and a UTF-8 command", () => {
  for (const frequency of LOGROTATE_FREQUENCIES) {
    assert.equal(parseExecutorData(encode({ cmd: "x", logrotateFrequency: frequency })).logrotateFrequency, frequency);
  }
  assert.deepEqual(LOGROTATE_FREQUENCIES, [
    "EVERY_MINUTE",
    "EVERY_FIVE_MINUTES",
    "HOURLY",
    "DAILY",
    "WEEKLY",
    "MONTHLY",
  ]);
  assert.equal(parseExecutorData(encode({ cmd: "echo héllo ✓" })).cmd, "echo héllo ✓");
});

Deno.test("parseExecutorData() refuses missing, undecodable and non-object data", () => {
  assertRefused(undefined, "executor data: missing (the TaskInfo has no data)");
  assertRefused(new Uint8Array(), "executor data: missing (the TaskInfo data is empty)");
  assertRefused(new Uint8Array([0x7b, 0xff, 0xfe, 0x7d]), "executor data: not valid UTF-8 (4 bytes)");
  assertRefused(
    "{not json",
    "executor data: not valid JSON (Expected property name or '}' in JSON at position 1 (line 1 column 2))",
  );
  assertRefused(
    '{"cmd": "x"',
    "executor data: not valid JSON (Expected ',' or '}' after property value in JSON at position 11 (line 1 column 12))",
  );
  assertRefused("[1,2]", "executor data: expected a JSON object, got [1,2]");
  assertRefused("null", "executor data: expected a JSON object, got null");
  assertRefused('"cmd"', 'executor data: expected a JSON object, got "cmd"');
});

Deno.test("parseExecutorData() names the field, the bad value and what was expected", () => {
  const cases: [Record<string, unknown>, string][] = [
    [{ cmd: undefined }, "cmd: expected a non-empty string (the command to run), got nothing"],
    [{ cmd: null }, "cmd: expected a non-empty string (the command to run), got null"],
    [{ cmd: "" }, 'cmd: expected a non-empty string (the command to run), got ""'],
    [{ cmd: "  " }, 'cmd: expected a non-empty string (the command to run), got "  "'],
    [{ cmd: ["ls"] }, 'cmd: expected a non-empty string (the command to run), got ["ls"]'],
    [{ successfulExitCodes: [0, 1, "x"] }, 'successfulExitCodes[2]: expected a whole number, got "x"'],
    [{ successfulExitCodes: [null] }, "successfulExitCodes[0]: expected a whole number, got null"],
    [{ successfulExitCodes: [1.5] }, "successfulExitCodes[0]: expected a whole number, got 1.5"],
    [
      { successfulExitCodes: [2147483648] },
      "successfulExitCodes[0]: expected a whole number of at most 2147483647, got 2147483648",
    ],
    [
      { successfulExitCodes: [-2147483649] },
      "successfulExitCodes[0]: expected a whole number of at least -2147483648, got -2147483649",
    ],
    [{ successfulExitCodes: "0" }, 'successfulExitCodes: expected an array of whole numbers, got "0"'],
    [{ user: 0 }, "user: expected a string, got 0"],
    [{ user: "" }, 'user: expected a user name, got ""'],
    [{ runningSentinel: true }, "runningSentinel: expected a string, got true"],
    [{ extraCmdLineArgs: "--a --b" }, 'extraCmdLineArgs: expected an array of strings, got "--a --b"'],
    [{ extraCmdLineArgs: ["--a", 1] }, "extraCmdLineArgs[1]: expected a string, got 1"],
    [{ loggingTag: {} }, "loggingTag: expected a string, got {}"],
    [{ loggingExtraFields: [] }, "loggingExtraFields: expected an object of strings, got []"],
    [{ loggingExtraFields: "a=b" }, 'loggingExtraFields: expected an object of strings, got "a=b"'],
    [{ loggingExtraFields: { env: 1 } }, "loggingExtraFields.env: expected a string, got 1"],
    [{ loggingExtraFields: { "log-type": null } }, 'loggingExtraFields["log-type"]: expected a string, got null'],
    [
      { sigKillProcessesAfterMillis: -1 },
      "sigKillProcessesAfterMillis: expected a whole number of at least 0, got -1",
    ],
    [
      { sigKillProcessesAfterMillis: "100" },
      'sigKillProcessesAfterMillis: expected a whole number of at least 0, got "100"',
    ],
    [
      { sigKillProcessesAfterMillis: 2 ** 60 },
      "sigKillProcessesAfterMillis: expected a whole number of at most 9007199254740991, got 1152921504606847000",
    ],
    [{ maxTaskThreads: 0 }, "maxTaskThreads: expected a whole number of at least 1, got 0"],
    [{ maxTaskThreads: 2.5 }, "maxTaskThreads: expected a whole number of at least 1, got 2.5"],
    [{ maxTaskThreads: 2 ** 31 }, "maxTaskThreads: expected a whole number of at most 2147483647, got 2147483648"],
    [{ preserveTaskSandboxAfterFinish: "true" }, 'preserveTaskSandboxAfterFinish: expected true or false, got "true"'],
    [{ maxOpenFiles: 0 }, "maxOpenFiles: expected a whole number of at least 1, got 0"],
    [{ skipLogrotateAndCompress: 1 }, "skipLogrotateAndCompress: expected true or false, got 1"],
    [
      { logrotateFrequency: "hourly" },
      'logrotateFrequency: expected one of EVERY_MINUTE, EVERY_FIVE_MINUTES, HOURLY, DAILY, WEEKLY, MONTHLY, got "hourly"',
    ],
    [
      { logrotateFrequency: 1 },
      "logrotateFrequency: expected one of EVERY_MINUTE, EVERY_FIVE_MINUTES, HOURLY, DAILY, WEEKLY, MONTHLY, got 1",
    ],
    [
      { s3UploaderAdditionalFiles: "gc.log" },
      's3UploaderAdditionalFiles: expected an array of file names or objects, got "gc.log"',
    ],
    [{ s3UploaderAdditionalFiles: [3] }, "s3UploaderAdditionalFiles[0]: expected a file name or an object, got 3"],
    [
      { s3UploaderAdditionalFiles: ["a", null] },
      "s3UploaderAdditionalFiles[1]: expected a file name or an object, got null",
    ],
    [{ s3UploaderAdditionalFiles: [""] }, 's3UploaderAdditionalFiles[0]: expected a non-empty file name, got ""'],
    [
      { s3UploaderAdditionalFiles: [{}] },
      "s3UploaderAdditionalFiles[0].filename: expected a non-empty string, got nothing",
    ],
    [
      { s3UploaderAdditionalFiles: [{ filename: "" }] },
      's3UploaderAdditionalFiles[0].filename: expected a non-empty string, got ""',
    ],
    [
      { s3UploaderAdditionalFiles: [{ filename: "a", directory: "/var/log" }] },
      's3UploaderAdditionalFiles[0].directory: "/var/log" must stay inside the task sandbox (a relative path without "..")',
    ],
    [
      { s3UploaderAdditionalFiles: [{ filename: "a", directory: ".." }] },
      's3UploaderAdditionalFiles[0].directory: ".." must stay inside the task sandbox (a relative path without "..")',
    ],
    [
      { s3UploaderAdditionalFiles: ["x", { filename: "a", directory: "logs/../../etc" }] },
      's3UploaderAdditionalFiles[1].directory: "logs/../../etc" must stay inside the task sandbox (a relative path without "..")',
    ],
    [
      { s3UploaderAdditionalFiles: [{ filename: "a", directory: 7 }] },
      "s3UploaderAdditionalFiles[0].directory: expected a string, got 7",
    ],
    [
      { s3UploaderAdditionalFiles: [{ filename: "a", s3UploaderFilenameHint: "../x/y" }] },
      's3UploaderAdditionalFiles[0].s3UploaderFilenameHint: "../x/y" must not contain "/"',
    ],
    [
      { s3UploaderAdditionalFiles: [{ filename: "a", s3UploaderBucket: 5 }] },
      "s3UploaderAdditionalFiles[0].s3UploaderBucket: expected a string, got 5",
    ],
    [
      { s3UploaderAdditionalFiles: [{ filename: "a", s3UploaderKeyPattern: false }] },
      "s3UploaderAdditionalFiles[0].s3UploaderKeyPattern: expected a string, got false",
    ],
    [
      { s3UploaderAdditionalFiles: [{ filename: "a", s3StorageClass: [] }] },
      "s3UploaderAdditionalFiles[0].s3StorageClass: expected a string, got []",
    ],
    [
      { s3UploaderAdditionalFiles: [{ filename: "a", applyS3StorageClassAfterBytes: -5 }] },
      "s3UploaderAdditionalFiles[0].applyS3StorageClassAfterBytes: expected a whole number of at least 0, got -5",
    ],
    [
      { s3UploaderAdditionalFiles: [{ filename: "a", checkSubdirectories: "yes" }] },
      's3UploaderAdditionalFiles[0].checkSubdirectories: expected true or false, got "yes"',
    ],
    [
      { s3UploaderAdditionalFiles: [{ filename: "a", compressBeforeUpload: 0 }] },
      "s3UploaderAdditionalFiles[0].compressBeforeUpload: expected true or false, got 0",
    ],
    [
      { s3UploaderAdditionalFiles: [{ filename: "a", checkIfOpen: "no" }] },
      's3UploaderAdditionalFiles[0].checkIfOpen: expected true or false, got "no"',
    ],
    [{ defaultS3Bucket: 1 }, "defaultS3Bucket: expected a string, got 1"],
    [{ s3UploaderKeyPattern: [] }, "s3UploaderKeyPattern: expected a string, got []"],
    [
      { serviceLog: "/var/log/service.log" },
      'serviceLog: "/var/log/service.log" must stay inside the task sandbox (a relative path without "..")',
    ],
    [
      { serviceLog: "../service.log" },
      'serviceLog: "../service.log" must stay inside the task sandbox (a relative path without "..")',
    ],
    [{ serviceLog: 5 }, "serviceLog: expected a string, got 5"],
    [
      { serviceFinishedTailLog: "logs/../../tail.log" },
      'serviceFinishedTailLog: "logs/../../tail.log" must stay inside the task sandbox (a relative path without "..")',
    ],
    [
      { serviceFinishedTailLog: "/tmp/tail.log" },
      'serviceFinishedTailLog: "/tmp/tail.log" must stay inside the task sandbox (a relative path without "..")',
    ],
    [{ requestGroup: 1 }, "requestGroup: expected a string, got 1"],
    [{ s3StorageClass: true }, "s3StorageClass: expected a string, got true"],
    [
      { applyS3StorageClassAfterBytes: 1.5 },
      "applyS3StorageClassAfterBytes: expected a whole number of at least 0, got 1.5",
    ],
    [{ cpuHardLimit: 0 }, "cpuHardLimit: expected a whole number of at least 1, got 0"],
    [{ healthcheckOptions: "x" }, 'healthcheckOptions: expected an object, got "x"'],
    [{ healthcheckOptions: [] }, "healthcheckOptions: expected an object, got []"],
    [
      { healthcheckOptions: { maxRetries: -1 } },
      "healthcheckOptions.maxRetries: expected a whole number of at least 0, got -1",
    ],
    [
      { healthcheckOptions: { intervalSeconds: "5" } },
      'healthcheckOptions.intervalSeconds: expected a whole number of at least 0, got "5"',
    ],
    [
      { healthcheckOptions: { healthcheckResultFilePath: 1 } },
      "healthcheckOptions.healthcheckResultFilePath: expected a string, got 1",
    ],
    [{ embeddedArtifacts: {} }, "embeddedArtifacts: expected an array, got {}"],
    [{ embeddedArtifacts: [{ filename: "a", content: "!!" }] }, "embeddedArtifacts[0].content: not valid base64"],
    [
      { externalArtifacts: [{ filename: "a", url: "ftp://example.com/a" }] },
      'externalArtifacts[0].url: "ftp://example.com/a" is not an http or https URL',
    ],
    [
      { s3Artifacts: [{ filename: "a", s3Bucket: "b" }] },
      "s3Artifacts[0].s3ObjectKey: expected a non-empty string, got nothing",
    ],
    [
      { s3ArtifactSignatures: [{ filename: "a.asc", s3Bucket: "b", s3ObjectKey: "k" }] },
      "s3ArtifactSignatures[0].artifactFilename: expected a non-empty string, got nothing",
    ],
    [
      { s3ArtifactSignatures: [{ filename: "a.asc", s3Bucket: "b", s3ObjectKey: "k", artifactFilename: "" }] },
      's3ArtifactSignatures[0].artifactFilename: expected a non-empty string, got ""',
    ],
    [
      { s3ArtifactSignatures: [{ filename: "../a.asc", s3Bucket: "b", s3ObjectKey: "k", artifactFilename: "a" }] },
      's3ArtifactSignatures[0].filename: "../a.asc" must be a plain file name (no "/", not "." or "..")',
    ],
    [{ s3ArtifactSignatures: "sig" }, 's3ArtifactSignatures: expected an array, got "sig"'],
  ];
  for (const [fields, problem] of cases) assertRefused({ cmd: "x", ...fields }, `executor data: ${problem}`);
});

Deno.test("parseExecutorData() keeps the artifact parser's error as the cause", () => {
  const error = assertRefused(
    { cmd: "x", s3Artifacts: [3] },
    "executor data: s3Artifacts[0]: expected an object, got 3",
  );
  assert.ok(error.cause instanceof ArtifactFormatError);
});

Deno.test("parseExecutorDataObject() parses a decoded object", () => {
  assert.deepEqual(parseExecutorDataObject({ cmd: "x", successfulExitCodes: [1] }).successfulExitCodes, [1]);
  assert.throws(
    () => parseExecutorDataObject(undefined),
    new ExecutorDataError("executor data: expected a JSON object, got nothing"),
  );
});

Deno.test("parseS3ArtifactSignature() adds artifactFilename to an S3 artifact", () => {
  assert.deepEqual(
    parseS3ArtifactSignature({ filename: "a.asc", s3Bucket: "b", s3ObjectKey: "k", artifactFilename: "a" }, "sig"),
    { kind: "s3", name: "a.asc", filename: "a.asc", s3Bucket: "b", s3ObjectKey: "k", artifactFilename: "a" },
  );
  assert.throws(
    () => parseS3ArtifactSignature({ filename: "a.asc", s3Bucket: "b", s3ObjectKey: "k", artifactFilename: 1 }, "sig"),
    new ArtifactFormatError("sig.artifactFilename: expected a non-empty string, got 1"),
  );
});

Deno.test("isSuccessfulExit() counts only 0 when no codes are listed, else only the listed codes", () => {
  assert.equal(isSuccessfulExit({ successfulExitCodes: [] }, 0), true);
  assert.equal(isSuccessfulExit({ successfulExitCodes: [] }, 1), false);
  assert.equal(isSuccessfulExit({ successfulExitCodes: [] }, 137), false);
  assert.equal(isSuccessfulExit({ successfulExitCodes: [1, 2] }, 0), false);
  assert.equal(isSuccessfulExit({ successfulExitCodes: [1, 2] }, 2), true);
  assert.equal(isSuccessfulExit({ successfulExitCodes: [0, 143] }, 143), true);
  assert.equal(isSuccessfulExit(parseExecutorData(encode({ cmd: "x", successfulExitCodes: [0, 3] })), 3), true);
});
