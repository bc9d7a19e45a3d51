/**
 * Builds the four programs with their permission flags: `deno compile` where
 * a runtime to compile onto is available, otherwise a `deno bundle` plus an
 * `sh` launcher carrying the identical flags (see lib/packaging/launcher.ts).
 *
 * @module
 */
import { dirname, join, relative, resolve } from "node:path";
import { loadConfig, type Program, PROGRAMS } from "../config/mod.ts";
import { denoFlags, type MachineFacts, type PermissionSet, permissionsFor } from "../permissions.ts";
import { launcherScript } from "./launcher.ts";
import { type FileChange, writeIfChanged } from "./write_if_changed.ts";

/** What to build, where, and for which configuration. */
export interface BuildOptions {
  /** Project root holding the `main_*.ts` entrypoints. */
  projectDir: string;
  /** Configuration the permission flags are computed from. */
  configDir: string;
  /** Whether the launcher should find `configDir` relative to itself (staged installs). */
  configDirRelative?: boolean;
  /** Where the programs go (`/usr/local/bin`). */
  binDir: string;
  /** Where bundles and the runtime go for launchers (`/usr/local/lib/singularity`). */
  libDir: string;
  /** Programs to build (default all four). */
  programs?: readonly Program[];
  /** Fail instead of falling back to bundle + launcher. */
  requireCompile?: boolean;
  /** The deno binary to build with and to ship for launchers. */
  deno?: string;
  /** Facts about the target machine (its addresses, its C library). */
  machine?: MachineFacts;
  /** Progress lines. */
  report?: (line: string) => void;
}

/** One built program. */
export interface BuiltProgram {
  program: Program;
  path: string;
  mode: "compiled" | "launcher";
  permissions: PermissionSet;
  changes: FileChange[];
}

/**
 * The bundle is an ES module, but npm packages written as CommonJS (the AWS
 * SDK) `require()` Node built-ins such as `node:crypto`; esbuild's shim needs
 * a `require` in scope for that, which Node's `createRequire` provides.
 */
const REQUIRE_SHIM = new TextEncoder().encode(
  'import { createRequire as __bundleCreateRequire } from "node:module";\n' +
    "const require = __bundleCreateRequire(import.meta.url);\n",
);

const RUNTIME_MISSING = /Setting up base binary|Could not find denort|dl\.deno\.land|denort/;

/**
 * Builds the programs and smoke-tests each one with `--help`.
 *
 * @example
 * ```ts
 * await buildPrograms({ projectDir: ".", configDir: "/etc", binDir: "dist/bin", libDir: "dist/lib/singularity" });
 * ```
 */
export async function buildPrograms(options: BuildOptions): Promise<BuiltProgram[]> {
  const deno = options.deno ?? Deno.execPath();
  const report = options.report ?? (() => {});
  const built: BuiltProgram[] = [];
  let compileWorks = !Deno.env.get("SINGULARITY_SKIP_COMPILE");
  for (const program of options.programs ?? PROGRAMS) {
    const { config } = await loadConfig(program, { configDir: options.configDir, validate: false });
    const permissions = permissionsFor(config, options.machine ?? { localAddresses: [] });
    const target = join(options.binDir, program.binary);
    await Deno.mkdir(options.binDir, { recursive: true });
    let result: BuiltProgram | undefined;
    if (compileWorks) {
      const compiled = await compile(deno, program, permissions, target, options);
      if (compiled.ok) {
        result = { program, path: target, mode: "compiled", permissions, changes: compiled.changes };
      } else if (options.requireCompile || !RUNTIME_MISSING.test(compiled.error)) {
        throw new Error(`deno compile of ${program.binary} failed:\n${compiled.error}`);
      } else {
        compileWorks = false;
        report(`deno compile has no runtime to build on (no DENORT_BIN, no network); using bundle + launcher`);
      }
    }
    if (result === undefined) {
      const changes = await bundleWithLauncher(deno, program, permissions, target, options);
      result = { program, path: target, mode: "launcher", permissions, changes };
    }
    if (result.mode === "launcher") await smokeTest(result.path, program);
    report(`${result.mode === "compiled" ? "compiled" : "launcher"} ${result.path}`);
    built.push(result);
  }
  return built;
}

/** `deno compile` into `target`; the error text when it fails. */
async function compile(
  deno: string,
  program: Program,
  permissions: PermissionSet,
  target: string,
  options: BuildOptions,
): Promise<{ ok: true; changes: FileChange[] } | { ok: false; error: string }> {
  const temporary = `${target}.build-${Deno.pid}`;
  const error = await runDeno(deno, [
    "compile",
    "--no-prompt",
    ...denoFlags(withConfigFiles(permissions, program, options.configDir)),
    "-o",
    temporary,
    join(options.projectDir, program.entrypoint),
    "--config-dir",
    resolve(options.configDir),
  ], { cwd: options.projectDir, output: temporary });
  if (error !== undefined) return { ok: false, error };
  try {
    // Check the binary before it replaces a working one.
    await smokeTest(temporary, program);
    const change = await writeIfChanged(target, await Deno.readFile(temporary), 0o755);
    return { ok: true, changes: [change] };
  } finally {
    await Deno.remove(temporary).catch(() => {});
  }
}

