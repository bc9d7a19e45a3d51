/**
 * The fault test: singularity-s3-uploader, as its own process with its
 * permission flags, is killed with SIGKILL at random points 20 times while
 * it uploads (S3 behind a throttling proxy, so uploads are slow enough to be
 * cut in the middle), and started again each time. After every kill no file
 * may be missing both locally and in S3; at the end every file is in S3
 * byte for byte exactly once (keys carry a %guid, so a second upload of a
 * file would show), no local file is left, and no multipart upload is left
 * incomplete.
 *
 * `UPLOADER_FAULT_SEED=<n>` replays a run (the seed is printed).
 */
import { ListMultipartUploadsCommand, ListObjectsV2Command, type S3Client } from "@aws-sdk/client-s3";
import assert from "node:assert/strict";
import { Buffer } from "node:buffer";
import { createHash } from "node:crypto";
import { join } from "node:path";
import { md5OfBytes } from "../../../lib/artifacts/md5.ts";
import { UPLOADER, type UploaderKeys } from "../../../lib/config/mod.ts";
import { closeS3Clients, s3ClientFor } from "../../../lib/s3/client.ts";
import { writeUploadMetadata } from "../../../lib/s3/upload_metadata.ts";
import { JOURNAL_DIRECTORY } from "../../../lib/s3/uploader/journal.ts";
import {
  createTestBucket,
  loadTestConfig,
  randomBytes,
  requireS3Server,
  S3_TEST_ENDPOINT,
  writeTestConfigDir,
} from "../../support/s3_server.ts";
import { journalPlans, listObjects, MIB, TEST_PROPERTIES, waitFor, writeLog } from "./_fixture.ts";
import { spawnUploader } from "./_process.ts";
import { startThrottledProxy } from "./_throttled_proxy.ts";

const KILLS = 20;
const PART = 5 * MIB;

