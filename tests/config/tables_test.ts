import assert from "node:assert/strict";
import { BASE_KEYS, BASE_LAYER } from "../../lib/config/keys_base.ts";
import { CLEANUP_KEYS, CLEANUP_LAYER } from "../../lib/config/keys_cleanup.ts";
import { EXECUTOR_KEYS, EXECUTOR_LAYER } from "../../lib/config/keys_executor.ts";
import { S3BASE_KEYS, S3BASE_LAYER } from "../../lib/config/keys_s3base.ts";
import { S3DOWNLOADER_KEYS, S3DOWNLOADER_LAYER } from "../../lib/config/keys_s3downloader.ts";
import { S3UPLOADER_KEYS, S3UPLOADER_LAYER } from "../../lib/config/keys_s3uploader.ts";
import { ALL_LAYERS, CLEANUP, DOWNLOADER, EXECUTOR, PROGRAMS, UPLOADER } from "../../lib/config/programs.ts";
import type { KeySpec } from "../../lib/config/schema.ts";
import { parseValue } from "../../lib/config/values.ts";

/** Every key of every table, with the file of its table. */
function allKeys(): { key: string; spec: KeySpec; file: string }[] {
  return ALL_LAYERS.flatMap((layer) =>
    Object.entries(layer.keys).map(([key, spec]) => ({ key, spec, file: layer.file }))
  );
}

Deno.test("ALL_LAYERS holds each table once, in documentation order", () => {
  assert.deepStrictEqual(ALL_LAYERS, [
    BASE_LAYER,
    S3BASE_LAYER,
    EXECUTOR_LAYER,
    CLEANUP_LAYER,
    S3UPLOADER_LAYER,
    S3DOWNLOADER_LAYER,
  ]);
  assert.deepStrictEqual(ALL_LAYERS.map((layer) => layer.keys), [
    BASE_KEYS,
    S3BASE_KEYS,
    EXECUTOR_KEYS,
    CLEANUP_KEYS,
    S3UPLOADER_KEYS,
    S3DOWNLOADER_KEYS,
  ]);
  assert.deepStrictEqual(ALL_LAYERS.map((layer) => layer.file), [
    "singularity.base.properties",
    "singularity.s3base.properties",
    "singularity.executor.properties",
    "singularity.executor.cleanup.properties",
    "singularity.s3uploader.properties",
    "singularity.s3downloader.properties",
  ]);
});

Deno.test("PROGRAMS read their layers in the originals' order", () => {
  assert.deepStrictEqual(PROGRAMS, [EXECUTOR, CLEANUP, UPLOADER, DOWNLOADER]);
  assert.deepStrictEqual(
    PROGRAMS.map((program) => [program.name, program.layers.map((layer) => layer.file)]),
    [
      ["executor", ["singularity.base.properties", "singularity.s3base.properties", "singularity.executor.properties"]],
      ["cleanup", [
        "singularity.base.properties",
        "singularity.s3base.properties",
        "singularity.executor.properties",
        "singularity.executor.cleanup.properties",
      ]],
      ["uploader", [
        "singularity.base.properties",
        "singularity.s3base.properties",
        "singularity.s3uploader.properties",
      ]],
      ["downloader", [
        "singularity.base.properties",
        "singularity.s3base.properties",
        "singularity.s3downloader.properties",
      ]],
    ],
  );
});

Deno.test("every non-empty default parses with its key's own type", () => {
  const failures: string[] = [];
  for (const { key, spec } of allKeys()) {
    const defaults = [spec.default, ...Object.values(spec.defaultFor ?? {})];
    for (const value of defaults) {
      if (value === undefined || value === "") continue;
      const parsed = parseValue(spec, value);
      if (!parsed.ok) failures.push(`${key} = "${value}": expected ${parsed.expected}`);
    }
  }
  assert.deepStrictEqual(failures, []);
});

