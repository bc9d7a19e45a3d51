#!/bin/bash
# S3 server for the tests, the demo and the benchmarks: a one-node Ceph cluster (1 mon, 1 memstore OSD
# holding everything in RAM, no mgr, cephx off) and radosgw on 127.0.0.1 only.
#
#   bash scripts/s3_test_server.sh start    # idempotent; waits until radosgw answers
#   bash scripts/s3_test_server.sh status   # exit 0 when radosgw answers
#   bash scripts/s3_test_server.sh stop     # kills rgw, osd, mon by their pid files and waits
#
# Credentials: access key "test", secret key "test". Storage classes STANDARD and STANDARD_IA.
# SSE-KMS with the testing backend: SSEKMSKeyId "testkey-1". Tested with Ceph 16.2 (Debian 12); the
# comments in ceph.conf below explain each setting that was needed.
#
# Environment: RGW_PORT (default 7480), CEPH_MON_PORT (3300), CEPH_DIR (/tmp/singularity-ceph-s3),
# CEPH_MEMSTORE_BYTES (OSD RAM cap, default 8 GiB; RAM is only used as data is stored).
set -euo pipefail

# CI may call us with a minimal PATH; the ceph tools live in /usr/bin, apt-get's helpers in /usr/sbin.
export PATH="/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin${PATH:+:$PATH}"
export LC_ALL=C

PORT=${RGW_PORT:-7480}
MON_PORT=${CEPH_MON_PORT:-3300}
D=${CEPH_DIR:-/tmp/singularity-ceph-s3}
MEMSTORE_BYTES=${CEPH_MEMSTORE_BYTES:-8589934592}
URL="http://127.0.0.1:$PORT"
# Daemons in stop order, with the program name /proc/<pid>/comm shows for each.
DAEMONS=("client.rgw.a:radosgw" "osd.0:ceph-osd" "mon.a:ceph-mon")

say() { echo "s3_test_server: $*"; }
die() {
  echo "s3_test_server: $*" >&2
  exit 1
}

# True when radosgw (not just anything) answers an anonymous ListBuckets on the port.
answering() {
  curl -s --max-time 2 "$URL/" 2>/dev/null | grep -q "ListAllMyBucketsResult"
}

# The pid recorded for a daemon if that process still runs and is the expected program; empty otherwise.
live_pid() {
  local name=${1%%:*} pid
  pid=$(cat "$D/run/$name.pid" 2>/dev/null) || return 0
  [[ $pid =~ ^[0-9]+$ ]] || return 0
  runs "$pid" "${1#*:}" && echo "$pid"
  return 0
}

# True while process $1 exists and is program $2 (a reused pid is some other program).
runs() { [[ "$(cat "/proc/$1/comm" 2>/dev/null)" == "$2" ]]; }

now() { date +%s.%N; }
elapsed() { awk -v a="$1" -v b="$(now)" 'BEGIN { printf "%.1f", b - a }'; }

