#!/usr/bin/env bash
# README command 2: runs every check and test on a fresh Debian machine.
# Installs what is missing, starts the S3 server (Ceph radosgw on 127.0.0.1:7480) if none is running, runs
# fmt/lint/type checks and the whole test suite, and stops the S3 server it started.
# The last line is "N passed, N failed" (a failed fmt/lint/type check counts as one failure).
set -euo pipefail
cd "$(dirname "$0")/.."
export DENO_NO_UPDATE_CHECK=1 NO_COLOR=1
bash scripts/setup.sh
started_s3=0
stop_s3() { if [ "$started_s3" = 1 ]; then bash scripts/s3_test_server.sh stop >/dev/null 2>&1 || true; started_s3=0; fi; }
trap stop_s3 EXIT
if ! bash scripts/s3_test_server.sh status >/dev/null 2>&1; then
  started_s3=1
  bash scripts/s3_test_server.sh start
fi
D=tools/node_modules/.bin/deno
log=$(mktemp)
checks_failed=0
$D task check || checks_failed=1
set +e
$D task test "$@" 2>&1 | tee "$log"
rc=${PIPESTATUS[0]}
set -e
summary=$(grep -E '^[0-9]+ passed, [0-9]+ failed$' "$log" | tail -1 || true)
rm -f "$log"
stop_s3
passed=$(echo "${summary:-0 passed, 0 failed}" | sed -E 's/^([0-9]+) passed.*/\1/')
failed=$(echo "${summary:-0 passed, 1 failed}" | sed -E 's/.* ([0-9]+) failed$/\1/')
if [ "$checks_failed" = 1 ]; then
  echo "fmt/lint/type check failed (see above)"
  failed=$((failed + 1))
  [ "$rc" = 0 ] && rc=1
fi
echo "$passed passed, $failed failed"
exit "$rc"
