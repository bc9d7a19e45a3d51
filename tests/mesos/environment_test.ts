import assert from "node:assert/strict";
import { ExecutorEnvironmentError, parseMesosDuration, readExecutorEnvironment } from "../../lib/mesos/environment.ts";

const BASE = {
  MESOS_FRAMEWORK_ID: "fw-1",
  MESOS_EXECUTOR_ID: "ex-1",
  MESOS_AGENT_ENDPOINT: "10.0.0.5:5051",
  MESOS_DIRECTORY: "/var/lib/mesos/slaves/a/frameworks/f/executors/e/runs/r",
  MESOS_CHECKPOINT: "0",
  MESOS_EXECUTOR_SHUTDOWN_GRACE_PERIOD: "5secs",
};
const reader = (vars: Record<string, string>) => ({ get: (name: string) => vars[name] });

Deno.test("parseMesosDuration() reads stout durations", () => {
  assert.equal(parseMesosDuration("5secs"), 5000);
  assert.equal(parseMesosDuration("1500ms"), 1500);
  assert.equal(parseMesosDuration("15mins"), 900_000);
  assert.equal(parseMesosDuration("0.5secs"), 500);
  assert.equal(parseMesosDuration("2hrs"), 7_200_000);
  assert.equal(parseMesosDuration("5 secs"), undefined);
  assert.equal(parseMesosDuration("5s"), undefined);
});

Deno.test("readExecutorEnvironment() without checkpointing", () => {
  assert.deepEqual(readExecutorEnvironment(reader(BASE)), {
    frameworkId: "fw-1",
    executorId: "ex-1",
    agentEndpoint: "10.0.0.5:5051",
    directory: BASE.MESOS_DIRECTORY,
    sandbox: BASE.MESOS_DIRECTORY,
    checkpoint: false,
    shutdownGracePeriodMs: 5000,
    authenticationToken: undefined,
  });
});

Deno.test("readExecutorEnvironment() with checkpointing reads the recovery timeout and backoff", () => {
  const env = readExecutorEnvironment(reader({
    ...BASE,
    MESOS_CHECKPOINT: "1",
    MESOS_RECOVERY_TIMEOUT: "15mins",
    MESOS_SUBSCRIPTION_BACKOFF_MAX: "2secs",
    MESOS_SANDBOX: "/mnt/mesos/sandbox",
    MESOS_EXECUTOR_AUTHENTICATION_TOKEN: "jwt",
  }));
  assert.equal(env.checkpoint, true);
  assert.equal(env.recoveryTimeoutMs, 900_000);
  assert.equal(env.subscriptionBackoffMaxMs, 2000);
  assert.equal(env.sandbox, "/mnt/mesos/sandbox");
  assert.equal(env.authenticationToken, "jwt");
});

Deno.test("readExecutorEnvironment() removes the authentication token from the environment tasks inherit", () => {
  const vars = new Map(Object.entries({ ...BASE, MESOS_EXECUTOR_AUTHENTICATION_TOKEN: "jwt" }));
  const env = readExecutorEnvironment({ get: (name) => vars.get(name), delete: (name) => vars.delete(name) });
  assert.equal(env.authenticationToken, "jwt");
  assert.equal(vars.has("MESOS_EXECUTOR_AUTHENTICATION_TOKEN"), false);
  assert.equal(vars.get("MESOS_FRAMEWORK_ID"), "fw-1");
});

Deno.test("readExecutorEnvironment() names a missing or malformed variable", () => {
  const { MESOS_FRAMEWORK_ID: _, ...withoutFramework } = BASE;
  assert.throws(
    () => readExecutorEnvironment(reader(withoutFramework)),
    new ExecutorEnvironmentError(
      "MESOS_FRAMEWORK_ID is not set: the executor must be started by a Mesos agent (it sets MESOS_FRAMEWORK_ID, " +
        "MESOS_EXECUTOR_ID, MESOS_AGENT_ENDPOINT, MESOS_DIRECTORY, ...)",
    ),
  );
  assert.throws(
    () => readExecutorEnvironment(reader({ ...BASE, MESOS_EXECUTOR_SHUTDOWN_GRACE_PERIOD: "five" })),
    new ExecutorEnvironmentError(
      'MESOS_EXECUTOR_SHUTDOWN_GRACE_PERIOD="five" is not a Mesos duration (expected e.g. 5secs, 500ms)',
    ),
  );
  assert.throws(
    () => readExecutorEnvironment(reader({ ...BASE, MESOS_CHECKPOINT: "1", MESOS_SUBSCRIPTION_BACKOFF_MAX: "2secs" })),
    /MESOS_RECOVERY_TIMEOUT is not set/,
  );
  assert.throws(
    () => readExecutorEnvironment(reader({ ...BASE, MESOS_AGENT_ENDPOINT: "http://10.0.0.5:5051" })),
    new ExecutorEnvironmentError('MESOS_AGENT_ENDPOINT="http://10.0.0.5:5051" is not host:port'),
  );
});
