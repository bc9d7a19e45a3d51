/**
 * Facts about this machine that the permission sets depend on.
 *
 * @module
 */

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
