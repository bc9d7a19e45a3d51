/**
 * `deno task build [--config-dir DIR] [--out DIR]`: builds the four programs
 * into `<out>/bin` (default `dist/`) with permission flags computed from the
 * configuration in `--config-dir` (default `/etc`). Uses `deno compile` when a
 * runtime is available (`DENORT_BIN`, or one cached in `DENO_DIR`), else
 * `deno bundle` + launcher; `REQUIRE_COMPILE=1` makes that fallback an error.
 *
 * @module
 */
import { parseArgs } from "node:util";
import { join, resolve } from "node:path";
import { buildPrograms } from "../lib/packaging/build.ts";
import { machineFacts } from "../lib/packaging/machine.ts";

if (import.meta.main) {
  const { values } = parseArgs({
    args: Deno.args[0] === "--" ? Deno.args.slice(1) : Deno.args,
    options: {
      "config-dir": { type: "string", default: "/etc" },
      out: { type: "string", default: "dist" },
      help: { type: "boolean" },
    },
  });
  if (values.help) {
    console.log("usage: deno task build [--config-dir DIR] [--out DIR]");
    Deno.exit(0);
  }
  const projectDir = resolve(import.meta.dirname ?? ".", "..");
  const out = resolve(values.out);
  try {
    await buildPrograms({
      projectDir,
      configDir: values["config-dir"],
      binDir: join(out, "bin"),
      libDir: join(out, "lib", "singularity"),
      requireCompile: Deno.env.get("REQUIRE_COMPILE") === "1",
      machine: machineFacts(),
      report: (line) => console.log(line),
    });
  } catch (error) {
    console.error(`build failed: ${(error as Error).message}`);
    Deno.exit(1);
  }
}
