import assert from "node:assert/strict";
import { join } from "node:path";
import { cleanupResultsJson, emptyResults, writeCleanupResults } from "../../lib/cleanup/results_file.ts";

/** A temporary results directory, removed when disposed. */
async function resultsDir(): Promise<{ path: string } & AsyncDisposable> {
  const path = await Deno.makeTempDir({ prefix: "cleanup-results-" });
  return { path, [Symbol.asyncDispose]: () => Deno.remove(path, { recursive: true }) };
}

/** The names in `directory`, sorted. */
async function names(directory: string): Promise<string[]> {
  const found: string[] = [];
  for await (const entry of Deno.readDir(directory)) found.push(entry.name);
  return found.sort();
}

Deno.test("emptyResults() has every counter at 0 and no error message", () => {
  assert.deepEqual(emptyResults(), {
    totalTaskFiles: 0,
    mesosRunningTasks: 0,
    waitingTasks: 0,
    runningTasksIgnored: 0,
    successfullyCleanedTasks: 0,
    ioErrorTasks: 0,
    errorTasks: 0,
    invalidTasks: 0,
  });
});

Deno.test("writeCleanupResults() writes <millis><suffix> with the counters in the originals' order", async () => {
  await using dir = await resultsDir();
  const results = {
    ...emptyResults(),
    totalTaskFiles: 7,
    mesosRunningTasks: 3,
    waitingTasks: 1,
    runningTasksIgnored: 2,
    successfullyCleanedTasks: 2,
    ioErrorTasks: 1,
    errorTasks: 1,
    invalidTasks: 4,
  };
  const path = await writeCleanupResults(results, {
    directory: dir.path,
    suffix: ".cleanup.json",
    nowMs: 1700000000123,
  });
  assert.equal(path, join(dir.path, "1700000000123.cleanup.json"));
  assert.equal(
    await Deno.readTextFile(path),
    '{"totalTaskFiles":7,"mesosRunningTasks":3,"waitingTasks":1,"runningTasksIgnored":2,' +
      '"successfullyCleanedTasks":2,"ioErrorTasks":1,"errorTasks":1,"invalidTasks":4}\n',
  );
  assert.equal((await Deno.stat(path)).mode! & 0o777, 0o644);
  assert.deepEqual(await names(dir.path), ["1700000000123.cleanup.json"]);
});

Deno.test("writeCleanupResults() of an aborted run carries the error message", async () => {
  await using dir = await resultsDir();
  const results = {
    ...emptyResults(),
    errorMessage: "Running in safe mode and found 0 running tasks - aborting cleanup",
  };
  const path = await writeCleanupResults(results, { directory: dir.path, suffix: ".json", nowMs: 5 });
  assert.equal(path, join(dir.path, "5.json"));
  assert.deepEqual(JSON.parse(await Deno.readTextFile(path)), results);
  assert.deepEqual(await names(dir.path), ["5.json"]);
});

Deno.test("writeCleanupResults() defaults to the current time", async () => {
  await using dir = await resultsDir();
  const before = Date.now();
  const path = await writeCleanupResults(emptyResults(), { directory: dir.path, suffix: ".cleanup.json" });
  const after = Date.now();
  const millis = Number((await names(dir.path))[0].replace(".cleanup.json", ""));
  assert.ok(millis >= before && millis <= after, `${millis} not in [${before}, ${after}]`);
  assert.equal(path, join(dir.path, `${millis}.cleanup.json`));
});

Deno.test("writeCleanupResults() into a missing directory names the file and leaves nothing behind", async () => {
  await using dir = await resultsDir();
  const missing = join(dir.path, "gone");
  await assert.rejects(
    writeCleanupResults(emptyResults(), { directory: missing, suffix: ".cleanup.json", nowMs: 42 }),
    (error: Error) => error.message.startsWith(`results file ${missing}/42.cleanup.json: cannot be written (`),
  );
  assert.deepEqual(await names(dir.path), []);
});

Deno.test("writeCleanupResults() replaces a file of the same millisecond whole", async () => {
  await using dir = await resultsDir();
  const options = { directory: dir.path, suffix: ".cleanup.json", nowMs: 9 };
  await writeCleanupResults({ ...emptyResults(), errorMessage: "x".repeat(10_000) }, options);
  await writeCleanupResults({ ...emptyResults(), totalTaskFiles: 1 }, options);
  assert.equal(
    await Deno.readTextFile(join(dir.path, "9.cleanup.json")),
    cleanupResultsJson({ ...emptyResults(), totalTaskFiles: 1 }) + "\n",
  );
  assert.deepEqual(await names(dir.path), ["9.cleanup.json"]);
});

Deno.test("writeCleanupResults() refuses a time that is not whole milliseconds", async () => {
  await using dir = await resultsDir();
  await assert.rejects(
    writeCleanupResults(emptyResults(), { directory: dir.path, suffix: ".cleanup.json", nowMs: 1.5 }),
    new RangeError("results file time 1.5: expected whole milliseconds since the epoch"),
  );
});

Deno.test("a reader never sees half a results file while it is rewritten", async () => {
  await using dir = await resultsDir();
  const options = { directory: dir.path, suffix: ".cleanup.json", nowMs: 11 };
  const path = join(dir.path, "11.cleanup.json");
  await writeCleanupResults(emptyResults(), options);
  let writing = true;
  const writer = (async () => {
    for (let round = 0; round < 20; round++) {
      // Large enough that a plain write would be seen part-way.
      await writeCleanupResults({ ...emptyResults(), errorMessage: String(round).repeat(200_000) }, options);
      await writeCleanupResults({ ...emptyResults(), totalTaskFiles: round }, options);
    }
    writing = false;
  })();
  let reads = 0;
  while (writing) {
    const text = await Deno.readTextFile(path);
    assert.doesNotThrow(() => JSON.parse(text), `read ${reads}: ${text.length} characters`);
    reads++;
  }
  await writer;
  assert.ok(reads > 0);
  assert.deepEqual(await names(dir.path), ["11.cleanup.json"]);
});
