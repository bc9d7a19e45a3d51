/**
 * Singularity artifacts as they arrive in executor data and download
 * requests (JSON, field names as Singularity writes them), with one
 * parse-and-validate function per kind. The rest of the code trusts the
 * parsed types.
 *
 * @module
 */

/** Fields every artifact has. */
export interface ArtifactBase {
  name: string;
  /** File name the artifact is placed (or cached) under: no `/`, not `.` or `..`. */
  filename: string;
  /** Expected md5, lowercase hex. */
  md5sum?: string;
  /** Directory below the task sandbox to place into (relative, no `..`). */
  targetFolderRelativeToTask?: string;
}

/** An artifact whose bytes are in the task data. */
export interface EmbeddedArtifact extends ArtifactBase {
  kind: "embedded";
  content: Uint8Array;
}

/** Fields of artifacts that are downloaded. */
export interface RemoteArtifactBase extends ArtifactBase {
  /** Expected size in bytes. */
  filesize?: number;
  /** The artifact is a JSON list of further artifacts. */
  isArtifactList?: boolean;
}

/** An artifact downloaded from a URL. */
export interface ExternalArtifact extends RemoteArtifactBase {
  kind: "external";
  url: string;
}

/** An artifact downloaded from S3. */
export interface S3Artifact extends RemoteArtifactBase {
  kind: "s3";
  s3Bucket: string;
  s3ObjectKey: string;
}

/** A signature file for the S3 artifact whose `filename` is `artifactFilename`. */
export interface S3ArtifactSignature extends S3Artifact {
  artifactFilename: string;
}

/** Any downloaded artifact. */
export type RemoteArtifact = ExternalArtifact | S3Artifact;

/** Any artifact. */
export type Artifact = EmbeddedArtifact | RemoteArtifact;

/** A field of task data or of a request is missing or wrong; names the field and the value. */
export class ArtifactFormatError extends Error {
  constructor(message: string) {
    super(message);
    this.name = "ArtifactFormatError";
  }
}

/**
 * Parses an embedded artifact (`content` is base64).
 *
 * @example
 * ```ts
 * parseEmbeddedArtifact({ name: "a", filename: "a.txt", content: "aGk=" }, "embeddedArtifacts[0]");
 * ```
 */
export function parseEmbeddedArtifact(value: unknown, where: string): EmbeddedArtifact {
  const object = record(value, where);
  const content = requiredString(object, "content", where, true);
  let bytes: Uint8Array;
  try {
    bytes = Uint8Array.from(atob(content), (char) => char.charCodeAt(0));
  } catch {
    throw new ArtifactFormatError(`${where}.content: not valid base64`);
  }
  return { kind: "embedded", ...base(object, where), content: bytes };
}

/**
 * Parses an external (URL) artifact.
 *
 * @example
 * ```ts
 * parseExternalArtifact({ name: "app", filename: "app.tar.gz", url: "https://example.com/app.tar.gz" }, "x");
 * ```
 */
export function parseExternalArtifact(value: unknown, where: string): ExternalArtifact {
  const object = record(value, where);
  const url = requiredString(object, "url", where);
  let parsed: URL;
  try {
    parsed = new URL(url);
  } catch {
    throw new ArtifactFormatError(`${where}.url: ${JSON.stringify(url)} is not a URL`);
  }
  if (parsed.protocol !== "http:" && parsed.protocol !== "https:") {
    throw new ArtifactFormatError(`${where}.url: ${JSON.stringify(url)} is not an http or https URL`);
  }
  return { kind: "external", ...remote(object, where), url };
}

/**
 * Parses an S3 artifact.
 *
 * @example
 * ```ts
 * parseS3Artifact({ name: "app", filename: "app.tar.gz", s3Bucket: "b", s3ObjectKey: "k" }, "s3Artifact");
 * ```
 */
export function parseS3Artifact(value: unknown, where: string): S3Artifact {
  const object = record(value, where);
  return {
    kind: "s3",
    ...remote(object, where),
    s3Bucket: requiredString(object, "s3Bucket", where),
    s3ObjectKey: requiredString(object, "s3ObjectKey", where),
  };
}

/**
 * Parses an S3 artifact signature: an S3 artifact plus `artifactFilename`, the `filename` of the artifact it signs.
 *
 * @example
 * ```ts
 * parseS3ArtifactSignature(
 *   { filename: "app.tar.gz.asc", s3Bucket: "b", s3ObjectKey: "app.tar.gz.asc", artifactFilename: "app.tar.gz" },
 *   "s3ArtifactSignatures[0]",
 * );
 * ```
 */
