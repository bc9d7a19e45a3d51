/**
 * One uploader's pass: select its files, skip those still open, and upload
 * the rest one after another, each by its journaled plan, with
 * `s3uploader.retry.count` attempts `s3uploader.retry.wait.ms` apart.
 *
 * A file that already has a plan in the journal (an earlier attempt, pass or
 * run) is uploaded by that plan: same key, same multipart upload. A new plan
 * is journaled before anything is sent. A path another uploader (or the
 * journal recovery) is working on right now is left to it.
 *
 * @module
 */
import { basename } from "node:path";
import { setTimeout as sleep } from "node:timers/promises";
import { expandFileTokens } from "../key_pattern.ts";
import type { UploadMetadata } from "../upload_metadata.ts";
import {
  type Candidate,
  type DirectoryIdentity,
  FileChangedError,
  sameFile,
  selectFiles,
  type SelectionRule,
} from "./file_selection.ts";
import type { UploadPlan } from "./journal.ts";
import { openFiles } from "./processes.ts";
import { isFinished, type Uploader } from "./registry.ts";
import { contentHeadersFor, type UploaderSettings } from "./settings.ts";
import {
  clientFor,
  dropPlan,
  newCompressedPath,
  type UploadContext,
  uploadFile,
  type UploadOutcome,
} from "./upload_file.ts";

/** What a pass needs besides the uploader. */
export interface PassContext extends UploadContext {
  /** Paths being uploaded right now, daemon-wide. */
  inFlight: Set<string>;
  /** Paths already tried in this pass (by the journal step): not tried twice. */
  tried: Set<string>;
  /** Aborted when no new file may be started (shutdown). */
  stopping: AbortSignal;
  /** Called for each file uploaded (for metrics). */
  onUploaded?: (outcome: Extract<UploadOutcome, { state: "uploaded" }>, seconds: number) => void;
  /** Called for each file whose attempts all failed. */
  onFailed?: () => void;
}

/** What one pass over one uploader found and did. */
export interface PassResult {
  /** Matching non-empty files seen (open and failing ones included). */
  found: number;
  uploaded: number;
  failed: number;
  /** Skipped because open, or because another upload had them. */
  skipped: number;
  /** Files matching after the pass, when counted (only when all found ones were uploaded). */
  remaining?: number;
  /** Why the directory could not be scanned. */
  error?: string;
}

/**
 * Runs one pass of `uploader`.
 *
 * @example
 * ```ts
 * const result = await runUploaderPass(uploader, context);
 * if (result.found === 0 && isFinished(uploader)) removeUploader(uploader);
 * ```
 */
export async function runUploaderPass(uploader: Uploader, context: PassContext): Promise<PassResult> {
  const { metadata } = uploader;
  const finished = isFinished(uploader);
  const rule: SelectionRule = {
    directory: metadata.directory,
    matches: (name: string) => uploader.matches(name) || (finished && (uploader.matchesOnFinish?.(name) ?? false)),
    checkSubdirectories: metadata.checkSubdirectories,
    root: context.settings.workDirectory,
    quietSince: uploader.quiet?.finished === finished ? uploader.quiet.stamp : undefined,
  };
  let candidates: Candidate[];
  try {
    const selection = selectFiles(rule);
    uploader.quiet = selection.quiet === undefined ? undefined : { stamp: selection.quiet, finished };
    for (const refused of selection.refused) {
      if (uploader.reported.has(refused.path)) continue;
      uploader.reported.add(refused.path);
      context.log.warn(`${metadataName(uploader)}: not uploading ${refused.path}: ${refused.reason}`);
    }
    candidates = selection.candidates;
  } catch (error) {
    return { found: 0, uploaded: 0, failed: 0, skipped: 0, error: listingError(metadata.directory, error) };
  }
  const result: PassResult = { found: candidates.length, uploaded: 0, failed: 0, skipped: 0 };
  if (candidates.length === 0) return result;

  const { settings } = context;
  const checkOpen = settings.checkOpenFiles && metadata.checkIfOpen && !uploader.immediate;
  const open = checkOpen
    ? await openFiles(
      candidates.map((candidate) => ({ path: candidate.path, ino: candidate.identity.ino })),
      settings.openFileCheck,
    )
    : new Set<string>();
  for (const [index, candidate] of candidates.entries()) {
    if (context.stopping.aborted) break;
    if (open.has(candidate.path) || context.inFlight.has(candidate.path) || context.tried.has(candidate.path)) {
      result.skipped++;
      if (open.has(candidate.path)) context.log.debug(`${candidate.path} is open; trying again next pass`);
      continue;
    }
    context.inFlight.add(candidate.path);
    try {
      let plan = context.journal.forPath(candidate.path);
      let fresh = false;
      if (plan !== undefined && !sameFile(plan.file, candidate.identity)) {
        await dropPlan(plan, clientFor(plan, context), context, "the file changed");
        plan = undefined;
      }
      if (plan === undefined) {
        plan = makePlan(uploader, candidate, index, settings);
        await context.journal.record(plan);
        fresh = true;
      } else {
        if (!sameDirectory(plan.directory, candidate.directory)) {
          // Just checked to be where its path says (a plan from before directories were recorded, or a
          // directory replaced by one holding the same file): the file may be deleted from there.
          plan.directory = candidate.directory;
          await context.journal.record(plan);
        }
        await refreshCredentials(plan, metadata, context);
      }
      const outcome = await uploadWithRetries(plan, fresh, context);
      if (outcome.state === "failed") result.failed++;
      else if (outcome.state === "uploaded") result.uploaded++;
    } catch (error) {
      // A journal write failing (a full disk), or a stale plan that cannot be dropped yet (S3 unreachable):
      // nothing of this file was deleted, and the journal still says what to do with it.
      result.failed++;
      context.onFailed?.();
      context.log.error(`${candidate.path}: ${describeError(error)}; trying again next pass`);
    } finally {
      context.inFlight.delete(candidate.path);
    }
  }
  if ((finished || uploader.immediate) && result.failed === 0 && result.skipped === 0 && !context.stopping.aborted) {
    try {
      result.remaining = selectFiles({ ...rule, quietSince: undefined }).candidates.length;
    } catch {
      // Counted again at the next pass.
    }
  }
  return result;
}

