#!/usr/bin/env bash
# The whole test suite: installs missing build dependencies, builds gpumgr
# twice (plain with gcc, and with ASan + UBSan under clang), runs every unit
# and integration test in both builds, then a short run of each fuzz target.
#   FUZZ_SECONDS=N   seconds per fuzz target (default 20; 0 skips fuzzing)
#   SKIP_SANITIZE=1  skip the sanitizer build (quicker local runs)
set -euo pipefail
cd "$(dirname "$0")/.."

bash scripts/install-deps.sh
jobs=$(nproc)

echo "== plain build (gcc, -Werror) =="
cmake -S . -B build -DCMAKE_BUILD_TYPE=RelWithDebInfo -DCMAKE_C_COMPILER=gcc -DGPUMGR_WERROR=ON >/dev/null
cmake --build build -j "$jobs"
echo "== tests, plain build =="
ctest --test-dir build --output-on-failure -j "$jobs"

if [[ "${SKIP_SANITIZE:-0}" != 1 ]]; then
  echo "== sanitizer build (clang, ASan + UBSan, -Werror) =="
  cmake -S . -B build-asan -DCMAKE_BUILD_TYPE=Debug -DCMAKE_C_COMPILER=clang \
        -DGPUMGR_SANITIZE=ON -DGPUMGR_WERROR=ON >/dev/null
  cmake --build build-asan -j "$jobs"
  echo "== tests, sanitizer build =="
  ASAN_OPTIONS=detect_leaks=1:abort_on_error=1 UBSAN_OPTIONS=print_stacktrace=1 \
    ctest --test-dir build-asan --output-on-failure -j "$jobs"
fi

fuzz_seconds=${FUZZ_SECONDS:-20}
if [[ "$fuzz_seconds" != 0 ]] && ls fuzz/fuzz_*.c >/dev/null 2>&1; then
  echo "== fuzzing, ${fuzz_seconds}s per target =="
  cmake -S . -B build-fuzz -DCMAKE_BUILD_TYPE=Debug -DCMAKE_C_COMPILER=clang \
        -DGPUMGR_FUZZ=ON >/dev/null
  cmake --build build-fuzz -j "$jobs"
  bash fuzz/run.sh build-fuzz "$fuzz_seconds"
fi
echo "== all tests passed =="
