import assert from "node:assert/strict";
import { join } from "node:path";
import { lastLines } from "../../lib/executor/last_lines.ts";

Deno.test("lastLines() gives what `tail -n` gives, across block boundaries and without a final newline", async () => {
  const dir = await Deno.makeTempDir();
  try {
    const long = "x".repeat(70_000);
    const cases: [string, number][] = [
      ["", 3],
      ["one\n", 3],
      ["one\ntwo\nthree\n", 2],
      ["one\ntwo\nthree", 2],
      ["\n\n\n", 2],
      [`${long}\nshort\n${long}\n`, 2],
      [`${long}\n${long}`, 1],
      ["a\nb\n", 0],
    ];
    for (const [text, count] of cases) {
      const path = join(dir, "log");
      await Deno.writeTextFile(path, text);
      const tail = await new Deno.Command("tail", { args: ["-n", String(count), path] }).output();
      assert.equal(new TextDecoder().decode(await lastLines(path, count)), new TextDecoder().decode(tail.stdout));
    }
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});
