/**
 * `deno task test [paths...]`: runs the test suite and ends with the line CI
 * reads, `N passed, N failed` (deno test's own summary has another form).
 *
 * @module
 */
const args = Deno.args[0] === "--" ? Deno.args.slice(1) : Deno.args;
const child = new Deno.Command(Deno.execPath(), {
  args: ["test", "-A", "--no-prompt", ...(args.length > 0 ? args : ["tests/"])],
  stdout: "piped",
  stderr: "inherit",
}).spawn();
let summary = "";
let pending = "";
const decoder = new TextDecoder();
for await (const chunk of child.stdout) {
  await Deno.stdout.write(chunk);
  pending += decoder.decode(chunk, { stream: true });
  const lines = pending.split("\n");
  pending = lines.pop() ?? "";
  for (const line of lines) {
    const match = line.match(/^(?:ok|FAILED) \| (\d+) passed[^|]*\| (\d+) failed/);
    if (match) summary = `${match[1]} passed, ${match[2]} failed`;
  }
}
const status = await child.status;
console.log(summary === "" ? `0 passed, ${status.success ? 0 : 1} failed` : summary);
Deno.exit(status.code);
