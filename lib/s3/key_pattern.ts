/**
 * S3 key patterns for uploaded logs (Singularity's `SingularityS3FormatHelper`).
 * Expansion happens in two stages: the executor expands the task's tokens when
 * it writes the upload metadata, the uploader expands the file's tokens when
 * it uploads a file.
 *
 * | stage | token | value |
 * |---|---|---|
 * | task | `%requestId` `%deployId` `%taskId` | parts of the task id |
 * | task | `%group` | the request group, else `default` |
 * | task | `%tag` | the logging tag, else empty |
 * | task | `%host` | the task id's sanitized host |
 * | file | `%filename` `%fileext` | the file name; its extension from the last `.` (the token stays when there is none) |
 * | file | `%guid` | a random UUID |
 * | file | `%host` | the uploader's host name (when the task stage left one) |
 * | file | `%Y` `%m` `%d` `%H` `%s` | the file's modification time (local time zone; `%s` in milliseconds) |
 * | file | `%index` | the file's position in this pass of its uploader, from 0 |
 *
 * Unlike the originals' chain of replace-all calls, each stage reads the
 * pattern once, longest token first, and never rescans what it inserted: a
 * `%d` cannot eat the start of an unexpanded `%deployId`, and a file named
 * `x%Y.log` keeps its name. Tokens of the other stage pass through untouched.
 *
 * @module
 */
/** Tokens the executor expands. */
const TASK_TOKENS = ["requestId", "group", "tag", "deployId", "host", "taskId"] as const;
/** Tokens the uploader expands. */
const FILE_TOKENS = ["filename", "fileext", "guid", "host", "index", "Y", "m", "d", "H", "s"] as const;

/** Every token either stage knows, longest first, so `%deployId` is never read as `%d`. */
const ALL_TOKENS = [...new Set([...TASK_TOKENS, ...FILE_TOKENS])].sort((a, b) => b.length - a.length);

/** What the task stage needs. */
export interface TaskKeyValues {
  /** The parsed task id (`parseTaskId` in lib/executor). */
  taskId: { id: string; requestId: string; deployId: string; sanitizedHost: string };
  /** `requestGroup` of the executor data. */
  requestGroup?: string;
  /** `loggingTag` of the executor data. */
  loggingTag?: string;
}

/** What the file stage needs. */
export interface FileKeyValues {
  /** The name of the file as uploaded (last path component). */
  fileName: string;
  /** The file's modification time. */
  modified: Date;
  /** Position of the file in this pass of its uploader, from 0. */
  index: number;
  /** The uploader's host name. */
  host: string;
  /** Source of `%guid`; defaults to `crypto.randomUUID`. */
  guid?: () => string;
}

/**
 * Expands the task tokens of `pattern` (the executor's stage).
 *
 * @example
 * ```ts
 * expandTaskTokens("%requestId/%Y/%taskId-%filename", { taskId: parseTaskId("web-d1-1-0-host_a-rack1") });
 * // "web/%Y/web-d1-1-0-host_a-rack1-%filename"
 * ```
 */
export function expandTaskTokens(pattern: string, values: TaskKeyValues): string {
  const { taskId } = values;
  const table: Record<(typeof TASK_TOKENS)[number], string> = {
    requestId: taskId.requestId,
    group: values.requestGroup ?? "default",
    tag: values.loggingTag ?? "",
    deployId: taskId.deployId,
    host: taskId.sanitizedHost,
    taskId: taskId.id,
  };
  return expand(pattern, (token) => (token in table ? table[token as keyof typeof table] : undefined));
}

/**
 * Expands the file tokens of a key format (the uploader's stage).
 *
 * @example
 * ```ts
 * expandFileTokens("web/%Y/%m/t_%index-%s-%filename", {
 *   fileName: "service.log-1.gz", modified: new Date(2026, 10, 28), index: 0, host: "agent1",
 * });
 * // "web/2026/11/t_0-1795820400000-service.log-1.gz" (milliseconds depend on the time zone)
 * ```
 */
export function expandFileTokens(keyFormat: string, values: FileKeyValues): string {
  const time = values.modified;
  const two = (n: number) => String(n).padStart(2, "0");
  const dot = values.fileName.lastIndexOf(".");
  return expand(keyFormat, (token) => {
    switch (token) {
      case "filename":
        return values.fileName;
      case "fileext":
        return dot === -1 ? undefined : values.fileName.slice(dot);
      case "guid":
        return (values.guid ?? (() => crypto.randomUUID()))();
      case "host":
        return values.host;
      case "index":
        return String(values.index);
      case "Y":
        return String(time.getFullYear()).padStart(4, "0");
      case "m":
        return two(time.getMonth() + 1);
      case "d":
        return two(time.getDate());
      case "H":
        return two(time.getHours());
      case "s":
        return String(time.getTime());
      default:
        return undefined;
    }
  });
}

/** One left-to-right pass: each known token is replaced by `valueOf(token)`, or kept when that is undefined. */
function expand(pattern: string, valueOf: (token: string) => string | undefined): string {
  let out = "";
  let at = 0;
  while (at < pattern.length) {
    const percent = pattern.indexOf("%", at);
    if (percent === -1) break;
    out += pattern.slice(at, percent);
    const token = ALL_TOKENS.find((name) => pattern.startsWith(name, percent + 1));
    if (token === undefined) {
      out += "%";
      at = percent + 1;
      continue;
    }
    out += valueOf(token) ?? `%${token}`;
    at = percent + 1 + token.length;
  }
  return out + pattern.slice(at);
}
