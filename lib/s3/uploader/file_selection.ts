/**
 * Which files of an uploader's directory are candidates for upload, and the
 * identity a file must still have when it is read and when it is deleted.
 *
 * The uploader runs as root over directories task users write to, so nothing
 * here follows a symbolic link: the directory itself, subdirectories and
 * files are looked at with `lstat` (directory entries' own types), a
 * symlinked directory is not descended and a symlink is never a candidate. A
 * regular file with more than one hard link is refused too: it may be a link
 * to a file outside the directory. The file's identity (device, inode, size,
 * modification time) is taken here and checked again on the open handle
 * before reading and on the path just before deleting, so a path swapped for
 * a link in between is neither read nor deleted.
 *
 * @module
 */
import { join } from "node:path";

/** What a file was when it was selected. */
export interface FileIdentity {
  dev: number;
  ino: number;
  size: number;
  mtimeMs: number;
}

/** A file to upload. */
export interface Candidate {
  /** Absolute path. */
  path: string;
  /** Last path component, for the glob and `%filename`. */
  name: string;
  identity: FileIdentity;
}

/** A directory's version: it changes whenever an entry is added, removed or renamed. */
export interface DirectoryStamp {
  ino: number;
  mtimeMs: number;
}

/** Where to look and what to take. */
export interface SelectionRule {
  directory: string;
  /** Whether a file name is wanted (fileGlob, or onFinishGlob once finished). */
  matches: (name: string) => boolean;
  checkSubdirectories: boolean;
  /** The `quiet` stamp of the last scan with the same `matches`: while the directory keeps it, it is not listed. */
  quietSince?: DirectoryStamp;
}

/** The outcome of a scan. */
export interface Selection {
  /** Matching non-empty regular files, sorted by path. */
  candidates: Candidate[];
  /** Matching names that were refused, with the reason (symlinks, hard links, unreadable). */
  refused: { path: string; reason: string }[];
  /**
   * Set when no entry matched at all and the directory had not changed for {@linkcode QUIET_AFTER_MS}: a
   * later scan given this stamp may skip the listing while the directory keeps it.
   */
  quiet?: DirectoryStamp;
}

/**
 * How long a directory must have been unchanged before its stamp is trusted: file systems set a
 * directory's mtime from a coarse clock, so a file created in the same tick as the listing could leave it
 * unchanged.
 */
export const QUIET_AFTER_MS = 2000;

/** Names of the uploader's own temporary files (compressBeforeUpload); never candidates. */
export const TEMPORARY_NAME = /^\..+\.s3uploader\.tmp$/s;

/**
 * The candidates of `rule`. A missing directory has none; a directory that
 * is a symlink is refused. Other errors (no permission) are thrown.
 *
 * @example
 * ```ts
 * const { candidates } = selectFiles({
 *   directory: "/var/lib/mesos/slaves/S1/frameworks/F/executors/E/runs/R/task1/logs",
 *   matches: globMatcher("service.log*.gz"),
 *   checkSubdirectories: false,
 * });
 * ```
 */
export function selectFiles(rule: SelectionRule): Selection {
  const selection: Selection = { candidates: [], refused: [] };
  let top: Deno.FileInfo;
  try {
    top = Deno.lstatSync(rule.directory);
  } catch (error) {
    if (error instanceof Deno.errors.NotFound) return selection;
    throw error;
  }
  if (top.isSymlink) {
    selection.refused.push({ path: rule.directory, reason: "the directory is a symbolic link (not followed)" });
    return selection;
  }
  if (!top.isDirectory) {
    selection.refused.push({ path: rule.directory, reason: "not a directory" });
    return selection;
  }
  // Entries of subdirectories change without changing the top directory's stamp: only a flat scan is skipped.
  const stamp = { ino: top.ino ?? 0, mtimeMs: top.mtime?.getTime() ?? 0 };
  const skippable = !rule.checkSubdirectories && stamp.mtimeMs !== 0;
  if (skippable && rule.quietSince?.ino === stamp.ino && rule.quietSince.mtimeMs === stamp.mtimeMs) {
    return { ...selection, quiet: stamp };
  }
  const matched = scan(rule.directory, rule, selection);
  selection.candidates.sort((a, b) => (a.path < b.path ? -1 : a.path > b.path ? 1 : 0));
  if (skippable && matched === 0 && Date.now() - stamp.mtimeMs > QUIET_AFTER_MS) selection.quiet = stamp;
  return selection;
}

/**
 * Adds the candidates of one directory (and, when asked, of its real subdirectories). Synchronous on
 * purpose: listing a local directory takes microseconds, while each asynchronous file system call costs a
 * hand-off to Deno's thread pool; an idle pass over 10,000 uploaders took 650 ms of CPU that way.
 * Returns how many entries matched (whatever became of them).
 */
