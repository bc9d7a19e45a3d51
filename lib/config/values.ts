/**
 * Turns a raw property value into its typed value, or says what is wrong.
 *
 * @module
 */
import type { KeySpec } from "./schema.ts";

/** A parsed value, or the reason the raw text is not acceptable. */
export type ParseResult =
  | { ok: true; value: string | number | boolean | string[] }
  | { ok: false; expected: string };

const LEVELS = ["TRACE", "DEBUG", "INFO", "WARN", "ERROR", "OFF"] as const;

/**
 * Parses `raw` (already trimmed, non-empty) as the type of `spec`.
 *
 * @example
 * ```ts
 * parseValue({ type: "integer", min: 0, doc: "", era: "new" }, "42"); // { ok: true, value: 42 }
 * ```
 */
export function parseValue(spec: KeySpec, raw: string): ParseResult {
  switch (spec.type) {
    case "string":
      return choice(spec, raw);
    case "integer":
      return integer(spec, raw);
    case "boolean": {
      const lower = raw.toLowerCase();
      if (lower === "true" || lower === "false") return { ok: true, value: lower === "true" };
      return { ok: false, expected: "true or false" };
    }
    case "list":
      return { ok: true, value: splitList(raw) };
    case "host-ports": {
      const items = splitList(raw);
      const bad = items.find((item) => !/^[A-Za-z0-9.\-]+:\d{1,5}$/.test(item));
      if (bad !== undefined || items.length === 0) {
        return { ok: false, expected: `comma-separated host:port pairs (bad item "${bad ?? ""}")` };
      }
      return { ok: true, value: items };
    }
    case "directory":
    case "file":
      if (!raw.startsWith("/")) return { ok: false, expected: "an absolute path" };
      return { ok: true, value: raw.length > 1 ? raw.replace(/\/+$/, "") : raw };
    case "relative-path":
      if (raw.startsWith("/") || raw.split("/").includes("..")) {
        return { ok: false, expected: "a path relative to the task sandbox, without '..'" };
      }
      return { ok: true, value: raw };
    case "command":
      if (raw.includes("/") && !raw.startsWith("/")) {
        return { ok: false, expected: "a program name or an absolute path" };
      }
      return { ok: true, value: raw };
    case "level": {
      const upper = raw.toUpperCase();
      if ((LEVELS as readonly string[]).includes(upper)) return { ok: true, value: upper };
      return { ok: false, expected: `one of ${LEVELS.join(", ")}` };
    }
    case "url": {
      let url: URL;
      try {
        url = new URL(raw);
      } catch {
        return { ok: false, expected: "an http:// or https:// URL" };
      }
      if (url.protocol !== "http:" && url.protocol !== "https:") {
        return { ok: false, expected: "an http:// or https:// URL" };
      }
      return { ok: true, value: raw.replace(/\/+$/, "") };
    }
    case "url-path":
      if (!raw.startsWith("/")) return { ok: false, expected: "a URL path starting with /" };
      return { ok: true, value: raw };
  }
}

/** Splits a comma-separated list, trimming items and dropping empty ones. */
export function splitList(raw: string): string[] {
  return raw.split(",").map((item) => item.trim()).filter((item) => item !== "");
}

/** Checks a string against the spec's choices, if any. */
function choice(spec: KeySpec, raw: string): ParseResult {
  if (!spec.choices) return { ok: true, value: raw };
  const match = spec.choices.find((c) => c.toLowerCase() === raw.toLowerCase());
  if (match === undefined) return { ok: false, expected: `one of ${spec.choices.join(", ")}` };
  return { ok: true, value: match };
}

/** Parses a whole number within the spec's bounds. */
function integer(spec: KeySpec, raw: string): ParseResult {
  const bounds = spec.min !== undefined && spec.max !== undefined
    ? ` from ${spec.min} to ${spec.max}`
    : spec.min !== undefined
    ? ` of at least ${spec.min}`
    : spec.max !== undefined
    ? ` of at most ${spec.max}`
    : "";
  const expected = `a whole number${bounds}`;
  if (!/^[+-]?\d+$/.test(raw)) return { ok: false, expected };
  const value = Number(raw);
  if (!Number.isSafeInteger(value)) return { ok: false, expected };
  if (spec.min !== undefined && value < spec.min) return { ok: false, expected };
  if (spec.max !== undefined && value > spec.max) return { ok: false, expected };
  return { ok: true, value };
}
