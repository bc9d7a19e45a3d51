import assert from "node:assert/strict";
import { join } from "node:path";
import { forceRotation } from "../../lib/logrotate/run.ts";

Deno.test("forceRotation() reports a logrotate that cannot be started", async () => {
  const result = await forceRotation("/nonexistent/logrotate", "/tmp/state", ["/tmp/conf"]);
  assert.equal(result.ok, false);
  assert.equal(result.code, undefined);
  assert.match(result.problem!, /^could not run \/nonexistent\/logrotate: /);
});

Deno.test("forceRotation() removes a symlink planted at the state file instead of writing through it", async () => {
  const dir = await Deno.makeTempDir();
  try {
    await Deno.writeTextFile(join(dir, "victim"), "precious\n");
    await Deno.writeTextFile(join(dir, "log"), "line\n");
    await Deno.writeTextFile(join(dir, "conf"), `"${dir}/log" {\n  rotate 1\n}\n`);
    await Deno.symlink(join(dir, "victim"), join(dir, "state"));
    const result = await forceRotation("logrotate", join(dir, "state"), [join(dir, "conf")]);
    assert.deepEqual(result, { ok: true, code: 0 });
    assert.equal(await Deno.readTextFile(join(dir, "victim")), "precious\n");
    assert.ok((await Deno.lstat(join(dir, "state"))).isFile);
    assert.match(await Deno.readTextFile(join(dir, "state")), /logrotate state/);
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});
