/**
 * The upload journal: before the first byte of a file goes to S3, the plan
 * for it (which file, by identity; which bucket and key; its multipart
 * upload id once there is one) is written to
 * `<metadata directory>/.s3uploader-journal/<hash of the path>.json`,
 * atomically. The entry is removed only after S3 confirmed the object and
 * the local file was deleted. After a crash, a retry or a restart, a file
 * with an entry is uploaded by that plan, to the same key, so `%guid` and
 * `%index` never make a second object for one file, and an interrupted
 * multipart upload is resumed or aborted, never forgotten.
 *
 * The directory is a dot-directory, so nothing in it ends in the metadata
 * suffix or is read as metadata. Entries are 0600: when the metadata carried
 * its own credentials the plan does too (the metadata file is as secret).
 *
 * Entry format (JSON, version 1):
 *
 * ```json
 * {"version":1,"path":"/s/logs/service.log-1.gz","file":{"dev":65024,"ino":91,"size":12582912,"mtimeMs":1795820400000},
 *  "directory":{"realPath":"/s/logs","dev":65024,"ino":90},
 *  "bucket":"logs","key":"web/2026/11/t_0-service.log-1.gz","metadataFile":"t.s3.json","uploadName":"service.log-1.gz",
 *  "multipart":{"partSize":5242880,"uploadId":"2~abc"},"createdAt":"2026-11-28T10:00:00.000Z"}
 * ```
 *
 * @module
 */
import { createHash } from "node:crypto";
import { join } from "node:path";
import { writeAtomically } from "../../write_atomically.ts";
import type { S3Credentials } from "../client.ts";
import type { DirectoryIdentity, FileIdentity } from "./file_selection.ts";

/** The journal's directory name inside the metadata directory. */
export const JOURNAL_DIRECTORY = ".s3uploader-journal";

/** Everything needed to upload one file, decided once and kept until the file is safely in S3. */
export interface UploadPlan {
  version: 1;
  /** The file as selected. */
  path: string;
  file: FileIdentity;
  /**
   * The directory the file was found in (its real path and inode): the file is deleted only from there.
   * Absent in plans journaled before it was recorded.
   */
  directory?: DirectoryIdentity;
  bucket: string;
  key: string;
  /** The metadata file the plan came from (for logs). */
  metadataFile: string;
  /** The name the object is uploaded as (the `.gz` name when compressed). */
  uploadName: string;
  /** compressBeforeUpload: the gzipped copy beside the file, and its identity once written. */
  compressed?: { path: string; file?: FileIdentity };
  storageClass?: string;
  /** The storage class applies only to objects larger than this (applyStorageClassIfOverBytes). */
  storageClassOverBytes?: number;
  contentType?: string;
  contentEncoding?: string;
  /** SSE: "AES256" or "aws:kms" (with `kmsKeyId`). */
  serverSideEncryption?: "AES256" | "aws:kms";
  kmsKeyId?: string;
  /** Only when the metadata carried its own key pair. */
  credentials?: S3Credentials;
  /** Set when the upload goes in parts; `uploadId` once S3 has created it. */
  multipart?: { partSize: number; uploadId?: string };
  createdAt: string;
}

/** A journal entry that cannot be read; left in place and named in the log. */
export interface UnreadableEntry {
  file: string;
  reason: string;
}

/**
 * The journal of one metadata directory, with an in-memory index by path.
 *
 * @example
 * ```ts
 * const journal = await Journal.open("/var/lib/singularity/s3uploader");
 * await journal.record(plan);
 * journal.forPath(plan.path); // plan
 * await journal.remove(plan.path);
 * ```
 */
export class Journal {
  readonly directory: string;
  readonly #plans = new Map<string, UploadPlan>();

  private constructor(directory: string) {
    this.directory = directory;
  }

  /**
   * Opens (creating when needed) the journal in `metadataDirectory` and
   * reads its entries; unreadable ones are reported, not deleted. Temporary
   * files of writes interrupted by a crash are removed.
   */
  static async open(metadataDirectory: string): Promise<{ journal: Journal; unreadable: UnreadableEntry[] }> {
    const journal = new Journal(join(metadataDirectory, JOURNAL_DIRECTORY));
    await Deno.mkdir(journal.directory, { recursive: true, mode: 0o700 });
    const unreadable: UnreadableEntry[] = [];
    for await (const entry of Deno.readDir(journal.directory)) {
      const file = join(journal.directory, entry.name);
      if (entry.isFile && entry.name.startsWith(".") && entry.name.endsWith(".tmp")) {
        // A write the daemon died in the middle of (writeAtomically's temporary file): the entry it was to
        // replace, if any, is still there whole.
        await Deno.remove(file).catch(() => {});
        continue;
      }
      if (!entry.isFile || !entry.name.endsWith(".json") || entry.name.startsWith(".")) continue;
      try {
        const plan = parsePlan(await Deno.readTextFile(file), file);
        journal.#plans.set(plan.path, plan);
      } catch (error) {
        unreadable.push({ file, reason: (error as Error).message });
      }
    }
    return { journal, unreadable };
  }

