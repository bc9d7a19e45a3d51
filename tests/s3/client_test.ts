import {
  CompleteMultipartUploadCommand,
  CreateMultipartUploadCommand,
  GetObjectCommand,
  HeadObjectCommand,
  PutObjectCommand,
  type S3Client,
  S3ServiceException,
  UploadPartCommand,
} from "@aws-sdk/client-s3";
import assert from "node:assert/strict";
import { createHash } from "node:crypto";
import { UPLOADER, type UploaderKeys } from "../../lib/config/mod.ts";
import { closeS3Clients, describeS3Target, s3ClientFor, s3DownloadClientFor } from "../../lib/s3/client.ts";
import { md5OfBytes } from "../../lib/artifacts/md5.ts";
import {
  closingClients,
  createTestBucket,
  loadTestConfig,
  randomBytes,
  requireS3Server,
  S3_TEST_CREDENTIALS,
} from "../support/s3_server.ts";

const MIB = 1024 * 1024;

/** The whole body of a GetObject, as a plain Uint8Array. */
async function getBytes(s3: S3Client, bucket: string, key: string, range?: string): Promise<Uint8Array> {
  const object = await s3.send(new GetObjectCommand({ Bucket: bucket, Key: key, Range: range }));
  return new Uint8Array(await object.Body!.transformToByteArray());
}

/** Asserts `promise` rejects with an S3 error of `status` and `name` whose text does not contain `secret`. */
async function assertS3Error(promise: Promise<unknown>, status: number, name: string, secret: string): Promise<void> {
  await assert.rejects(promise, (error: unknown) => {
    assert.ok(error instanceof S3ServiceException, `expected an S3ServiceException, got ${error}`);
    assert.equal(error.$metadata.httpStatusCode, status);
    assert.equal(error.name, name);
    for (const text of [error.message, String(error.stack), JSON.stringify(error), String(error)]) {
      assert.ok(!text.includes(secret), `the secret appears in the error: ${text}`);
    }
    return true;
  });
}

Deno.test("s3ClientFor() puts an object and gets exact byte ranges of it", async () => {
  await requireS3Server();
  using _clients = closingClients();
  await using setup = await loadTestConfig<UploaderKeys>(UPLOADER);
  const s3 = s3ClientFor(setup.config);
  await using bucket = await createTestBucket(s3, "range");
  const body = Uint8Array.from({ length: 1000 }, (_, i) => (i * 7) % 251);

  const put = await s3.send(new PutObjectCommand({ Bucket: bucket.name, Key: "dir/data.bin", Body: body }));

  assert.equal(put.ETag, `"${md5OfBytes(body)}"`);
  const middle = await s3.send(
    new GetObjectCommand({ Bucket: bucket.name, Key: "dir/data.bin", Range: "bytes=16-47" }),
  );
  assert.equal(middle.ContentRange, "bytes 16-47/1000");
  assert.deepEqual(new Uint8Array(await middle.Body!.transformToByteArray()), body.slice(16, 48));
  assert.deepEqual(await getBytes(s3, bucket.name, "dir/data.bin", "bytes=-10"), body.slice(990));
  assert.deepEqual(await getBytes(s3, bucket.name, "dir/data.bin", "bytes=995-"), body.slice(995));
  assert.deepEqual(await getBytes(s3, bucket.name, "dir/data.bin"), body);
});

Deno.test("s3DownloadClientFor() (Deno's fetch underneath) gets exact byte ranges; it is cached apart", async () => {
  await requireS3Server();
  using _clients = closingClients();
  await using setup = await loadTestConfig<UploaderKeys>(UPLOADER);
  const s3 = s3ClientFor(setup.config);
  const download = s3DownloadClientFor(setup.config);
  assert.notEqual(download, s3);
  assert.equal(s3DownloadClientFor(setup.config), download);
  await using bucket = await createTestBucket(s3, "fetch-range");
  const body = Uint8Array.from({ length: 3000 }, (_, i) => (i * 13) % 251);
  await s3.send(new PutObjectCommand({ Bucket: bucket.name, Key: "data.bin", Body: body }));
  assert.deepEqual(await getBytes(download, bucket.name, "data.bin", "bytes=100-2099"), body.slice(100, 2100));
  assert.deepEqual(await getBytes(download, bucket.name, "data.bin"), body);
});

