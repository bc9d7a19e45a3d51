/**
 * Documents generated from the key tables: the property-file templates the
 * installer writes, and the configuration reference in the README.
 *
 * @module
 */
import type { KeySpec, Layer, ProgramName } from "./schema.ts";
import { PROGRAMS } from "./programs.ts";

const BINARIES = Object.fromEntries(PROGRAMS.map((program) => [program.name, program.binary])) as Record<
  ProgramName,
  string
>;

/**
 * The template of one property file: every key commented out with its
 * default, so the file documents itself and upgrades can change defaults.
 *
 * @example
 * ```ts
 * await Deno.writeTextFile("/etc/singularity.base.properties", propertyFileTemplate(BASE_LAYER));
 * ```
 */
export function propertyFileTemplate(layer: Layer): string {
  const lines = [
    `# ${layer.file}: ${layer.title}`,
    "# Every key is shown commented out with its default; uncomment and edit to change it.",
    "# Any key may be set in any of the files; files read later override earlier ones.",
    "",
  ];
  for (const [key, spec] of Object.entries(layer.keys)) {
    lines.push(...wrap(spec.doc, "# "));
    const notes = [
      spec.requiredBy ? `required by ${spec.requiredBy.map((name) => BINARIES[name]).join(", ")}` : "",
      spec.noEffect ? `no effect: ${spec.noEffect}` : "",
    ].filter((note) => note !== "");
    if (spec.defaultFor) {
      notes.push(
        `default: ${Object.entries(spec.defaultFor).map(([name, value]) => `${value} for ${name}`).join(", ")}`,
      );
    }
    if (notes.length > 0) lines.push(`# (${notes.join("; ")})`);
    lines.push(`#${key}=${spec.defaultFor ? "" : defaultText(spec)}`, "");
  }
  return lines.join("\n");
}

/**
 * The Markdown configuration reference for all layers.
 *
 * @example
 * ```ts
 * const markdown = configReference(ALL_LAYERS);
 * ```
 */
export function configReference(layers: readonly Layer[]): string {
  const out: string[] = [];
  for (const layer of layers) {
    out.push(`#### \`${layer.file}\``, "", layer.title, "");
    for (const [key, spec] of Object.entries(layer.keys)) {
      const notes = [
        spec.requiredBy ? `Required by ${spec.requiredBy.map((name) => `\`${BINARIES[name]}\``).join(", ")}.` : "",
        spec.mustExistFor ? "Must be an existing directory." : "",
        spec.aliases ? `Also accepted (with a warning): ${spec.aliases.map((a) => `\`${a}\``).join(", ")}.` : "",
        spec.noEffect ? `No effect: ${spec.noEffect}.` : "",
      ].filter((note) => note !== "");
      const type = spec.type + (spec.min !== undefined || spec.max !== undefined ? ` ${bounds(spec)}` : "");
      const value = defaultText(spec);
      const shown = value === "" ? "no default" : `default \`${value}\``;
      out.push(`- \`${key}\` (${type}, ${shown}): ${[spec.doc, ...notes].join(" ")}`);
    }
    out.push("");
  }
  return out.join("\n");
}

/** The default as a file would hold it (per-program defaults listed). */
function defaultText(spec: KeySpec): string {
  if (spec.defaultFor) {
    return Object.values(spec.defaultFor).join(" / ");
  }
  return spec.default ?? "";
}

/** `[min..max]` for integers. */
function bounds(spec: KeySpec): string {
  return `[${spec.min ?? ""}..${spec.max ?? ""}]`;
}

/** Wraps prose at 100 columns with a prefix. */
function wrap(text: string, prefix: string): string[] {
  const lines: string[] = [];
  let line = "";
  for (const word of text.split(" ")) {
    if (line !== "" && prefix.length + line.length + word.length + 1 > 100) {
      lines.push(prefix + line);
      line = word;
    } else {
      line = line === "" ? word : `${line} ${word}`;
    }
  }
  if (line !== "") lines.push(prefix + line);
  return lines;
}
