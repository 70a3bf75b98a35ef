#!/bin/sh
# install-deps.sh: installs the Debian 12 packages StockLedger needs to build, test and run.
# Only what is missing is installed; running it again is a quick no-op. Needs root (or sudo).
set -eu
pkgs="build-essential cmake pkg-config git ca-certificates clang-format
libnng-dev libprotobuf-c-dev protobuf-c-compiler librocksdb-dev libcmocka-dev
libjansson-dev libssl-dev nats-server libnats-dev procps jq python3
postgresql libpq-dev linux-perf"
missing=""
for p in $pkgs; do
	dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" ||
		missing="$missing $p"
done
[ -z "$missing" ] && exit 0
sudo=""
[ "$(id -u)" -eq 0 ] || sudo="sudo"
echo "installing:$missing"
$sudo env DEBIAN_FRONTEND=noninteractive apt-get update -qq
# shellcheck disable=SC2086
$sudo env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends $missing >/dev/null
