/**
 * Staging a task's artifacts into its sandbox, in the originals' order:
 * embedded, then S3 (through singularity-s3-downloader when enabled, falling
 * back to downloading in-process on any failure), then external URLs. Every
 * remote artifact goes through the shared cache and is verified before it is
 * placed. Cancelling `signal` (a kill during staging) stops the work in hand.
 *
 * @module
 */
import {
  describeArtifact,
  type EmbeddedArtifact,
  type ExternalArtifact,
  type RemoteArtifact,
  type S3Artifact,
} from "./artifact.ts";
import { type CacheCheck, fetchIntoCache } from "./cache.ts";
import { placeCachedArtifact, placeEmbeddedArtifact, targetDirectory } from "./place.ts";
import { downloadUrl } from "./url_download.ts";

/** The artifacts of one task. */
export interface TaskArtifacts {
  embedded: EmbeddedArtifact[];
  s3: S3Artifact[];
  external: ExternalArtifact[];
}

/** How staging reaches the outside world. */
export interface StagingServices {
  cacheDirectory: string;
  /** Downloads an S3 artifact into the cache (in-process). */
  fetchS3(artifact: S3Artifact, signal: AbortSignal): Promise<{ path: string; check: CacheCheck }>;
  /** Downloads and places S3 artifacts through the downloader service, when it is enabled. */
  downloadService?: (
    requests: { artifact: S3Artifact; targetDirectory: string }[],
    signal: AbortSignal,
  ) => Promise<void>;
  /** Time budget of one URL download. */
  urlTimeoutMs: number;
  log: (line: string) => void;
  warn: (line: string) => void;
}

/**
 * Stages `artifacts` into `sandbox`.
 *
 * @example
 * ```ts
 * await stageArtifacts({ embedded, s3, external }, sandbox, services, abortController.signal);
 * ```
 */
export async function stageArtifacts(
  artifacts: TaskArtifacts,
  sandbox: string,
  services: StagingServices,
  signal: AbortSignal,
): Promise<void> {
  for (const artifact of artifacts.embedded) {
    signal.throwIfAborted();
    await placeEmbeddedArtifact(artifact, targetDirectory(artifact, sandbox, services.warn));
    services.log(`${describeArtifact(artifact)}: written`);
  }
  await stageS3(artifacts.s3, sandbox, services, signal);
  for (const artifact of artifacts.external) {
    signal.throwIfAborted();
    const { path } = await fetchIntoCache(
      artifact,
      services.cacheDirectory,
      (destination, abort) => downloadUrl(artifact, destination, { timeoutMs: services.urlTimeoutMs, signal: abort }),
      { signal, log: services.log },
    );
    await place(path, artifact, sandbox, services, signal);
  }
}

/** S3 artifacts: through the service when enabled, else (or after its failure) in-process. */
async function stageS3(
  artifacts: S3Artifact[],
  sandbox: string,
  services: StagingServices,
  signal: AbortSignal,
): Promise<void> {
  if (artifacts.length === 0) return;
  if (services.downloadService !== undefined) {
    const requests = artifacts.map((artifact) => ({
      artifact,
      targetDirectory: targetDirectory(artifact, sandbox, services.warn),
    }));
    try {
      await services.downloadService(requests, signal);
      services.log(`${artifacts.length} S3 artifact(s) placed by the download service`);
      return;
    } catch (error) {
      signal.throwIfAborted();
      services.warn(`${(error as Error).message}; downloading in-process instead`);
    }
  }
  for (const artifact of artifacts) {
    signal.throwIfAborted();
    const { path } = await services.fetchS3(artifact, signal);
    await place(path, artifact, sandbox, services, signal);
  }
}

async function place(
  cached: string,
  artifact: RemoteArtifact,
  sandbox: string,
  services: StagingServices,
  signal: AbortSignal,
): Promise<void> {
  const target = targetDirectory(artifact, sandbox, services.warn);
  await placeCachedArtifact(cached, artifact, target, { signal });
  services.log(`${describeArtifact(artifact)}: placed in ${target}`);
}
