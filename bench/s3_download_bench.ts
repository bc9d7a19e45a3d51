/**
 * Downloading a 1 GiB random object from the local radosgw: our
 * `downloadS3Object` (default chunk size and concurrency, md5 computed,
 * written with O_DIRECT where the filesystem allows) against `aws s3 cp`,
 * `rclone copyto` and parallel ranged `curl` of the same object, measured in
 * the same run; and ours once more writing through the page cache
 * (`directWrites: false`: buffered writes, dropped from the page cache as it
 * goes), the way it writes where O_DIRECT is refused. Only ours computes an
 * md5 (the object was uploaded in parts, so its ETag is no md5 for rclone to
 * check).
 *
 * Every tool runs as its own process and is timed from spawn to exit, ours
 * included (this script runs itself with `--ours`); the time inside
 * `downloadS3Object` alone is printed beside it. Before each tool: its output
 * is deleted, then `sync` and `echo 1 > /proc/sys/vm/drop_caches` (when
 * permitted), so every tool starts with a cold page cache. Right after both
 * of ours and after awscli, `fincore` shows how much of the downloaded file
 * is still in the page cache.
 *
 * The object (`bench-downloads/random-1gib.bin`) is uploaded once, when
 * missing, with its md5 as metadata, and made public-read for curl
 * (radosgw refuses `curl --aws-sigv4`). awscli, rclone and curl run with
 * only PATH, HOME and their own settings in the environment, so a user's AWS
 * profile or an `AWS_CA_BUNDLE` (which breaks rclone on plain http) cannot
 * interfere.
 *
 * Run: deno task bench s3_download (needs `bash scripts/s3_test_server.sh start`)
 */
import { HeadObjectCommand } from "@aws-sdk/client-s3";
import { join } from "node:path";
import { DOWNLOADER, type DownloaderKeys } from "../lib/config/mod.ts";
import { downloadS3Object, MAX_LANES } from "../lib/s3/chunked_download.ts";
import { closeS3Clients, s3ClientFor, s3DownloadClientFor } from "../lib/s3/client.ts";
import { loadTestConfig, requireS3Server, S3_TEST_ENDPOINT } from "../tests/support/s3_server.ts";
import { AWS, AWS_ENV, coldStart, pageCache, RCLONE_ENV, run, timed } from "./_tools.ts";

const MIB = 1024 * 1024;
const SIZE = 1024 * MIB;
const BUCKET = "bench-downloads";
const KEY = "random-1gib.bin";

/** What the `--ours` child reports. */
interface OursReport {
  seconds: number;
  size: number;
  md5: string;
  chunks: number;
  writeMode: string;
  peakRssMiB: number;
}

/**
 * The child: one download with the downloader's default settings (through the
 * page cache with `directWrites` false); prints an OursReport as JSON.
 */
async function runOurs(destination: string, directWrites: boolean): Promise<void> {
  await using setup = await loadTestConfig<DownloaderKeys>(DOWNLOADER);
  const config = setup.config;
  const started = performance.now();
  const result = await downloadS3Object({
    client: s3DownloadClientFor(config, BUCKET),
    bucket: BUCKET,
    key: KEY,
    destination,
    chunkSize: config.get("s3.downloader.chunk.size"),
    chunkTimeoutMs: config.get("s3.downloader.chunk.timeout.millis"),
    chunkRetries: config.get("s3.downloader.chunk.retries"),
    totalTimeoutMs: config.get("s3.downloader.timeout.millis"),
    directWrites,
  });
  const seconds = (performance.now() - started) / 1000;
  closeS3Clients();
  const status = await Deno.readTextFile("/proc/self/status");
  const peakRssMiB = Number(/^VmHWM:\s+(\d+) kB$/m.exec(status)?.[1] ?? 0) / 1024;
  console.log(JSON.stringify({ seconds, peakRssMiB, ...result } satisfies OursReport));
}

/** MiB of `path` in the page cache. */
async function residentMiB(path: string): Promise<number> {
  return Number(await run("fincore", ["--bytes", "--noheadings", "--output", "RES", path])) / MIB;
}

/** Uploads the benchmark object when missing; makes it public-read; returns its md5. */
async function ensureObject(dir: string): Promise<string> {
  await using setup = await loadTestConfig<DownloaderKeys>(DOWNLOADER);
  const s3 = s3ClientFor(setup.config, BUCKET);
  const aws = (...args: string[]) => run(AWS, ["--endpoint-url", S3_TEST_ENDPOINT, ...args], AWS_ENV);
  let md5: string | undefined;
  try {
    const head = await s3.send(new HeadObjectCommand({ Bucket: BUCKET, Key: KEY }));
    if (head.ContentLength === SIZE) md5 = head.Metadata?.md5;
  } catch {
    // Missing: uploaded below.
  }
  if (md5 === undefined) {
    console.log(`uploading s3://${BUCKET}/${KEY} (1 GiB of random bytes), once ...`);
    await aws("s3", "mb", `s3://${BUCKET}`).catch(() => {});
    const source = join(dir, "source.bin");
    await run("bash", ["-c", `head -c ${SIZE} /dev/urandom > '${source}'`]);
    md5 = (await run("md5sum", [source])).split(" ")[0];
    await aws("s3", "cp", "--only-show-errors", "--metadata", `md5=${md5}`, source, `s3://${BUCKET}/${KEY}`);
    await Deno.remove(source);
  }
  await aws("s3api", "put-object-acl", "--bucket", BUCKET, "--key", KEY, "--acl", "public-read");
  closeS3Clients();
  return md5;
}