  /** The plans, oldest first. */
  plans(): UploadPlan[] {
    return [...this.#plans.values()].sort((a, b) => a.createdAt.localeCompare(b.createdAt));
  }

  /** The plan for the file at `path`, if any. */
  forPath(path: string): UploadPlan | undefined {
    return this.#plans.get(path);
  }

  /** Writes (or replaces) the plan for `plan.path`; resolves once it is on disk. */
  async record(plan: UploadPlan): Promise<void> {
    await writeAtomically(this.#fileOf(plan.path), JSON.stringify(plan), { mode: 0o600 });
    this.#plans.set(plan.path, plan);
  }

  /** Removes the plan for `path`. */
  async remove(path: string): Promise<void> {
    try {
      await Deno.remove(this.#fileOf(path));
    } catch (error) {
      if (!(error instanceof Deno.errors.NotFound)) throw error;
    }
    this.#plans.delete(path);
  }

  /** How many plans are open. */
  get size(): number {
    return this.#plans.size;
  }

  #fileOf(path: string): string {
    return join(this.directory, `${createHash("sha256").update(path).digest("hex").slice(0, 40)}.json`);
  }
}

/**
 * Parses one journal entry (named `file` in errors).
 *
 * @example
 * ```ts
 * parsePlan(await Deno.readTextFile(entry), entry).key;
 * ```
 */
export function parsePlan(text: string, file: string): UploadPlan {
  let json: unknown;
  try {
    json = JSON.parse(text);
  } catch (error) {
    throw new Error(`${file}: ${notValidJson(error)}`);
  }
  const raw = (json ?? {}) as Record<string, unknown>;
  const fail = (field: string, expected: string): never => {
    throw new Error(`${file}: field ${field} = ${JSON.stringify(raw[field]) ?? "nothing"}: expected ${expected}`);
  };
  if (raw.version !== 1) fail("version", "1");
  for (const field of ["path", "bucket", "key", "metadataFile", "uploadName", "createdAt"]) {
    if (typeof raw[field] !== "string" || raw[field] === "") fail(field, "a non-empty string");
  }
  if (!isIdentity(raw.file)) fail("file", "{dev, ino, size, mtimeMs}");
  const directory = raw.directory as Record<string, unknown> | undefined;
  if (
    directory !== undefined &&
    (typeof directory !== "object" || directory === null || typeof directory.realPath !== "string" ||
      typeof directory.dev !== "number" || typeof directory.ino !== "number")
  ) {
    fail("directory", "{realPath, dev, ino}");
  }
  const multipart = raw.multipart as Record<string, unknown> | undefined;
  if (
    multipart !== undefined &&
    (typeof multipart !== "object" || multipart === null || typeof multipart.partSize !== "number" ||
      !(multipart.uploadId === undefined || typeof multipart.uploadId === "string"))
  ) {
    fail("multipart", "{partSize, uploadId?}");
  }
  const compressed = raw.compressed as Record<string, unknown> | undefined;
  if (
    compressed !== undefined &&
    (typeof compressed !== "object" || compressed === null || typeof compressed.path !== "string" ||
      !(compressed.file === undefined || isIdentity(compressed.file)))
  ) {
    fail("compressed", "{path, file?}");
  }
  return raw as unknown as UploadPlan;
}

/** What is wrong with text `JSON.parse` refused, by position only: V8's messages quote the text, maybe a secret. */
function notValidJson(error: unknown): string {
  const position = /\bposition (\d+)/.exec(error instanceof Error ? error.message : "")?.[1];
  return position === undefined ? "not valid JSON" : `not valid JSON (at position ${position})`;
}

/** Whether `value` looks like a {@linkcode FileIdentity}. */
function isIdentity(value: unknown): value is FileIdentity {
  if (value === null || typeof value !== "object") return false;
  const identity = value as Record<string, unknown>;
  return ["dev", "ino", "size", "mtimeMs"].every((field) => typeof identity[field] === "number");
}
