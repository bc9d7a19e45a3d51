/**
 * Lays out the programs on an agent (or in a staging tree under `root`):
 * programs in `/usr/local/bin`, the six property files in `/etc` (only where
 * absent: an operator's file is never overwritten), the directories the
 * configuration names, the cleanup cron entry, systemd units for the daemons
 * and a logrotate policy for the programs' own logs. Running it twice changes
 * nothing.
 *
 * @module
 */
import { join, resolve } from "node:path";
import { ALL_LAYERS, type KeySpec, loadConfig, PROGRAMS } from "../config/mod.ts";
import { propertyFileTemplate } from "../config/reference.ts";
import type { MachineFacts } from "../permissions.ts";
import { buildPrograms } from "./build.ts";
import { cleanupCronEntry, DAEMONS, ownLogsLogrotate, systemdUnit } from "./system_files.ts";
import { type FileChange, writeIfChanged } from "./write_if_changed.ts";
import { pathExists } from "../path_exists.ts";

/** Options of {@linkcode install} and {@linkcode uninstall}. */
export interface InstallOptions {
  /** Project root holding the entrypoints. */
  projectDir: string;
  /** Root of the tree to install into (default `/`). */
  root?: string;
  /** Where the property files are (default `<root>/etc`). */
  configDir?: string;
  /** Say what would be done; change nothing. */
  dryRun?: boolean;
  /** Fail instead of falling back to bundle + launcher. */
  requireCompile?: boolean;
  /** Facts about the target machine (its addresses, its C library). */
  machine?: MachineFacts;
  /** Progress lines. */
  report?: (line: string) => void;
}

/** The paths of an installation. */
export interface InstallLayout {
  root: string;
  configDir: string;
  binDir: string;
  libDir: string;
  cronFile: string;
  unitDir: string;
  logrotateFile: string;
}

/** Where everything goes for these options. */
export function installLayout(options: InstallOptions): InstallLayout {
  const root = resolve(options.root ?? "/");
  return {
    root,
    configDir: resolve(options.configDir ?? join(root, "etc")),
    binDir: join(root, "usr/local/bin"),
    libDir: join(root, "usr/local/lib/singularity"),
    cronFile: join(root, "etc/cron.d/singularity-executor-cleanup"),
    unitDir: join(root, "etc/systemd/system"),
    logrotateFile: join(root, "etc/logrotate.d/singularity-agent-helpers"),
  };
}

/**
 * Installs everything; resolves to what happened to each file and directory.
 *
 * @example
 * ```ts
 * await install({ projectDir: ".", root: "/tmp/stage", report: console.log });
 * ```
 */
export async function install(options: InstallOptions): Promise<FileChange[]> {
  const layout = installLayout(options);
  const report = options.report ?? (() => {});
  const changes: FileChange[] = [];
  const note = (change: FileChange) => {
    if (changes.some((seen) => seen.path === change.path)) return;
    changes.push(change);
    report(`${options.dryRun ? `would be ${change.state}` : change.state} ${change.path}`);
  };

  for (const layer of ALL_LAYERS) {
    const path = join(layout.configDir, layer.file);
    if (await pathExists(path)) {
      note({ path, state: "kept" });
    } else if (options.dryRun) {
      note({ path, state: "created" });
    } else {
      note(await writeIfChanged(path, new TextEncoder().encode(propertyFileTemplate(layer)), 0o644));
    }
  }

  const logFiles: string[] = [];
  for (const program of PROGRAMS) {
    const { config } = await loadConfig(program, { configDir: layout.configDir, validate: false });
    logFiles.push(join(config.text("root.log.directory"), config.text("root.log.filename")));
    for (const layer of program.layers) {
      for (const [key, spec] of Object.entries(layer.keys)) {
        const value = config.text(key);
        if (value === "" || !needsDirectory(spec, program.name)) continue;
        const path = value === layout.root || value.startsWith(`${layout.root}/`) ? value : join(layout.root, value);
        if (await pathExists(path)) {
          note({ path, state: "unchanged" });
        } else {
          if (!options.dryRun) await Deno.mkdir(path, { recursive: true, mode: 0o755 });
          note({ path, state: "created" });
        }
      }
    }
  }

  if (options.dryRun) {
    for (const program of PROGRAMS) note({ path: join(layout.binDir, program.binary), state: "updated" });
  } else {
    const built = await buildPrograms({
      projectDir: options.projectDir,
      configDir: layout.configDir,
      configDirRelative: layout.configDir === join(layout.root, "etc"),
      binDir: layout.binDir,
      libDir: layout.libDir,
      requireCompile: options.requireCompile,
      machine: options.machine,
    });
    for (const program of built) program.changes.forEach(note);
  }

  const systemFiles: [string, string][] = [
    [layout.cronFile, cleanupCronEntry()],
    ...DAEMONS.map((
      program,
    ): [string, string] => [join(layout.unitDir, `${program.binary}.service`), systemdUnit(program)]),
    [layout.logrotateFile, ownLogsLogrotate(logFiles)],
  ];
  for (const [path, text] of systemFiles) {
    if (options.dryRun) {
      note({ path, state: await pathExists(path) ? "updated" : "created" });
    } else {
      note(await writeIfChanged(path, new TextEncoder().encode(text), 0o644));
    }
  }
  return changes;
}

/**
 * Removes the programs, the runtime and the system files; keeps the property
 * files and every directory the configuration names (they hold operators'
 * settings and tasks' data).
 */
export async function uninstall(options: InstallOptions): Promise<FileChange[]> {
  const layout = installLayout(options);
  const report = options.report ?? (() => {});
  const changes: FileChange[] = [];
  const paths = [
    ...PROGRAMS.map((program) => join(layout.binDir, program.binary)),
    layout.libDir,
    layout.cronFile,
    ...DAEMONS.map((program) => join(layout.unitDir, `${program.binary}.service`)),
    layout.logrotateFile,
  ];
  for (const path of paths) {
    if (!await pathExists(path)) continue;
    if (!options.dryRun) await Deno.remove(path, { recursive: true });
    changes.push({ path, state: "removed" });
    report(`${options.dryRun ? "would be removed" : "removed"} ${path}`);
  }
  for (const layer of ALL_LAYERS) {
    const path = join(layout.configDir, layer.file);
    if (await pathExists(path)) report(`kept ${path}`);
  }
  return changes;
}

/** Directories the installer creates: those a program needs to exist. */
function needsDirectory(spec: KeySpec, program: (typeof PROGRAMS)[number]["name"]): boolean {
  return spec.type === "directory" && (spec.mustExistFor?.includes(program) ?? false);
}