export function parseS3ArtifactSignature(value: unknown, where: string): S3ArtifactSignature {
  const artifact = parseS3Artifact(value, where);
  const artifactFilename = (value as Record<string, unknown>).artifactFilename;
  if (typeof artifactFilename !== "string" || artifactFilename === "") {
    throw new ArtifactFormatError(
      `${where}.artifactFilename: expected a non-empty string, got ${describe(artifactFilename)}`,
    );
  }
  return { ...artifact, artifactFilename };
}

/**
 * Parses an optional array of artifacts (`null` or absent = none).
 *
 * @example
 * ```ts
 * parseArtifactList(data.s3Artifacts, "s3Artifacts", parseS3Artifact);
 * ```
 */
export function parseArtifactList<T>(value: unknown, where: string, parse: (item: unknown, where: string) => T): T[] {
  if (value === undefined || value === null) return [];
  if (!Array.isArray(value)) throw new ArtifactFormatError(`${where}: expected an array, got ${describe(value)}`);
  return value.map((item, index) => parse(item, `${where}[${index}]`));
}

/** The artifact in the JSON form Singularity uses (for requests to the downloader). */
export function s3ArtifactJson(artifact: S3Artifact): Record<string, unknown> {
  const { kind: _, ...json } = artifact;
  return json;
}

/** A short description for logs and errors. */
export function describeArtifact(artifact: Artifact): string {
  switch (artifact.kind) {
    case "embedded":
      return `embedded artifact ${artifact.name} (${artifact.filename})`;
    case "external":
      return `artifact ${artifact.name} (${artifact.url})`;
    case "s3":
      return `artifact ${artifact.name} (s3://${artifact.s3Bucket}/${artifact.s3ObjectKey})`;
  }
}

/** The common fields, validated. */
function base(object: Record<string, unknown>, where: string): ArtifactBase {
  const filename = requiredString(object, "filename", where);
  if (filename.includes("/") || filename === "." || filename === ".." || filename.includes("\0")) {
    throw new ArtifactFormatError(
      `${where}.filename: ${JSON.stringify(filename)} must be a plain file name (no "/", not "." or "..")`,
    );
  }
  const result: ArtifactBase = { name: optionalString(object, "name", where) ?? filename, filename };
  const md5 = optionalString(object, "md5sum", where);
  if (md5 !== undefined && md5 !== "") {
    if (!/^[0-9a-fA-F]{32}$/.test(md5)) {
      throw new ArtifactFormatError(`${where}.md5sum: ${JSON.stringify(md5)} is not 32 hex digits`);
    }
    result.md5sum = md5.toLowerCase();
  }
  const folder = optionalString(object, "targetFolderRelativeToTask", where);
  if (folder !== undefined && folder !== "") {
    if (folder.split("/").includes("..") || folder.includes("\0")) {
      throw new ArtifactFormatError(
        `${where}.targetFolderRelativeToTask: ${JSON.stringify(folder)} must stay inside the task sandbox (no "..")`,
      );
    }
    result.targetFolderRelativeToTask = folder;
  }
  return result;
}

/** The common fields of downloaded artifacts. */
function remote(object: Record<string, unknown>, where: string): RemoteArtifactBase {
  const result: RemoteArtifactBase = base(object, where);
  const size = object.filesize;
  if (size !== undefined && size !== null) {
    if (typeof size !== "number" || !Number.isSafeInteger(size) || size < 0) {
      throw new ArtifactFormatError(`${where}.filesize: expected a whole number of bytes, got ${describe(size)}`);
    }
    result.filesize = size;
  }
  const list = object.isArtifactList;
  if (list !== undefined && list !== null) {
    if (typeof list !== "boolean") {
      throw new ArtifactFormatError(`${where}.isArtifactList: expected true or false, got ${describe(list)}`);
    }
    result.isArtifactList = list;
  }
  return result;
}

function record(value: unknown, where: string): Record<string, unknown> {
  if (value === null || typeof value !== "object" || Array.isArray(value)) {
    throw new ArtifactFormatError(`${where}: expected an object, got ${describe(value)}`);
  }
  return value as Record<string, unknown>;
}

function requiredString(object: Record<string, unknown>, field: string, where: string, allowEmpty = false): string {
  const value = object[field];
  if (typeof value !== "string" || (!allowEmpty && value === "")) {
    throw new ArtifactFormatError(`${where}.${field}: expected a non-empty string, got ${describe(value)}`);
  }
  return value;
}

function optionalString(object: Record<string, unknown>, field: string, where: string): string | undefined {
  const value = object[field];
  if (value === undefined || value === null) return undefined;
  if (typeof value !== "string") {
    throw new ArtifactFormatError(`${where}.${field}: expected a string, got ${describe(value)}`);
  }
  return value;
}

/** A value as shown in errors (short). */
export function describe(value: unknown): string {
  if (value === undefined) return "nothing";
  const text = JSON.stringify(value);
  return text.length > 60 ? `${text.slice(0, 57)}...` : text;
}
