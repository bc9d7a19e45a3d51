/**
 * MD5 of files and streams (artifact checksums are md5; WebCrypto has none).
 *
 * @module
 */
import { createHash } from "node:crypto";

/**
 * The md5 of a file, lowercase hex, read in one streaming pass.
 *
 * @example
 * ```ts
 * await md5OfFile("/var/cache/singularity/artifacts/app.tar.gz"); // "9e107d9d372bb6826bd81d3542a419d6"
 * ```
 */
export async function md5OfFile(path: string): Promise<string> {
  const hash = createHash("md5");
  using file = await Deno.open(path);
  for await (const chunk of file.readable) hash.update(chunk);
  return hash.digest("hex");
}

/** The md5 of bytes, lowercase hex. */
export function md5OfBytes(bytes: Uint8Array): string {
  return createHash("md5").update(bytes).digest("hex");
}
