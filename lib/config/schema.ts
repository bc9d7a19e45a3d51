/**
 * The vocabulary of configuration tables: what a key is, what values it
 * takes, and which programs need it. Tables themselves live beside this file,
 * one per property file.
 *
 * @module
 */

/** The four programs that share the configuration files. */
export type ProgramName = "executor" | "cleanup" | "uploader" | "downloader";

/** How a raw property value is read. */
export type ValueType =
  /** Any text. */
  | "string"
  /** A whole number, optionally bounded by `min`/`max`. */
  | "integer"
  /** `true` or `false`, case-insensitive. */
  | "boolean"
  /** Comma-separated, trimmed, empty items dropped. */
  | "list"
  /** An absolute directory path. */
  | "directory"
  /** An absolute file path (the file may not exist yet). */
  | "file"
  /** A path relative to a task sandbox: no leading `/`, no `..` component. */
  | "relative-path"
  /** A program name (looked up on PATH) or an absolute path to one. */
  | "command"
  /** A logback level: TRACE, DEBUG, INFO, WARN, ERROR or OFF. */
  | "level"
  /** An absolute `http://` or `https://` URL. */
  | "url"
  /** A URL path starting with `/`. */
  | "url-path"
  /** Comma-separated `host:port` pairs. */
  | "host-ports";

/** When a key first appeared in the originals (or `new` for this project). */
export type Era = "properties" | "bridge" | "later" | "new";

/** The definition of one configuration key: the single source of truth. */
export interface KeySpec {
  /** How the value is parsed and validated. */
  readonly type: ValueType;
  /** The default, written as it would appear in a property file. Absent = unset. */
  readonly default?: string;
  /** Per-program defaults that take precedence over `default`. */
  readonly defaultFor?: Readonly<Partial<Record<ProgramName, string>>>;
  /** One or two sentences for operators. */
  readonly doc: string;
  /** Smallest allowed integer. */
  readonly min?: number;
  /** Largest allowed integer. */
  readonly max?: number;
  /** Allowed values (compared case-insensitively, normalised to this spelling). */
  readonly choices?: readonly string[];
  /** Programs that refuse to start while this key is unset. */
  readonly requiredBy?: readonly ProgramName[];
  /** For directories: programs that need the directory to exist when set. */
  readonly mustExistFor?: readonly ProgramName[];
  /** Other spellings accepted with a warning (the seed's typo, for one). */
  readonly aliases?: readonly string[];
  /** Accepted for compatibility but without effect; says why. */
  readonly noEffect?: string;
  /** Where the key comes from. */
  readonly era: Era;
}

/**
 * A table of keys. A key containing `<name>` is a family: it matches any text
 * in that place (for example `s3.bucket.<bucket>.access.key`).
 */
export type KeyTable = Readonly<Record<string, KeySpec>>;

/** One property file and the keys documented in it. */
export interface Layer {
  /** File name inside the configuration directory. */
  readonly file: string;
  /** What the file is for, for generated docs and templates. */
  readonly title: string;
  /** The keys this file documents (any key may appear in any file). */
  readonly keys: KeyTable;
}

/** The TypeScript type a value of a given {@linkcode ValueType} parses to. */
export type ParsedType<T extends ValueType> = T extends "integer" ? number
  : T extends "boolean" ? boolean
  : T extends "list" | "host-ports" ? string[]
  : string;

/** The parsed type of a key in a table: `undefined` is possible only without a default. */
export type ValueOf<S extends KeySpec> = S extends { default: string } ? ParsedType<S["type"]>
  : S extends { defaultFor: unknown } ? ParsedType<S["type"]>
  : ParsedType<S["type"]> | undefined;
