/**
 * Layered loading of the property files, exactly as the originals layer them:
 * defaults first, then each file of the program in order, later files winning,
 * all keys in one flat namespace. A missing file is fine; an unreadable one is
 * fatal.
 *
 * @module
 */
import { join, resolve } from "node:path";
import { Config, type FileStatus, type Source } from "./config.ts";
import { DEFAULT_SECRET_MARKERS, displayValue } from "./mask.ts";
import { ALL_LAYERS, type Program } from "./programs.ts";
import { parseProperties } from "./properties.ts";
import type { KeySpec, KeyTable } from "./schema.ts";
import { parseValue, splitList } from "./values.ts";

/** A property file exists but cannot be read. */
export class ConfigFileError extends Error {
  constructor(readonly file: string, reason: string) {
    super(`${file}: cannot read configuration: ${reason}`);
    this.name = "ConfigFileError";
  }
}

/** Options of {@linkcode loadConfig}. */
export interface LoadOptions {
  /** Directory holding the property files (default `/etc`). */
  configDir?: string;
  /** Check required keys and directories (default true). Off for builds that only need the values. */
  validate?: boolean;
}

/** What loading produced: the configuration, and what is wrong with it. */
export interface LoadResult<T extends KeyTable> {
  config: Config<T>;
  /** Problems that must stop the program, each naming file, key, value and expectation. */
  errors: string[];
  /** Things the operator should know but that do not stop the program. */
  warnings: string[];
}

interface KnownKey {
  spec: KeySpec;
  file: string;
}

interface Setting {
  text: string;
  source: Source;
}

/**
 * Loads and validates the configuration of `program` from `options.configDir`.
 *
 * @example
 * ```ts
 * const { config, errors } = await loadConfig<UploaderKeys>(UPLOADER, { configDir: "/etc" });
 * if (errors.length === 0) console.log(config.get("s3uploader.max.upload.threads"));
 * ```
 */
export async function loadConfig<T extends KeyTable>(
  program: Program,
  options: LoadOptions = {},
): Promise<LoadResult<T>> {
  const configDir = resolve(options.configDir ?? "/etc");
  const known = keysOf(program.layers);
  const everywhere = keysOf(ALL_LAYERS);
  const aliases = aliasesOf(everywhere);
  const errors: string[] = [];
  const warnings: string[] = [];
  const files: FileStatus[] = [];
  const settings = new Map<string, Setting>();
  const familySettings = new Map<string, Map<string, Setting>>();

  for (const layer of program.layers) {
    const path = join(configDir, layer.file);
    const text = await readOptional(path);
    files.push({ path, state: text === undefined ? "missing" : "read" });
    if (text === undefined) continue;
    for (const entry of parseProperties(text, path)) {
      const where = `${path}:${entry.line}`;
      let key = entry.key;
      const canonical = aliases.get(key);
      if (canonical !== undefined) {
        if (known.has(canonical)) {
          warnings.push(
            `${where}: "${key}" is a misspelling (from the original install guide); read as "${canonical}"`,
          );
        }
        key = canonical;
      }
      const setting = { text: entry.value.trim(), source: { file: path, line: entry.line } };
      const spec = known.get(key)?.spec;
      if (spec !== undefined) {
        if (spec.noEffect !== undefined) warnings.push(`${where}: ${key} has no effect: ${spec.noEffect}`);
        settings.set(key, setting);
        continue;
      }
      const family = familyOf(key, known);
      if (family !== undefined) {
        const members = familySettings.get(family.pattern) ?? new Map<string, Setting>();
        members.set(family.member, setting);
        familySettings.set(family.pattern, members);
        continue;
      }
      if (everywhere.has(key) || familyOf(key, everywhere) !== undefined) continue;
      warnings.push(`${where}: unknown key "${key}" (ignored)${suggestion(key, everywhere)}`);
    }
  }

  const listedMarkers = splitList(settings.get("obfuscate.keys.comma.separated")?.text ?? "");
  // An empty list falls back to the defaults: it must never turn masking off.
  const markers = listedMarkers.length > 0 ? listedMarkers : DEFAULT_SECRET_MARKERS;
  const values = new Map<string, unknown>();
  const invalid = new Set<string>();
  const texts = new Map<string, string>();
  const sources = new Map<string, Source>();
  for (const [key, { spec }] of known) {
    if (key.includes("<")) continue;
    // A key set empty takes its default, as if no file set it.
    const setting = settings.get(key)?.text ? settings.get(key) : undefined;
    const raw = setting?.text ?? spec.defaultFor?.[program.name] ?? spec.default;
    if (setting) {
      texts.set(key, setting.text);
      sources.set(key, setting.source);
    }
    if (raw === undefined || raw === "") {
      values.set(key, raw === "" ? emptyValue(spec) : undefined);
      continue;
    }
    const parsed = parseValue(spec, raw);
    if (parsed.ok) {
      values.set(key, parsed.value);
    } else {
      invalid.add(key);
      errors.push(`${describe(key, raw, setting?.source, markers)}: expected ${parsed.expected}`);
    }
  }
  const families = new Map<string, Map<string, string>>();
  for (const [pattern, members] of familySettings) {
    const parsedMembers = new Map<string, string>();
    for (const [member, setting] of members) {
      const key = pattern.replace(/<[^>]+>/, member);
      texts.set(key, setting.text);
      sources.set(key, setting.source);
      parsedMembers.set(member, setting.text);
    }
    families.set(pattern, parsedMembers);
  }

  const config = new Config<T>({ program, configDir, files, values, texts, sources, families, secretMarkers: markers });
  if (options.validate ?? true) {
    errors.push(...await validate(config, known, invalid));
  }
  return { config, errors, warnings };
}

