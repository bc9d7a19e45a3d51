import assert from "node:assert/strict";
import { globMatcher, GlobSyntaxError, globToRegExpSource } from "../../../lib/s3/uploader/glob.ts";

/** The names of `names` that `glob` matches. */
function matching(glob: string, names: string[]): string[] {
  const matches = globMatcher(glob);
  return names.filter((name) => matches(name));
}

Deno.test("globMatcher() with the executor's default glob service.log*.[gb]z*", () => {
  assert.deepEqual(
    matching("service.log*.[gb]z*", [
      "service.log",
      "service.log-20261128.gz",
      "service.log-20261128.bz2",
      "service.log.1.gz",
      "service.log-20261128.xz",
      "xservice.log.gz",
      "service.log-20261128.gz.tmp",
    ]),
    ["service.log-20261128.gz", "service.log-20261128.bz2", "service.log.1.gz", "service.log-20261128.gz.tmp"],
  );
});

Deno.test("globMatcher() with * and ?: any run and one character, dots and dot files included", () => {
  assert.deepEqual(matching("*", ["a", ".hidden", "with space", "new\nline", ""]), [
    "a",
    ".hidden",
    "with space",
    "new\nline",
    "",
  ]);
  assert.deepEqual(matching("?.log", ["a.log", "ab.log", ".log", "é.log", "😀.log"]), ["a.log", "é.log", "😀.log"]);
  assert.deepEqual(matching("*.log", ["a.log", "a.log.1", "alog"]), ["a.log"]);
});

Deno.test("globMatcher() with ** is Java's .*: it stops at a line break", () => {
  assert.deepEqual(matching("**.gz", ["a.gz", "a\nb.gz"]), ["a.gz"]);
});

Deno.test("globMatcher() with classes: sets, ranges, ! negation, literal ^ and -", () => {
  assert.deepEqual(matching("[abc].log", ["a.log", "d.log", "ab.log"]), ["a.log"]);
  assert.deepEqual(matching("f[0-9]", ["f0", "f5", "f9", "fa", "f"]), ["f0", "f5", "f9"]);
  assert.deepEqual(matching("f[!0-9]", ["f0", "fa", "f-"]), ["fa", "f-"]);
  assert.deepEqual(matching("f[^a]", ["f^", "fa", "fb"]), ["f^", "fa"]);
  assert.deepEqual(matching("f[-a]", ["f-", "fa", "fb"]), ["f-", "fa"]);
  assert.deepEqual(matching("f[a-]", ["f-", "fa", "fb"]), ["f-", "fa"]);
  assert.deepEqual(matching("f[!-]", ["f-", "fa"]), ["fa"]);
  assert.deepEqual(matching("f[!-a-c]", ["f-", "fb", "fd"]), ["fd"]);
  assert.deepEqual(matching("f[\\]", ["f\\", "f]"]), ["f\\"]);
  assert.deepEqual(matching("f[*?{]", ["f*", "f?", "f{", "fa"]), ["f*", "f?", "f{"]);
});

Deno.test("globMatcher() with groups: alternatives with wildcards inside; a } outside is literal", () => {
  assert.deepEqual(matching("{service.log,app.log}*.gz", ["service.log.1.gz", "app.log-x.gz", "other.log.gz"]), [
    "service.log.1.gz",
    "app.log-x.gz",
  ]);
  assert.deepEqual(matching("{*.gz,*.bz2}", ["a.gz", "a.bz2", "a.xz"]), ["a.gz", "a.bz2"]);
  assert.deepEqual(matching("a,b}", ["a,b}", "a"]), ["a,b}"]);
  assert.deepEqual(matching("{a,}x", ["ax", "x", "bx"]), ["ax", "x"]);
});

Deno.test("globMatcher() with escapes and regex characters: everything else is literal", () => {
  assert.deepEqual(matching("a\\*b", ["a*b", "axb"]), ["a*b"]);
  assert.deepEqual(matching("\\{a\\}", ["{a}", "a"]), ["{a}"]);
  assert.deepEqual(matching("\\n", ["n", "\n"]), ["n"]);
  assert.deepEqual(matching("a.b+c(d)|e$^", ["a.b+c(d)|e$^", "axb+c(d)|e$^"]), ["a.b+c(d)|e$^"]);
});

