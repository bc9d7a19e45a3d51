/**
 * The registered uploaders: one per (directory, fileGlob), made from the
 * metadata files, with the state the periodic pass decides on (finished, by
 * flag, by the metadata file's deletion or by the watched pid's exit; when
 * files were last found; immediate). No I/O: the service feeds it metadata
 * file contents and disappearances and asks what they changed.
 *
 * Rules (the originals', §5.3):
 * - a metadata file whose identity is already registered from another file
 *   is ignored (its other fields too, e.g. a different bucket);
 * - rewriting the registered file toggles `finished`, and turns the
 *   uploader immediate when `uploadImmediately` becomes true;
 * - deleting the registered file finishes the uploader (one final pass);
 * - a file rewritten with another identity finishes the old uploader
 *   (without deleting the file, which now belongs to the new one).
 *
 * @module
 */
import { basename } from "node:path";
import { parseUploadMetadata, type UploadMetadata } from "../upload_metadata.ts";
import type { DirectoryStamp } from "./file_selection.ts";
import { globMatcher } from "./glob.ts";

/** What identifies a version of a metadata file on disk. */
export interface MetadataStamp {
  ino: number;
  size: number;
  mtimeMs: number;
}

/** One registered uploader. */
export interface Uploader {
  /** `[directory, fileGlob]` as JSON: the uploader's identity. */
  readonly id: string;
  /** The metadata file it was registered from; undefined once that file belongs to another uploader. */
  metadataPath: string | undefined;
  /** The version of the file last read. */
  stamp: MetadataStamp | undefined;
  metadata: UploadMetadata;
  readonly matches: (name: string) => boolean;
  readonly matchesOnFinish: ((name: string) => boolean) | undefined;
  finishedByFlag: boolean;
  metadataDeleted: boolean;
  pidGone: boolean;
  immediate: boolean;
  /** Epoch ms when a pass last found a matching file (registration counts). */
  lastFilesFoundAt: number;
  /** Paths already reported as refused (symlinks, hard links), so each is logged once. */
  readonly reported: Set<string>;
  /** The last error of a pass, logged when it first appears. */
  lastError: string | undefined;
  /** The directory's stamp when a pass last found nothing there, with the finished state it looked with. */
  quiet: { stamp: DirectoryStamp; finished: boolean } | undefined;
}

/** What a metadata file's content did. */
export type MetadataChange =
  | { kind: "registered"; uploader: Uploader }
  | { kind: "updated"; uploader: Uploader; finished?: boolean; becameImmediate: boolean }
  | { kind: "unchanged"; uploader: Uploader }
  | { kind: "duplicate"; uploader: Uploader; message: string }
  | { kind: "invalid"; message: string };

/**
 * Whether an uploader counts as finished: by its metadata's flag, its metadata file's deletion or its pid's exit.
 *
 * @example
 * ```ts
 * if (isFinished(uploader)) console.log("final pass, onFinishGlob included");
 * ```
 */
export function isFinished(uploader: Uploader): boolean {
  return uploader.finishedByFlag || uploader.metadataDeleted || uploader.pidGone;
}

/**
 * The identity of a metadata: `[directory, fileGlob]` as JSON.
 *
 * @example
 * ```ts
 * uploaderId({ directory: "/s/logs", fileGlob: "*.gz" }); // '["/s/logs","*.gz"]'
 * ```
 */
export function uploaderId(metadata: Pick<UploadMetadata, "directory" | "fileGlob">): string {
  return JSON.stringify([metadata.directory, metadata.fileGlob]);
}

/**
 * The registry.
 *
 * @example
 * ```ts
 * const registry = new Registry("/var/lib/singularity/s3uploader");
 * const change = registry.apply("/var/lib/singularity/s3uploader/t1.s3.json", text, stamp, Date.now());
 * if (change.kind === "registered" && change.uploader.immediate) startUpload(change.uploader);
 * ```
 */
export class Registry {
  readonly #metadataDirectory: string;
  readonly #byId = new Map<string, Uploader>();
  readonly #idByPath = new Map<string, string>();

  /** `metadataDirectory`: uploaders of that directory (or below it) are refused. */
  constructor(metadataDirectory: string) {
    this.#metadataDirectory = metadataDirectory.replace(/\/+$/, "");
  }

