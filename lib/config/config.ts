/**
 * A program's loaded configuration: typed values with the place each came from.
 *
 * @module
 */
import type { Program } from "./programs.ts";
import type { KeyTable, ValueOf } from "./schema.ts";

/** Where a value was set: a file and line, or nowhere (the default). */
export interface Source {
  file: string;
  line: number;
}

/** One property file the program looked for. */
export interface FileStatus {
  path: string;
  state: "read" | "missing";
}

/** The parts a {@linkcode Config} is built from. */
export interface ConfigParts {
  program: Program;
  configDir: string;
  files: readonly FileStatus[];
  /** Parsed values of every key the program knows; absent = unset. */
  values: ReadonlyMap<string, unknown>;
  /** The raw text of every key a file set (trimmed). */
  texts: ReadonlyMap<string, string>;
  sources: ReadonlyMap<string, Source>;
  /** Family keys (`s3.bucket.<bucket>.access.key`) by pattern, then by the `<...>` part. */
  families: ReadonlyMap<string, ReadonlyMap<string, string>>;
  /** Substrings that mark a key as secret. */
  secretMarkers: readonly string[];
}

/** Typed, read-only access to a program's configuration. */
export class Config<T extends KeyTable = KeyTable> {
  readonly program: Program;
  readonly configDir: string;
  readonly files: readonly FileStatus[];
  readonly secretMarkers: readonly string[];
  readonly #parts: ConfigParts;

  constructor(parts: ConfigParts) {
    this.#parts = parts;
    this.program = parts.program;
    this.configDir = parts.configDir;
    this.files = parts.files;
    this.secretMarkers = parts.secretMarkers;
  }

  /** The value of `key`, parsed to its type; `undefined` only for keys without a default. */
  get<K extends keyof T & string>(key: K): ValueOf<T[K]> {
    return this.#parts.values.get(key) as ValueOf<T[K]>;
  }

  /** The value of a key that validation made sure is set. */
  required<K extends keyof T & string>(key: K): NonNullable<ValueOf<T[K]>> {
    const value = this.#parts.values.get(key);
    if (value === undefined || value === "") {
      throw new Error(`${key} is not set; the configuration should have been validated first`);
    }
    return value as NonNullable<ValueOf<T[K]>>;
  }

  /** The members of a key family, by the text in the `<...>` place. */
  family<K extends keyof T & string>(pattern: K): ReadonlyMap<string, string> {
    return this.#parts.families.get(pattern) ?? new Map();
  }

  /** Where `key` was set, or `undefined` when its default applies. */
  sourceOf(key: string): Source | undefined {
    return this.#parts.sources.get(key);
  }

  /** The value of `key` as text, the way a property file would hold it. */
  text(key: string): string {
    const set = this.#parts.texts.get(key);
    if (set !== undefined) return set;
    const value = this.#parts.values.get(key);
    if (value === undefined) return "";
    return Array.isArray(value) ? value.join(",") : String(value);
  }

  /** Every key the program knows (family members included), sorted. */
  keys(): string[] {
    const keys = [...this.#parts.values.keys()];
    for (const [pattern, members] of this.#parts.families) {
      for (const name of members.keys()) keys.push(pattern.replace(/<[^>]+>/, name));
    }
    return keys.sort();
  }
}
