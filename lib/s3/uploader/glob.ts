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
 * Patterns come from task data, so a name is not matched with a regular
 * expression (whose backtracking made `*a*a*a*a*b` take 13 s over a
 * 200-character name): the pattern is compiled into a small automaton
 * (Thompson's construction) and every possible position in it is followed
 * at once, so matching takes at most (name length × pattern length) steps;
 * patterns are at most {@linkcode MAX_GLOB_LENGTH} characters long.
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

/** Characters a glob gives meaning to, which `\\` makes literal. */
const GLOB_META = "\\*?[{";

/** One element of a glob that matches one character or, for the stars, a run of them. */
type Atom =
  | { kind: "literal"; char: string }
  /** `?`: one character but `/`. */
  | { kind: "one" }
  | { kind: "class"; negated: boolean; members: (string | [string, string])[] }
  /** `*`: a run of characters but `/`. */
  | { kind: "star" }
  /** `**`: a run of characters but line breaks (Java's, and JavaScript's, `.`). */
  | { kind: "doubleStar" };

/** A parsed glob: atoms, and groups of alternative atom sequences. */
type Item = Atom | { kind: "group"; alternatives: Atom[][] };

/**
 * Compiles `glob` into a predicate over file names, which takes time
 * linear in the name's length. Throws {@linkcode GlobSyntaxError} for a
 * pattern Java would have refused.
 *
 * @example
 * ```ts
 * const matches = globMatcher("service.log*.[gb]z*");
 * matches("service.log-20261128.gz"); // true
 * matches("service.log"); // false
 * ```
 */
export function globMatcher(glob: string): (name: string) => boolean {
  let matcher = MATCHERS.get(glob);
  if (matcher === undefined) {
    // Thousands of metadata files share a handful of globs.
    if (MATCHERS.size >= MAX_CACHED) MATCHERS.clear();
    matcher = automatonMatcher(parseGlob(glob));
    MATCHERS.set(glob, matcher);
  }
  return matcher;
}

/** Compiled globs by pattern (a matcher keeps no state between calls, so one serves every uploader). */
const MATCHERS = new Map<string, (name: string) => boolean>();
const MAX_CACHED = 4096;

/**
 * The JavaScript regular expression source (for the `u` flag) equivalent
 * to `glob`, as `sun.nio.fs.Globs` translates it: the specification the
 * matcher is tested against (not used to match: it backtracks).
 *
 * @example
 * ```ts
 * globToRegExpSource("{a,b}*.gz"); // "^(?:(?:a)|(?:b))[^/]*\\.gz$"
 * ```
 */
export function globToRegExpSource(glob: string): string {
  const atoms = (list: Atom[]) => list.map(atomSource).join("");
  const items = parseGlob(glob).map((item) =>
    item.kind === "group" ? `(?:(?:${item.alternatives.map(atoms).join(")|(?:")}))` : atomSource(item)
  );
  return `^${items.join("")}$`;
}

/** The regular expression source of one atom. */
function atomSource(atom: Atom): string {
  switch (atom.kind) {
    case "literal":
      return GLOB_META.includes(atom.char) || /[\^$.|+()[\]{}/]/u.test(atom.char) ? `\\${atom.char}` : atom.char;
    case "one":
      return "[^/]";
    case "star":
      return "[^/]*";
    case "doubleStar":
      return ".*";
    case "class": {
      const members = atom.members.map((member) =>
        typeof member === "string" ? classChar(member) : `${classChar(member[0])}-${classChar(member[1])}`
      );
      return `[${atom.negated ? "^" : ""}${members.join("")}]`;
    }
  }
}

/** One character inside a regex class, whatever it is. */
function classChar(c: string): string {
  return `\\u{${c.codePointAt(0)!.toString(16)}}`;
}

/**
 * The longest glob taken, in characters. Matching costs up to (name length × glob length) steps, and a
 * file name is at most 255 bytes: no glob that makes sense comes near.
 */
export const MAX_GLOB_LENGTH = 1024;

/** Parses `glob` (by code points), refusing what Java refused, and globs over {@linkcode MAX_GLOB_LENGTH}. */
function parseGlob(glob: string): Item[] {
  const chars = [...glob];
  if (chars.length > MAX_GLOB_LENGTH) {
    throw new GlobSyntaxError(
      `glob ${JSON.stringify(`${chars.slice(0, 40).join("")}...`)}: ${chars.length} characters, ` +
        `more than the ${MAX_GLOB_LENGTH} allowed`,
    );
  }
  const fail = (what: string, at: number): never => {
    throw new GlobSyntaxError(`glob ${JSON.stringify(glob)}: ${what} at position ${at}`);
  };
  const items: Item[] = [];
  let group: Atom[][] | undefined;
  const add = (atom: Atom) => {
    if (group === undefined) items.push(atom);
    else group[group.length - 1].push(atom);
  };
  let i = 0;
  while (i < chars.length) {
    const c = chars[i++];
    switch (c) {
      case "\\":
        if (i === chars.length) fail("no character to escape", i - 1);
        add({ kind: "literal", char: chars[i++] });
        break;
      case "[": {
        const parsed = parseClass(chars, i, fail);
        add(parsed.atom);
        i = parsed.next;
        break;
      }
      case "{":
        if (group !== undefined) fail("cannot nest groups", i - 1);
        group = [[]];
        break;
      case "}":
        if (group === undefined) {
          add({ kind: "literal", char: c });
        } else {
          items.push({ kind: "group", alternatives: group });
          group = undefined;
        }
        break;
      case ",":
        if (group === undefined) add({ kind: "literal", char: c });
        else group.push([]);
        break;
      case "*":
        if (chars[i] === "*") {
          add({ kind: "doubleStar" });
          i++;
        } else {
          add({ kind: "star" });
        }
        break;
      case "?":
        add({ kind: "one" });
        break;
      default:
        add({ kind: "literal", char: c });
    }
  }
  if (group !== undefined) fail("missing '}'", i - 1);
  return items;
}

/**
 * A bracket expression starting after its `[` at `start`, as Java reads it: `!` first negates, `^` first is
 * literal, `-` first is literal, `a-z` is a range, `/` is refused, `]` ends it (it cannot be a member).
 */
function parseClass(
  chars: string[],
  start: number,
  fail: (what: string, at: number) => never,
): { atom: Atom; next: number } {
  let i = start;
  let negated = false;
  const members: (string | [string, string])[] = [];
  if (chars[i] === "^") {
    members.push("^");
    i++;
  } else {
    if (chars[i] === "!") {
      negated = true;
      i++;
    }
    if (chars[i] === "-") {
      members.push("-");
      i++;
    }
  }
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
        members.push("-");
        closed = true;
        break;
      }
      if (end.codePointAt(0)! < rangeStart!.codePointAt(0)!) fail("invalid range", i - 3);
      members[members.length - 1] = [rangeStart!, end];
      rangeStart = undefined;
      continue;
    }
    members.push(c);
    rangeStart = c;
  }
  if (!closed) fail("missing ']'", i - 1);
  if (members.length === 0) fail("empty character class", start - 1);
  return { atom: { kind: "class", negated, members }, next: i };
}