Deno.test("s3ClientFor() completes a 12 MiB multipart upload with 5 MiB parts", async () => {
  await requireS3Server();
  using _clients = closingClients();
  await using setup = await loadTestConfig<UploaderKeys>(UPLOADER);
  const s3 = s3ClientFor(setup.config);
  await using bucket = await createTestBucket(s3, "multipart");
  const body = randomBytes(12 * MIB);
  const parts = [body.subarray(0, 5 * MIB), body.subarray(5 * MIB, 10 * MIB), body.subarray(10 * MIB)];
  const key = "logs/big.log";

  const { UploadId } = await s3.send(new CreateMultipartUploadCommand({ Bucket: bucket.name, Key: key }));
  const completed = [];
  for (const [index, part] of parts.entries()) {
    const PartNumber = index + 1;
    const { ETag } = await s3.send(
      new UploadPartCommand({ Bucket: bucket.name, Key: key, UploadId, PartNumber, Body: part }),
    );
    assert.equal(ETag, `"${md5OfBytes(part)}"`);
    completed.push({ ETag, PartNumber });
  }
  await s3.send(
    new CompleteMultipartUploadCommand({
      Bucket: bucket.name,
      Key: key,
      UploadId,
      MultipartUpload: { Parts: completed },
    }),
  );

  // radosgw's CompleteMultipartUpload answer has an empty ETag; HeadObject has the real one.
  const partDigests = createHash("md5");
  for (const part of parts) partDigests.update(createHash("md5").update(part).digest());
  const head = await s3.send(new HeadObjectCommand({ Bucket: bucket.name, Key: key }));
  assert.equal(head.ETag, `"${partDigests.digest("hex")}-3"`);
  assert.equal(head.ContentLength, 12 * MIB);
  const across = await getBytes(s3, bucket.name, key, `bytes=${5 * MIB - 10}-${5 * MIB + 9}`);
  assert.deepEqual(across, body.slice(5 * MIB - 10, 5 * MIB + 10));
  const whole = await getBytes(s3, bucket.name, key);
  assert.equal(whole.length, body.length);
  assert.equal(md5OfBytes(whole), md5OfBytes(body));
});

Deno.test("s3ClientFor() signs with the bucket's keys over wrong default keys", async () => {
  await requireS3Server();
  using _clients = closingClients();
  await using admin = await loadTestConfig<UploaderKeys>(UPLOADER);
  await using bucket = await createTestBucket(s3ClientFor(admin.config), "per-bucket");
  const defaultSecret = `wrong-default-secret-${crypto.randomUUID()}`;
  await using setup = await loadTestConfig<UploaderKeys>(UPLOADER, {
    properties: {
      "s3.access.key": "wrong-default-access",
      "s3.secret.key": defaultSecret,
      [`s3.bucket.${bucket.name}.access.key`]: S3_TEST_CREDENTIALS.accessKey,
      [`s3.bucket.${bucket.name}.secret.key`]: S3_TEST_CREDENTIALS.secretKey,
    },
  });
  const s3 = s3ClientFor(setup.config, bucket.name);

  await s3.send(new PutObjectCommand({ Bucket: bucket.name, Key: "k", Body: "per-bucket keys" }));

  assert.equal(new TextDecoder().decode(await getBytes(s3, bucket.name, "k")), "per-bucket keys");
  assert.match(
    describeS3Target(setup.config, bucket.name),
    new RegExp(`credentials from s3\\.bucket\\.${bucket.name}\\.`),
  );
  const other = s3ClientFor(setup.config, "some-other-bucket");
  assert.match(describeS3Target(setup.config, "some-other-bucket"), /credentials from s3\.access\.key \(\*+cess\)$/);
  await assertS3Error(
    other.send(new GetObjectCommand({ Bucket: bucket.name, Key: "k" })),
    403,
    "InvalidAccessKeyId",
    defaultSecret,
  );
});

Deno.test("s3ClientFor() with a wrong bucket secret gets 403 and never shows the secret", async () => {
  await requireS3Server();
  using _clients = closingClients();
  await using admin = await loadTestConfig<UploaderKeys>(UPLOADER);
  await using bucket = await createTestBucket(s3ClientFor(admin.config), "wrong-secret");
  const secret = `wrong-bucket-secret-${crypto.randomUUID()}`;
  await using setup = await loadTestConfig<UploaderKeys>(UPLOADER, {
    properties: {
      [`s3.bucket.${bucket.name}.access.key`]: S3_TEST_CREDENTIALS.accessKey,
      [`s3.bucket.${bucket.name}.secret.key`]: secret,
    },
  });
  const s3 = s3ClientFor(setup.config, bucket.name);

  const put = s3.send(new PutObjectCommand({ Bucket: bucket.name, Key: "k", Body: "x" }));

  await assertS3Error(put, 403, "SignatureDoesNotMatch", secret);
  assert.ok(!describeS3Target(setup.config, bucket.name).includes(secret));
});

