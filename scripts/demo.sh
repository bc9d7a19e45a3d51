#!/usr/bin/env bash
# README command 1: sets everything up on a fresh Debian machine and runs the demo: one agent installed into a
# temporary root, a Singularity task (embedded and S3 .tar.gz artifacts, a command that logs) run through the
# installed executor under the fake Mesos agent, its log landing in a local Ceph radosgw, the cleanup job run once.
set -euo pipefail
cd "$(dirname "$0")/.."
export DENO_NO_UPDATE_CHECK=1 NO_COLOR=1
D=$PWD/tools/node_modules/.bin/deno

printf '== Set-up: Debian packages, the Deno toolchain from npm, npm dependencies\n'
bash scripts/setup.sh

printf '\n== S3: a one-node Ceph radosgw on 127.0.0.1:7480\n'
started_s3=0
if ! bash scripts/s3_test_server.sh status >/dev/null 2>&1; then bash scripts/s3_test_server.sh start; started_s3=1; fi
stop_s3() { if [ "$started_s3" = 1 ]; then bash scripts/s3_test_server.sh stop >/dev/null 2>&1 || true; fi; }
trap stop_s3 EXIT

"$D" run -A scripts/demo_pipeline.ts
