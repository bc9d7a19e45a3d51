/**
 * Placing artifacts into a task sandbox: a cached `.tar.gz` is extracted
 * (safely: see tar_extract.ts), any other file copied to
 * `<target>/<filename>`; embedded artifacts are written from their bytes
 * after their md5 checks out. The target is the sandbox or
 * `targetFolderRelativeToTask` below it.
 *
 * @module
 */
import { join, resolve } from "node:path";
import { type Artifact, describeArtifact, type EmbeddedArtifact, type RemoteArtifact } from "./artifact.ts";
import { ArtifactVerificationError } from "./cache.ts";
import { md5OfBytes, md5OfFile } from "./md5.ts";
import { extractTarGz } from "./tar_extract.ts";
import { pathExists } from "../path_exists.ts";

/** The artifact cannot be placed (a different file is already there, for one); names the path. */
export class ArtifactPlacementError extends Error {
  constructor(message: string) {
    super(message);
    this.name = "ArtifactPlacementError";
  }
}

/**
 * The directory an artifact goes to: the sandbox, or its target folder below
 * it. An absolute target folder is ignored (with `warn`), as the originals do.
 *
 * @example
 * ```ts
 * targetDirectory(artifact, "/var/lib/mesos/.../runs/latest"); // ".../runs/latest/lib" for targetFolderRelativeToTask "lib"
 * ```
 */
export function targetDirectory(artifact: Artifact, sandbox: string, warn?: (line: string) => void): string {
  const folder = artifact.targetFolderRelativeToTask;
  if (folder === undefined) return sandbox;
  if (folder.startsWith("/")) {
    warn?.(`${describeArtifact(artifact)}: absolute targetFolderRelativeToTask ${folder} ignored; using the sandbox`);
    return sandbox;
  }
  const target = resolve(sandbox, folder);
  if (target !== sandbox && !target.startsWith(`${sandbox}/`)) {
    throw new ArtifactPlacementError(`${describeArtifact(artifact)}: target folder ${folder} leaves the sandbox`);
  }
  return target;
}

/**
 * Puts a verified cached file into `target`: extracts a `.tar.gz`, copies anything else.
 *
 * @example
 * ```ts
 * await placeCachedArtifact("/var/cache/singularity/artifacts/app.tar.gz", artifact, sandbox);
 * ```
 */
export async function placeCachedArtifact(
  cached: string,
  artifact: RemoteArtifact,
  target: string,
  options: { signal?: AbortSignal } = {},
): Promise<void> {
  await Deno.mkdir(target, { recursive: true });
  if (cached.endsWith(".tar.gz")) {
    await extractTarGz(cached, target, { signal: options.signal });
    return;
  }
  const destination = join(target, artifact.filename);
  if (await pathExists(destination)) {
    // The same bytes already there are fine (a retried staging); anything else is a conflict.
    if ((await Deno.lstat(destination)).isFile && (await md5OfFile(destination)) === (await md5OfFile(cached))) return;
    throw new ArtifactPlacementError(`${describeArtifact(artifact)}: ${destination} already exists with other content`);
  }
  await Deno.copyFile(cached, destination);
  await Deno.chmod(destination, 0o644);
}

/**
 * Writes an embedded artifact to `<target>/<filename>` after checking its md5.
 *
 * @example
 * ```ts
 * await placeEmbeddedArtifact(artifact, sandbox);
 * ```
 */
export async function placeEmbeddedArtifact(artifact: EmbeddedArtifact, target: string): Promise<void> {
  if (artifact.md5sum !== undefined) {
    const md5 = md5OfBytes(artifact.content);
    if (md5 !== artifact.md5sum) {
      throw new ArtifactVerificationError(
        `${describeArtifact(artifact)}: md5 mismatch: expected ${artifact.md5sum}, content has ${md5}`,
      );
    }
  }
  await Deno.mkdir(target, { recursive: true });
  const destination = join(target, artifact.filename);
  try {
    await Deno.writeFile(destination, artifact.content, { createNew: true, mode: 0o644 });
  } catch (error) {
    if (error instanceof Deno.errors.AlreadyExists) {
      throw new ArtifactPlacementError(`${describeArtifact(artifact)}: ${destination} already exists`);
    }
    throw error;
  }
  await Deno.chmod(destination, 0o644);
}