install_packages() {
  local missing=()
  command -v radosgw >/dev/null || missing+=(radosgw ceph-mon ceph-osd)
  command -v curl >/dev/null || missing+=(curl)
  [ ${#missing[@]} -eq 0 ] && return 0
  local sudo=()
  if [ "$(id -u)" -ne 0 ]; then
    command -v sudo >/dev/null || die "${missing[*]} not installed and not root (no sudo); install them with apt-get"
    sudo=(sudo)
  fi
  say "installing ${missing[*]} with apt-get (about 40 s)"
  local t0
  t0=$(now)
  "${sudo[@]}" apt-get update -qq >/dev/null
  "${sudo[@]}" env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "${missing[@]}" \
    >/dev/null || die "apt-get install ${missing[*]} failed"
  say "installed in $(elapsed "$t0") s"
}

# Runs a ceph command with a time limit, its output appended to the setup log.
step() {
  local what=$1
  shift
  timeout 120 "$@" >>"$D/log/setup.log" 2>&1 || die "$what failed (exit $?); see $D/log/setup.log and $D/log/"
}

cmd_start() {
  if answering; then
    say "radosgw already answering at $URL"
    exit 0
  fi
  install_packages
  local t0
  t0=$(now)
  # Daemons from an earlier start that no longer answer: stop them before wiping their directory.
  cmd_stop quiet

  # Refuse to wipe a directory that is not ours (CEPH_DIR could point anywhere).
  if [ -e "$D" ] && [ ! -f "$D/ceph.conf" ] && [ -n "$(ls -A "$D" 2>/dev/null)" ]; then
    die "$D exists, is not empty and holds no ceph.conf; set CEPH_DIR to a fresh directory"
  fi
  rm -rf "$D"
  mkdir -p "$D"/{mon,osd0,run,log}
  say "starting ceph mon + memstore osd + radosgw in $D"

  local fsid kms_key
  fsid=$(cat /proc/sys/kernel/random/uuid)
  kms_key=$(head -c 32 /dev/urandom | base64)
  cat >"$D/ceph.conf" <<CONF
[global]
fsid = $fsid
mon host = v2:127.0.0.1:$MON_PORT
public addr = 127.0.0.1
auth cluster required = none
auth service required = none
auth client required = none
# Without this radosgw insists on "secure" mode to the mon and loops on get_initial_auth_request -13.
ms mon client mode = crc secure
osd pool default size = 1
osd pool default min size = 1
mon allow pool size one = true
mon warn on pool no redundancy = false
osd crush chooseleaf type = 0
# RGW's pools at Pacific's default 32 PGs each exceed the 250 PGs one OSD may hold.
osd pool default pg num = 8
osd pool default pgp num = 8
osd pool default pg autoscale mode = off
mon max pg per osd = 1000
# The mon batches map changes for 1 s by default; RGW creates its pools one after another on first use,
# so that made the start take ~12 s and the first bucket and object ~4.5 s. 0.05 s: ~1.5 s and ~0.3 s.
paxos propose interval = 0.05
run dir = $D/run
admin socket = $D/run/\$name.asok
log file = $D/log/\$name.log
pid file = $D/run/\$name.pid
[mon.a]
mon data = $D/mon
[osd.0]
osd data = $D/osd0
osd objectstore = memstore
memstore device bytes = $MEMSTORE_BYTES
[client.rgw.a]
rgw frontends = beast endpoint=127.0.0.1:$PORT
rgw crypt require ssl = false
rgw crypt s3 kms backend = testing
rgw crypt s3 kms encryption keys = testkey-1=$kms_key
# RGW frees deleted objects' data only when its garbage collector runs (default: after 2 h). Tests and benchmarks
# create and delete GiBs; without this the in-memory OSD fills up, marks itself full and every write then hangs.
rgw gc obj min wait = 1
rgw gc processor period = 2
rgw gc processor max time = 2
CONF
  local c=(-c "$D/ceph.conf")
  # Daemons get no stdin/stdout/stderr of ours, so callers that pipe this script's output do not hang.
  step "mon keyring" ceph-authtool --create-keyring "$D/keyring" --gen-key -n mon. --cap mon 'allow *'
  step "monmap" monmaptool --create --addv a "[v2:127.0.0.1:$MON_PORT]" --fsid "$fsid" "$D/monmap"
  step "mon mkfs" ceph-mon "${c[@]}" --mkfs -i a --monmap "$D/monmap" --keyring "$D/keyring"
  step "mon start" ceph-mon "${c[@]}" -i a </dev/null
  local osd_uuid
  osd_uuid=$(cat /proc/sys/kernel/random/uuid)
  step "osd new" ceph "${c[@]}" --connect-timeout 60 osd new "$osd_uuid"
  step "osd mkfs" ceph-osd "${c[@]}" -i 0 --mkfs --osd-uuid "$osd_uuid"
  step "osd start" ceph-osd "${c[@]}" -i 0 </dev/null
  say "mon and osd started after $(elapsed "$t0") s; creating user and storage classes"
  local admin=(radosgw-admin "${c[@]}")
  step "user create" "${admin[@]}" user create --uid=test --display-name=test --access-key=test --secret-key=test
  # Any storage class but STANDARD is rejected (400 InvalidArgument) unless placed in both zonegroup and zone.
  step "zonegroup placement" "${admin[@]}" zonegroup placement add --rgw-zonegroup default \
    --placement-id default-placement --storage-class STANDARD_IA
  step "zone placement" "${admin[@]}" zone placement add --rgw-zone default --placement-id default-placement \
    --storage-class STANDARD_IA --data-pool default.rgw.standard-ia.data
  step "radosgw start" radosgw "${c[@]}" -n client.rgw.a </dev/null

  local i
  for i in $(seq 1 300); do
    if answering; then
      say "radosgw answering at $URL after $(elapsed "$t0") s (keys test/test)"
      exit 0
    fi
    [ -n "$(live_pid "${DAEMONS[0]}")" ] || [ "$i" -lt 20 ] || die "radosgw exited; see $D/log/client.rgw.a.log"
    sleep 0.1
  done
  die "radosgw did not answer at $URL within 30 s; see $D/log/"
}

# Stops the daemons recorded in the pid files; "quiet" leaves out the summary line.
cmd_stop() {
  local quiet=${1:-} entry pid stopped=0 i
  for entry in "${DAEMONS[@]}"; do
    pid=$(live_pid "$entry")
    [ -n "$pid" ] || continue
    say "stopping ${entry%%:*} (pid $pid)"
    kill "$pid" 2>/dev/null || true
    # Wait on the pid, not the pid file: ceph-mon removes its pid file before it exits and frees its port.
    # Each daemon takes about 2 s to exit; after 10 s, kill it.
    for i in $(seq 1 150); do
      runs "$pid" "${entry#*:}" || break
      [ "$i" -eq 100 ] && kill -9 "$pid" 2>/dev/null
      sleep 0.1
    done
    ! runs "$pid" "${entry#*:}" || die "${entry%%:*} (pid $pid) did not exit"
    rm -f "$D/run/${entry%%:*}.pid"
    stopped=$((stopped + 1))
  done
  if [ "$quiet" != quiet ]; then
    if [ "$stopped" -eq 0 ]; then say "nothing running (no live pid files in $D/run)"; else say "stopped"; fi
  fi
}

cmd_status() {
  if answering; then
    say "radosgw answering at $URL"
    exit 0
  fi
  say "radosgw not answering at $URL"
  exit 1
}

case "${1:-}" in
start) cmd_start ;;
stop) cmd_stop ;;
status) cmd_status ;;
*) die "usage: $0 start|stop|status" ;;
esac