/** A small seeded generator (mulberry32), so a failing run can be replayed. */
function seeded(seed: number): () => number {
  let state = seed >>> 0;
  return () => {
    state = (state + 0x6d2b79f5) >>> 0;
    let t = state;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

/** What S3 must end up holding for one file. */
interface Expected {
  path: string;
  /** The key prefix (the key is `<prefix>-<guid>`). */
  prefix: string;
  size: number;
  etag: string;
  md5: string;
}

/** The ETag S3 gives `bytes` (uploaded whole up to one part, else in parts). */
function etagOf(bytes: Uint8Array): string {
  if (bytes.length <= PART) return md5OfBytes(bytes);
  const digests: Buffer[] = [];
  for (let start = 0; start < bytes.length; start += PART) {
    digests.push(createHash("md5").update(bytes.subarray(start, start + PART)).digest());
  }
  return `${createHash("md5").update(Buffer.concat(digests)).digest("hex")}-${digests.length}`;
}

/** Key, size and ETag of every object (no downloads). */
async function listing(s3: S3Client, bucket: string): Promise<{ key: string; size: number; etag: string }[]> {
  const out: { key: string; size: number; etag: string }[] = [];
  let token: string | undefined;
  do {
    const page = await s3.send(new ListObjectsV2Command({ Bucket: bucket, ContinuationToken: token }));
    for (const object of page.Contents ?? []) {
      out.push({ key: object.Key!, size: object.Size!, etag: object.ETag!.replaceAll('"', "") });
    }
    token = page.IsTruncated ? page.NextContinuationToken : undefined;
  } while (token !== undefined);
  return out;
}

Deno.test("fault: SIGKILL during single and multipart uploads 20 times; every file once in S3, none lost", async () => {
  await requireS3Server();
  const seed = Number(Deno.env.get("UPLOADER_FAULT_SEED") ?? Math.floor(Math.random() * 1e9));
  console.log(`fault test seed ${seed} (UPLOADER_FAULT_SEED=${seed} replays it)`);
  const random = seeded(seed);
  await using proxy = startThrottledProxy(new URL(S3_TEST_ENDPOINT).host, 8 * MIB);
  const work = await Deno.makeTempDir({ prefix: "uploader-fault-work-" });
  await using direct = await loadTestConfig<UploaderKeys>(UPLOADER, { validate: false });
  const s3 = s3ClientFor(direct.config);
  await using bucket = await createTestBucket(s3, "fault");
  await using setup = await writeTestConfigDir(UPLOADER, {
    properties: {
      ...TEST_PROPERTIES,
      "s3.endpoint": proxy.endpoint,
      "mesos.work.directory": work,
      "s3uploader.check.uploads.every.seconds": "1",
      "s3uploader.max.upload.threads": "3",
      "s3uploader.upload.part.concurrency": "2",
      "s3uploader.stall.timeout.millis": "3000",
    },
  });
  const metadataDir = join(setup.dir, "metadata");
  const journalDir = join(metadataDir, JOURNAL_DIRECTORY);
  const dirs: string[] = [];
  for (let task = 0; task < 3; task++) {
    const logs = join(work, `task${task}`, "logs");
    await Deno.mkdir(logs, { recursive: true });
    dirs.push(logs);
    await writeUploadMetadata(metadataDir, `task${task}.s3.json`, {
      directory: logs,
      fileGlob: "*.log",
      s3Bucket: bucket.name,
      s3KeyFormat: `task${task}/%filename-%guid`,
      finished: false,
      checkSubdirectories: false,
      compressBeforeUpload: false,
      checkIfOpen: false,
    });
  }
  const expected: Expected[] = [];
  let counter = 0;
  const addFile = async (task: number, size: number) => {
    const name = `f${counter++}.log`;
    const bytes = randomBytes(size);
    const path = join(dirs[task], name);
    await writeLog(path, bytes);
    expected.push({ path, prefix: `task${task}/${name}-`, size, etag: etagOf(bytes), md5: md5OfBytes(bytes) });
  };
  for (let task = 0; task < 3; task++) {
    await addFile(task, 11 * MIB);
    await addFile(task, 1.5 * MIB + 7);
  }

  /**
   * Every file is local or complete in S3 (size and ETag); returns how many are in S3. The local side is looked
   * at first: the uploader may be running, and a file it deletes after this look must be in S3 by the listing.
   */
  const assertNothingLost = async (when: string) => {
    const local = new Map<string, boolean>();
    for (const file of expected) {
      try {
        local.set(file.path, (await Deno.lstat(file.path)).size === file.size);
      } catch {
        local.set(file.path, false);
      }
    }
    const objects = await listing(s3, bucket.name);
    let inS3 = 0;
    for (const file of expected) {
      const copies = objects.filter((object) => object.key.startsWith(file.prefix));
      assert.ok(copies.length <= 1, `${when}: ${file.path} is in S3 ${copies.length} times`);
      const complete = copies.length === 1 && copies[0].size === file.size && copies[0].etag === file.etag;
      if (complete) inS3++;
      assert.ok(
        local.get(file.path) || complete,
        `${when}: ${file.path} is neither in its directory nor complete in S3`,
      );
    }
    return inS3;
  };

  const isMultipart = (size: number) => size > PART;

  let killedDuringSingle = 0;
  let killedDuringMultipart = 0;
  for (let kill = 1; kill <= KILLS; kill++) {
    const multipart = kill % 2 === 0;
    await addFile(kill % 3, multipart ? 11 * MIB + kill : 4.5 * MIB + kill);
    const child = await spawnUploader(setup.dir);
    if (kill % 4 === 1) {
      // Anywhere: during startup, the journal's recovery, a scan, an upload.
      await new Promise((resolve) => setTimeout(resolve, 100 + random() * 1400));
    } else {
      // Somewhere in an upload of the kind this round is about.
      await waitFor(
        async () => (await journalPlans(metadataDir)).some((plan) => isMultipart(plan.file.size) === multipart),
        `a ${multipart ? "multipart" : "single-part"} upload`,
        30_000,
      );
      await new Promise((resolve) => setTimeout(resolve, random() * 900));
    }
    child.kill("SIGKILL");
    const status = await child.status;
    await child.stderr.cancel();
    assert.equal(status.signal, "SIGKILL", `run ${kill} ended by itself (code ${status.code})`);
    for (const plan of await journalPlans(metadataDir)) {
      if (isMultipart(plan.file.size)) killedDuringMultipart++;
      else killedDuringSingle++;
    }
    await assertNothingLost(`after kill ${kill}`);
  }
  assert.ok(killedDuringSingle > 0, "no kill landed during a single-part upload");
  assert.ok(killedDuringMultipart > 0, "no kill landed during a multipart upload");

  const last = await spawnUploader(setup.dir);
  try {
    await waitFor(async () => (await assertNothingLost("finishing")) === expected.length, "every file in S3", 90_000);
    await waitFor(() => [...Deno.readDirSync(journalDir)].length === 0, "an empty journal");
  } finally {
    last.kill("SIGTERM");
  }
  const ended = await last.output();
  assert.equal(ended.code, 0, new TextDecoder().decode(ended.stderr));

  const objects = await listObjects(s3, bucket.name);
  assert.equal(objects.size, expected.length, [...objects.keys()].join(", "));
  for (const file of expected) {
    const copies = [...objects.values()].filter((object) => object.key.startsWith(file.prefix));
    assert.deepEqual(copies.map((object) => object.md5), [file.md5], file.path);
  }
  for (const dir of dirs) assert.deepEqual([...Deno.readDirSync(dir)].map((entry) => entry.name), [], dir);
  const uploads = await s3.send(new ListMultipartUploadsCommand({ Bucket: bucket.name }));
  assert.deepEqual(uploads.Uploads ?? [], []);
  const log = await Deno.readTextFile(join(setup.dir, "log", "singularity-s3uploader.log"));
  const count = (pattern: RegExp) => log.split("\n").filter((line) => pattern.test(line)).length;
  console.log(
    `fault test: ${expected.length} files, ${KILLS} kills (${killedDuringSingle} with single-part and ` +
      `${killedDuringMultipart} with multipart uploads planned or in flight); the uploader resumed ` +
      `${count(/resuming multipart upload/)} multipart uploads, found ${count(/already in S3: /)} files already ` +
      `uploaded, aborted ${count(/aborted multipart upload/)} uploads`,
  );
  closeS3Clients();
  await Deno.remove(work, { recursive: true });
});