Deno.test("globToRegExpSource() translates as sun.nio.fs.Globs does", () => {
  assert.equal(globToRegExpSource("{a,b}*.gz"), "^(?:(?:a)|(?:b))[^/]*\\.gz$");
  assert.equal(globToRegExpSource("x?**"), "^x[^/].*$");
});

Deno.test("globMatcher() refuses what Java refused, naming the pattern, the rule and the position", () => {
  const cases: [string, string][] = [
    ["a\\", 'glob "a\\\\": no character to escape at position 1'],
    ["[abc", `glob "[abc": missing ']' at position 3`],
    ["{a,b", `glob "{a,b": missing '}' at position 3`],
    ["{a,{b}}", 'glob "{a,{b}}": cannot nest groups at position 3'],
    ["[z-a]", 'glob "[z-a]": invalid range at position 1'],
    ["[a-b-c]", 'glob "[a-b-c]": invalid range at position 4'],
    ["[a--]", 'glob "[a--]": invalid range at position 1'],
    ["[a/b]", 'glob "[a/b]": explicit name separator in class at position 2'],
    ["[]", 'glob "[]": empty character class at position 0'],
    ["*".repeat(1025), `glob "${"*".repeat(40)}...": 1025 characters, more than the 1024 allowed`],
  ];
  for (const [glob, message] of cases) {
    assert.throws(() => globMatcher(glob), (error: Error) => {
      assert.ok(error instanceof GlobSyntaxError, glob);
      assert.equal(error.message, message);
      return true;
    });
  }
});

Deno.test("globMatcher() takes linear time: no backtracking on many stars or many groups", () => {
  const cases: [string, string][] = [
    ["*a".repeat(7) + "*b", "a".repeat(200)],
    ["*a".repeat(50) + "*b", "a".repeat(10_000)],
    ["{a,a}".repeat(40) + "b", "a".repeat(40)],
    ["{*a,a*}".repeat(20) + "b", "a".repeat(2000)],
    ["**a".repeat(30) + "?b", "a".repeat(5000)],
    ["*?".repeat(511) + "b", "a".repeat(2000)],
  ];
  for (const [glob, name] of cases) {
    const matches = globMatcher(glob);
    const started = performance.now();
    assert.equal(matches(name), false, glob);
    assert.equal(matches(`${name}b`), true, glob);
    const ms = performance.now() - started;
    assert.ok(ms < 500, `${glob} over ${name.length} characters took ${ms.toFixed(0)} ms`);
  }
});

Deno.test("globMatcher() agrees with globToRegExpSource() on random globs and names", () => {
  // A seeded generator, so a failure can be replayed.
  let state = 20261128;
  const random = (n: number) => {
    state = (Math.imul(state, 1103515245) + 12345) >>> 0;
    return (state >>> 8) % n;
  };
  const pieces = ["a", "b", ".", "*", "**", "?", "[ab]", "[!a]", "[a-c]", "{a,b*}", "{,?}", "\\*", "\n", "é", "😀"];
  const letters = ["a", "b", "c", ".", "*", "\n", "é", "😀"];
  let compared = 0;
  let matched = 0;
  for (let g = 0; g < 300; g++) {
    const glob = Array.from({ length: 1 + random(5) }, () => pieces[random(pieces.length)]).join("");
    const matches = globMatcher(glob);
    const regex = new RegExp(globToRegExpSource(glob), "u");
    for (let n = 0; n < 40; n++) {
      const name = Array.from({ length: random(7) }, () => letters[random(letters.length)]).join("");
      const expected = regex.test(name);
      assert.equal(matches(name), expected, `${JSON.stringify(glob)} vs ${JSON.stringify(name)}`);
      compared++;
      if (expected) matched++;
    }
  }
  assert.equal(compared, 12_000);
  assert.ok(matched > 500, `only ${matched} names matched`);
});
