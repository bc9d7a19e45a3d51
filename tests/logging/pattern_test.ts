import assert from "node:assert/strict";
import type { LogRecord } from "@logtape/logtape";
import { compilePattern, PatternError } from "../../lib/logging/pattern.ts";

const DEFAULT_PATTERN = "%-5level [%d] [%.15thread] %logger{35} - %msg%n";
const TASK_ID = "webapp-d1-1700000000000-1-agent_3-us_east_1a";
/** 2024-01-02 03:04:05.006 in local time, which is what %d prints. */
const TIMESTAMP = new Date(2024, 0, 2, 3, 4, 5, 6).getTime();

/** A LogRecord as LogTape builds it, with `overrides` applied. */
function record(overrides: Partial<LogRecord> = {}): LogRecord {
  return {
    category: ["singularity", "executor", "driver"],
    level: "info",
    message: ["subscribed"],
    rawMessage: "subscribed",
    timestamp: TIMESTAMP,
    properties: {},
    ...overrides,
  };
}

/** Formats `overrides` applied to {@linkcode record} with `pattern`. */
function format(pattern: string, overrides: Partial<LogRecord> = {}): string {
  return compilePattern(pattern, "executor")(record(overrides));
}

Deno.test("compilePattern() with the default pattern", () => {
  assert.strictEqual(
    format(DEFAULT_PATTERN),
    "INFO  [2024-01-02 03:04:05,006] [main] singularity.executor.driver - subscribed\n",
  );
});

Deno.test("compilePattern() with the default pattern and a task", () => {
  assert.strictEqual(
    format(DEFAULT_PATTERN, {
      category: ["singularity", "s3", "uploader", "metadata_watcher"],
      level: "warning",
      message: ["task ", TASK_ID, " has no sandbox"],
      rawMessage: "task {taskId} has no sandbox",
      properties: { taskId: TASK_ID },
    }),
    `WARN  [2024-01-02 03:04:05,006] [nt_3-us_east_1a] s.s3.uploader.metadata_watcher - task ${TASK_ID} has no sandbox\n`,
  );
});

Deno.test("compilePattern() with every level", () => {
  const levels = (["trace", "debug", "info", "warning", "error", "fatal"] as const).map((level) =>
    format("%-5level|", { level })
  );
  assert.deepStrictEqual(levels, ["TRACE|", "DEBUG|", "INFO |", "WARN |", "ERROR|", "ERROR|"]);
});

Deno.test("compilePattern() with padding", () => {
  assert.strictEqual(format("[%5level]"), "[ INFO]");
  assert.strictEqual(format("[%-5level]"), "[INFO ]");
  assert.strictEqual(format("[%3level]"), "[INFO]");
  assert.strictEqual(format("[%10thread]"), "[      main]");
  assert.strictEqual(format("[%-10thread]"), "[main      ]");
});

Deno.test("compilePattern() with .N truncation keeping the end", () => {
  assert.strictEqual(format("[%.3level]"), "[NFO]");
  assert.strictEqual(format("[%.15thread]", { properties: { taskId: TASK_ID } }), "[nt_3-us_east_1a]");
  assert.strictEqual(format("[%.15thread]"), "[main]");
});

Deno.test("compilePattern() with .-N truncation keeping the start", () => {
  assert.strictEqual(format("[%.-3level]"), "[INF]");
  assert.strictEqual(format("[%.-15thread]", { properties: { taskId: TASK_ID } }), "[webapp-d1-17000]");
});

Deno.test("compilePattern() with padding and truncation together", () => {
  assert.strictEqual(format("[%-8.-3level]"), "[INF     ]");
  assert.strictEqual(format("[%8.3level]"), "[     NFO]");
  assert.strictEqual(format("[%20.-6msg]"), "[              subscr]");
});

Deno.test("compilePattern() with logger abbreviation", () => {
  // The examples of logback's manual for %logger{N}.
  const category = ["mainPackage", "sub", "sample", "Bar"];
  const patterns = ["%logger", "%logger{5}", "%logger{10}", "%logger{15}", "%logger{16}", "%logger{26}"];
  const abbreviations = patterns.map((pattern) => format(pattern, { category }));
  assert.deepStrictEqual(abbreviations, [
    "mainPackage.sub.sample.Bar",
    "m.s.s.Bar",
    "m.s.s.Bar",
    "m.s.sample.Bar",
    "m.sub.sample.Bar",
    "mainPackage.sub.sample.Bar",
  ]);
});

Deno.test("compilePattern() with %logger{0}", () => {
  // logback: %logger{0} prints only the last segment.
  assert.strictEqual(format("%logger{0}", { category: ["mainPackage", "sub", "sample", "Bar"] }), "Bar");
});

