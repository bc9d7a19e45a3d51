// The expected keys and values below were produced by running Java 17's
// java.util.Properties.load(Reader) (OpenJDK 17.0.15, file read as UTF-8) on
// each vector and recording every put(key, value) in order; where Java throws,
// the test says so. The line numbers are not Java's (Java reports none): they
// are the first physical line of each logical line, counted by hand.
import assert from "node:assert/strict";
import { parseProperties, PropertiesSyntaxError, type PropertyEntry } from "../../lib/config/properties.ts";

const FILE = "/etc/singularity.base.properties";

/** Parses `text` as if read from {@linkcode FILE}. */
function parse(text: string): PropertyEntry[] {
  return parseProperties(text, FILE);
}

Deno.test("parseProperties() with a # comment", () => {
  assert.deepStrictEqual(parse("# a comment\nkey=value\n"), [{ key: "key", value: "value", line: 2 }]);
});

Deno.test("parseProperties() with a ! comment", () => {
  assert.deepStrictEqual(parse("! a comment\nkey=value\n"), [{ key: "key", value: "value", line: 2 }]);
});

Deno.test("parseProperties() with indented comments", () => {
  assert.deepStrictEqual(parse("   # indented hash\n\t! indented bang\nkey=value\n"), [
    { key: "key", value: "value", line: 3 },
  ]);
});

Deno.test("parseProperties() with =, :, whitespace and form feed separators", () => {
  const text = "equals=1\ncolon:2\nspace 3\ntab\t4\nspaced = 5\nspacedcolon  :  6\nformfeed\f7\n";
  assert.deepStrictEqual(parse(text), [
    { key: "equals", value: "1", line: 1 },
    { key: "colon", value: "2", line: 2 },
    { key: "space", value: "3", line: 3 },
    { key: "tab", value: "4", line: 4 },
    { key: "spaced", value: "5", line: 5 },
    { key: "spacedcolon", value: "6", line: 6 },
    { key: "formfeed", value: "7", line: 7 },
  ]);
});

Deno.test("parseProperties() with a second separator kept in the value", () => {
  assert.deepStrictEqual(parse("a = = v\nb:=v\nc==v\nd  value = x\n"), [
    { key: "a", value: "= v", line: 1 },
    { key: "b", value: "=v", line: 2 },
    { key: "c", value: "=v", line: 3 },
    { key: "d", value: "value = x", line: 4 },
  ]);
});

Deno.test("parseProperties() with empty values", () => {
  assert.deepStrictEqual(parse("empty=\nbare\ncolon:\nspaces =   \n"), [
    { key: "empty", value: "", line: 1 },
    { key: "bare", value: "", line: 2 },
    { key: "colon", value: "", line: 3 },
    { key: "spaces", value: "", line: 4 },
  ]);
});

Deno.test("parseProperties() with a URL containing #", () => {
  assert.deepStrictEqual(parse("url=http://example.com/path#fragment\n"), [
    { key: "url", value: "http://example.com/path#fragment", line: 1 },
  ]);
});

Deno.test("parseProperties() keeps trailing whitespace in values", () => {
  // Java keeps it; parseProperties returns raw values and the loader trims.
  assert.deepStrictEqual(parse("key=value   \nkey2 = v2\t\n"), [
    { key: "key", value: "value   ", line: 1 },
    { key: "key2", value: "v2\t", line: 2 },
  ]);
});

Deno.test("parseProperties() with \\t \\n \\r \\f \\uXXXX \\\\ and other escapes", () => {
  const text =
    "tab=a\\tb\nnl=a\\nb\nuni=\\u00e9t\\u00C9\nbs=C:\\\\dir\\\\file\nother=\\a\\b\\z\\0\ncr=x\\ry\nff=x\\fy\n";
  assert.deepStrictEqual(parse(text), [
    { key: "tab", value: "a\tb", line: 1 },
    { key: "nl", value: "a\nb", line: 2 },
    { key: "uni", value: "\u00e9t\u00c9", line: 3 },
    { key: "bs", value: "C:\\dir\\file", line: 4 },
    { key: "other", value: "abz0", line: 5 },
    { key: "cr", value: "x\ry", line: 6 },
    { key: "ff", value: "x\fy", line: 7 },
  ]);
});

Deno.test("parseProperties() with escaped separators in keys", () => {
  const text = "key\\=with\\:seps=value\nkey\\ with\\ spaces=v\n\\u0041key=unicode key\n";
  assert.deepStrictEqual(parse(text), [
    { key: "key=with:seps", value: "value", line: 1 },
    { key: "key with spaces", value: "v", line: 2 },
    { key: "Akey", value: "unicode key", line: 3 },
  ]);
});