/** Required keys and directories that must exist. */
async function validate(config: Config, known: Map<string, KnownKey>, invalid: Set<string>): Promise<string[]> {
  const errors: string[] = [];
  const program = config.program;
  for (const [key, { spec, file }] of known) {
    if (invalid.has(key)) continue;
    const value = config.get(key);
    const unset = value === undefined || value === "" || (Array.isArray(value) && value.length === 0);
    if (unset && spec.requiredBy?.includes(program.name)) {
      errors.push(
        `${key} is not set; ${program.binary} needs it (set it in ${join(config.configDir, file)})`,
      );
    }
    if (!unset && spec.type === "directory" && spec.mustExistFor?.includes(program.name)) {
      const problem = await directoryProblem(String(value));
      if (problem !== undefined) {
        errors.push(
          `${describe(key, String(value), config.sourceOf(key), config.secretMarkers)}: ${problem}` +
            ` (it must exist before ${program.binary} starts)`,
        );
      }
    }
  }
  return errors;
}

/** Why `path` is not a usable existing directory, or undefined when it is. */
async function directoryProblem(path: string): Promise<string | undefined> {
  try {
    const info = await Deno.stat(path);
    return info.isDirectory ? undefined : "not a directory";
  } catch (error) {
    if (error instanceof Deno.errors.NotFound) return "no such directory";
    if (error instanceof Deno.errors.NotCapable) return "outside this program's permission set";
    return `cannot be checked (${(error as Error).message})`;
  }
}

/** `file:line: key = "value"`, masked when secret, or the default's wording. */
function describe(key: string, value: string, source: Source | undefined, markers: readonly string[]): string {
  const shown = JSON.stringify(displayValue(key, value, markers));
  return source ? `${source.file}:${source.line}: ${key} = ${shown}` : `${key} = ${shown} (the default)`;
}

/** The file contents, or undefined when the file does not exist. */
async function readOptional(path: string): Promise<string | undefined> {
  try {
    return await Deno.readTextFile(path);
  } catch (error) {
    if (error instanceof Deno.errors.NotFound) return undefined;
    if (error instanceof Deno.errors.NotCapable) {
      throw new ConfigFileError(path, "outside this program's permission set (read)");
    }
    throw new ConfigFileError(path, (error as Error).message);
  }
}

/** Every key of the given layers, with the file that documents it. */
function keysOf(layers: readonly { file: string; keys: KeyTable }[]): Map<string, KnownKey> {
  const keys = new Map<string, KnownKey>();
  for (const layer of layers) {
    for (const [key, spec] of Object.entries(layer.keys)) keys.set(key, { spec, file: layer.file });
  }
  return keys;
}

/** Alias spelling → canonical key. */
function aliasesOf(known: Map<string, KnownKey>): Map<string, string> {
  const aliases = new Map<string, string>();
  for (const [key, { spec }] of known) {
    for (const alias of spec.aliases ?? []) aliases.set(alias, key);
  }
  return aliases;
}

/** The family pattern a concrete key belongs to, with the text in the `<...>` place. */
function familyOf(key: string, known: Map<string, KnownKey>): { pattern: string; member: string } | undefined {
  for (const pattern of known.keys()) {
    const hole = pattern.search(/<[^>]+>/);
    if (hole < 0) continue;
    const prefix = pattern.slice(0, hole);
    const suffix = pattern.slice(pattern.indexOf(">", hole) + 1);
    if (key.length > prefix.length + suffix.length && key.startsWith(prefix) && key.endsWith(suffix)) {
      return { pattern, member: key.slice(prefix.length, key.length - suffix.length) };
    }
  }
  return undefined;
}

/** The value of a key explicitly set empty: empty list, empty string. */
function emptyValue(spec: KeySpec): unknown {
  if (spec.type === "list" || spec.type === "host-ports") return [];
  if (spec.type === "integer" || spec.type === "boolean") return undefined;
  return "";
}

/** ", did you mean ...?" for a key close to a known one. */
function suggestion(key: string, known: Map<string, KnownKey>): string {
  let best: string | undefined;
  let bestDistance = 4;
  for (const candidate of known.keys()) {
    const distance = editDistance(key, candidate);
    if (distance < bestDistance) {
      best = candidate;
      bestDistance = distance;
    }
  }
  return best === undefined ? "" : `; did you mean "${best}"?`;
}

/** Levenshtein distance. */
function editDistance(a: string, b: string): number {
  let previous = Array.from({ length: b.length + 1 }, (_, j) => j);
  for (let i = 1; i <= a.length; i++) {
    const current = [i];
    for (let j = 1; j <= b.length; j++) {
      current[j] = Math.min(previous[j] + 1, current[j - 1] + 1, previous[j - 1] + (a[i - 1] === b[j - 1] ? 0 : 1));
    }
    previous = current;
  }
  return previous[b.length];
}