function scan(directory: string, rule: SelectionRule, selection: Selection): number {
  const subdirectories: string[] = [];
  let matched = 0;
  for (const entry of Deno.readDirSync(directory)) {
    const path = join(directory, entry.name);
    if (entry.isDirectory) {
      if (rule.checkSubdirectories) subdirectories.push(path);
      continue;
    }
    if (!rule.matches(entry.name)) continue;
    matched++;
    if (TEMPORARY_NAME.test(entry.name)) continue;
    if (entry.isSymlink) {
      selection.refused.push({ path, reason: "a symbolic link (not followed)" });
      continue;
    }
    if (!entry.isFile) continue;
    let info: Deno.FileInfo;
    try {
      info = Deno.lstatSync(path);
    } catch (error) {
      if (error instanceof Deno.errors.NotFound) {
        // Deno hands out names that are not UTF-8 with U+FFFD in place: such a path cannot be opened at all.
        if (entry.name.includes("\uFFFD")) selection.refused.push({ path, reason: "its name is not valid UTF-8" });
        continue;
      }
      selection.refused.push({ path, reason: `cannot be examined (${(error as Error).message})` });
      continue;
    }
    if (!info.isFile || info.size === 0) continue;
    if ((info.nlink ?? 1) > 1) {
      selection.refused.push({ path, reason: `it has ${info.nlink} hard links (it may be a file from elsewhere)` });
      continue;
    }
    selection.candidates.push({ path, name: entry.name, identity: identityOf(info) });
  }
  for (const subdirectory of subdirectories) {
    try {
      matched += scan(subdirectory, rule, selection);
    } catch (error) {
      if (error instanceof Deno.errors.NotFound) continue;
      selection.refused.push({ path: subdirectory, reason: `cannot be listed (${(error as Error).message})` });
    }
  }
  return matched;
}

/**
 * The identity of a file from its `stat`/`lstat`.
 *
 * @example
 * ```ts
 * identityOf(await Deno.lstat("/tmp/a.log")); // { dev: 65024, ino: 2146910, size: 120, mtimeMs: 1795820400000 }
 * ```
 */
export function identityOf(info: Deno.FileInfo): FileIdentity {
  return { dev: info.dev, ino: info.ino ?? 0, size: info.size, mtimeMs: info.mtime?.getTime() ?? 0 };
}

/**
 * True when both describe the same unchanged file.
 *
 * @example
 * ```ts
 * sameFile(candidate.identity, identityOf(await file.stat()));
 * ```
 */
export function sameFile(a: FileIdentity, b: FileIdentity): boolean {
  return a.dev === b.dev && a.ino === b.ino && a.size === b.size && a.mtimeMs === b.mtimeMs;
}

/**
 * The identity of the regular file at `path` now (not following a symlink),
 * or undefined when there is none.
 *
 * @example
 * ```ts
 * const now = await currentIdentity("/tmp/a.log");
 * ```
 */
export async function currentIdentity(path: string): Promise<FileIdentity | undefined> {
  try {
    const info = await Deno.lstat(path);
    return info.isFile ? identityOf(info) : undefined;
  } catch (error) {
    if (error instanceof Deno.errors.NotFound) return undefined;
    throw error;
  }
}

/**
 * Opens `path` for reading and checks, on the open handle, that it is the
 * file `expected` describes (not a symlink or another file put in its
 * place). Throws {@linkcode FileChangedError} otherwise.
 *
 * @example
 * ```ts
 * using file = await openExpected(candidate.path, candidate.identity);
 * ```
 */
export async function openExpected(path: string, expected: FileIdentity): Promise<Deno.FsFile> {
  const file = await Deno.open(path, { read: true });
  try {
    const now = identityOf(await file.stat());
    if (!sameFile(now, expected)) throw new FileChangedError(path, expected, now);
    return file;
  } catch (error) {
    file.close();
    throw error;
  }
}

/** The file at a path is not (or no longer) the one that was selected; it is left alone. */
export class FileChangedError extends Error {
  constructor(path: string, expected: FileIdentity, now: FileIdentity | undefined) {
    super(
      now === undefined
        ? `${path}: gone`
        : `${path}: changed since it was selected (${describe(expected)}; now ${describe(now)})`,
    );
    this.name = "FileChangedError";
  }
}

/** An identity for a message. */
function describe(identity: FileIdentity): string {
  return `inode ${identity.ino}, ${identity.size} bytes, modified ${new Date(identity.mtimeMs).toISOString()}`;
}
