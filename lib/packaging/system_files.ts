/**
 * The system files the installer writes beside the programs: the cleanup
 * cron entry, systemd units for the two daemons, and a logrotate policy for
 * the programs' own log files.
 *
 * @module
 */
import { CLEANUP, DOWNLOADER, type Program, UPLOADER } from "../config/mod.ts";

/** Where the programs live once installed on an agent. */
export const INSTALLED_BIN_DIR = "/usr/local/bin";

/**
 * `/etc/cron.d/singularity-executor-cleanup`: hourly, as in the original install guide.
 *
 * @example
 * ```ts
 * cleanupCronEntry(); // "0 * * * * root /usr/local/bin/singularity-executor-cleanup > /dev/null 2>&1\n" (with a header)
 * ```
 */
export function cleanupCronEntry(binDir: string = INSTALLED_BIN_DIR): string {
  return [
    `# ${CLEANUP.binary}: finishes tasks whose executor died. Installed by scripts/install.ts.`,
    "# Its own log is in root.log.directory; each run writes a results file to executor.cleanup.results.directory.",
    `0 * * * * root ${binDir}/${CLEANUP.binary} > /dev/null 2>&1`,
    "",
  ].join("\n");
}

/** The systemd unit of a daemon (uploader or downloader), restarted on failure. */
export function systemdUnit(program: Program, binDir: string = INSTALLED_BIN_DIR): string {
  const after = program === DOWNLOADER
    ? "# Runs in its own cgroup, so the page cache of large downloads is not charged to tasks."
    : "# Deletes a local log only after S3 holds it; SIGTERM lets in-flight uploads finish or abandons them safely.";
  return [
    "[Unit]",
    `Description=${program.binary}: ${program.summary}`,
    "After=network-online.target",
    "Wants=network-online.target",
    "",
    "[Service]",
    after,
    "Type=simple",
    `ExecStart=${binDir}/${program.binary}`,
    "Restart=on-failure",
    "RestartSec=5",
    "KillSignal=SIGTERM",
    "TimeoutStopSec=120",
    "",
    "[Install]",
    "WantedBy=multi-user.target",
    "",
  ].join("\n");
}

/** The daemons that get a systemd unit. */
export const DAEMONS: readonly Program[] = [UPLOADER, DOWNLOADER];

/** logrotate policy for the programs' own logs (copytruncate: the programs append, never reopen). */
export function ownLogsLogrotate(logFiles: readonly string[]): string {
  return [
    "# Rotation of the Singularity agent helpers' own logs. Installed by scripts/install.ts.",
    ...[...new Set(logFiles)].map((file) => `"${file}"`),
    "{",
    "  daily",
    "  rotate 7",
    "  compress",
    "  delaycompress",
    "  missingok",
    "  notifempty",
    "  copytruncate",
    "}",
    "",
  ].join("\n");
}
