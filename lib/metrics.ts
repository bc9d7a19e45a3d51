/**
 * A small Prometheus registry (text exposition format 0.0.4) for the
 * daemons' `GET /metrics`: counters, gauges and histograms, optionally with
 * labels.
 *
 * @module
 */

type Labels = Record<string, string>;

interface Series {
  name: string;
  help: string;
  type: "counter" | "gauge" | "histogram";
  render(): string[];
}

/** A monotonically increasing count. */
export interface Counter {
  inc(amount?: number, labels?: Labels): void;
}

/** A value that goes up and down. */
export interface Gauge {
  set(value: number, labels?: Labels): void;
  inc(amount?: number, labels?: Labels): void;
  dec(amount?: number, labels?: Labels): void;
}

/** A distribution of observations in cumulative buckets. */
export interface Histogram {
  observe(value: number): void;
}

/**
 * The registry.
 *
 * @example
 * ```ts
 * const metrics = new Metrics("singularity_s3_downloader");
 * const requests = metrics.counter("requests_total", "Download requests received.");
 * requests.inc(1, { code: "200" });
 * console.log(metrics.render());
 * ```
 */
export class Metrics {
  readonly #prefix: string;
  readonly #series: Series[] = [];

  constructor(prefix: string) {
    this.#prefix = prefix;
  }

  counter(name: string, help: string): Counter {
    const values = new Map<string, number>();
    this.#add(name, help, "counter", () => lines(`${this.#prefix}_${name}`, values));
    return { inc: (amount = 1, labels = {}) => add(values, labels, amount) };
  }

  gauge(name: string, help: string): Gauge {
    const values = new Map<string, number>();
    this.#add(name, help, "gauge", () => lines(`${this.#prefix}_${name}`, values));
    return {
      set: (value, labels = {}) => values.set(labelText(labels), value),
      inc: (amount = 1, labels = {}) => add(values, labels, amount),
      dec: (amount = 1, labels = {}) => add(values, labels, -amount),
    };
  }

  histogram(name: string, help: string, buckets: readonly number[]): Histogram {
    const counts = buckets.map(() => 0);
    let sum = 0;
    let count = 0;
    const full = `${this.#prefix}_${name}`;
    this.#add(name, help, "histogram", () => [
      ...buckets.map((bound, i) => `${full}_bucket{le="${bound}"} ${counts[i]}`),
      `${full}_bucket{le="+Inf"} ${count}`,
      `${full}_sum ${sum}`,
      `${full}_count ${count}`,
    ]);
    return {
      observe(value) {
        buckets.forEach((bound, i) => {
          if (value <= bound) counts[i]++;
        });
        sum += value;
        count++;
      },
    };
  }

  /** The exposition text. */
  render(): string {
    const out: string[] = [];
    for (const series of this.#series) {
      const name = `${this.#prefix}_${series.name}`;
      out.push(`# HELP ${name} ${series.help}`, `# TYPE ${name} ${series.type}`, ...series.render());
    }
    return `${out.join("\n")}\n`;
  }

  #add(name: string, help: string, type: Series["type"], render: () => string[]): void {
    this.#series.push({ name, help, type, render });
  }
}

/**
 * Parses exposition text back into `name{labels}` → value (for `--status` and tests).
 *
 * @example
 * ```ts
 * parseMetrics("x_total 3\n").get("x_total"); // 3
 * ```
 */
export function parseMetrics(text: string): Map<string, number> {
  const values = new Map<string, number>();
  for (const line of text.split("\n")) {
    if (line === "" || line.startsWith("#")) continue;
    const space = line.lastIndexOf(" ");
    values.set(line.slice(0, space), Number(line.slice(space + 1)));
  }
  return values;
}

/**
 * Asks a running daemon for its metrics (for `--status`): the parsed values, or the reason it did not answer.
 *
 * @example
 * ```ts
 * const answer = await fetchMetrics("http://127.0.0.1:7070/metrics");
 * if (answer.ok) console.log(answer.metrics.get("singularity_s3_downloader_downloads_total"));
 * ```
 */
export async function fetchMetrics(
  url: string,
): Promise<{ ok: true; metrics: Map<string, number> } | { ok: false; problem: string }> {
  try {
    const response = await fetch(url, { signal: AbortSignal.timeout(5000) });
    const text = await response.text();
    if (!response.ok) return { ok: false, problem: `HTTP ${response.status}` };
    return { ok: true, metrics: parseMetrics(text) };
  } catch (error) {
    return { ok: false, problem: (error as Error).message };
  }
}

function add(values: Map<string, number>, labels: Labels, amount: number): void {
  const key = labelText(labels);
  values.set(key, (values.get(key) ?? 0) + amount);
}

function lines(name: string, values: Map<string, number>): string[] {
  if (values.size === 0) return [`${name} 0`];
  return [...values].map(([labels, value]) => `${name}${labels} ${value}`);
}

function labelText(labels: Labels): string {
  const entries = Object.entries(labels);
  if (entries.length === 0) return "";
  return `{${
    entries.map(([key, value]) => `${key}="${value.replace(/["\\\n]/g, (c) => `\\${c === "\n" ? "n" : c}`)}"`).join(",")
  }}`;
}
