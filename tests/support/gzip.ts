/**
 * gzip for tests and the demo, with the real tools: decompressing rotated
 * logs and S3 objects, compressing bytes, and packing a `.tar.gz` artifact.
 *
 * @module
 */
import { join } from "node:path";

/**
 * The gzip-compressed `bytes` decompressed, as text.
 *
 * @example
 * ```ts
 * await gunzip(await Deno.readFile("/sandbox/logs/service.log-1.gz")); // "line 1\n"
 * ```
 */
export async function gunzip(bytes: Uint8Array): Promise<string> {
  return new TextDecoder().decode(await filter(["-dc"], bytes));
}

/**
 * The gzip file at `path` decompressed, as text.
 *
 * @example
 * ```ts
 * await gunzipFile("/sandbox/logs/service.log-1.gz"); // "line 1\n"
 * ```
 */
export async function gunzipFile(path: string): Promise<string> {
  const out = await new Deno.Command("gzip", { args: ["-dc", path], stdout: "piped", stderr: "piped" }).output();
  if (!out.success) throw new Error(`gzip -dc ${path}: ${new TextDecoder().decode(out.stderr).trim()}`);
  return new TextDecoder().decode(out.stdout);
}

/**
 * `text` gzip-compressed.
 *
 * @example
 * ```ts
 * await Deno.writeFile("/tmp/x.gz", await gzip("complete\n"));
 * ```
 */
export async function gzip(text: string): Promise<Uint8Array> {
  return await filter(["-c"], new TextEncoder().encode(text));
}

/**
 * A `.tar.gz` made by the real tar of `files` (relative path → text; scripts ending in `.sh` are made executable).
 *
 * @example
 * ```ts
 * const archive = await tarGz({ "bin/hello.sh": "#!/bin/sh\necho hello\n" });
 * ```
 */
export async function tarGz(files: Record<string, string>): Promise<Uint8Array> {
  const dir = await Deno.makeTempDir();
  try {
    for (const [name, text] of Object.entries(files)) {
      const path = join(dir, name);
      await Deno.mkdir(join(path, ".."), { recursive: true });
      await Deno.writeTextFile(path, text, { mode: name.endsWith(".sh") ? 0o755 : 0o644 });
    }
    const top = [...new Set(Object.keys(files).map((name) => name.split("/")[0]))];
    const out = await new Deno.Command("tar", { args: ["-czf", "-", "-C", dir, ...top], stdout: "piped" }).output();
    if (!out.success) throw new Error("tar -czf failed");
    return out.stdout;
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
}

/** `gzip <args>` reading `input` on stdin; its stdout. */
async function filter(args: string[], input: Uint8Array): Promise<Uint8Array> {
  const child = new Deno.Command("gzip", { args, stdin: "piped", stdout: "piped", stderr: "piped" }).spawn();
  const writer = child.stdin.getWriter();
  await writer.write(input);
  await writer.close();
  const out = await child.output();
  if (!out.success) throw new Error(`gzip ${args.join(" ")}: ${new TextDecoder().decode(out.stderr).trim()}`);
  return out.stdout;
}