  /** The registered uploaders, in registration order. */
  uploaders(): Uploader[] {
    return [...this.#byId.values()];
  }

  /** Whether `uploader` is still registered. */
  has(uploader: Uploader): boolean {
    return this.#byId.get(uploader.id) === uploader;
  }

  /** The uploader registered from the metadata file at `path`. */
  byPath(path: string): Uploader | undefined {
    const id = this.#idByPath.get(path);
    return id === undefined ? undefined : this.#byId.get(id);
  }

  /** Applies the content `text` of the metadata file at `path` (version `stamp`) read at `now`. */
  apply(path: string, text: string, stamp: MetadataStamp, now: number): MetadataChange {
    const file = basename(path);
    let metadata: UploadMetadata;
    let matches: (name: string) => boolean;
    let matchesOnFinish: ((name: string) => boolean) | undefined;
    try {
      metadata = parseUploadMetadata(text, file);
      matches = compile(metadata.fileGlob, "fileGlob", file);
      matchesOnFinish = metadata.onFinishGlob === undefined
        ? undefined
        : compile(metadata.onFinishGlob, "onFinishGlob", file);
      const directory = metadata.directory.replace(/\/+$/, "");
      if (directory === this.#metadataDirectory || directory.startsWith(`${this.#metadataDirectory}/`)) {
        throw new Error(
          `${file}: field directory = ${JSON.stringify(metadata.directory)}: ` +
            `expected a directory outside the metadata directory ${this.#metadataDirectory}`,
        );
      }
    } catch (error) {
      return { kind: "invalid", message: (error as Error).message };
    }
    const id = uploaderId(metadata);
    const previousId = this.#idByPath.get(path);
    if (previousId !== undefined && previousId !== id) {
      // The file now describes another uploader: the old one makes its final pass without it.
      const previous = this.#byId.get(previousId);
      if (previous !== undefined) {
        previous.metadataDeleted = true;
        previous.metadataPath = undefined;
      }
      this.#idByPath.delete(path);
    }
    const existing = this.#byId.get(id);
    if (existing !== undefined) {
      if (existing.metadataPath !== path) {
        return {
          kind: "duplicate",
          uploader: existing,
          message: `${file}: directory ${metadata.directory} with fileGlob ${metadata.fileGlob} is already ` +
            `uploaded for ${
              existing.metadataPath === undefined ? "an earlier file" : basename(existing.metadataPath)
            }; ignored`,
        };
      }
      existing.stamp = stamp;
      const becameImmediate = metadata.uploadImmediately === true && !existing.immediate;
      const finishedChanged = metadata.finished !== existing.finishedByFlag;
      existing.metadata = metadata;
      existing.finishedByFlag = metadata.finished;
      if (becameImmediate) existing.immediate = true;
      if (!becameImmediate && !finishedChanged) return { kind: "unchanged", uploader: existing };
      return {
        kind: "updated",
        uploader: existing,
        ...(finishedChanged ? { finished: metadata.finished } : {}),
        becameImmediate,
      };
    }
    const uploader: Uploader = {
      id,
      metadataPath: path,
      stamp,
      metadata,
      matches,
      matchesOnFinish,
      finishedByFlag: metadata.finished,
      metadataDeleted: false,
      pidGone: false,
      immediate: metadata.uploadImmediately === true,
      lastFilesFoundAt: now,
      reported: new Set(),
      lastError: undefined,
      quiet: undefined,
    };
    this.#byId.set(id, uploader);
    this.#idByPath.set(path, id);
    return { kind: "registered", uploader };
  }

  /** The metadata file at `path` is gone: its uploader (if any) is finished. */
  gone(path: string): Uploader | undefined {
    const uploader = this.byPath(path);
    this.#idByPath.delete(path);
    if (uploader === undefined) return undefined;
    uploader.metadataDeleted = true;
    uploader.metadataPath = undefined;
    return uploader;
  }

  /** Unregisters `uploader`. */
  remove(uploader: Uploader): void {
    if (!this.has(uploader)) return;
    this.#byId.delete(uploader.id);
    if (uploader.metadataPath !== undefined && this.#idByPath.get(uploader.metadataPath) === uploader.id) {
      this.#idByPath.delete(uploader.metadataPath);
    }
  }

  /** How many uploaders are registered. */
  get size(): number {
    return this.#byId.size;
  }
}

/** A glob of metadata file `file`, with the field named in its error. */
function compile(glob: string, field: string, file: string): (name: string) => boolean {
  try {
    return globMatcher(glob);
  } catch (error) {
    throw new Error(`${file}: field ${field}: ${(error as Error).message}`);
  }
}
