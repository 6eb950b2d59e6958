#!/usr/bin/env bash
# Installs the Debian 12 packages gpumgr needs to build, test and fuzz, and
# no more (building the Debian package also needs debhelper: docs/operations.md).
# Idempotent: installs only what is missing; needs root (or sudo).
set -euo pipefail

# libsystemd-dev: readiness and watchdog (optional at build time);
# python3-prometheus-client: test_api parses /metrics with it; man-db:
# test_install renders each man page with `man -l`.
pkgs=(
  build-essential cmake pkg-config clang libclang-rt-dev
  libevent-dev libcurl4-openssl-dev libjansson-dev libncurses-dev libcmocka-dev
  libsystemd-dev python3 python3-venv python3-setuptools python3-wheel
  python3-prometheus-client zim-tools curl procps util-linux tmux man-db
  ffmpeg   # contrib/scripts/keyframes.sh and its test (test_contrib_scripts)
  slurm-wlm munge   # the slurm executor's test cluster (test_slurm, tests/slurm)
  task-spooler   # bench/dispatch.sh compares gpumgr with tsp in the same run
)
# node and npm: test_frontdoor_clients runs the official Ollama and OpenAI
# JavaScript clients (tests/clients). A newer nodejs from elsewhere (which
# bundles npm) is kept; Debian's packages are installed only when none is.
if ! command -v node >/dev/null 2>&1 || ! command -v npm >/dev/null 2>&1; then
  pkgs+=(nodejs npm)
fi

missing=()
for p in "${pkgs[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done

if ((${#missing[@]} == 0)); then
  echo "install-deps: all packages present"
  exit 0
fi

sudo=""
if [[ $(id -u) -ne 0 ]]; then sudo="sudo"; fi
echo "install-deps: installing ${missing[*]}"
export DEBIAN_FRONTEND=noninteractive
$sudo apt-get update -qq
$sudo apt-get install -y -qq --no-install-recommends "${missing[@]}"
