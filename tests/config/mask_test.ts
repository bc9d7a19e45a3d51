import assert from "node:assert/strict";
import {
  DEFAULT_SECRET_MARKERS,
  displayValue,
  EXECUTOR,
  isSecretKey,
  loadConfig,
  maskValue,
} from "../../lib/config/mod.ts";
import { FILES, tempConfigDir } from "./_config_dir.ts";

Deno.test("DEFAULT_SECRET_MARKERS is key, pass and secret", () => {
  assert.deepStrictEqual(DEFAULT_SECRET_MARKERS, ["key", "pass", "secret"]);
});

Deno.test("maskValue() with more than four characters", () => {
  assert.strictEqual(maskValue("wJalrXUtnFEMI/K7MDENG"), "***************DENG");
  assert.strictEqual(maskValue("abcde"), "***************bcde");
});

Deno.test("maskValue() with four characters or fewer", () => {
  assert.strictEqual(maskValue("abcd"), "(OMITTED)");
  assert.strictEqual(maskValue("a"), "(OMITTED)");
  assert.strictEqual(maskValue(""), "(OMITTED)");
});

Deno.test("isSecretKey() with the default markers", () => {
  assert.strictEqual(isSecretKey("s3.secret.key", DEFAULT_SECRET_MARKERS), true);
  assert.strictEqual(isSecretKey("s3.access.key", DEFAULT_SECRET_MARKERS), true);
  assert.strictEqual(isSecretKey("db.password", DEFAULT_SECRET_MARKERS), true);
  assert.strictEqual(isSecretKey("S3.SECRET", DEFAULT_SECRET_MARKERS), true);
  assert.strictEqual(isSecretKey("s3.region", DEFAULT_SECRET_MARKERS), false);
});

Deno.test("isSecretKey() never masks obfuscate.keys.comma.separated", () => {
  assert.strictEqual(isSecretKey("obfuscate.keys.comma.separated", DEFAULT_SECRET_MARKERS), false);
  assert.strictEqual(isSecretKey("obfuscate.keys.comma.separated", ["obfuscate"]), false);
});

Deno.test("isSecretKey() with custom markers", () => {
  assert.strictEqual(isSecretKey("api.token", ["token", "HOSTNAME"]), true);
  assert.strictEqual(isSecretKey("agent.hostname", ["token", "HOSTNAME"]), true);
  assert.strictEqual(isSecretKey("s3.secret.key", ["token", "HOSTNAME"]), false);
});

Deno.test("isSecretKey() ignores an empty marker", () => {
  assert.strictEqual(isSecretKey("s3.region", [""]), false);
  assert.strictEqual(isSecretKey("s3.region", []), false);
});

Deno.test("displayValue() masks only secret keys", () => {
  assert.strictEqual(
    displayValue("s3.secret.key", "wJalrXUtnFEMI/K7MDENG", DEFAULT_SECRET_MARKERS),
    "***************DENG",
  );
  assert.strictEqual(displayValue("s3.access.key", "AKIA", DEFAULT_SECRET_MARKERS), "(OMITTED)");
  assert.strictEqual(displayValue("s3.region", "eu-west-1", DEFAULT_SECRET_MARKERS), "eu-west-1");
  assert.strictEqual(
    displayValue("obfuscate.keys.comma.separated", "key,pass,secret", DEFAULT_SECRET_MARKERS),
    "key,pass,secret",
  );
});

Deno.test("loadConfig() takes the secret markers from obfuscate.keys.comma.separated", async () => {
  await using dir = await tempConfigDir({ [FILES.base]: "obfuscate.keys.comma.separated= token , hostname,\n" });
  const { config } = await loadConfig(EXECUTOR, { configDir: dir.path, validate: false });
  assert.deepStrictEqual(config.secretMarkers, ["token", "hostname"]);
});

Deno.test("loadConfig() uses the default secret markers", async () => {
  await using dir = await tempConfigDir();
  const { config } = await loadConfig(EXECUTOR, { configDir: dir.path, validate: false });
  assert.deepStrictEqual(config.secretMarkers, ["key", "pass", "secret"]);
});

Deno.test("loadConfig() with obfuscate.keys.comma.separated set empty uses the default markers", async () => {
  // An empty value means the default, for this key as for every other.
  await using dir = await tempConfigDir({ [FILES.base]: "obfuscate.keys.comma.separated=\n" });
  const { config } = await loadConfig(EXECUTOR, { configDir: dir.path, validate: false });
  assert.deepStrictEqual(config.get("obfuscate.keys.comma.separated"), ["key", "pass", "secret"]);
  assert.deepStrictEqual(config.secretMarkers, ["key", "pass", "secret"]);
});
