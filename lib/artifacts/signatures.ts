/**
 * Artifact signature verification: each S3 artifact signature names, by
 * `artifactFilename`, the artifact it signs; for every such pair a configured
 * command (gpg by default) is run on the two CACHE files, with its output
 * appended to a file in the sandbox. A non-zero exit fails the task (or is
 * logged, per configuration). Artifacts without a signature and signatures
 * without an artifact are logged or fail the task, each per its own switch;
 * with no signatures at all there is nothing to check.
 *
 * @module
 */
import { dirname, join } from "node:path";
import { describeArtifact, type RemoteArtifact, type S3ArtifactSignature } from "./artifact.ts";
import { ArtifactVerificationError } from "./cache.ts";
import type { Config, ExecutorKeys } from "../config/mod.ts";
import { pathExists } from "../path_exists.ts";

/** A signature check failed, or an artifact or signature has no partner and the configuration says to fail. */
export class ArtifactSignatureError extends ArtifactVerificationError {
  constructor(message: string) {
    super(message);
    this.name = "ArtifactSignatureError";
  }
}

/** A remote artifact and where its verified bytes are in the cache. */
export interface CachedArtifact {
  artifact: RemoteArtifact;
  /** Its cache path (`<artifact.cache.directory>/<cacheName>`). */
  path: string;
}

/** A signature and where its bytes are in the cache. */
export interface CachedSignature {
  signature: S3ArtifactSignature;
  /** Its cache path. */
  path: string;
}

/** What the signature switches of the executor configuration say (see {@linkcode signatureSettings}). */
export interface SignatureSettings {
  /** argv of the verifier; `{artifactPath}` and `{artifactSignaturePath}` are replaced in every element. */
  command: string[];
  /** A non-zero exit of the verifier fails the task (else it is logged). */
  failOnInvalid: boolean;
  /** An artifact no signature names fails the task (else it is logged); only checked when there are signatures. */
  failOnArtifactWithoutSignature: boolean;
  /** A signature whose artifact is not among the artifacts fails the task (else it is logged). */
  failOnSignatureWithoutArtifact: boolean;
  /** File in the sandbox the verifier's stdout and stderr are appended to. */
  outputFile: string;
}

/** Options of {@linkcode verifyArtifactSignatures}. */
export interface VerifySignaturesOptions extends SignatureSettings {
  /** The artifacts, with their cache paths. */
  artifacts: readonly CachedArtifact[];
  /** The signatures, with their cache paths. */
  signatures: readonly CachedSignature[];
  /** The task sandbox: the verifier's working directory, and where `outputFile` is. */
  sandbox: string;
  /** Aborting kills a running verifier and stops the checks. */
  signal?: AbortSignal;
  log: (line: string) => void;
  /** Default: `log` with a `WARN ` prefix. */
  warn?: (line: string) => void;
}

/** What {@linkcode verifyArtifactSignatures} found (everything that did not throw). */
export interface SignatureReport {
  /** Artifact file names whose signature checked out. */
  verified: string[];
  /** Artifact file names whose check failed, with the verifier's exit code (-1: it could not be run). */
  invalid: { filename: string; code: number }[];
  /** Artifact file names no signature names. */
  artifactsWithoutSignature: string[];
  /** Signature file names whose artifact is not among the artifacts. */
  signaturesWithoutArtifact: string[];
  /** Artifact file names skipped because their cache file is missing. */
  missing: string[];
}

/** The placeholder replaced by the artifact's cache path. */
export const ARTIFACT_PATH_PLACEHOLDER = "{artifactPath}";
/** The placeholder replaced by the signature's cache path. */
export const SIGNATURE_PATH_PLACEHOLDER = "{artifactSignaturePath}";

/**
 * The signature settings from the executor configuration (keys in lib/config/keys_executor.ts).
 *
 * @example
 * ```ts
 * await verifyArtifactSignatures({ ...signatureSettings(config), artifacts, signatures, sandbox, log });
 * ```
 */
