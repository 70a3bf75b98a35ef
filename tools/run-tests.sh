#!/bin/sh
# run-tests.sh: install what is missing (Debian 12 packages), build with warnings as errors
# and AddressSanitizer + UndefinedBehaviorSanitizer, check formatting, and run every test
# (unit and end-to-end) with CTest. Exit status 0 only if all of it passed.
set -eu
cd "$(dirname "$0")/.."
tools/install-deps.sh
echo "== clang-format"
git ls-files '*.c' '*.h' | xargs clang-format --dry-run --Werror
echo "== build (ASan + UBSan, -Werror)"
cmake -S . -B build-asan -DCMAKE_BUILD_TYPE=Debug -DSL_SANITIZE=ON -DSL_WERROR=ON >/dev/null
cmake --build build-asan -j"$(nproc)"
echo "== tests"
export ASAN_OPTIONS="${ASAN_OPTIONS:-detect_leaks=1:abort_on_error=1}"
export LSAN_OPTIONS="${LSAN_OPTIONS:-suppressions=$PWD/tests/lsan.supp:print_suppressions=0}"
export UBSAN_OPTIONS="${UBSAN_OPTIONS:-print_stacktrace=1:halt_on_error=1}"
cd build-asan
ctest --output-on-failure -j2 "$@"