/** How the attempts at a plan ended: the upload's outcome, failed (logged), or abandoned for shutdown. */
export type AttemptsResult = UploadOutcome | { state: "failed" } | { state: "abandoned" };

/**
 * Carries out `plan` with the configured attempts. When every attempt
 * failed (logged) or the upload was abandoned for shutdown, the plan stays
 * journaled.
 *
 * @example
 * ```ts
 * const result = await uploadWithRetries(plan, false, context);
 * if (result.state === "uploaded") console.log(result.bytes);
 * ```
 */
export async function uploadWithRetries(
  plan: UploadPlan,
  fresh: boolean,
  context: PassContext,
): Promise<AttemptsResult> {
  const { retryCount, retryWaitMs } = context.settings;
  const where = `s3://${plan.bucket}/${plan.key}`;
  for (let attempt = 1; attempt <= retryCount; attempt++) {
    const started = performance.now();
    try {
      const outcome = await uploadFile(plan, context, { fresh: fresh && attempt === 1 });
      if (outcome.state === "uploaded") {
        const seconds = (performance.now() - started) / 1000;
        context.log.info(
          `${outcome.alreadyThere ? "already in S3" : "uploaded"}: ${plan.path} -> ${where} ` +
            `(${outcome.bytes} bytes${
              outcome.alreadyThere ? "" : `, ${seconds.toFixed(2)} s`
            }; from ${plan.metadataFile})`,
        );
        context.onUploaded?.(outcome, seconds);
      }
      return outcome;
    } catch (error) {
      const abandoned = context.signal.aborted;
      const last = attempt === retryCount || abandoned || context.stopping.aborted;
      const message = `${plan.path} -> ${where}: attempt ${attempt} of ${retryCount} failed: ${describeError(error)}`;
      if (abandoned) {
        context.log.info(`${plan.path}: upload abandoned for shutdown; it resumes to ${where} at the next start`);
        return { state: "abandoned" };
      }
      if (!last) {
        context.log.warn(message);
        if (!(error instanceof FileChangedError)) {
          await sleep(retryWaitMs, undefined, { signal: context.stopping }).catch(() => {});
        }
        continue;
      }
      context.log.error(`${message}; keeping the file for the next pass`);
      context.onFailed?.();
      return { state: "failed" };
    }
  }
  return { state: "failed" };
}

/**
 * Gives `plan` the key pair `metadata` carries now (or none), so fixing a
 * metadata file's keys also fixes the uploads already planned with the old
 * ones. The bucket and key never change: they are what makes a plan.
 *
 * @example
 * ```ts
 * await refreshCredentials(plan, uploader.metadata, context);
 * ```
 */
