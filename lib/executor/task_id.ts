/**
 * The Singularity task id: the string form
 * `<requestId>-<deployId>-<startedAt>-<instanceNo>-<sanitizedHost>-<sanitizedRackId>`
 * (split from the right, since a request id may contain `-`), the JSON object
 * form Singularity uses in framework messages and API responses, and the
 * sandbox name derived from it.
 *
 * @module
 */
import { describe } from "../artifacts/artifact.ts";

/** A parsed task id. */
export interface TaskId {
  /** The string form. */
  id: string;
  /** May contain `-`. */
  requestId: string;
  deployId: string;
  /** Milliseconds since the epoch. */
  startedAt: number;
  instanceNo: number;
  /** The agent's host name with `-` replaced by `_`. */
  sanitizedHost: string;
  /** The agent's rack id with `-` replaced by `_`. */
  sanitizedRackId: string;
}

/** A task id (string or object) does not have the expected shape; names the id and the part. */
export class TaskIdError extends Error {
  constructor(message: string) {
    super(message);
    this.name = "TaskIdError";
  }
}

/** The parts after the request id, in order. */
const TAIL_PARTS = ["deployId", "startedAt", "instanceNo", "sanitizedHost", "sanitizedRackId"] as const;

/** Java's Integer.MAX_VALUE: instance numbers are Java ints. */
const MAX_INT = 2147483647;

/**
 * Parses the string form of a task id.
 *
 * @example
 * ```ts
 * parseTaskId("my-request-deploy1-1428000000000-1-host_1-rack_a").requestId; // "my-request"
 * ```
 */
export function parseTaskId(id: string): TaskId {
  const where = `task id ${JSON.stringify(id)}`;
  checkPathSafe(id, where);
  const splits = id.split("-");
  if (splits.length < 6) {
    throw new TaskIdError(
      `${where}: expected <requestId>-<deployId>-<startedAt>-<instanceNo>-<sanitizedHost>-<sanitizedRackId> ` +
        `(6 parts separated by "-"), got ${splits.length} part${splits.length === 1 ? "" : "s"}`,
    );
  }
  const tail = splits.slice(-5);
  const requestId = splits.slice(0, -5).join("-");
  if (requestId === "") throw new TaskIdError(`${where}: the requestId part is empty`);
  TAIL_PARTS.forEach((name, index) => {
    if (tail[index] === "") throw new TaskIdError(`${where}: the ${name} part is empty`);
  });
  const [deployId, startedAtText, instanceNoText, sanitizedHost, sanitizedRackId] = tail;
  const startedAt = digits(startedAtText, Number.MAX_SAFE_INTEGER);
  if (startedAt === undefined) {
    throw new TaskIdError(
      `${where}: startedAt ${JSON.stringify(startedAtText)} is not a whole number of milliseconds`,
    );
  }
  const instanceNo = digits(instanceNoText, MAX_INT);
  if (instanceNo === undefined) {
    throw new TaskIdError(`${where}: instanceNo ${JSON.stringify(instanceNoText)} is not a whole number`);
  }
  return { id, requestId, deployId, startedAt, instanceNo, sanitizedHost, sanitizedRackId };
}

/**
 * Parses the JSON object form `{id, requestId, deployId, startedAt, instanceNo, host, sanitizedHost,
 * sanitizedRackId, rackId}`. As Singularity reads it: `nextRunAt` stands in for a missing `startedAt`,
 * `host` and `rackId` for missing `sanitizedHost` and `sanitizedRackId` (sanitized here, so the string
 * form parses back), and `id` is recomputed from the parts. An object with only `id` is parsed from it.
 *
 * @example
 * ```ts
 * parseTaskIdObject({ requestId: "r", deployId: "d", startedAt: 1, instanceNo: 2, host: "h-1", rackId: "a" }).id;
 * // "r-d-1-2-h_1-a"
 * ```
 */
