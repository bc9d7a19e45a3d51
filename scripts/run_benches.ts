/**
 * `deno task bench [names...]`: runs the benchmark scripts in `bench/` one
 * after another. Each prints its own figures and ratios against the other
 * tools it measures in the same run.
 *
 * @module
 */
const args = Deno.args[0] === "--" ? Deno.args.slice(1) : Deno.args;
const benchDir = new URL("../bench/", import.meta.url);
const scripts: string[] = [];
for await (const entry of Deno.readDir(benchDir)) {
  if (entry.isFile && entry.name.endsWith("_bench.ts")) scripts.push(entry.name);
}
scripts.sort();
const chosen = args.length > 0 ? scripts.filter((name) => args.some((arg) => name.includes(arg))) : scripts;
if (chosen.length === 0) {
  console.log(`no benchmark in bench/ matches ${args.length > 0 ? args.join(" ") : "*_bench.ts"}`);
  Deno.exit(args.length > 0 ? 1 : 0);
}
let failed = 0;
for (const name of chosen) {
  console.log(`== ${name}`);
  const status = await new Deno.Command(Deno.execPath(), { args: ["run", "-A", new URL(name, benchDir).pathname] })
    .spawn().status;
  if (!status.success) failed++;
}
Deno.exit(failed === 0 ? 0 : 1);
