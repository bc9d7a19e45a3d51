/**
 * Which files of an uploader's directory are candidates for upload, and the
 * identity a file must still have when it is read and when it is deleted.
 *
 * The uploader runs as root over directories task users write to, so nothing
 * here follows a symbolic link, wherever it is in a path: a directory is
 * listed only when its real path (`realpath`) is the path it is named by, below
 * `mesos.work.directory` (whose own path may hold links: the operator's), and
 * again after the listing; subdirectories and files are looked at with
 * `lstat` (directory entries' own types), a symlinked directory is not
 * descended and a symlink is never a candidate. A regular file with more than
 * one hard link is refused too: it may be a link to a file outside the
 * directory. The file's identity (device, inode, size, modification time) and
 * its directory's (real path, device, inode) are taken here; the file is
 * opened without following a link or blocking (a FIFO), checked on the open
 * handle and read only through it, and both identities are checked again
 * right before the unlink, so a path swapped for a link, another file or a
 * FIFO in between is neither read nor deleted.
 *
 * @module
 */
import { constants } from "node:fs";
import { type FileHandle, open } from "node:fs/promises";
import { dirname, isAbsolute, join, normalize, relative } from "node:path";

/** What a file was when it was selected. */
export interface FileIdentity {
  dev: number;
  ino: number;
  size: number;
  mtimeMs: number;
}

/** What a directory was when it was listed: where it really is, and which inode. */
export interface DirectoryIdentity {
  /** Its real path (`realpath`). */
  realPath: string;
  dev: number;
  ino: number;
}

/** A file to upload. */
export interface Candidate {
  /** Absolute path. */
  path: string;
  /** Last path component, for the glob and `%filename`. */
  name: string;
  identity: FileIdentity;
  /** The directory it was found in. */
  directory: DirectoryIdentity;
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
  /**
   * `mesos.work.directory`: the directory must lie below it. Undefined: anywhere, but then no component of
   * the directory's path may be a symbolic link.
   */
  root?: string;
  /** The `quiet` stamp of the last scan with the same `matches`: while the directory keeps it, it is not listed. */
  quietSince?: DirectoryStamp;
}

/** The outcome of a scan. */
export interface Selection {
  /** Matching non-empty regular files, sorted by path. */
  candidates: Candidate[];
  /**
   * Matching names that were refused, with the reason (symlinks, hard links, unreadable), and directories
   * that were not listed (a symlink in their path, outside `root`).
   */
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
 * is a symlink, has one in its path or lies outside `rule.root` is refused
 * (nothing of it is listed). Other errors (no permission) are thrown.
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
  const realPath = expectedRealPath(rule.directory, rule.root);
  if (typeof realPath !== "string") {
    selection.refused.push({ path: rule.directory, reason: realPath.refused });
    return selection;
  }
  let matched: number;
  try {
    matched = scan(rule.directory, realPath, rule, selection);
  } catch (error) {
    // Removed while it was looked at.
    if (error instanceof Deno.errors.NotFound) return { candidates: [], refused: [] };
    throw error;
  }
  selection.candidates.sort((a, b) => (a.path < b.path ? -1 : a.path > b.path ? 1 : 0));
  if (skippable && matched === 0 && Date.now() - stamp.mtimeMs > QUIET_AFTER_MS) selection.quiet = stamp;
  return selection;
}

/**
 * Adds the candidates of one directory (and, when asked, of its real subdirectories); `realPath` is where
 * the directory must really be. Synchronous on purpose: listing a local directory takes microseconds, while
 * each asynchronous file system call costs a hand-off to Deno's thread pool; an idle pass over 10,000
 * uploaders took 650 ms of CPU that way. Returns how many entries matched (whatever became of them).
 */
function scan(directory: string, realPath: string, rule: SelectionRule, selection: Selection): number {
  const before = directoryIdentityOf(directory);
  if (before.realPath !== realPath) {
    selection.refused.push({ path: directory, reason: symlinkedDirectory(before.realPath) });
    return 0;
  }
  const found: Candidate[] = [];
  const refused: Selection["refused"] = [];
  const subdirectories: string[] = [];
  let matched = 0;
  for (const entry of Deno.readDirSync(directory)) {
    const path = join(directory, entry.name);
    if (entry.isDirectory) {
      if (rule.checkSubdirectories) subdirectories.push(entry.name);
      continue;
    }
    if (!rule.matches(entry.name)) continue;
    matched++;
    if (TEMPORARY_NAME.test(entry.name)) continue;
    if (entry.isSymlink) {
      refused.push({ path, reason: "a symbolic link (not followed)" });
      continue;
    }
    if (!entry.isFile) continue;
    let info: Deno.FileInfo;
    try {
      info = Deno.lstatSync(path);
    } catch (error) {
      if (error instanceof Deno.errors.NotFound) {
        // Deno hands out names that are not UTF-8 with U+FFFD in place: such a path cannot be opened at all.
        if (entry.name.includes("\uFFFD")) refused.push({ path, reason: "its name is not valid UTF-8" });
        continue;
      }
      refused.push({ path, reason: `cannot be examined (${(error as Error).message})` });
      continue;
    }
    if (!info.isFile || info.size === 0) continue;
    if ((info.nlink ?? 1) > 1) {
      refused.push({ path, reason: `it has ${info.nlink} hard links (it may be a file from elsewhere)` });
      continue;
    }
    found.push({ path, name: entry.name, identity: identityOf(info), directory: before });
  }
  // The path may have been swapped for a link while it was listed: then what was seen is not this directory's.
  const after = directoryIdentityOf(directory);
  if (after.realPath !== realPath || after.dev !== before.dev || after.ino !== before.ino) {
    selection.refused.push({
      path: directory,
      reason: after.realPath === realPath ? "it was replaced while it was listed" : symlinkedDirectory(after.realPath),
    });
    return matched;
  }
  selection.candidates.push(...found);
  selection.refused.push(...refused);
  for (const name of subdirectories) {
    const subdirectory = join(directory, name);
    try {
      matched += scan(subdirectory, join(realPath, name), rule, selection);
    } catch (error) {
      if (error instanceof Deno.errors.NotFound) continue;
      selection.refused.push({ path: subdirectory, reason: `cannot be listed (${(error as Error).message})` });
    }
  }
  return matched;
}

