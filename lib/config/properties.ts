/**
 * Java `.properties` parsing with `java.util.Properties.load()` semantics.
 *
 * Lines are assembled here the way Java's line reader does (comments,
 * continuations, any of `\r\n`, `\r`, `\n` as line ends), so that every entry
 * keeps the physical line it starts on and a malformed `\uXXXX` escape (an
 * `IllegalArgumentException` in Java) is reported with its file and line.
 * Each logical line's key, separator and escapes are then decoded by
 * `dot-properties`.
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

/** A logical line: continued physical lines joined, with where each piece came from. */
interface LogicalLine {
  text: string;
  /** Offsets into `text` where each physical line's piece starts, with that line's number. */
  pieces: { offset: number; line: number }[];
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
  const entries: PropertyEntry[] = [];
  for (const logical of logicalLines(text)) {
    checkEscapes(logical, file);
    for (const node of parseLines(logical.text)) {
      if (typeof node === "string") continue;
      const [key, value] = node;
      entries.push({ key, value, line: logical.pieces[0].line });
    }
  }
  return entries;
}

/**
 * Java's line reader: skips blank and comment lines (`#` or `!` after leading
 * whitespace), joins a line ending in an odd number of backslashes with the
 * next one minus its leading whitespace.
 */
function logicalLines(text: string): LogicalLine[] {
  const lines = text.split(/\r\n|\r|\n/);
  const result: LogicalLine[] = [];
  let current: LogicalLine | undefined;
  for (let i = 0; i < lines.length; i++) {
    const body = lines[i].replace(/^[ \t\f]+/, "");
    if (current === undefined) {
      if (body === "" || body[0] === "#" || body[0] === "!") continue;
      current = { text: "", pieces: [] };
    }
    current.pieces.push({ offset: current.text.length, line: i + 1 });
    const trailing = body.length - body.replace(/\\+$/, "").length;
    if (trailing % 2 === 1) {
      current.text += body.slice(0, -1);
      continue;
    }
    current.text += body;
    result.push(current);
    current = undefined;
  }
  if (current !== undefined) result.push(current);
  return result;
}

/** Throws on a `\u` escape not followed by four hex digits, naming the physical line. */
function checkEscapes(logical: LogicalLine, file: string): void {
  const { text } = logical;
  for (let i = 0; i < text.length; i++) {
    if (text[i] !== "\\") continue;
    if (text[i + 1] === "u") {
      const hex = text.slice(i + 2, i + 6);
      if (!/^[0-9a-fA-F]{4}$/.test(hex)) {
        const line = logical.pieces.findLast((piece) => piece.offset <= i)?.line ?? logical.pieces[0].line;
        throw new PropertiesSyntaxError(file, line, `malformed \\uXXXX escape "\\u${hex}" (expected four hex digits)`);
      }
      i += 5;
    } else {
      i += 1;
    }
  }
}
