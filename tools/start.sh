#!/bin/sh
# start.sh: install what is missing (Debian 12 packages), build, and start stockledgerd with
# its defaults (data in ./var/stockledger, listening on tcp://127.0.0.1:7450). Extra
# arguments go to stockledgerd, e.g. tools/start.sh --listen tcp://0.0.0.0:7450
set -eu
cd "$(dirname "$0")/.."
tools/install-deps.sh
# the service as it runs in production: no sanitizers, whatever build/ was configured with
cmake -S . -B build -DCMAKE_BUILD_TYPE=RelWithDebInfo -DSL_SANITIZE=OFF >/dev/null
cmake --build build -j"$(nproc)"
exec build/stockledgerd "$@"