export function signatureSettings(config: Config<ExecutorKeys>): SignatureSettings {
  return {
    command: config.get("executor.artifact.signature.verification.command"),
    failOnInvalid: config.get("executor.artifact.signature.fail.on.invalid"),
    failOnArtifactWithoutSignature: config.get("executor.artifact.signature.fail.on.artifact.without.signature"),
    failOnSignatureWithoutArtifact: config.get("executor.artifact.signature.fail.on.signature.without.artifact"),
    outputFile: config.get("executor.artifact.signature.output.file"),
  };
}

/**
 * Checks the signatures of `options.artifacts`: pairs them with
 * `options.signatures` by file name and runs `options.command` on each pair's
 * cache files in the sandbox. Throws {@linkcode ArtifactSignatureError} where
 * the settings say to fail; logs the rest.
 *
 * @example
 * ```ts
 * await verifyArtifactSignatures({
 *   ...signatureSettings(config),
 *   artifacts: [{ artifact, path: "/var/cache/singularity/artifacts/app.tar.gz" }],
 *   signatures: [{ signature, path: "/var/cache/singularity/artifacts/app.tar.gz.asc" }],
 *   sandbox,
 *   log: console.log,
 * });
 * ```
 */
export async function verifyArtifactSignatures(options: VerifySignaturesOptions): Promise<SignatureReport> {
  const { log, signal } = options;
  const warn = options.warn ?? ((line: string) => log(`WARN ${line}`));
  const report: SignatureReport = {
    verified: [],
    invalid: [],
    artifactsWithoutSignature: [],
    signaturesWithoutArtifact: [],
    missing: [],
  };
  if (options.signatures.length === 0) {
    log("no artifact signatures given; skipping signature verification");
    return report;
  }
  if (options.command.length === 0) {
    throw new ArtifactSignatureError("the signature verification command is empty (expected a program and arguments)");
  }
  const artifacts = firstByKey(options.artifacts, ({ artifact }) => artifact.filename, (first, duplicate) =>
    warn(
      `duplicate artifact file name ${first.artifact.filename}: ${describeArtifact(first.artifact)} ` +
        `is checked, ${describeArtifact(duplicate.artifact)} is not`,
    ));
  const signatures = firstByKey(
    options.signatures,
    ({ signature }) => signature.artifactFilename,
    (first, duplicate) =>
      warn(
        `duplicate signatures for artifact ${first.signature.artifactFilename}: ${first.signature.filename} ` +
          `is used, ${duplicate.signature.filename} is not`,
      ),
  );

  const unmatched = [...signatures.values()].map(({ signature }) => signature)
    .filter((signature) => !artifacts.has(signature.artifactFilename));
  if (unmatched.length > 0) {
    report.signaturesWithoutArtifact.push(...unmatched.map((signature) => signature.filename));
    const names = unmatched.map((signature) => `${signature.filename} (for ${signature.artifactFilename})`);
    const message = `no matching artifact for signature(s) ${names.join(", ")}`;
    if (options.failOnSignatureWithoutArtifact) throw new ArtifactSignatureError(message);
    warn(message);
  }
  for (const filename of artifacts.keys()) {
    if (!signatures.has(filename)) report.artifactsWithoutSignature.push(filename);
  }
  if (report.artifactsWithoutSignature.length > 0) {
    const message = `no signature for artifact(s) ${report.artifactsWithoutSignature.join(", ")}`;
    if (options.failOnArtifactWithoutSignature) throw new ArtifactSignatureError(message);
    warn(message);
  }

  const outputPath = join(options.sandbox, options.outputFile);
  for (const [filename, cachedSignature] of signatures) {
    const cachedArtifact = artifacts.get(filename);
    if (cachedArtifact === undefined) continue;
    signal?.throwIfAborted();
    if (!(await pathExists(cachedArtifact.path))) {
      warn(`artifact ${filename} not found at ${cachedArtifact.path}; its signature is not checked`);
      report.missing.push(filename);
      continue;
    }
    const argv = options.command.map((arg) =>
      arg.replaceAll(ARTIFACT_PATH_PLACEHOLDER, cachedArtifact.path)
        .replaceAll(SIGNATURE_PATH_PLACEHOLDER, cachedSignature.path)
    );
    const outcome = await runVerifier(argv, { cwd: options.sandbox, outputPath, signal });
    const what = `signature ${cachedSignature.signature.filename} of artifact ${filename}`;
    if (outcome.code === 0) {
      log(`${what}: valid`);
      report.verified.push(filename);
      continue;
    }
    report.invalid.push({ filename, code: outcome.code });
    const message = `${what}: invalid: ${outcome.failure}; see ${outputPath}`;
    if (options.failOnInvalid) throw new ArtifactSignatureError(message);
    warn(message);
  }
  return report;
}