/** What a consuming state takes: one code point, any but `/`, any but a line break, or one of a class. */
type Test =
  | { kind: "codePoint"; codePoint: number }
  | { kind: "notSlash" }
  | { kind: "notLineBreak" }
  | { kind: "class"; negated: boolean; ranges: number[] };

/** A state of the automaton: consume one character passing `test`, or move on without consuming. */
type State =
  | { test: Test; next: number }
  | { epsilon: number[] }
  | { accept: true };

/** Codes of the tests, so the matcher's loop switches on a number instead of calling closures. */
const CODE_POINT = 1, NOT_SLASH = 2, NOT_LINE_BREAK = 3, CLASS = 4;

/** What one atom's character must be. */
function testOf(atom: Atom): Test {
  switch (atom.kind) {
    case "literal":
      return { kind: "codePoint", codePoint: atom.char.codePointAt(0)! };
    case "one":
    case "star":
      return { kind: "notSlash" };
    case "doubleStar":
      return { kind: "notLineBreak" };
    case "class":
      return {
        kind: "class",
        negated: atom.negated,
        ranges: atom.members.flatMap((member) =>
          typeof member === "string"
            ? [member.codePointAt(0)!, member.codePointAt(0)!]
            : [member[0].codePointAt(0)!, member[1].codePointAt(0)!]
        ),
      };
  }
}

/** Whether `codePoint` is in one of `ranges` (pairs of bounds). */
function inRanges(ranges: number[], codePoint: number): boolean {
  for (let k = 0; k < ranges.length; k += 2) {
    if (ranges[k] <= codePoint && codePoint <= ranges[k + 1]) return true;
  }
  return false;
}

/**
 * The automaton of a parsed glob (Thompson's construction), simulated over a
 * name with every state it can be in at once: each character of the name
 * costs at most one step per state.
 */
