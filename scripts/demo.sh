#!/usr/bin/env bash
# README command 1: sets everything up on a fresh Debian machine and runs the demo.
# Today the demo installs the four programs into a temporary root with a configuration pointing
# into it and at a local Ceph radosgw, shows their configuration, shows that a second install changes nothing, and
# shows a program refusing a directory its permission set does not grant. The task pipeline demo (a Singularity
# task through the executor, its log landing in S3) arrives with issue #9.
set -euo pipefail
cd "$(dirname "$0")/.."
export DENO_NO_UPDATE_CHECK=1 NO_COLOR=1
D=$PWD/tools/node_modules/.bin/deno
step() { printf '\n== %s\n' "$*"; }

step "1. Set-up: Debian packages, the Deno toolchain from npm, npm dependencies"
bash scripts/setup.sh

step "2. S3: a one-node Ceph radosgw on 127.0.0.1:7480"
started_s3=0
if ! bash scripts/s3_test_server.sh status >/dev/null 2>&1; then bash scripts/s3_test_server.sh start; started_s3=1; fi
root=$(mktemp -d /tmp/singularity-demo.XXXXXX)
cleanup() {
  if [ "$started_s3" = 1 ]; then bash scripts/s3_test_server.sh stop >/dev/null 2>&1 || true; fi
  rm -rf "$root"
}
trap cleanup EXIT

step "3. Configuration in $root/etc (everything points inside $root)"
mkdir -p "$root/etc"
cat > "$root/etc/singularity.base.properties" <<CONF
root.log.directory=$root/var/log/singularity
s3uploader.metadata.directory=$root/var/lib/singularity/s3uploader
mesos.work.directory=$root/var/lib/mesos
CONF
cat > "$root/etc/singularity.s3base.properties" <<CONF
artifact.cache.directory=$root/var/cache/singularity/artifacts
s3.endpoint=http://127.0.0.1:7480
s3.access.key=test
s3.secret.key=test
CONF
cat > "$root/etc/singularity.executor.properties" <<CONF
executor.global.task.definition.directory=$root/var/lib/singularity/tasks
executor.logrotate.config.folder=$root/etc/logrotate.d
executor.default.user=$(id -un)
executor.s3.uploader.bucket=singularity-demo-logs
CONF
cat > "$root/etc/singularity.executor.cleanup.properties" <<CONF
executor.cleanup.results.directory=$root/var/lib/singularity/cleanup
singularity.hosts=127.0.0.1:7099
CONF
grep -H . "$root"/etc/singularity.*.properties

step "4. Install into $root (deno task install -- --root $root)"
"$D" task install -- --root "$root"

step "5. A second install changes nothing"
"$D" task install -- --root "$root" | grep -v -E '^(unchanged|kept) ' || echo "(every file unchanged or kept)"

step "6. The uploader's effective configuration (secrets masked), through its installed launcher"
"$root/usr/local/bin/singularity-s3-uploader" --print-config

step "7. Each program's permission flags, as baked into its launcher"
for p in singularity-executor singularity-executor-cleanup singularity-s3-uploader singularity-s3-downloader; do
  echo "-- $p"; grep -E '^\s+"?--(allow|ignore)' "$root/usr/local/bin/$p" | sed 's/ \\$//'
done

step "8. A directory added to the configuration after install is refused before any work"
mkdir -p "$root/elsewhere"
echo "s3uploader.metadata.directory=$root/elsewhere" >> "$root/etc/singularity.s3uploader.properties"
"$root/usr/local/bin/singularity-s3-uploader" && echo "unexpected: it started" || echo "(exit status $?, as expected)"

step "Done. The executor and the downloader work today (README); the uploader, the cleanup job and the full task pipeline demo land with issues #6 to #9."