Deno.test("compilePattern() with a one-segment logger", () => {
  assert.strictEqual(format("%logger{3}", { category: ["singularity"] }), "singularity");
  assert.strictEqual(format("[%logger]", { category: [] }), "[]");
});

Deno.test("compilePattern() with %X{taskId}", () => {
  assert.strictEqual(format("[%X{taskId}]", { properties: { taskId: TASK_ID } }), `[${TASK_ID}]`);
  assert.strictEqual(format("[%X{taskId}]"), "[]");
  assert.strictEqual(format("[%X{count}]", { properties: { count: 3 } }), "[3]");
  assert.strictEqual(format("[%mdc{taskId}]", { properties: { taskId: "t1" } }), "[t1]");
});

Deno.test("compilePattern() with %thread", () => {
  assert.strictEqual(format("%thread", { properties: { taskId: TASK_ID } }), TASK_ID);
  assert.strictEqual(format("%thread"), "main");
  assert.strictEqual(format("%t", { properties: { taskId: "t1" } }), "t1");
});

Deno.test("compilePattern() with %d and a date format", () => {
  assert.strictEqual(format("%d{yyyy-MM-dd HH:mm:ss.SSS}"), "2024-01-02 03:04:05.006");
  assert.strictEqual(format("%d{HH:mm}"), "03:04");
  assert.strictEqual(format("%d{dd/MM/yyyy}"), "02/01/2024");
  assert.strictEqual(format("%date{ss.SSS}"), "05.006");
});

Deno.test("compilePattern() with %d in ISO8601", () => {
  assert.strictEqual(format("%d"), "2024-01-02 03:04:05,006");
  assert.strictEqual(format("%date"), "2024-01-02 03:04:05,006");
  assert.strictEqual(format("%d{ISO8601}"), "2024-01-02 03:04:05,006");
});

Deno.test("compilePattern() with %% and %n", () => {
  assert.strictEqual(format("100%% %msg%n"), "100% subscribed\n");
  assert.strictEqual(format("%%msg"), "%msg");
  assert.strictEqual(format("%n%n"), "\n\n");
});

Deno.test("compilePattern() with %contextName", () => {
  assert.strictEqual(compilePattern("%contextName/%cn", "uploader")(record()), "uploader/uploader");
});

Deno.test("compilePattern() with conversion aliases", () => {
  assert.strictEqual(
    format("%p|%le|%c|%lo|%m|%message|%t", { properties: { taskId: "t1" } }),
    "INFO|INFO|singularity.executor.driver|singularity.executor.driver|subscribed|subscribed|t1",
  );
});

Deno.test("compilePattern() with interpolated values in the message", () => {
  assert.strictEqual(
    format("%msg", {
      message: ["Uploaded ", 3, " files to ", "bucket-a", " in ", { ms: 12, nested: { a: [1, "x"] } }, ""],
      rawMessage: "Uploaded {count} files to {bucket} in {timing}",
    }),
    'Uploaded 3 files to bucket-a in { ms: 12, nested: { a: [ 1, "x" ] } }',
  );
  assert.strictEqual(
    format("%msg", {
      message: ["failed: ", new Error("connection refused"), "; retry ", null, " after ", undefined, ""],
    }),
    "failed: connection refused; retry null after undefined",
  );
});

Deno.test("compilePattern() with literal text only", () => {
  assert.strictEqual(format("plain text {braces}"), "plain text {braces}");
  assert.strictEqual(format(""), "");
});

Deno.test("compilePattern() with an unknown conversion", () => {
  assert.throws(() => compilePattern("%-5level %foo{1} %msg", "executor"), (error: unknown) => {
    assert.ok(error instanceof PatternError);
    assert.strictEqual(error.name, "PatternError");
    assert.strictEqual(error.message, 'logging pattern "%-5level %foo{1} %msg": unknown conversion "%foo"');
    return true;
  });
});

Deno.test("compilePattern() with an incomplete conversion", () => {
  assert.throws(() => compilePattern("%msg %", "executor"), {
    name: "PatternError",
    message: 'logging pattern "%msg %": incomplete conversion at offset 5',
  });
  assert.throws(() => compilePattern("%-5 level", "executor"), {
    name: "PatternError",
    message: 'logging pattern "%-5 level": incomplete conversion at offset 0',
  });
});

Deno.test("compilePattern() with a non-numeric logger length", () => {
  assert.throws(() => compilePattern("%logger{x}", "executor"), {
    name: "PatternError",
    message: 'logging pattern "%logger{x}": %logger{x} needs a number',
  });
});
