/**
 * Status update uuids: 16 raw bytes of an RFC 4122 version 4 UUID, the form the
 * agent validates (version nibble 1 to 5; a v6/v7 UUID is refused).
 *
 * @module
 */

/**
 * A fresh version 4 UUID as 16 bytes.
 *
 * @example
 * ```ts
 * const uuid = newUpdateUuid(); // Uint8Array(16), uuid[6] >> 4 === 4
 * ```
 */
export function newUpdateUuid(): Uint8Array {
  const bytes = crypto.getRandomValues(new Uint8Array(16));
  bytes[6] = (bytes[6] & 0x0f) | 0x40;
  bytes[8] = (bytes[8] & 0x3f) | 0x80;
  return bytes;
}

/** Whether `bytes` is a uuid the agent accepts: 16 bytes, version 1 to 5. */
export function isValidUpdateUuid(bytes: Uint8Array): boolean {
  const version = bytes[6] >> 4;
  return bytes.length === 16 && version >= 1 && version <= 5;
}

/** The canonical text form, for logs and map keys. */
export function uuidText(bytes: Uint8Array): string {
  const hex = [...bytes].map((b) => b.toString(16).padStart(2, "0")).join("");
  return `${hex.slice(0, 8)}-${hex.slice(8, 12)}-${hex.slice(12, 16)}-${hex.slice(16, 20)}-${hex.slice(20)}`;
}
