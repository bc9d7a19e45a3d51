/**
 * Configuration of the four programs: Java `.properties` files layered like
 * the originals, typed key tables (one per file), validation and masking.
 *
 * @example
 * ```ts
 * import { loadConfig, UPLOADER, type UploaderKeys } from "./lib/config/mod.ts";
 * const { config, errors } = await loadConfig<UploaderKeys>(UPLOADER, { configDir: "/etc" });
 * ```
 *
 * @module
 */
export * from "./config.ts";
export * from "./dump.ts";
export * from "./load.ts";
export * from "./mask.ts";
export * from "./programs.ts";
export * from "./properties.ts";
export * from "./schema.ts";
