/**
 * Facts about this machine that the permission sets depend on.
 *
 * @module
 */
import { LIBC_PATHS } from "../artifacts/page_cache.ts";
import type { MachineFacts } from "../permissions.ts";

/**
 * This machine's facts: its addresses and its C library.
 *
 * @example
 * ```ts
 * permissionsFor(config, machineFacts());
 * ```
 */
export function machineFacts(): MachineFacts {
  return { localAddresses: localAddresses(), libc: libcPath() };
}

/**
 * The machine's non-loopback IPv4 addresses, in interface order. The first
 * one is where the originals looked for the local Mesos agent.
 *
 * @example
 * ```ts
 * localAddresses(); // ["10.0.0.5"]
 * ```
 */
export function localAddresses(): string[] {
  return Deno.networkInterfaces()
    .filter((nic) => nic.family === "IPv4" && !nic.address.startsWith("127."))
    .map((nic) => nic.address);
}

/**
 * The C library's path, for the FFI permission of the programs that keep the
 * page cache of downloads small; undefined when none is found.
 *
 * @example
 * ```ts
 * libcPath(); // "/lib/x86_64-linux-gnu/libc.so.6"
 * ```
 */
export function libcPath(): string | undefined {
  return LIBC_PATHS.filter((path) => path.startsWith("/")).find((path) => {
    try {
      return Deno.statSync(path).isFile;
    } catch {
      return false;
    }
  });
}