/** `deno bundle` into the lib directory, the runtime beside it, and the launcher. */
async function bundleWithLauncher(
  deno: string,
  program: Program,
  permissions: PermissionSet,
  target: string,
  options: BuildOptions,
): Promise<FileChange[]> {
  await Deno.mkdir(options.libDir, { recursive: true });
  const bundle = join(options.libDir, `${program.binary}.js`);
  const temporary = `${bundle}.build-${Deno.pid}`;
  const error = await runDeno(
    deno,
    ["bundle", "--quiet", "--platform=deno", "-o", temporary, join(options.projectDir, program.entrypoint)],
    { cwd: options.projectDir, output: temporary },
  );
  if (error !== undefined) throw new Error(`deno bundle of ${program.binary} failed:\n${error}`);
  const changes: FileChange[] = [];
  try {
    const bundled = await Deno.readFile(temporary);
    changes.push(await writeIfChanged(bundle, concat(REQUIRE_SHIM, bundled), 0o644));
  } finally {
    await Deno.remove(temporary).catch(() => {});
  }
  changes.push(await installRuntime(deno, join(options.libDir, "deno")));
  const configDir = resolve(options.configDir);
  const script = launcherScript(program.binary, permissions, {
    libFromBin: relative(options.binDir, options.libDir),
    configDir: options.configDirRelative ? { relative: relative(options.binDir, configDir) } : { absolute: configDir },
    configFiles: program.layers.map((layer) => layer.file),
  });
  changes.push(await writeIfChanged(target, new TextEncoder().encode(script), 0o755));
  return changes;
}

/** Runs a deno subcommand that writes `output`; on failure removes that file and returns deno's stderr. */
async function runDeno(
  deno: string,
  args: string[],
  options: { cwd: string; output: string },
): Promise<string | undefined> {
  const result = await new Deno.Command(deno, { args, cwd: options.cwd, stdout: "piped", stderr: "piped" }).output();
  if (result.success) return undefined;
  await Deno.remove(options.output).catch(() => {});
  return new TextDecoder().decode(result.stderr);
}

/** The set plus read access to the program's property files (compiled binaries carry it). */
function withConfigFiles(set: PermissionSet, program: Program, configDir: string): PermissionSet {
  return { ...set, read: [...program.layers.map((layer) => join(resolve(configDir), layer.file)), ...set.read] };
}

/** Puts the deno runtime at `target`: a hard link where possible, else a copy. */
async function installRuntime(deno: string, target: string): Promise<FileChange> {
  const source = await Deno.stat(deno);
  const existing = await Deno.stat(target).catch(() => undefined);
  if (existing && existing.ino === source.ino && existing.dev === source.dev) {
    return { path: target, state: "unchanged" };
  }
  if (existing && existing.size === source.size && await sameBytes(deno, target)) {
    return { path: target, state: "unchanged" };
  }
  const temporary = `${target}.build-${Deno.pid}`;
  await Deno.mkdir(dirname(target), { recursive: true });
  try {
    await Deno.link(deno, temporary);
  } catch {
    await Deno.copyFile(deno, temporary);
    await Deno.chmod(temporary, 0o755);
  }
  await Deno.rename(temporary, target);
  return { path: target, state: existing ? "updated" : "created" };
}

/** Whether two files hold the same bytes. */
async function sameBytes(a: string, b: string): Promise<boolean> {
  const [fa, fb] = await Promise.all([Deno.open(a), Deno.open(b)]);
  try {
    const ba = new Uint8Array(1 << 20);
    const bb = new Uint8Array(1 << 20);
    while (true) {
      const [na, nb] = await Promise.all([readFull(fa, ba), readFull(fb, bb)]);
      if (na !== nb) return false;
      if (na === 0) return true;
      for (let i = 0; i < na; i++) if (ba[i] !== bb[i]) return false;
    }
  } finally {
    fa.close();
    fb.close();
  }
}

/** Two byte arrays, one after the other. */
function concat(a: Uint8Array, b: Uint8Array): Uint8Array {
  const out = new Uint8Array(a.length + b.length);
  out.set(a);
  out.set(b, a.length);
  return out;
}

/** Fills `buffer` as far as the file allows; the count read. */
async function readFull(file: Deno.FsFile, buffer: Uint8Array): Promise<number> {
  let filled = 0;
  while (filled < buffer.length) {
    const n = await file.read(buffer.subarray(filled));
    if (n === null) break;
    filled += n;
  }
  return filled;
}

/** Runs `<path> --help` and checks it prints the program's usage. */
async function smokeTest(path: string, program: Program): Promise<void> {
  const output = await new Deno.Command(path, { args: ["--help"], stdout: "piped", stderr: "piped" }).output();
  const stdout = new TextDecoder().decode(output.stdout);
  if (!output.success || !stdout.startsWith(`usage: ${program.binary}`)) {
    throw new Error(
      `built ${path} but it does not run as ${program.binary} (bad DENORT_BIN?):\n${stdout}${
        new TextDecoder().decode(output.stderr)
      }`,
    );
  }
}