/**
 * The real path and inode of `directory` now (following links: its real path says whether there were any).
 *
 * @example
 * ```ts
 * directoryIdentityOf("/s/logs"); // { realPath: "/s/logs", dev: 65024, ino: 91 }
 * ```
 */
export function directoryIdentityOf(directory: string): DirectoryIdentity {
  const realPath = Deno.realPathSync(directory);
  // By the path given: Deno checks permissions on it, and the real path may be outside what it may read.
  const info = Deno.statSync(directory);
  return { realPath, dev: info.dev, ino: info.ino ?? 0 };
}

/** Why a directory whose real path is `realPath` (not its own) is not listed. */
function symlinkedDirectory(realPath: string): string {
  return `it resolves to ${realPath} (a symbolic link in its path is not followed)`;
}

/**
 * Where `directory` must really be for its files to be uploaded: its own
 * path, normalized, below `root` (`mesos.work.directory`; the root's own
 * path may hold symbolic links, nothing below it may). Resolves to that real
 * path, or to the reason the directory is refused when it is not below
 * `root`. Throws `NotFound` when `root` does not exist.
 *
 * @example
 * ```ts
 * expectedRealPath("/var/lib/mesos/slaves/S1/x/logs/", "/var/lib/mesos"); // "/var/lib/mesos/slaves/S1/x/logs"
 * expectedRealPath("/var/log/app", "/var/lib/mesos"); // { refused: "it is not below mesos.work.directory ..." }
 * ```
 */
export function expectedRealPath(directory: string, root: string | undefined): string | { refused: string } {
  const wanted = withoutTrailingSlash(normalize(directory));
  if (root === undefined) return wanted;
  const base = withoutTrailingSlash(normalize(root));
  const below = relative(base, wanted);
  if (below === ".." || below.startsWith("../") || isAbsolute(below)) {
    let resolved = "";
    try {
      resolved = `; it resolves to ${Deno.realPathSync(wanted)}`;
    } catch {
      // Missing, or outside what this process may read: the path says enough.
    }
    return { refused: `it is not below mesos.work.directory (${root})${resolved}` };
  }
  const realBase = Deno.realPathSync(base);
  return below === "" ? realBase : join(realBase, below);
}