export function parseTaskIdObject(value: unknown, where = "taskId"): TaskId {
  if (value === null || typeof value !== "object" || Array.isArray(value)) {
    throw new TaskIdError(`${where}: expected an object, got ${describe(value)}`);
  }
  const object = value as Record<string, unknown>;
  if (absent(object.requestId) && typeof object.id === "string") {
    try {
      return parseTaskId(object.id);
    } catch (error) {
      throw new TaskIdError(`${where}.id: ${(error as Error).message}`);
    }
  }
  const requestId = requiredString(object, "requestId", where);
  const deployId = requiredString(object, "deployId", where, true);
  const timeField = absent(object.startedAt) && !absent(object.nextRunAt) ? "nextRunAt" : "startedAt";
  const startedAt = wholeNumber(object, timeField, where, Number.MAX_SAFE_INTEGER);
  const instanceNo = wholeNumber(object, "instanceNo", where, MAX_INT);
  const sanitizedHost = sanitizedPart(object, "sanitizedHost", "host", where);
  const sanitizedRackId = sanitizedPart(object, "sanitizedRackId", "rackId", where);
  const id = `${requestId}-${deployId}-${startedAt}-${instanceNo}-${sanitizedHost}-${sanitizedRackId}`;
  checkPathSafe(id, `${where}: task id ${JSON.stringify(id)}`);
  return { id, requestId, deployId, startedAt, instanceNo, sanitizedHost, sanitizedRackId };
}

/**
 * The name of the task's sandbox directory (and of its task definition file): the id with `:` replaced by `_`.
 *
 * @example
 * ```ts
 * sandboxName("web:api-d1-1428000000000-1-host-rack"); // "web_api-d1-1428000000000-1-host-rack"
 * ```
 */
export function sandboxName(taskId: string | TaskId): string {
  const id = typeof taskId === "string" ? taskId : taskId.id;
  checkPathSafe(id, `task id ${JSON.stringify(id)}`);
  return id.replaceAll(":", "_");
}

/**
 * A host name or rack id as it appears in task ids: `-` replaced by `_`.
 *
 * @example
 * ```ts
 * sanitizeIdPart("agent-1.example.com"); // "agent_1.example.com"
 * ```
 */
export function sanitizeIdPart(text: string): string {
  return text.replaceAll("-", "_");
}

/** Refuses ids that would not be one safe path component (they name a directory and a file). */
function checkPathSafe(id: string, where: string): void {
  if (id === "" || id === "." || id === ".." || id.includes("/") || id.includes("\0")) {
    throw new TaskIdError(`${where}: not usable as a file name (empty, "." or "..", or contains "/" or NUL)`);
  }
}

/** The value of a run of decimal digits up to `max`, else undefined. */
function digits(text: string, max: number): number | undefined {
  if (!/^[0-9]+$/.test(text)) return undefined;
  const value = Number(text);
  return value <= max ? value : undefined;
}

/** Null and undefined both mean "not given", as Jackson reads them. */
function absent(value: unknown): boolean {
  return value === undefined || value === null;
}

/** A non-empty string field; with `noDash`, one that cannot break the string form apart. */
function requiredString(object: Record<string, unknown>, field: string, where: string, noDash = false): string {
  const value = object[field];
  if (typeof value !== "string" || value === "") {
    throw new TaskIdError(`${where}.${field}: expected a non-empty string, got ${describe(value)}`);
  }
  if (noDash && value.includes("-")) {
    throw new TaskIdError(`${where}.${field}: ${JSON.stringify(value)} must not contain "-"`);
  }
  return value;
}

/** A whole number field from 0 to `max`. */
function wholeNumber(object: Record<string, unknown>, field: string, where: string, max: number): number {
  const value = object[field];
  if (typeof value !== "number" || !Number.isInteger(value) || value < 0 || value > max) {
    throw new TaskIdError(`${where}.${field}: expected a whole number of at least 0, got ${describe(value)}`);
  }
  return value;
}

/** `field` as given (it must not contain `-`), else `fallback` sanitized. */
function sanitizedPart(object: Record<string, unknown>, field: string, fallback: string, where: string): string {
  if (absent(object[field]) && !absent(object[fallback])) {
    return sanitizeIdPart(requiredString(object, fallback, where));
  }
  return requiredString(object, field, where, true);
}
