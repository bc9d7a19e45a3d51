/**
 * Java `.properties` parsing with `java.util.Properties.load()` semantics.
 *
 * Parsing is delegated to `dot-properties`, which matches Java on separators,
 * escapes, continuations and comments; this module adds what Java does and
 * the library does not: a malformed `\uXXXX` escape is an error (Java throws
 * `IllegalArgumentException`), reported here with the file and line.
 *
 * @module
 */
import { parseLines } from "dot-properties";

/** A syntax error in a properties file, naming the file and line. */
export class PropertiesSyntaxError extends Error {
  constructor(
    readonly file: string,
    readonly line: number,
    detail: string,
  ) {
    super(`${file}:${line}: ${detail}`);
    this.name = "PropertiesSyntaxError";
  }
}

/** One key/value pair with the line where its logical line starts. */
export interface PropertyEntry {
  key: string;
  value: string;
  line: number;
}

/**
 * Parses the text of a `.properties` file into its entries, in file order.
 * A key that appears twice is listed twice; the last one wins when loaded.
 *
 * @example
 * ```ts
 * const entries = parseProperties("a = 1\nb:2\n", "x.properties");
 * // [{ key: "a", value: "1", line: 1 }, { key: "b", value: "2", line: 2 }]
 * ```
 */
export function parseProperties(text: string, file: string): PropertyEntry[] {
  const starts = logicalLineStarts(text, file);
  const entries: PropertyEntry[] = [];
  let index = 0;
  for (const node of parseLines(text)) {
    if (typeof node === "string") continue;
    const [key, value] = node;
    // parseLines drops blank and comment lines, so pair entries with the
    // logical lines that hold a key, in order.
    const line = starts[index++] ?? 0;
    // A lone continuation backslash yields an empty logical line, which Java
    // ignores; it can never name a setting.
    if (key === "" && value === "") continue;
    entries.push({ key, value, line });
  }
  return entries;
}

/**
 * Returns the first physical line number of each logical line that holds an
 * entry, and throws on a malformed `\u` escape. Mirrors the line reader of
 * `java.util.Properties`: comments start with `#` or `!` after leading
 * whitespace, and an odd number of trailing backslashes continues the line.
 */
function logicalLineStarts(text: string, file: string): number[] {
  const lines = text.split(/\r\n|\r|\n/);
  const starts: number[] = [];
  let continuing = false;
  for (let i = 0; i < lines.length; i++) {
    const raw = lines[i];
    const body = raw.replace(/^[ \t\f]+/, "");
    if (!continuing) {
      if (body === "" || body[0] === "#" || body[0] === "!") continue;
      starts.push(i + 1);
    }
    continuing = checkEscapes(body, file, i + 1);
  }
  return starts;
}

/** Validates `\uXXXX` escapes in one physical line; returns true when the line continues. */
function checkEscapes(line: string, file: string, lineNumber: number): boolean {
  for (let i = 0; i < line.length; i++) {
    if (line[i] !== "\\") continue;
    if (i === line.length - 1) return true;
    if (line[i + 1] === "u") {
      const hex = line.slice(i + 2, i + 6);
      if (!/^[0-9a-fA-F]{4}$/.test(hex)) {
        throw new PropertiesSyntaxError(
          file,
          lineNumber,
          `malformed \\uXXXX escape "\\u${hex}" (expected four hex digits)`,
        );
      }
      i += 5;
    } else {
      i += 1;
    }
  }
  return false;
}