/** A path without its trailing slashes (the root stays "/"). */
function withoutTrailingSlash(path: string): string {
  return path.length > 1 ? path.replace(/\/+$/, "") || "/" : path;
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
 * What is at `path` now, for a message: "nothing", or its kind ("a FIFO",
 * "a symbolic link", "a regular file", ...), not following a symlink.
 *
 * @example
 * ```ts
 * await whatIsAt("/s/logs/service.log"); // "a FIFO"
 * ```
 */
export async function whatIsAt(path: string): Promise<string> {
  try {
    return kindOf((await Deno.lstat(path)).mode ?? 0);
  } catch (error) {
    if (error instanceof Deno.errors.NotFound) return "nothing";
    throw error;
  }
}

/**
 * Every open of a file to upload: read only; a symlink as the last component is refused (ELOOP) and a
 * FIFO does not wait for a writer (a regular file ignores O_NONBLOCK).
 */
const OPEN_FLAGS = constants.O_RDONLY | constants.O_NOFOLLOW | constants.O_NONBLOCK;

/**
 * Opens `path` for reading without following a symlink or waiting on a
 * FIFO, and checks, on the open handle, that it is the regular file
 * `expected` describes (not a link, a FIFO or another file put in its
 * place). Throws {@linkcode FileChangedError} otherwise. Everything of the
 * file is read through the handle, positionally (several parts at once),
 * never by opening the path again.
 *
 * @example
 * ```ts
 * const file = await openExpected(candidate.path, candidate.identity);
 * try {
 *   const { bytesRead } = await file.read(buffer, 0, buffer.length, 0);
 * } finally {
 *   await file.close();
 * }
 * ```
 */
export async function openExpected(path: string, expected: FileIdentity): Promise<FileHandle> {
  let file: FileHandle;
  try {
    file = await open(path, OPEN_FLAGS);
  } catch (error) {
    const code = (error as { code?: string }).code;
    if (code === "ENOENT") throw new FileChangedError(path, "gone");
    if (code === "ELOOP") throw new FileChangedError(path, replacedBy("a symbolic link"));
    throw error;
  }
  try {
    const info = await file.stat();
    if (!info.isFile()) throw new FileChangedError(path, replacedBy(kindOf(info.mode)));
    const now = { dev: info.dev, ino: info.ino, size: info.size, mtimeMs: info.mtime.getTime() };
    if (!sameFile(now, expected)) throw new FileChangedError(path, changedSince(expected, now));
    return file;
  } catch (error) {
    await file.close();
    throw error;
  }
}

/**
 * The directory a file must be in to be deleted: as it was listed, or (plans journaled before directories
 * were recorded) only where it must really be, or nowhere (refused, with the reason).
 */
export type ExpectedDirectory = DirectoryIdentity | { realPath: string } | { refused: string };

/** How a file deletion by {@linkcode removeIfUnchanged} ended. */
export type Removal =
  | { state: "deleted" }
  /** Nothing is at the path any more. */
  | { state: "gone" }
  /** Something else is there now, or its directory is not where (or what) it was: nothing was deleted. */
  | { state: "kept"; reason: string };

/**
 * Deletes the file at `path` if it is still the regular file `expected`, in
 * the directory `directory` describes: the same real path (no symbolic link
 * swapped into the path) and, when known, the same inode. Synchronous, so
 * the checks and the unlink follow one another as closely as they can.
 *
 * @example
 * ```ts
 * const removal = removeIfUnchanged(plan.path, plan.file, plan.directory);
 * if (removal.state === "kept") log.warn(`${plan.path}: ${removal.reason}; keeping it`);
 * ```
 */
export function removeIfUnchanged(path: string, expected: FileIdentity, directory: ExpectedDirectory): Removal {
  const reason = directoryChange(dirname(path), directory);
  if (reason === "gone") return { state: "gone" };
  if (reason !== undefined) return { state: "kept", reason };
  let info: Deno.FileInfo;
  try {
    info = Deno.lstatSync(path);
  } catch (error) {
    if (error instanceof Deno.errors.NotFound) return { state: "gone" };
    throw error;
  }
  if (!info.isFile) return { state: "kept", reason: `it was replaced by ${kindOf(info.mode ?? 0)}` };
  if (!sameFile(identityOf(info), expected)) return { state: "kept", reason: "it changed" };
  Deno.removeSync(path);
  return { state: "deleted" };
}

/**
 * Why the directory at `path` is not the one `expected` describes ("gone" when there is none), or
 * undefined when it is.
 *
 * @example
 * ```ts
 * directoryChange("/s/logs", plan.directory); // "its directory now resolves to /etc"
 * ```
 */
export function directoryChange(path: string, expected: ExpectedDirectory): string | undefined {
  if ("refused" in expected) return expected.refused;
  let now: DirectoryIdentity;
  try {
    now = directoryIdentityOf(path);
  } catch (error) {
    if (error instanceof Deno.errors.NotFound) return "gone";
    throw error;
  }
  if (now.realPath !== expected.realPath) return `its directory now resolves to ${now.realPath}`;
  if ("ino" in expected && (now.dev !== expected.dev || now.ino !== expected.ino)) {
    return "its directory was replaced by another one";
  }
  return undefined;
}

/** The file type bits of a `st_mode`, in words. */
const KINDS: Record<number, string> = {
  0o010000: "a FIFO",
  0o020000: "a character device",
  0o040000: "a directory",
  0o060000: "a block device",
  0o100000: "a regular file",
  0o120000: "a symbolic link",
  0o140000: "a socket",
};

/** The kind of file a `st_mode` says. */
function kindOf(mode: number): string {
  return KINDS[mode & 0o170000] ?? "an unknown kind of file";
}

/** The file at a path is not (or no longer) the one that was selected; it is left alone. */
export class FileChangedError extends Error {
  /** `what`: what became of it ("gone", "now a FIFO, ..."). */
  constructor(path: string, what: string) {
    super(`${path}: ${what}`);
    this.name = "FileChangedError";
  }
}

/** How a file differs from what was selected, for a {@linkcode FileChangedError}. */
function changedSince(expected: FileIdentity, now: FileIdentity): string {
  return `changed since it was selected (${describe(expected)}; now ${describe(now)})`;
}

/** What is there instead of the regular file that was selected, for a {@linkcode FileChangedError}. */
function replacedBy(kind: string): string {
  return `now ${kind}, not the regular file that was selected (not read)`;
}

/** An identity for a message. */
function describe(identity: FileIdentity): string {
  return `inode ${identity.ino}, ${identity.size} bytes, modified ${new Date(identity.mtimeMs).toISOString()}`;
}
