import assert from "node:assert/strict";
import { UPLOADER, type UploaderKeys } from "../../../lib/config/mod.ts";
import {
  contentHeadersFor,
  parseContentHeaderRules,
  uploaderSettings,
  UploaderSettingsError,
} from "../../../lib/s3/uploader/settings.ts";
import { loadTestConfig } from "../../support/s3_server.ts";

Deno.test("uploaderSettings() from the defaults: hours as milliseconds, lsof, no rules, no metrics", async () => {
  await using setup = await loadTestConfig<UploaderKeys>(UPLOADER, { properties: { "agent.hostname": "agent-3" } });
  const settings = uploaderSettings(setup.config);
  assert.deepEqual({ ...settings, metadataDirectory: "M" }, {
    metadataDirectory: "M",
    metadataSuffix: ".s3.json",
    workDirectory: "/var/lib/mesos",
    host: "agent-3",
    checkEveryMs: 600_000,
    rescanEveryMs: 600_000,
    expireAfterMs: 168 * 3_600_000,
    maxUploadThreads: 25,
    maxSingleUploadSize: 5 * 1024 ** 3,
    partSize: 20 * 1024 ** 2,
    partConcurrency: 4,
    retryCount: 2,
    retryWaitMs: 1000,
    checkOpenFiles: true,
    openFileCheck: "lsof",
    contentHeaders: [],
    stallTimeoutMs: 60_000,
    shutdownGraceMs: 10_000,
    metricsPort: 0,
  });
});

Deno.test("uploaderSettings() with negative hours never expires; an empty agent.hostname is the machine's name", async () => {
  await using setup = await loadTestConfig<UploaderKeys>(UPLOADER, {
    properties: { "s3uploader.stop.checking.after.hours.without.new.file": "-3" },
  });
  const settings = uploaderSettings(setup.config);
  assert.equal(settings.expireAfterMs, -1);
  assert.equal(settings.host, Deno.hostname());
});

Deno.test("parseContentHeaderRules() and contentHeadersFor(): first suffix wins", () => {
  const rules = parseContentHeaderRules(
    '[{"filenameEndsWith":".log.gz","contentType":"text/plain","contentEncoding":"gzip"},' +
      '{"filenameEndsWith":".gz","contentType":"application/gzip"},{"filenameEndsWith":".log","contentType":null,' +
      '"contentEncoding":"identity"}]',
  );
  assert.deepEqual(rules, [
    { filenameEndsWith: ".log.gz", contentType: "text/plain", contentEncoding: "gzip" },
    { filenameEndsWith: ".gz", contentType: "application/gzip" },
    { filenameEndsWith: ".log", contentEncoding: "identity" },
  ]);
  assert.deepEqual(contentHeadersFor("service.log.gz", rules), { contentType: "text/plain", contentEncoding: "gzip" });
  assert.deepEqual(contentHeadersFor("x.tar.gz", rules), { contentType: "application/gzip" });
  assert.deepEqual(contentHeadersFor("a.log", rules), { contentEncoding: "identity" });
  assert.deepEqual(contentHeadersFor("a.txt", rules), {});
  assert.deepEqual(parseContentHeaderRules("  "), []);
});

Deno.test("parseContentHeaderRules() names the key, the value and what is wrong", () => {
  const expected =
    'expected a JSON list like [{"filenameEndsWith":".log.gz","contentType":"text/plain","contentEncoding":"gzip"}]';
  const cases: [string, string][] = [
    [
      "[{",
      `s3uploader.content.headers = "[{": not valid JSON (Expected property name or '}' in JSON at position 2 (line 1 column 3)); ${expected}`,
    ],
    ['{"a":1}', `s3uploader.content.headers = "{\\"a\\":1}": not a JSON list; ${expected}`],
    ["[1]", `s3uploader.content.headers = "[1]": item 1 is not an object; ${expected}`],
    [
      '[{"filenameEndsWith":".gz","contentType":"x"},{"filenameEndsWith":".log"}]',
      `s3uploader.content.headers = "[{\\"filenameEndsWith\\":\\".gz\\",\\"contentType\\":\\"x\\"},{\\"filenameEndsWith\\":\\".log\\"}]": item 2 sets neither contentType nor contentEncoding; ${expected}`,
    ],
    [
      '[{"filenameEndsWith":".gz","contentTipe":"x"}]',
      `s3uploader.content.headers = "[{\\"filenameEndsWith\\":\\".gz\\",\\"contentTipe\\":\\"x\\"}]": item 1 has unknown field contentTipe; ${expected}`,
    ],
    [
      '[{"filenameEndsWith":".gz","contentType":7}]',
      `s3uploader.content.headers = "[{\\"filenameEndsWith\\":\\".gz\\",\\"contentType\\":7}]": item 1 field contentType is not a non-empty string; ${expected}`,
    ],
  ];
  for (const [text, message] of cases) {
    assert.throws(() => parseContentHeaderRules(text), (error: Error) => {
      assert.ok(error instanceof UploaderSettingsError);
      assert.equal(error.message, message);
      return true;
    });
  }
});
