/**
 * Logback-style line patterns (`logging.pattern`), compiled once into a
 * formatter for LogTape records, so operators keep the line format their
 * tools already parse.
 *
 * Supported conversions: `%level`/`%le`/`%p`, `%d`/`%date` (optionally
 * `{yyyy-MM-dd HH:mm:ss.SSS}` or `{ISO8601}`), `%thread`/`%t` (the task id
 * when there is one, else `main`), `%logger{N}`/`%c`/`%lo`, `%msg`/`%m`/
 * `%message`, `%n`, `%X{key}` (a record property), `%contextName`/`%cn`
 * (the program), `%%`; with `-`, minimum width and `.max` modifiers
 * (`.N` keeps the end, `.-N` keeps the start, as logback does).
 *
 * @module
 */
import type { LogRecord } from "@logtape/logtape";

/** A compiled pattern. */
export type LineFormatter = (record: LogRecord) => string;

/** The pattern is malformed; names the conversion. */
export class PatternError extends Error {
  constructor(pattern: string, detail: string) {
    super(`logging pattern "${pattern}": ${detail}`);
    this.name = "PatternError";
  }
}

type Part = string | ((record: LogRecord) => string);

const TOKEN = /%(-?)(\d*)(?:\.(-?)(\d+))?([a-zA-Z]+)(?:\{([^}]*)\})?/y;

/**
 * Compiles a logback pattern for the program named `contextName`.
 *
 * @example
 * ```ts
 * const format = compilePattern("%-5level %logger{20} - %msg%n", "uploader");
 * ```
 */
export function compilePattern(pattern: string, contextName: string): LineFormatter {
  const parts: Part[] = [];
  let literal = "";
  for (let i = 0; i < pattern.length;) {
    const char = pattern[i];
    if (char !== "%") {
      literal += char;
      i++;
      continue;
    }
    if (pattern[i + 1] === "%") {
      literal += "%";
      i += 2;
      continue;
    }
    TOKEN.lastIndex = i;
    const match = TOKEN.exec(pattern);
    if (!match) throw new PatternError(pattern, `incomplete conversion at offset ${i}`);
    const [whole, leftAlign, minWidth, keepStart, maxWidth, word, option] = match;
    const convert = conversion(word, option, contextName, pattern);
    const min = minWidth === "" ? 0 : Number(minWidth);
    const max = maxWidth === undefined ? 0 : Number(maxWidth);
    if (literal !== "") parts.push(literal);
    literal = "";
    parts.push((record) =>
      fit(convert(record), { min, max, leftAlign: leftAlign === "-", keepStart: keepStart === "-" })
    );
    i += whole.length;
  }
  if (literal !== "") parts.push(literal);
  return (record) => parts.map((part) => typeof part === "string" ? part : part(record)).join("");
}

/** The function behind one conversion word. */
function conversion(
  word: string,
  option: string | undefined,
  contextName: string,
  pattern: string,
): (record: LogRecord) => string {
  switch (word) {
    case "level":
    case "le":
    case "p":
      return (record) => LEVEL_NAMES[record.level];
    case "d":
    case "date":
      return dateFormatter(option ?? "ISO8601");
    case "thread":
    case "t":
      return (record) => String(record.properties.taskId ?? "main");
    case "logger":
    case "lo":
    case "c": {
      const length = option === undefined || option === "" ? Infinity : Number(option);
      if (Number.isNaN(length)) throw new PatternError(pattern, `%${word}{${option}} needs a number`);
      return (record) => abbreviate(record.category.join("."), length);
    }
    case "msg":
    case "m":
    case "message":
      return renderMessage;
    case "n":
      return () => "\n";
    case "X":
    case "mdc":
      if (!option) return (record) => JSON.stringify(record.properties);
      return (record) => record.properties[option] === undefined ? "" : String(record.properties[option]);
    case "contextName":
    case "cn":
      return () => contextName;
    default:
      throw new PatternError(pattern, `unknown conversion "%${word}"`);
  }
}

const LEVEL_NAMES: Record<LogRecord["level"], string> = {
  trace: "TRACE",
  debug: "DEBUG",
  info: "INFO",
  warning: "WARN",
  error: "ERROR",
  fatal: "ERROR",
};

/** The message with its interpolated values. */
function renderMessage(record: LogRecord): string {
  return record.message.map((part, index) => {
    if (index % 2 === 0) return String(part);
    if (typeof part === "string") return part;
    if (part instanceof Error) return part.message;
    return Deno.inspect(part, { depth: 4, colors: false, breakLength: Infinity });
  }).join("");
}

/** Pads or truncates to the modifiers. */
function fit(text: string, options: { min: number; max: number; leftAlign: boolean; keepStart: boolean }): string {
  let out = text;
  if (options.max > 0 && out.length > options.max) {
    out = options.keepStart ? out.slice(0, options.max) : out.slice(out.length - options.max);
  }
  if (out.length < options.min) out = options.leftAlign ? out.padEnd(options.min) : out.padStart(options.min);
  return out;
}

/** Logback's logger-name abbreviation: shorten leading segments to their first letter until it fits. */
function abbreviate(name: string, length: number): string {
  if (name.length <= length) return name;
  const segments = name.split(".");
  // logback: a length of 0 keeps only the last segment.
  if (length === 0) return segments[segments.length - 1];
  for (let i = 0; i < segments.length - 1; i++) {
    segments[i] = segments[i].slice(0, 1);
    if (segments.join(".").length <= length) break;
  }
  return segments.join(".");
}

/** A `%d{...}` formatter for the given (SimpleDateFormat-like) pattern, in local time. */
function dateFormatter(format: string): (record: LogRecord) => string {
  const spec = format === "ISO8601" ? "yyyy-MM-dd HH:mm:ss,SSS" : format;
  return (record) => {
    const date = new Date(record.timestamp);
    const pad = (value: number, width = 2) => String(value).padStart(width, "0");
    const fields: Record<string, string> = {
      yyyy: String(date.getFullYear()),
      MM: pad(date.getMonth() + 1),
      dd: pad(date.getDate()),
      HH: pad(date.getHours()),
      mm: pad(date.getMinutes()),
      ss: pad(date.getSeconds()),
      SSS: pad(date.getMilliseconds(), 3),
    };
    return spec.replace(/yyyy|MM|dd|HH|mm|ss|SSS/g, (field) => fields[field]);
  };
}