export async function refreshCredentials(
  plan: UploadPlan,
  metadata: UploadMetadata,
  context: UploadContext,
): Promise<void> {
  const now = metadata.s3AccessKey && metadata.s3SecretKey
    ? { accessKey: metadata.s3AccessKey, secretKey: metadata.s3SecretKey }
    : undefined;
  if (now?.accessKey === plan.credentials?.accessKey && now?.secretKey === plan.credentials?.secretKey) return;
  if (now === undefined) delete plan.credentials;
  else plan.credentials = now;
  await context.journal.record(plan);
}

/** Whether a plan's recorded directory is `now`. */
function sameDirectory(recorded: DirectoryIdentity | undefined, now: DirectoryIdentity): boolean {
  return recorded?.realPath === now.realPath && recorded.dev === now.dev && recorded.ino === now.ino;
}

/** The plan for a new file of `uploader`: key expanded now (position `index`, the file's mtime, this host). */
function makePlan(uploader: Uploader, candidate: Candidate, index: number, settings: UploaderSettings): UploadPlan {
  const metadata: UploadMetadata = uploader.metadata;
  const compress = metadata.compressBeforeUpload && !candidate.name.endsWith(".gz");
  const uploadName = compress ? `${candidate.name}.gz` : candidate.name;
  const key = expandFileTokens(metadata.s3KeyFormat, {
    fileName: uploadName,
    modified: new Date(candidate.identity.mtimeMs),
    index,
    host: settings.host,
  });
  const headers = contentHeadersFor(uploadName, settings.contentHeaders);
  const plan: UploadPlan = {
    version: 1,
    path: candidate.path,
    file: candidate.identity,
    directory: candidate.directory,
    bucket: metadata.s3Bucket,
    key,
    metadataFile: metadataName(uploader),
    uploadName,
    createdAt: new Date().toISOString(),
  };
  if (compress) plan.compressed = { path: newCompressedPath(candidate.path) };
  if (metadata.storageClass !== undefined) {
    plan.storageClass = metadata.storageClass;
    if (metadata.applyStorageClassIfOverBytes !== undefined) {
      plan.storageClassOverBytes = metadata.applyStorageClassIfOverBytes;
    }
  }
  if (headers.contentType !== undefined) plan.contentType = headers.contentType;
  if (headers.contentEncoding !== undefined) plan.contentEncoding = headers.contentEncoding;
  if (metadata.encryptionKey !== undefined) {
    plan.serverSideEncryption = "aws:kms";
    plan.kmsKeyId = metadata.encryptionKey;
  } else if (metadata.useS3ServerSideEncryption === true) {
    plan.serverSideEncryption = "AES256";
  }
  if (metadata.s3AccessKey && metadata.s3SecretKey) {
    plan.credentials = { accessKey: metadata.s3AccessKey, secretKey: metadata.s3SecretKey };
  }
  return plan;
}

/**
 * The uploader's metadata file name, for logs.
 *
 * @example
 * ```ts
 * log.info(`${metadataName(uploader)}: final pass`); // "t1.s3.json: final pass"
 * ```
 */
export function metadataName(uploader: Uploader): string {
  return uploader.metadataPath === undefined
    ? `(deleted metadata for ${uploader.id})`
    : basename(uploader.metadataPath);
}

/**
 * An error for a log line: the S3 error code and message (never credentials).
 *
 * @example
 * ```ts
 * describeError(error); // "InvalidAccessKeyId (HTTP 403): The AWS Access Key Id you provided does not exist in our records."
 * describeError(headError); // "(HTTP 403)"
 * ```
 */
export function describeError(error: unknown): string {
  if (!(error instanceof Error)) return String(error);
  const status = (error as { $metadata?: { httpStatusCode?: number } }).$metadata?.httpStatusCode;
  // Errors without a body (HeadObject) come back as "Unknown: UnknownError": the status is all there is.
  const name = error.name === "Error" || error.name === "Unknown" ? "" : error.name;
  const message = error.message === "UnknownError" ? "" : error.message;
  const head = [name, status === undefined ? "" : `(HTTP ${status})`].filter((part) => part !== "").join(" ");
  const cause = error.cause instanceof Error ? ` (${error.cause.message})` : "";
  const text = [head, message].filter((part) => part !== "").join(": ");
  return `${text || "no message"}${cause}`;
}

/** Why a directory could not be scanned, with the permission hint when Deno refused. */
function listingError(directory: string, error: unknown): string {
  if (error instanceof Deno.errors.NotCapable) {
    return `cannot read ${directory}: outside what this uploader may read (s3uploader.metadata.directory, ` +
      `mesos.work.directory, root.log.directory; reinstall after changing them)`;
  }
  return `cannot scan ${directory}: ${describeError(error)}`;
}
