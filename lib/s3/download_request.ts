/**
 * The executor → downloader request (`ArtifactDownloadRequest`):
 * `{targetDirectory, s3Artifact, timeoutMillis?}`.
 *
 * @module
 */
import {
  ArtifactFormatError,
  describe,
  parseS3Artifact,
  type S3Artifact,
  s3ArtifactJson,
} from "../artifacts/artifact.ts";

/** A parsed download request. */
export interface DownloadRequest {
  /** Absolute directory to place (or extract) the artifact into. */
  targetDirectory: string;
  s3Artifact: S3Artifact;
  /** How long the caller will wait. */
  timeoutMillis?: number;
}

/**
 * Parses and validates a request body (already JSON-decoded).
 *
 * @example
 * ```ts
 * parseDownloadRequest({ targetDirectory: "/srv/task", s3Artifact: { name: "a", filename: "a", s3Bucket: "b", s3ObjectKey: "k" } });
 * ```
 */
export function parseDownloadRequest(value: unknown): DownloadRequest {
  if (value === null || typeof value !== "object" || Array.isArray(value)) {
    throw new ArtifactFormatError(`request body: expected a JSON object, got ${describe(value)}`);
  }
  const body = value as Record<string, unknown>;
  const target = body.targetDirectory;
  if (typeof target !== "string" || !target.startsWith("/") || target.split("/").includes("..")) {
    throw new ArtifactFormatError(`targetDirectory: expected an absolute path without "..", got ${describe(target)}`);
  }
  const request: DownloadRequest = {
    targetDirectory: target,
    s3Artifact: parseS3Artifact(body.s3Artifact, "s3Artifact"),
  };
  const timeout = body.timeoutMillis;
  if (timeout !== undefined && timeout !== null) {
    if (typeof timeout !== "number" || !Number.isSafeInteger(timeout) || timeout <= 0) {
      throw new ArtifactFormatError(`timeoutMillis: expected a positive whole number, got ${describe(timeout)}`);
    }
    request.timeoutMillis = timeout;
  }
  return request;
}

/** The request body the executor sends. */
export function downloadRequestJson(request: DownloadRequest): string {
  return JSON.stringify({
    targetDirectory: request.targetDirectory,
    s3Artifact: s3ArtifactJson(request.s3Artifact),
    ...(request.timeoutMillis !== undefined ? { timeoutMillis: request.timeoutMillis } : {}),
  });
}

/** The dedupe key: two requests for equal artifacts share one download, whatever their targets. */
export function artifactKey(artifact: S3Artifact): string {
  const json = s3ArtifactJson(artifact);
  return JSON.stringify(Object.keys(json).sort().map((key) => [key, json[key]]));
}
