import assert from "node:assert/strict";
import { expandFileTokens, expandTaskTokens } from "../../lib/s3/key_pattern.ts";

const TASK_ID = {
  id: "my-web-deploy1-1795849200000-3-agent_1-rack1",
  requestId: "my-web",
  deployId: "deploy1",
  sanitizedHost: "agent_1",
};
// 2026-11-28 07:05:09.123 local time
const MODIFIED = new Date(2026, 10, 28, 7, 5, 9, 123);
const FILE = { fileName: "service.log-20261128.gz", modified: MODIFIED, index: 4, host: "uploader-host" };

Deno.test("expandTaskTokens() replaces every task token", () => {
  const table: [string, string][] = [
    ["%requestId", "my-web"],
    ["%group", "blue"],
    ["%tag", "tagged"],
    ["%deployId", "deploy1"],
    ["%host", "agent_1"],
    ["%taskId", TASK_ID.id],
  ];
  for (const [token, expected] of table) {
    assert.equal(
      expandTaskTokens(`a/${token}/b`, { taskId: TASK_ID, requestGroup: "blue", loggingTag: "tagged" }),
      `a/${expected}/b`,
    );
  }
});

Deno.test("expandTaskTokens(): no group is `default`, no tag is empty; file tokens pass through", () => {
  assert.equal(
    expandTaskTokens("%group/%tag/%requestId/%Y/%m/%taskId_%index-%s-%filename%fileext", { taskId: TASK_ID }),
    `default//my-web/%Y/%m/${TASK_ID.id}_%index-%s-%filename%fileext`,
  );
});

Deno.test("expandTaskTokens() never rescans inserted values", () => {
  const odd = { ...TASK_ID, requestId: "r%taskId", deployId: "%d" };
  assert.equal(expandTaskTokens("%requestId/%deployId/%d", { taskId: odd }), "r%taskId/%d/%d");
});

Deno.test("expandFileTokens() replaces every file token from the file's modification time", () => {
  const table: [string, string][] = [
    ["%filename", "service.log-20261128.gz"],
    ["%fileext", ".gz"],
    ["%host", "uploader-host"],
    ["%index", "4"],
    ["%Y", "2026"],
    ["%m", "11"],
    ["%d", "28"],
    ["%H", "07"],
    ["%s", String(MODIFIED.getTime())],
    ["%guid", "11111111-2222-4333-8444-555555555555"],
  ];
  for (const [token, expected] of table) {
    assert.equal(
      expandFileTokens(`k/${token}/x`, { ...FILE, guid: () => "11111111-2222-4333-8444-555555555555" }),
      `k/${expected}/x`,
    );
  }
});

Deno.test("expandFileTokens(): a file name without an extension leaves %fileext as it is", () => {
  assert.equal(expandFileTokens("%filename%fileext", { ...FILE, fileName: "service_log" }), "service_log%fileext");
});

Deno.test("expandFileTokens(): %d does not eat an unexpanded %deployId, nor are task tokens expanded", () => {
  assert.equal(expandFileTokens("%deployId/%d/%requestId/%taskId", FILE), "%deployId/28/%requestId/%taskId");
});

Deno.test("expandFileTokens(): a file name holding tokens is inserted as it is; unknown % sequences stay", () => {
  assert.equal(expandFileTokens("%Y/%filename/%z/100%", { ...FILE, fileName: "x%Y%d.log" }), "2026/x%Y%d.log/%z/100%");
});

Deno.test("expandFileTokens(): %guid is a fresh random UUID each time", () => {
  const a = expandFileTokens("%guid", FILE);
  const b = expandFileTokens("%guid", FILE);
  assert.match(a, /^[0-9a-f]{8}-[0-9a-f]{4}-4[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$/);
  assert.notEqual(a, b);
});
