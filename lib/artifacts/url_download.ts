/**
 * Downloads an external artifact with `fetch` (no wget), computing size and
 * md5 while the bytes are written.
 *
 * @module
 */
import { createHash } from "node:crypto";
import type { ExternalArtifact } from "./artifact.ts";
import type { DownloadResult } from "./cache.ts";

/** The download failed; names the URL and the cause. */
export class UrlDownloadError extends Error {
  constructor(message: string) {
    super(message);
    this.name = "UrlDownloadError";
  }
}

/**
 * Downloads `artifact.url` into `destination` (a new file).
 *
 * @example
 * ```ts
 * const { size, md5 } = await downloadUrl(artifact, "/var/cache/singularity/artifacts/app.tar.gz.tmp", { timeoutMs: 600_000 });
 * ```
 */
export async function downloadUrl(
  artifact: ExternalArtifact,
  destination: string,
  options: { timeoutMs: number; signal?: AbortSignal },
): Promise<DownloadResult> {
  const signals = [AbortSignal.timeout(options.timeoutMs), ...(options.signal ? [options.signal] : [])];
  const signal = AbortSignal.any(signals);
  let response: Response;
  try {
    response = await fetch(artifact.url, { signal, redirect: "follow" });
  } catch (error) {
    throw new UrlDownloadError(`${artifact.url}: ${reason(error, signal, options.timeoutMs)}`);
  }
  if (!response.ok || response.body === null) {
    await response.body?.cancel();
    throw new UrlDownloadError(`${artifact.url}: HTTP ${response.status} ${response.statusText}`);
  }
  const hash = createHash("md5");
  let size = 0;
  try {
    using file = await Deno.open(destination, { createNew: true, write: true, mode: 0o644 });
    for await (const chunk of response.body) {
      hash.update(chunk);
      size += chunk.length;
      let written = 0;
      while (written < chunk.length) written += await file.write(chunk.subarray(written));
    }
  } catch (error) {
    throw new UrlDownloadError(`${artifact.url}: ${reason(error, signal, options.timeoutMs)}`);
  }
  return { size, md5: hash.digest("hex") };
}

/** Why a fetch stopped: the deadline, a cancellation, or the error itself. */
function reason(error: unknown, signal: AbortSignal, timeoutMs: number): string {
  if (signal.aborted) {
    return signal.reason instanceof DOMException && signal.reason.name === "TimeoutError"
      ? `no complete answer within ${timeoutMs} ms`
      : "cancelled";
  }
  return (error as Error).message;
}