Deno.test("every default is normalised already", () => {
  // A default should read the same in generated docs as the value the program uses.
  const differing: string[] = [];
  for (const { key, spec } of allKeys()) {
    if (spec.default === undefined || spec.default === "") continue;
    const parsed = parseValue(spec, spec.default);
    if (!parsed.ok) continue;
    const text = Array.isArray(parsed.value) ? parsed.value.join(",") : String(parsed.value);
    if (text !== spec.default) differing.push(`${key}: "${spec.default}" reads as "${text}"`);
  }
  assert.deepStrictEqual(differing, []);
});

Deno.test("no key is defined in two tables", () => {
  const seen = new Map<string, string>();
  const twice: string[] = [];
  for (const { key, file } of allKeys()) {
    const earlier = seen.get(key);
    if (earlier !== undefined) twice.push(`${key} in ${earlier} and ${file}`);
    seen.set(key, file);
  }
  assert.deepStrictEqual(twice, []);
});

Deno.test("no alias is also a key or an alias of two keys", () => {
  const keys = new Set(allKeys().map(({ key }) => key));
  const aliases = allKeys().flatMap(({ spec }) => spec.aliases ?? []);
  assert.deepStrictEqual(aliases.filter((alias) => keys.has(alias)), []);
  assert.strictEqual(new Set(aliases).size, aliases.length);
  assert.deepStrictEqual(aliases, ["executor.s3.uplaoder.bucket"]);
});

Deno.test("every requiredBy and mustExistFor program reads the key's table", () => {
  const wrong: string[] = [];
  for (const layer of ALL_LAYERS) {
    for (const [key, spec] of Object.entries(layer.keys)) {
      for (const name of [...spec.requiredBy ?? [], ...spec.mustExistFor ?? []]) {
        const program = PROGRAMS.find((candidate) => candidate.name === name);
        if (program === undefined || !program.layers.includes(layer)) wrong.push(`${key}: ${name}`);
      }
    }
  }
  assert.deepStrictEqual(wrong, []);
});

Deno.test("only directory keys have mustExistFor", () => {
  const wrong = allKeys().filter(({ spec }) => spec.mustExistFor !== undefined && spec.type !== "directory");
  assert.deepStrictEqual(wrong.map(({ key }) => key), []);
});

Deno.test("every defaultFor names a program that reads the key's table", () => {
  const wrong: string[] = [];
  for (const layer of ALL_LAYERS) {
    for (const [key, spec] of Object.entries(layer.keys)) {
      for (const name of Object.keys(spec.defaultFor ?? {})) {
        const program = PROGRAMS.find((candidate) => candidate.name === name);
        if (program === undefined || !program.layers.includes(layer)) wrong.push(`${key}: ${name}`);
      }
    }
  }
  assert.deepStrictEqual(wrong, []);
});

Deno.test("every key has a non-empty doc", () => {
  const undocumented = allKeys().filter(({ spec }) => typeof spec.doc !== "string" || spec.doc.trim() === "");
  assert.deepStrictEqual(undocumented.map(({ key }) => key), []);
});

Deno.test("every noEffect reason is non-empty", () => {
  const empty = allKeys().filter(({ spec }) => spec.noEffect !== undefined && spec.noEffect.trim() === "");
  assert.deepStrictEqual(empty.map(({ key }) => key), []);
});

Deno.test("every integer key has min not above max", () => {
  const wrong = allKeys().filter(({ spec }) => spec.min !== undefined && spec.max !== undefined && spec.min > spec.max);
  assert.deepStrictEqual(wrong.map(({ key }) => key), []);
});

Deno.test("every family key has exactly one <name> place", () => {
  const families = allKeys().filter(({ key }) => key.includes("<") || key.includes(">"));
  assert.deepStrictEqual(
    families.map(({ key }) => [key, (key.match(/<[a-z]+>/g) ?? []).length]),
    [
      ["s3.bucket.<bucket>.access.key", 1],
      ["s3.bucket.<bucket>.secret.key", 1],
      ["executor.shell.command.<name>", 1],
    ],
  );
});

Deno.test("every key is lower-case dotted words", () => {
  const odd = allKeys().filter(({ key }) => !/^[a-z0-9]+(\.([a-z0-9]+|<[a-z]+>))+$/.test(key));
  assert.deepStrictEqual(odd.map(({ key }) => key), []);
});
