/**
 * The executor's side of singularity-s3-downloader: one POST per S3
 * artifact, all in parallel; resolves when every one answered 200. Any other
 * answer or error rejects, naming each failed artifact, so the caller can
 * fall back to downloading in-process.
 *
 * @module
 */
import { describeArtifact, type S3Artifact } from "../artifacts/artifact.ts";
import { downloadRequestJson } from "./download_request.ts";

/** Where the service listens and how long to wait. */
export interface DownloadServiceAddress {
  port: number;
  path: string;
  /** Unix socket to use instead of TCP, when configured. */
  socket?: string;
  timeoutMs: number;
}

/** One or more downloads through the service failed. */
export class DownloadServiceError extends Error {
  constructor(message: string) {
    super(message);
    this.name = "DownloadServiceError";
  }
}

/** At most this many requests to the service at once (the originals' default). */
const MAX_CONNECTIONS = 25;

/**
 * Asks the service to download and place each artifact into its target directory.
 *
 * @example
 * ```ts
 * await downloadThroughService([{ artifact, targetDirectory: sandbox }], { port: 7070, path: "/download", timeoutMs: 180_000 });
 * ```
 */
export async function downloadThroughService(
  requests: { artifact: S3Artifact; targetDirectory: string }[],
  address: DownloadServiceAddress,
  signal?: AbortSignal,
): Promise<void> {
  const client = address.socket
    ? Deno.createHttpClient({ proxy: { transport: "unix", path: address.socket } })
    : undefined;
  const url = `http://${address.socket ? "localhost" : "127.0.0.1"}:${address.port}${address.path}`;
  const failures: string[] = [];
  let next = 0;
  const worker = async () => {
    while (next < requests.length) {
      const { artifact, targetDirectory } = requests[next++];
      try {
        const response = await fetch(url, {
          method: "POST",
          headers: { "Content-Type": "application/json" },
          body: downloadRequestJson({ targetDirectory, s3Artifact: artifact, timeoutMillis: address.timeoutMs }),
          signal: AbortSignal.any([AbortSignal.timeout(address.timeoutMs), ...(signal ? [signal] : [])]),
          ...(client ? { client } : {}),
        });
        const body = (await response.text()).trim();
        if (response.status !== 200) failures.push(`${describeArtifact(artifact)}: HTTP ${response.status} ${body}`);
      } catch (error) {
        failures.push(`${describeArtifact(artifact)}: ${(error as Error).message}`);
      }
    }
  };
  try {
    await Promise.all(Array.from({ length: Math.min(MAX_CONNECTIONS, requests.length) }, worker));
  } finally {
    client?.close();
  }
  if (failures.length > 0) {
    throw new DownloadServiceError(`the download service failed: ${failures.join("; ")}`);
  }
}
