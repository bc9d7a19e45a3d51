/**
 * Waiting for the signals that end a daemon.
 *
 * @module
 */

/**
 * Resolves with the name of the first SIGTERM or SIGINT received.
 *
 * @example
 * ```ts
 * const signal = await untilTerminated(); // "SIGTERM"
 * ```
 */
export function untilTerminated(): Promise<Deno.Signal> {
  return new Promise((resolve) => {
    const signals: Deno.Signal[] = ["SIGTERM", "SIGINT"];
    const handlers = signals.map((signal) => {
      const handler = () => {
        signals.forEach((other, i) => Deno.removeSignalListener(other, handlers[i]));
        resolve(signal);
      };
      Deno.addSignalListener(signal, handler);
      return handler;
    });
  });
}
