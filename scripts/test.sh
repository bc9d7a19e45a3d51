#!/usr/bin/env bash
# README command 2: runs every check and test on a fresh Debian machine.
# Installs what is missing, starts the S3 server (Ceph radosgw on 127.0.0.1:7480) if it is not running,
# runs fmt/lint/type checks and the whole test suite, and stops the S3 server it started.
# The last line is "N passed, N failed".
set -euo pipefail
cd "$(dirname "$0")/.."
export DENO_NO_UPDATE_CHECK=1 NO_COLOR=1
bash scripts/setup.sh
started_s3=0
if ! bash scripts/s3_test_server.sh status >/dev/null 2>&1; then
  bash scripts/s3_test_server.sh start
  started_s3=1
fi
cleanup() { if [ "$started_s3" = 1 ]; then bash scripts/s3_test_server.sh stop || true; fi; }
trap cleanup EXIT
D=tools/node_modules/.bin/deno
checks_failed=0
$D task check || checks_failed=1
set +e
$D task test "$@"
rc=$?
set -e
if [ "$checks_failed" = 1 ]; then
  echo "fmt/lint/type check failed (see above)"
  [ "$rc" = 0 ] && rc=1
fi
exit "$rc"
