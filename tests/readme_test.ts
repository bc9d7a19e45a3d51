import assert from "node:assert/strict";
import { withReference } from "../scripts/gen_readme.ts";

Deno.test("README.md's configuration reference matches the key tables", async () => {
  const readme = await Deno.readTextFile(new URL("../README.md", import.meta.url));
  assert.equal(readme, withReference(readme), "run: deno run -A scripts/gen_readme.ts");
});
