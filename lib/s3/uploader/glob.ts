/**
 * Java NIO `glob:` patterns (`FileSystem.getPathMatcher`), which upload
 * metadata `fileGlob` and `onFinishGlob` are written in, matched against a
 * file name. The translation follows `sun.nio.fs.Globs` rule for rule, so a
 * pattern selects here exactly what it selected in the Java uploader:
 *
 * | glob | matches |
 * |---|---|
 * | `*` | any run of characters (a file name holds no `/`) |
 * | `**` | any run of characters except line breaks (Java's `.*`) |
 * | `?` | one character |
 * | `[abc]` `[a-z]` `[!a-z]` | one character of (or, with `!`, not of) the set; `[^...]` is a literal `^` |
 * | `{a,b*}` | one of the comma-separated sub-patterns (groups do not nest) |
 * | `\x` | `x` literally |
 *
 * Everything else is literal; a leading `.` is not special (`*` matches
 * `.hidden`). Syntax errors name the pattern, the position and the rule, as
 * Java's `PatternSyntaxException` did.
 *
 * @module
 */

/** A glob that does not parse; the message names the pattern and the position. */
export class GlobSyntaxError extends Error {
  constructor(message: string) {
    super(message);
    this.name = "GlobSyntaxError";
  }
}

/** Characters a glob gives meaning to, which `\` makes literal. */
const GLOB_META = "\\*?[{";

/**
 * Compiles `glob` into a predicate over file names. Throws
 * {@linkcode GlobSyntaxError} for a pattern Java would have refused.
 *
 * @example
 * ```ts
 * const matches = globMatcher("service.log*.[gb]z*");
 * matches("service.log-20261128.gz"); // true
 * matches("service.log"); // false
 * ```
 */
export function globMatcher(glob: string): (name: string) => boolean {
  const regex = new RegExp(globToRegExpSource(glob), "u");
  return (name) => regex.test(name);
}

/**
 * The JavaScript regular expression source (for the `u` flag) equivalent to `glob`.
 *
 * @example
 * ```ts
 * globToRegExpSource("{a,b}*.gz"); // "^(?:(?:a)|(?:b))[^/]*\\.gz$"
 * ```
 */
export function globToRegExpSource(glob: string): string {
  const chars = [...glob];
  const fail = (what: string, at: number): never => {
    throw new GlobSyntaxError(`glob ${JSON.stringify(glob)}: ${what} at position ${at}`);
  };
  let regex = "^";
  let inGroup = false;
  let i = 0;
  while (i < chars.length) {
    const c = chars[i++];
    switch (c) {
      case "\\": {
        if (i === chars.length) fail("no character to escape", i - 1);
        regex += literal(chars[i++]);
        break;
      }
      case "[": {
        const parsed = parseClass(chars, i, fail);
        regex += parsed.source;
        i = parsed.next;
        break;
      }
      case "{":
        if (inGroup) fail("cannot nest groups", i - 1);
        regex += "(?:(?:";
        inGroup = true;
        break;
      case "}":
        regex += inGroup ? "))" : "\\}";
        inGroup = false;
        break;
      case ",":
        regex += inGroup ? ")|(?:" : ",";
        break;
      case "*":
        if (chars[i] === "*") {
          regex += ".*";
          i++;
        } else {
          regex += "[^/]*";
        }
        break;
      case "?":
        regex += "[^/]";
        break;
      default:
        regex += literal(c);
    }
  }
  if (inGroup) fail("missing '}'", i - 1);
  return `${regex}$`;
}

/** One character matched literally. */
function literal(c: string): string {
  return GLOB_META.includes(c) || /[\^$.|+()[\]{}/]/u.test(c) ? `\\${c}` : c;
}

/** One character inside a regex class, whatever it is. */
function classChar(c: string): string {
  return `\\u{${c.codePointAt(0)!.toString(16)}}`;
}

/**
 * A bracket expression starting after its `[` at `start`, as Java reads it: `!` first negates, `^` first is
 * literal, `-` first is literal, `a-z` is a range, `/` is refused, `]` ends it (it cannot be a member).
 */
function parseClass(
  chars: string[],
  start: number,
  fail: (what: string, at: number) => never,
): { source: string; next: number } {
  let i = start;
  let source = "[";
  if (chars[i] === "^") {
    source += classChar("^");
    i++;
  } else {
    if (chars[i] === "!") {
      source += "^";
      i++;
    }
    if (chars[i] === "-") {
      source += classChar("-");
      i++;
    }
  }
  let members = source.length > 1 && source !== "[^";
  let rangeStart: string | undefined;
  let closed = false;
  while (i < chars.length) {
    const c = chars[i++];
    if (c === "]") {
      closed = true;
      break;
    }
    if (c === "/") fail("explicit name separator in class", i - 1);
    if (c === "-") {
      if (rangeStart === undefined) fail("invalid range", i - 1);
      const end = chars[i++];
      if (end === undefined) break;
      if (end === "]") {
        // A trailing "-" is a member, as in Java's regex.
        source += classChar("-");
        closed = true;
        break;
      }
      if (end.codePointAt(0)! < rangeStart!.codePointAt(0)!) fail("invalid range", i - 3);
      source += `-${classChar(end)}`;
      rangeStart = undefined;
      continue;
    }
    source += classChar(c);
    rangeStart = c;
    members = true;
  }
  if (!closed) fail("missing ']'", i - 1);
  if (!members) fail("empty character class", start - 1);
  return { source: `${source}]`, next: i };
}
