/**
 * The configuration as operators see it: at startup in the log, and with
 * `--print-config`. Secret values are masked.
 *
 * @module
 */
import type { Config } from "./config.ts";
import { displayValue } from "./mask.ts";

/**
 * One line per key, sorted, `key=value`, secrets masked, with where each
 * value came from.
 *
 * @example
 * ```ts
 * console.log(formatConfig(config).join("\n"));
 * // s3.access.key=***************WXYZ  (/etc/singularity.s3base.properties:3)
 * ```
 */
export function formatConfig(config: Config): string[] {
  const lines: string[] = [];
  for (const key of config.keys()) {
    const source = config.sourceOf(key);
    const where = source ? `${source.file}:${source.line}` : "default";
    const value = config.text(key);
    const shown = value === "" ? "" : displayValue(key, value, config.secretMarkers);
    lines.push(`${key}=${shown}  (${where})`);
  }
  return lines;
}

/** Which property files were read and which were missing, in layering order. */
export function formatFiles(config: Config): string[] {
  return config.files.map((file) => `${file.state === "read" ? "read   " : "missing"} ${file.path}`);
}