Deno.test("parseProperties() with an escaped leading space in a value", () => {
  assert.deepStrictEqual(parse("key=\\  two spaces\n"), [{ key: "key", value: "  two spaces", line: 1 }]);
});

Deno.test("parseProperties() with a continuation", () => {
  // Leading whitespace of each continued line is dropped.
  assert.deepStrictEqual(parse("multi=first \\\n    second \\\n\tthird\nnext=n\n"), [
    { key: "multi", value: "first second third", line: 1 },
    { key: "next", value: "n", line: 4 },
  ]);
});

Deno.test("parseProperties() with a continuation inside a key", () => {
  assert.deepStrictEqual(parse("ke\\\n  y=v\n"), [{ key: "key", value: "v", line: 1 }]);
});

Deno.test("parseProperties() with a continuation between key and value", () => {
  assert.deepStrictEqual(parse("key \\\n   value\nkey2=\\\n  value2\n"), [
    { key: "key", value: "value", line: 1 },
    { key: "key2", value: "value2", line: 3 },
  ]);
});

Deno.test("parseProperties() with an even number of trailing backslashes", () => {
  // Two and four backslashes are escaped backslashes; three continue the line.
  assert.deepStrictEqual(parse("two=a\\\\\nfour=b\\\\\\\\\nthree=c\\\\\\\n   d\n"), [
    { key: "two", value: "a\\", line: 1 },
    { key: "four", value: "b\\\\", line: 2 },
    { key: "three", value: "c\\d", line: 3 },
  ]);
});

Deno.test("parseProperties() with a continuation line starting with #", () => {
  assert.deepStrictEqual(parse("key=a\\\n#not a comment\nnext=b\n"), [
    { key: "key", value: "a#not a comment", line: 1 },
    { key: "next", value: "b", line: 3 },
  ]);
});

Deno.test("parseProperties() with a continuation line starting with !", () => {
  assert.deepStrictEqual(parse("key=a\\\n  !still value\n"), [{ key: "key", value: "a!still value", line: 1 }]);
});

Deno.test("parseProperties() with a comment ending in a backslash", () => {
  // Comment lines never continue.
  assert.deepStrictEqual(parse("# comment ending in a backslash \\\nkey=value\n"), [
    { key: "key", value: "value", line: 2 },
  ]);
});

Deno.test("parseProperties() with a lone backslash before a blank line", () => {
  assert.deepStrictEqual(parse("\\\n\nfoo=bar\n"), [{ key: "foo", value: "bar", line: 3 }]);
});

Deno.test("parseProperties() with a lone backslash joined to the next line", () => {
  assert.deepStrictEqual(parse("\\\nfoo=bar\nx=y\n"), [
    { key: "foo", value: "bar", line: 1 },
    { key: "x", value: "y", line: 3 },
  ]);
});

Deno.test("parseProperties() with a whitespace-only continuation line", () => {
  assert.deepStrictEqual(parse("a=b\\\n   \nc=d\n"), [
    { key: "a", value: "b", line: 1 },
    { key: "c", value: "d", line: 3 },
  ]);
});

Deno.test("parseProperties() with a duplicate key", () => {
  // Both are listed; loadConfig lets the last one win.
  assert.deepStrictEqual(parse("dup=first\nother=x\ndup=second\n"), [
    { key: "dup", value: "first", line: 1 },
    { key: "other", value: "x", line: 2 },
    { key: "dup", value: "second", line: 3 },
  ]);
});

Deno.test("parseProperties() with CRLF line endings", () => {
  assert.deepStrictEqual(parse("a=1\r\n# comment\r\nb = 2\r\nc=multi\\\r\n   line\r\n"), [
    { key: "a", value: "1", line: 1 },
    { key: "b", value: "2", line: 3 },
    { key: "c", value: "multiline", line: 4 },
  ]);
});

Deno.test("parseProperties() with CRLF continuations after the separator", () => {
  assert.deepStrictEqual(parse("key \\\r\n   value\r\nkey2=\\\r\n   value2\r\nnext=n\r\n"), [
    { key: "key", value: "value", line: 1 },
    { key: "key2", value: "value2", line: 3 },
    { key: "next", value: "n", line: 5 },
  ]);
});

Deno.test("parseProperties() with a CRLF blank continuation line", () => {
  assert.deepStrictEqual(parse("a=b\\\r\n\r\nc=d\r\n"), [
    { key: "a", value: "b", line: 1 },
    { key: "c", value: "d", line: 3 },
  ]);
});