/** Asserts the downloaded file has the object's size. */
async function checkSize(tool: string, path: string): Promise<void> {
  const size = (await Deno.stat(path)).size;
  if (size !== SIZE) throw new Error(`${tool} wrote ${size} bytes, not ${SIZE}`);
}

/** The parent: measures every tool once and prints the figures with the targets. */
async function main(): Promise<void> {
  await requireS3Server();
  const dir = await Deno.makeTempDir({ prefix: "s3-download-bench-" });
  try {
    const md5 = await ensureObject(dir);
    const [ours, awsOut, rcloneOut, curlOut] = ["ours", "awscli", "rclone", "curl"].map((name) => join(dir, name));
    const url = `${S3_TEST_ENDPOINT}/${BUCKET}/${KEY}`;

    /** Runs ours in a child process; its wall time, report and MiB of the file left in the page cache. */
    const runChild = async (...flags: string[]): Promise<[number, OursReport, number]> => {
      await coldStart(ours);
      const [wall, stdout] = await timed(Deno.execPath(), [
        "run",
        "-A",
        import.meta.filename!,
        "--ours",
        ours,
        ...flags,
      ]);
      const resident = await residentMiB(ours);
      const report = JSON.parse(stdout.split("\n").at(-1)!) as OursReport;
      if (report.md5 !== md5) throw new Error(`our download has md5 ${report.md5}, the object ${md5}`);
      await checkSize("downloadS3Object", ours);
      return [wall, report, resident];
    };
    const [oursWall, report, oursResidentMiB] = await runChild();
    const [bufferedWall, bufferedReport, bufferedResidentMiB] = await runChild("--buffered");

    await coldStart(ours, awsOut);
    const [awsWall] = await timed(
      AWS,
      ["--endpoint-url", S3_TEST_ENDPOINT, "s3", "cp", "--only-show-errors", `s3://${BUCKET}/${KEY}`, awsOut],
      AWS_ENV,
    );
    const awsResidentMiB = await residentMiB(awsOut);
    await checkSize("aws s3 cp", awsOut);

    await coldStart(awsOut, rcloneOut);
    const [rcloneWall] = await timed(
      "rclone",
      ["copyto", "--config", "", `bench:${BUCKET}/${KEY}`, rcloneOut],
      RCLONE_ENV,
    );
    await checkSize("rclone", rcloneOut);

    // As many ranged curls as our lanes, each writing its part (no concatenation).
    await coldStart(rcloneOut);
    const part = SIZE / MAX_LANES;
    const curls = Array.from({ length: MAX_LANES }, (_, i) => [
      "-sSf",
      "-r",
      `${i * part}-${(i + 1) * part - 1}`,
      "-o",
      `${curlOut}.${i}`,
      url,
    ]);
    const curlStarted = performance.now();
    await Promise.all(curls.map((args) => run("curl", args, {})));
    const curlWall = (performance.now() - curlStarted) / 1000;
    let curlBytes = 0;
    for (let i = 0; i < MAX_LANES; i++) curlBytes += (await Deno.stat(`${curlOut}.${i}`)).size;
    if (curlBytes !== SIZE) throw new Error(`the ranged curls wrote ${curlBytes} bytes, not ${SIZE}`);

    const line = (name: string, seconds: number, extra = "") =>
      console.log(
        `${name.padEnd(34)} ${seconds.toFixed(2).padStart(6)} s ${
          (SIZE / MIB / seconds).toFixed(0).padStart(5)
        } MiB/s${extra}`,
      );
    console.log(
      `1 GiB object, radosgw memstore at ${S3_TEST_ENDPOINT}, ${navigator.hardwareConcurrency} CPUs shared with the ` +
        `server; page cache ${
          pageCache.dropped ? "dropped (sync; echo 1 > /proc/sys/vm/drop_caches)" : "NOT dropped (not permitted)"
        } and ` +
        "outputs deleted before each tool",
    );
    const details = (report: OursReport) =>
      `  (${report.seconds.toFixed(2)} s inside downloadS3Object; ${report.chunks} chunks, ` +
      `${MAX_LANES} lanes; ${report.writeMode} writes; peak RSS ${report.peakRssMiB.toFixed(0)} MiB; md5 checked)`;
    line("downloadS3Object (process)", oursWall, details(report));
    line("  the same through the page cache", bufferedWall, details(bufferedReport));
    line("aws s3 cp", awsWall);
    line("rclone copyto", rcloneWall);
    line(`curl, ${MAX_LANES} parallel ranges`, curlWall);
    const ratio = (value: number, target: string, what: string) =>
      console.log(`${what.padEnd(34)} ${value.toFixed(2).padStart(6)}   (target ${target})`);
    ratio(oursWall / awsWall, "<= 0.67", "ours / awscli (wall)");
    ratio(oursWall / rcloneWall, "<= 1.0", "ours / rclone (wall)");
    console.log(
      `${"our rate / curl rate".padEnd(34)} ${(100 * curlWall / oursWall).toFixed(0).padStart(5)}%   (target >= 85%)`,
    );
    console.log(
      `${"in page cache after ours".padEnd(34)} ${oursResidentMiB.toFixed(1).padStart(6)} MiB (target <= 64 MiB)`,
    );
    console.log(
      `${"  ... through the page cache".padEnd(34)} ${bufferedResidentMiB.toFixed(1).padStart(6)} MiB`,
    );
    console.log(`${"in page cache after awscli".padEnd(34)} ${awsResidentMiB.toFixed(1).padStart(6)} MiB`);
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
}

if (Deno.args[0] === "--ours") await runOurs(Deno.args[1], Deno.args[2] !== "--buffered");
else await main();
