/**
 * The shared artifact cache (`artifact.cache.directory`): a hit needs the
 * file present with the expected size and md5; a miss downloads into a
 * temporary file in the cache directory, verifies size then md5, and renames
 * it into place atomically. Two processes filling one entry at once each
 * verify their own temporary file before the rename, so the entry is always
 * one verified copy. A file that fails verification is never cached.
 *
 * @module
 */
import { join } from "node:path";
import { describeArtifact, type RemoteArtifact } from "./artifact.ts";
import { md5OfFile } from "./md5.ts";

/** How a cache lookup went, in the originals' words. */
export type CacheCheck = "FOUND" | "DOES_NOT_EXIST" | "FILE_SIZE_MISMATCH" | "MD5_MISMATCH";

/** Downloaded bytes did not match the artifact's size or md5. */
export class ArtifactVerificationError extends Error {
  constructor(message: string) {
    super(message);
    this.name = "ArtifactVerificationError";
  }
}

/** What a download into a temporary file reports. */
export interface DownloadResult {
  size: number;
  /** md5 computed while the bytes were written, lowercase hex. */
  md5: string;
}

/** Writes an artifact's bytes to `destination` (a new file). */
export type Downloader = (destination: string, signal?: AbortSignal) => Promise<DownloadResult>;

/**
 * The cache file name: `<md5>-<filename>` when the md5 is known, else `<filename>`.
 *
 * @example
 * ```ts
 * cacheName({ kind: "s3", name: "a", filename: "app.tar.gz", md5sum: "abc...", s3Bucket: "b", s3ObjectKey: "k" });
 * ```
 */
export function cacheName(artifact: RemoteArtifact): string {
  return artifact.md5sum ? `${artifact.md5sum}-${artifact.filename}` : artifact.filename;
}

/**
 * Whether `path` holds the artifact: present, with its size and md5 when known.
 *
 * @example
 * ```ts
 * await checkCached("/var/cache/singularity/artifacts/app.tar.gz", artifact); // "FOUND"
 * ```
 */
export async function checkCached(path: string, artifact: RemoteArtifact): Promise<CacheCheck> {
  let info: Deno.FileInfo;
  try {
    info = await Deno.stat(path);
  } catch (error) {
    if (error instanceof Deno.errors.NotFound) return "DOES_NOT_EXIST";
    throw error;
  }
  if (!info.isFile) return "DOES_NOT_EXIST";
  if (artifact.filesize !== undefined && info.size !== artifact.filesize) return "FILE_SIZE_MISMATCH";
  if (artifact.md5sum !== undefined && (await md5OfFile(path)) !== artifact.md5sum) return "MD5_MISMATCH";
  return "FOUND";
}

/**
 * The verified cache path of `artifact`, downloading it with `download` on a miss.
 *
 * @example
 * ```ts
 * const cached = await fetchIntoCache(artifact, "/var/cache/singularity/artifacts", (tmp) => download(tmp));
 * ```
 */
export async function fetchIntoCache(
  artifact: RemoteArtifact,
  cacheDirectory: string,
  download: Downloader,
  options: { signal?: AbortSignal; log?: (line: string) => void } = {},
): Promise<{ path: string; check: CacheCheck }> {
  const path = join(cacheDirectory, cacheName(artifact));
  const check = await checkCached(path, artifact);
  options.log?.(`${describeArtifact(artifact)}: cache ${check} at ${path}`);
  if (check === "FOUND") return { path, check };
  const temporary = join(cacheDirectory, `${cacheName(artifact)}.${crypto.randomUUID()}.tmp`);
  try {
    const result = await download(temporary, options.signal);
    verify(artifact, result);
    await Deno.chmod(temporary, 0o644);
    await Deno.rename(temporary, path);
  } catch (error) {
    await Deno.remove(temporary).catch(() => {});
    throw error;
  }
  return { path, check };
}

/** Throws when the downloaded size or md5 differs from what the artifact says. */
export function verify(artifact: RemoteArtifact, result: DownloadResult): void {
  const what = describeArtifact(artifact);
  if (artifact.filesize !== undefined && result.size !== artifact.filesize) {
    throw new ArtifactVerificationError(
      `${what}: size mismatch: expected ${artifact.filesize} bytes, downloaded ${result.size}`,
    );
  }
  if (artifact.md5sum !== undefined && result.md5 !== artifact.md5sum) {
    throw new ArtifactVerificationError(`${what}: md5 mismatch: expected ${artifact.md5sum}, downloaded ${result.md5}`);
  }
}