Deno.test("parseProperties() with a CRLF continuation inside a key", () => {
  assert.deepStrictEqual(parse("multi\\\r\n  key=v\r\nnext=n\r\n"), [
    { key: "multikey", value: "v", line: 1 },
    { key: "next", value: "n", line: 3 },
  ]);
});

Deno.test("parseProperties() with a CRLF continuation right before the separator", () => {
  assert.deepStrictEqual(parse("key\\\r\n=value\r\nnext=n\r\n"), [
    { key: "key", value: "value", line: 1 },
    { key: "next", value: "n", line: 3 },
  ]);
});

Deno.test("parseProperties() with CR line endings", () => {
  assert.deepStrictEqual(parse("a=1\rb=2\r"), [
    { key: "a", value: "1", line: 1 },
    { key: "b", value: "2", line: 2 },
  ]);
});

Deno.test("parseProperties() with a CR continuation", () => {
  assert.deepStrictEqual(parse("a=b\\\r   c\rd=e\r"), [
    { key: "a", value: "bc", line: 1 },
    { key: "d", value: "e", line: 3 },
  ]);
});

Deno.test("parseProperties() with raw UTF-8", () => {
  assert.deepStrictEqual(parse("name=héllo wörld ✓\nclé=värde\n"), [
    { key: "name", value: "h\u00e9llo w\u00f6rld \u2713", line: 1 },
    { key: "cl\u00e9", value: "v\u00e4rde", line: 2 },
  ]);
});

Deno.test("parseProperties() with a backslash at the end of the file", () => {
  assert.deepStrictEqual(parse("key=value\\"), [{ key: "key", value: "value", line: 1 }]);
});

Deno.test("parseProperties() without a final newline", () => {
  assert.deepStrictEqual(parse("a=1\nb=2"), [
    { key: "a", value: "1", line: 1 },
    { key: "b", value: "2", line: 2 },
  ]);
});

Deno.test("parseProperties() with blank and whitespace-only lines", () => {
  assert.deepStrictEqual(parse("\n\n  \na=1\n\n\t\nb=2\n"), [
    { key: "a", value: "1", line: 4 },
    { key: "b", value: "2", line: 7 },
  ]);
});

Deno.test("parseProperties() with an empty text", () => {
  assert.deepStrictEqual(parse(""), []);
});

Deno.test("parseProperties() with an escaped backslash before u", () => {
  assert.deepStrictEqual(parse("a=\\\\u00zz\n"), [{ key: "a", value: "\\u00zz", line: 1 }]);
});

Deno.test("parseProperties() with a malformed \\u escape in a comment", () => {
  assert.deepStrictEqual(parse("# \\u00zz\nok=1\n"), [{ key: "ok", value: "1", line: 2 }]);
});

Deno.test("parseProperties() with a \\u escape split by a continuation", () => {
  // The line reader joins the lines before escapes are decoded: "\u00" + "41".
  assert.deepStrictEqual(parse("a=\\u00\\\n  41\n"), [{ key: "a", value: "A", line: 1 }]);
});

Deno.test("parseProperties() with a short \\u escape", () => {
  // Java: IllegalArgumentException "Malformed \uxxxx encoding."
  assert.throws(() => parse("good=1\nbad=\\u00e\n"), (error: unknown) => {
    assert.ok(error instanceof PropertiesSyntaxError);
    assert.strictEqual(error.name, "PropertiesSyntaxError");
    assert.strictEqual(error.file, FILE);
    assert.strictEqual(error.line, 2);
    assert.strictEqual(
      error.message,
      '/etc/singularity.base.properties:2: malformed \\uXXXX escape "\\u00e" (expected four hex digits)',
    );
    return true;
  });
});

Deno.test("parseProperties() with a non-hex \\u escape", () => {
  // Java: IllegalArgumentException "Malformed \uxxxx encoding."
  assert.throws(() => parse("ok=1\n\nbad=x\\u00zzy\n"), (error: unknown) => {
    assert.ok(error instanceof PropertiesSyntaxError);
    assert.strictEqual(error.line, 3);
    assert.strictEqual(
      error.message,
      '/etc/singularity.base.properties:3: malformed \\uXXXX escape "\\u00zz" (expected four hex digits)',
    );
    return true;
  });
});

Deno.test("parseProperties() with a malformed \\u escape on a continued line", () => {
  assert.throws(() => parse("a=1\nb=x\\\n  \\u12\n"), (error: unknown) => {
    assert.ok(error instanceof PropertiesSyntaxError);
    assert.strictEqual(error.line, 3);
    assert.strictEqual(
      error.message,
      '/etc/singularity.base.properties:3: malformed \\uXXXX escape "\\u12" (expected four hex digits)',
    );
    return true;
  });
});