/** Indexes `items` by `key`; on a repeated key the first item stays and `onDuplicate` is told. */
function firstByKey<T>(
  items: readonly T[],
  key: (item: T) => string,
  onDuplicate: (first: T, duplicate: T) => void,
): Map<string, T> {
  const map = new Map<string, T>();
  for (const item of items) {
    const first = map.get(key(item));
    if (first === undefined) map.set(key(item), item);
    else onDuplicate(first, item);
  }
  return map;
}

/**
 * Runs `argv` (no shell) in `cwd`, appending a header line, then its stdout
 * and stderr as they arrive, to `outputPath`. Code -1 means it could not start.
 */
async function runVerifier(
  argv: string[],
  options: { cwd: string; outputPath: string; signal?: AbortSignal },
): Promise<{ code: number; failure: string }> {
  await Deno.mkdir(dirname(options.outputPath), { recursive: true });
  using output = await Deno.open(options.outputPath, { append: true, create: true, mode: 0o644 });
  const encoder = new TextEncoder();
  await write(output, encoder.encode(`--- ${new Date().toISOString()} ${argv.map(quote).join(" ")}\n`));
  let child: Deno.ChildProcess;
  try {
    child = new Deno.Command(argv[0], {
      args: argv.slice(1),
      cwd: options.cwd,
      stdin: "null",
      stdout: "piped",
      stderr: "piped",
    }).spawn();
  } catch (error) {
    const reason = `cannot run ${argv[0]} (${(error as Error).message})`;
    await write(output, encoder.encode(`${reason}\n`));
    return { code: -1, failure: reason };
  }
  const kill = () => {
    try {
      child.kill("SIGKILL");
    } catch {
      // It has already exited.
    }
  };
  options.signal?.addEventListener("abort", kill, { once: true });
  // One write at a time, so chunks of the two streams never interleave mid-chunk.
  let queue = Promise.resolve();
  const pump = async (stream: ReadableStream<Uint8Array>) => {
    for await (const chunk of stream) queue = queue.then(() => write(output, chunk));
  };
  try {
    const [status] = await Promise.all([child.status, pump(child.stdout), pump(child.stderr)]);
    await queue;
    options.signal?.throwIfAborted();
    const failure = status.signal !== null
      ? `${argv[0]} was killed by ${status.signal}`
      : `${argv[0]} exited with code ${status.code}`;
    return { code: status.code, failure };
  } finally {
    options.signal?.removeEventListener("abort", kill);
  }
}

/** Writes all of `bytes`. */
async function write(file: Deno.FsFile, bytes: Uint8Array): Promise<void> {
  let written = 0;
  while (written < bytes.length) written += await file.write(bytes.subarray(written));
}

/** An argument as a reader of the output file would type it. */
function quote(arg: string): string {
  return /^[A-Za-z0-9_./{}=:,@%+-]+$/.test(arg) ? arg : `'${arg.replaceAll("'", `'\\''`)}'`;
}