Deno.test("s3ClientFor() prefers explicit credentials over the bucket's keys", async () => {
  await requireS3Server();
  using _clients = closingClients();
  await using admin = await loadTestConfig<UploaderKeys>(UPLOADER);
  await using bucket = await createTestBucket(s3ClientFor(admin.config), "explicit");
  await using setup = await loadTestConfig<UploaderKeys>(UPLOADER, {
    properties: {
      [`s3.bucket.${bucket.name}.access.key`]: "wrong-bucket-access",
      [`s3.bucket.${bucket.name}.secret.key`]: "wrong-bucket-secret",
    },
  });
  const s3 = s3ClientFor(setup.config, bucket.name, { ...S3_TEST_CREDENTIALS });

  await s3.send(new PutObjectCommand({ Bucket: bucket.name, Key: "k", Body: "explicit" }));

  assert.equal(new TextDecoder().decode(await getBytes(s3, bucket.name, "k")), "explicit");
  assert.match(describeS3Target(setup.config, bucket.name, { ...S3_TEST_CREDENTIALS }), /explicit credentials/);
});

Deno.test("s3ClientFor() falls back to the SDK default provider chain when no keys are set", async () => {
  await requireS3Server();
  using _clients = closingClients();
  await using admin = await loadTestConfig<UploaderKeys>(UPLOADER);
  await using bucket = await createTestBucket(s3ClientFor(admin.config), "provider-chain");
  await using setup = await loadTestConfig<UploaderKeys>(UPLOADER, {
    properties: { "s3.access.key": "", "s3.secret.key": "" },
  });
  const saved = ["AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY", "AWS_SESSION_TOKEN"].map((name) => ({
    name,
    value: Deno.env.get(name),
  }));
  Deno.env.set("AWS_ACCESS_KEY_ID", S3_TEST_CREDENTIALS.accessKey);
  Deno.env.set("AWS_SECRET_ACCESS_KEY", S3_TEST_CREDENTIALS.secretKey);
  Deno.env.delete("AWS_SESSION_TOKEN");
  try {
    const s3 = s3ClientFor(setup.config, bucket.name);

    await s3.send(new PutObjectCommand({ Bucket: bucket.name, Key: "k", Body: "from the environment" }));

    assert.equal(new TextDecoder().decode(await getBytes(s3, bucket.name, "k")), "from the environment");
    assert.match(describeS3Target(setup.config, bucket.name), /credentials from the SDK default provider chain$/);
  } finally {
    for (const { name, value } of saved) value === undefined ? Deno.env.delete(name) : Deno.env.set(name, value);
  }
});

Deno.test("s3ClientFor() returns the cached client for the same endpoint and credentials", async () => {
  using _clients = closingClients();
  await using setup = await loadTestConfig<UploaderKeys>(UPLOADER, {
    properties: { "s3.bucket.special.access.key": "special", "s3.bucket.special.secret.key": "special-secret" },
  });

  const first = s3ClientFor(setup.config);

  assert.equal(s3ClientFor(setup.config), first);
  assert.equal(s3ClientFor(setup.config, "plain-bucket"), first);
  assert.equal(s3ClientFor(setup.config, "special", { ...S3_TEST_CREDENTIALS }), first);
  const special = s3ClientFor(setup.config, "special");
  assert.notEqual(special, first);
  assert.equal(s3ClientFor(setup.config, undefined, { accessKey: "special", secretKey: "special-secret" }), special);
  closeS3Clients();
  assert.notEqual(s3ClientFor(setup.config), first);
});

Deno.test("s3ClientFor() rejects half a key pair, naming the missing key", async () => {
  using _clients = closingClients();
  await using bucketHalf = await loadTestConfig<UploaderKeys>(UPLOADER, {
    properties: { "s3.bucket.half.access.key": "half-access" },
  });
  await using defaultHalf = await loadTestConfig<UploaderKeys>(UPLOADER, {
    properties: { "s3.access.key": "", "s3.secret.key": "lonely-secret-value" },
  });

  assert.throws(
    () => s3ClientFor(bucketHalf.config, "half"),
    { message: "s3.bucket.half.access.key is set but s3.bucket.half.secret.key is not; set both or neither" },
  );
  assert.throws(() => s3ClientFor(defaultHalf.config), (error: Error) => {
    assert.equal(error.message, "s3.secret.key is set but s3.access.key is not; set both or neither");
    return true;
  });
  assert.throws(
    () => s3ClientFor(bucketHalf.config, "x", { accessKey: "a", secretKey: " " }),
    /explicit S3 credentials have an empty secret key/,
  );
});