function automatonMatcher(items: Item[]): (name: string) => boolean {
  const states: State[] = [{ accept: true }];
  const ACCEPT = 0;
  /** Adds the states of `atom` leading to `next`; returns its first state. */
  const compileAtom = (atom: Atom, next: number): number => {
    if (atom.kind === "star" || atom.kind === "doubleStar") {
      const loop = states.length;
      states.push({ epsilon: [] });
      states.push({ test: testOf(atom), next: loop });
      states[loop] = { epsilon: [loop + 1, next] };
      return loop;
    }
    states.push({ test: testOf(atom), next });
    return states.length - 1;
  };
  const compileAtoms = (atoms: Atom[], next: number): number => {
    for (let k = atoms.length - 1; k >= 0; k--) next = compileAtom(atoms[k], next);
    return next;
  };
  let start = ACCEPT;
  for (let k = items.length - 1; k >= 0; k--) {
    const item = items[k];
    if (item.kind === "group") {
      const next = start;
      const starts = item.alternatives.map((alternative) => compileAtoms(alternative, next));
      states.push({ epsilon: starts });
      start = states.length - 1;
    } else {
      start = compileAtom(item, start);
    }
  }

  // Per state: its test and the state after it (consuming states), and the consuming or accepting states
  // reachable from it without consuming (each once).
  const tests = states.map((state) => "test" in state ? state.test : undefined);
  const codes = Uint8Array.from(
    tests,
    (test) =>
      test === undefined
        ? 0
        : { codePoint: CODE_POINT, notSlash: NOT_SLASH, notLineBreak: NOT_LINE_BREAK, class: CLASS }[test.kind],
  );
  const values = Int32Array.from(tests, (test) => test?.kind === "codePoint" ? test.codePoint : 0);
  const nexts = Int32Array.from(states, (state) => "test" in state ? state.next : -1);
  const closures = closuresOf(states);
  // The step each state was last added in, so a state is added once per step.
  const seen = new Float64Array(states.length);
  let step = 0;
  let current = new Int32Array(states.length);
  let following = new Int32Array(states.length);
  return (name) => {
    let count = closures[start].length;
    current.set(closures[start]);
    for (let i = 0; i < name.length; i++) {
      let codePoint = name.charCodeAt(i);
      if (codePoint >= 0xd800 && codePoint <= 0xdbff && i + 1 < name.length) {
        const low = name.charCodeAt(i + 1);
        if (low >= 0xdc00 && low <= 0xdfff) {
          codePoint = (codePoint - 0xd800) * 0x400 + (low - 0xdc00) + 0x10000;
          i++;
        }
      }
      step++;
      let next = 0;
      for (let k = 0; k < count; k++) {
        const state = current[k];
        let passes: boolean;
        switch (codes[state]) {
          case CODE_POINT:
            passes = codePoint === values[state];
            break;
          case NOT_SLASH:
            passes = codePoint !== 0x2f;
            break;
          case NOT_LINE_BREAK:
            passes = codePoint !== 0x0a && codePoint !== 0x0d && codePoint !== 0x2028 && codePoint !== 0x2029;
            break;
          case CLASS: {
            const test = tests[state] as Extract<Test, { kind: "class" }>;
            passes = inRanges(test.ranges, codePoint) !== test.negated;
            break;
          }
          default:
            passes = false;
        }
        if (!passes) continue;
        const closure = closures[nexts[state]];
        for (let j = 0; j < closure.length; j++) {
          const target = closure[j];
          if (seen[target] === step) continue;
          seen[target] = step;
          following[next++] = target;
        }
      }
      if (next === 0) return false;
      [current, following] = [following, current];
      count = next;
    }
    for (let k = 0; k < count; k++) {
      if (current[k] === ACCEPT) return true;
    }
    return false;
  };
}

/** Per state, the consuming and accepting states reachable from it without consuming a character (each once). */
function closuresOf(states: State[]): Int32Array[] {
  const closures: (Int32Array | undefined)[] = new Array(states.length);
  const mark = new Int32Array(states.length);
  let round = 0;
  const closureOf = (state: number): Int32Array => {
    const known = closures[state];
    if (known !== undefined) return known;
    const node = states[state];
    // Epsilon edges lead only to states built before them, or to their own star's consuming state: no cycle.
    let closure: Int32Array;
    if (!("epsilon" in node)) {
      closure = Int32Array.of(state);
    } else {
      const parts = node.epsilon.map(closureOf);
      round++;
      const found: number[] = [];
      for (const part of parts) {
        for (const target of part) {
          if (mark[target] === round) continue;
          mark[target] = round;
          found.push(target);
        }
      }
      closure = Int32Array.from(found);
    }
    closures[state] = closure;
    return closure;
  };
  return states.map((_, state) => closureOf(state));
}
