/**
 * `deno task install -- [--root DIR] [--config-dir DIR] [--dry-run] [--uninstall]`
 *
 * Installs the four programs into `<root>/usr/local/bin`, the property files
 * into `<root>/etc` (only where absent), the directories the configuration
 * names, the cleanup cron entry, systemd units and a logrotate policy. See
 * lib/packaging/install.ts.
 *
 * @module
 */
import { parseArgs } from "node:util";
import { resolve } from "node:path";
import { install, uninstall } from "../lib/packaging/install.ts";
import { machineFacts } from "../lib/packaging/machine.ts";

const USAGE = `usage: deno task install -- [--root DIR] [--config-dir DIR] [--dry-run] [--uninstall]

  --root DIR        install into DIR instead of / (a staging tree that runs in place or can be copied to /)
  --config-dir DIR  where the property files are (default <root>/etc); permission flags are computed from them
  --dry-run         print what would be done and change nothing
  --uninstall       remove the programs and system files; keep property files and data directories

Property files are written only where absent. Run it again after editing directories or endpoints
in the property files: each program may only reach what its configuration named at install time.`;

if (import.meta.main) {
  let values;
  try {
    values = parseArgs({
      args: Deno.args[0] === "--" ? Deno.args.slice(1) : Deno.args,
      options: {
        root: { type: "string", default: "/" },
        "config-dir": { type: "string" },
        "dry-run": { type: "boolean" },
        uninstall: { type: "boolean" },
        help: { type: "boolean", short: "h" },
      },
    }).values;
  } catch (error) {
    console.error(`install: ${(error as Error).message}\n${USAGE}`);
    Deno.exit(2);
  }
  if (values.help) {
    console.log(USAGE);
    Deno.exit(0);
  }
  const options = {
    projectDir: resolve(import.meta.dirname ?? ".", ".."),
    root: values.root,
    configDir: values["config-dir"],
    dryRun: values["dry-run"],
    requireCompile: Deno.env.get("REQUIRE_COMPILE") === "1",
    machine: machineFacts(),
    report: (line: string) => console.log(line),
  };
  try {
    await (values.uninstall ? uninstall(options) : install(options));
  } catch (error) {
    console.error(`install failed: ${(error as Error).message}`);
    Deno.exit(1);
  }
}
