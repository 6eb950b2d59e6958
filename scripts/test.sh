#!/usr/bin/env bash
# The whole test suite: installs missing build dependencies, builds gpumgr
# twice (plain with gcc, and with ASan + UBSan under clang), runs the unit
# tests in both builds and the integration tests in the sanitizer build
# (they exercise the same code, and under the sanitizers a memory or
# undefined-behaviour error fails them too), then a short run of each fuzz
# target. With SKIP_SANITIZE=1 the plain build runs every test.
# Every stage runs even when an earlier one failed; a summary at the end
# names each failed stage and test, and the exit status is non-zero if any
# failed. Each ctest stage's closing lines are printed as ctest wrote them,
# and repeated in the summary.
#   FUZZ_SECONDS=N   seconds per fuzz target (default 20; 0 skips fuzzing)
#   SKIP_SANITIZE=1  skip the sanitizer build (quicker local runs; the
#                    plain build then runs the integration tests too)
#   PLAIN_INTEGRATION=1  run the integration tests in the plain build too
#   CTEST_JOBS=N     tests run at once (default: twice the CPUs; most
#                    integration tests wait on timers rather than compute)
set -uo pipefail
cd "$(dirname "$0")/.."

start_s=$(date +%s)
logs=$(mktemp -d "${TMPDIR:-/tmp}/gpumgr-testsh.XXXXXX")
failures=()     # one line per failed stage, in order
closings=()     # "stage|log" of each ctest stage, for the summary

# stage NAME CMD...: runs CMD, records NAME as failed when it fails.
stage() {
  local name=$1; shift
  echo "== $name =="
  local t0 rc
  t0=$(date +%s)
  "$@"
  rc=$?
  echo "== $name: $([[ $rc -eq 0 ]] && echo ok || echo "FAILED (exit $rc)") in $(( $(date +%s) - t0 )) s =="
  [[ $rc -eq 0 ]] || failures+=("$name (exit $rc)")
  return "$rc"
}

# run_ctest NAME BUILD_DIR [CTEST ARGS]: runs ctest, keeps its output for
# the summary.
run_ctest() {
  local name=$1 dir=$2 log="$logs/$(echo "$1" | tr -c 'a-z0-9\n' _).log"
  shift 2
  closings+=("$name|$log")
  ctest --test-dir "$dir" --output-on-failure -j "$ctest_jobs" "$@" 2>&1 | tee "$log"
}

stage "install dependencies" bash scripts/install-deps.sh
jobs=$(nproc)
ctest_jobs=${CTEST_JOBS:-$(( 2 * jobs ))}

build_plain() {
  cmake -S . -B build -DCMAKE_BUILD_TYPE=RelWithDebInfo -DCMAKE_C_COMPILER=gcc \
        -DGPUMGR_WERROR=ON >/dev/null &&
    cmake --build build -j "$jobs"
}
plain_args=()
plain_name="tests, plain build"
if [[ "${SKIP_SANITIZE:-0}" != 1 && "${PLAIN_INTEGRATION:-0}" != 1 ]]; then
  plain_args=(-L unit)
  plain_name="unit tests, plain build"
fi
if stage "plain build (gcc, -Werror)" build_plain; then
  stage "$plain_name" run_ctest "$plain_name" build "${plain_args[@]}"
else
  failures+=("tests, plain build (not run: the build failed)")
fi

fuzz_seconds=${FUZZ_SECONDS:-20}
fuzz_on=OFF
[[ "$fuzz_seconds" != 0 ]] && ls fuzz/fuzz_*.c >/dev/null 2>&1 && fuzz_on=ON
fuzz_dir=""
if [[ "${SKIP_SANITIZE:-0}" != 1 ]]; then
  # The fuzz targets are built in the same sanitizer build (the library
  # gets libFuzzer's coverage hooks, -fsanitize=fuzzer-no-link), so the
  # library is compiled once for both.
  build_asan() {
    cmake -S . -B build-asan -DCMAKE_BUILD_TYPE=Debug -DCMAKE_C_COMPILER=clang \
          -DGPUMGR_SANITIZE=ON -DGPUMGR_FUZZ="$fuzz_on" -DGPUMGR_WERROR=ON >/dev/null &&
      cmake --build build-asan -j "$jobs"
  }
  if stage "sanitizer build (clang, ASan + UBSan, -Werror)" build_asan; then
    [[ $fuzz_on == ON ]] && fuzz_dir=build-asan
    ASAN_OPTIONS=detect_leaks=1:abort_on_error=1 UBSAN_OPTIONS=print_stacktrace=1 \
      stage "tests, sanitizer build" run_ctest "tests, sanitizer build" build-asan
  else
    failures+=("tests, sanitizer build (not run: the build failed)")
  fi
fi

if [[ $fuzz_on == ON ]]; then
  build_fuzz() {
    cmake -S . -B build-fuzz -DCMAKE_BUILD_TYPE=Debug -DCMAKE_C_COMPILER=clang \
          -DGPUMGR_FUZZ=ON >/dev/null &&
      cmake --build build-fuzz -j "$jobs"
  }
  # Without the sanitizer build (SKIP_SANITIZE=1) the targets need their own.
  if [[ -z $fuzz_dir ]] && stage "fuzz build" build_fuzz; then
    fuzz_dir=build-fuzz
  fi
  if [[ -n $fuzz_dir ]]; then
    fuzz_log=$logs/fuzz.log
    run_fuzz() { bash fuzz/run.sh "$fuzz_dir" "$fuzz_seconds" 2>&1 | tee "$fuzz_log"; }
    stage "fuzzing, ${fuzz_seconds}s per target" run_fuzz
  else
    failures+=("fuzzing (not run: the build failed)")
  fi
fi

echo
echo "== summary ($(( $(date +%s) - start_s )) s, load average $(cut -d' ' -f1-3 /proc/loadavg)) =="
for c in "${closings[@]}"; do
  name=${c%%|*} log=${c#*|}
  echo "-- $name:"
  # ctest's closing lines: "N% tests passed, ...", the failed list.
  sed -n '/tests passed, /,$p' "$log" | grep -v '^$' || echo "   (ctest printed no result)"
done
if [[ -n ${fuzz_log:-} ]]; then
  echo "-- fuzzing:"
  grep -E '^fuzz: FAILED targets' "$fuzz_log" || echo "   every target ran clean"
fi
rm -rf "$logs"
if ((${#failures[@]})); then
  echo "== FAILED: ${#failures[@]} stage(s) =="
  printf '   %s\n' "${failures[@]}"
  exit 1
fi
echo "== all tests passed =="
