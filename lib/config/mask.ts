/**
 * Masking of secret values, as the originals do when they dump their
 * configuration: a key containing any of the `obfuscate.keys.comma.separated`
 * substrings has its value shown as fifteen stars and its last four
 * characters, or `(OMITTED)` when it is four characters or shorter.
 *
 * @module
 */

/** The substrings that mark a key as secret when no configuration says otherwise. */
export const DEFAULT_SECRET_MARKERS: readonly string[] = ["key", "pass", "secret"];

/**
 * True when `key` contains one of `markers` (case-insensitive).
 *
 * @example
 * ```ts
 * isSecretKey("s3.secret.key", ["key"]); // true
 * ```
 */
export function isSecretKey(key: string, markers: readonly string[]): boolean {
  // The list of markers is itself named "...keys..." but holds no secret.
  if (key === "obfuscate.keys.comma.separated") return false;
  const lower = key.toLowerCase();
  return markers.some((marker) => marker !== "" && lower.includes(marker.toLowerCase()));
}

/**
 * The masked form of a secret value.
 *
 * @example
 * ```ts
 * maskValue("wJalrXUtnFEMI/K7MDENG"); // "***************DENG"
 * ```
 */
export function maskValue(value: string): string {
  if (value.length > 4) return "*".repeat(15) + value.slice(-4);
  return "(OMITTED)";
}

/** The value as it may be shown for `key`: masked when the key is secret. */
export function displayValue(key: string, value: string, markers: readonly string[]): string {
  return isSecretKey(key, markers) ? maskValue(value) : value;
}
