/**
 * Artifact lists: a remote artifact with `isArtifactList: true` is a JSON file
 * (`{embeddedArtifacts, externalArtifacts, s3Artifacts, s3ArtifactSignatures}`)
 * naming further artifacts. After the first staging pass each list is read
 * from where it was placed, `<target>/<filename>`, and the union of the lists
 * is staged and signature-checked in a second pass. Expansion is one level
 * deep, as in the originals: a list named inside a list is fetched like any
 * file but not read.
 *
 * @module
 */
import { join } from "node:path";
import {
  ArtifactFormatError,
  describe,
  describeArtifact,
  type EmbeddedArtifact,
  type ExternalArtifact,
  parseArtifactList,
  parseEmbeddedArtifact,
  parseExternalArtifact,
  parseS3Artifact,
  parseS3ArtifactSignature,
  type RemoteArtifact,
  type S3Artifact,
  type S3ArtifactSignature,
} from "./artifact.ts";
import { targetDirectory } from "./place.ts";

/** The artifacts one list (or the union of several) names. Absent or `null` arrays are empty. */
export interface ArtifactList {
  embedded: EmbeddedArtifact[];
  external: ExternalArtifact[];
  s3: S3Artifact[];
  s3Signatures: S3ArtifactSignature[];
}

/** An artifact list file is missing, unreadable or malformed; the message names the file (and the field). */
export class ArtifactListError extends Error {
  constructor(readonly file: string, message: string, options?: ErrorOptions) {
    super(message, options);
    this.name = "ArtifactListError";
  }
}

/** Options of {@linkcode listedArtifacts}. */
export interface ListedArtifactsOptions {
  /** The directory an artifact was placed in (default: {@linkcode targetDirectory}). */
  targetFor?: (artifact: RemoteArtifact, sandbox: string) => string;
  /** Progress lines. */
  log?: (line: string) => void;
  /** Things the operator should know: a list inside a list, which is not expanded. */
  warn?: (line: string) => void;
}

/**
 * Reads and validates an ArtifactList JSON file.
 *
 * @example
 * ```ts
 * const list = await parseArtifactListFile("/var/lib/mesos/.../runs/latest/artifacts.json");
 * list.s3.length; // the S3 artifacts it names
 * ```
 */
export async function parseArtifactListFile(path: string): Promise<ArtifactList> {
  let text: string;
  try {
    text = await Deno.readTextFile(path);
  } catch (error) {
    const reason = error instanceof Deno.errors.NotFound ? "not found" : `cannot be read (${(error as Error).message})`;
    throw new ArtifactListError(path, `artifact list ${path}: ${reason}`, { cause: error });
  }
  let json: unknown;
  try {
    json = JSON.parse(text);
  } catch (error) {
    throw new ArtifactListError(path, `artifact list ${path}: not valid JSON (${(error as Error).message})`, {
      cause: error,
    });
  }
  if (json === null || typeof json !== "object" || Array.isArray(json)) {
    throw new ArtifactListError(path, `artifact list ${path}: expected a JSON object, got ${describe(json)}`);
  }
  const raw = json as Record<string, unknown>;
  try {
    return {
      embedded: parseArtifactList(raw.embeddedArtifacts, "embeddedArtifacts", parseEmbeddedArtifact),
      external: parseArtifactList(raw.externalArtifacts, "externalArtifacts", parseExternalArtifact),
      s3: parseArtifactList(raw.s3Artifacts, "s3Artifacts", parseS3Artifact),
      s3Signatures: parseArtifactList(raw.s3ArtifactSignatures, "s3ArtifactSignatures", parseS3ArtifactSignature),
    };
  } catch (error) {
    if (!(error instanceof ArtifactFormatError)) throw error;
    throw new ArtifactListError(path, `artifact list ${path}: ${error.message}`, { cause: error });
  }
}

/**
 * The union of the lists among `artifacts` (those with `isArtifactList`), each
 * read from `<target>/<filename>` in the sandbox, in the order given. Lists
 * named inside these lists are returned like other artifacts, not expanded.
 *
 * @example
 * ```ts
 * const listed = await listedArtifacts([...data.s3Artifacts, ...data.s3ArtifactSignatures], sandbox, { warn });
 * ```
 */
export async function listedArtifacts(
  artifacts: readonly RemoteArtifact[],
  sandbox: string,
  options: ListedArtifactsOptions = {},
): Promise<ArtifactList> {
  const targetFor = options.targetFor ?? ((artifact: RemoteArtifact, dir: string) => targetDirectory(artifact, dir));
  const union: ArtifactList = { embedded: [], external: [], s3: [], s3Signatures: [] };
  for (const artifact of artifacts) {
    if (artifact.isArtifactList !== true) continue;
    const path = join(targetFor(artifact, sandbox), artifact.filename);
    let list: ArtifactList;
    try {
      list = await parseArtifactListFile(path);
    } catch (error) {
      if (!(error instanceof ArtifactListError)) throw error;
      throw new ArtifactListError(path, `${describeArtifact(artifact)} is an artifact list, but ${error.message}`, {
        cause: error,
      });
    }
    options.log?.(
      `artifact list ${path}: ${list.embedded.length} embedded, ${list.s3.length} S3, ` +
        `${list.s3Signatures.length} S3 signature(s), ${list.external.length} external artifact(s)`,
    );
    for (const nested of [...list.s3, ...list.s3Signatures, ...list.external]) {
      if (nested.isArtifactList === true) {
        options.warn?.(
          `${describeArtifact(nested)} in artifact list ${path} is itself an artifact list; ` +
            "it is fetched but not expanded (artifact lists are expanded one level deep)",
        );
      }
    }
    union.embedded.push(...list.embedded);
    union.external.push(...list.external);
    union.s3.push(...list.s3);
    union.s3Signatures.push(...list.s3Signatures);
  }
  return union;
}
