#!/usr/bin/env bash
# Installs what the project needs on a Debian machine (idempotent): Debian packages the programs
# and tests use, the pinned Deno toolchain from npm, and the npm dependencies into node_modules.
set -euo pipefail
cd "$(dirname "$0")/.."
packages=(logrotate sudo lsof psmisc procps util-linux tar gzip curl radosgw ceph-mon ceph-osd
  golang-github-mesos-mesos-go-dev golang-github-gogo-protobuf-dev)
missing=()
for p in "${packages[@]}"; do dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q 'ok installed' || missing+=("$p"); done
if [ ${#missing[@]} -gt 0 ]; then
  echo "setup: installing Debian packages: ${missing[*]}"
  apt-get update -qq
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
fi
if [ ! -x tools/node_modules/.bin/deno ] || ! tools/node_modules/.bin/deno --version 2>/dev/null | grep -q '^deno 2.9.6'; then
  echo "setup: installing the Deno toolchain (npm ci --prefix tools)"
  npm ci --prefix tools --no-audit --no-fund >/dev/null
fi
DENO_NO_UPDATE_CHECK=1 tools/node_modules/.bin/deno install --frozen --quiet
echo "setup: ready ($(tools/node_modules/.bin/deno --version | head -1))"
