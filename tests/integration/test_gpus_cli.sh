#!/usr/bin/env bash
# `gpumgr gpus` end to end: the nvidia-smi backend against stand-in
# programs (a healthy answer, the old-driver compute_cap refusal and its
# retry, a driver failure, a hang-free missing program), the NVML backend
# through the fake library, --sim, the sim backend's file in ROOT, and
# --from-file on a captured table.
. "$(dirname "$0")/lib.sh"

FIX=$GPUMGR_FIXTURES/nvidia-smi
BIN=$TEST_TMP/bin
mkdir -p "$BIN"

# jget JSON EXPR: a value from JSON on stdin, printed by Python.
jget() { python3 -c "import json,sys; d=json.load(sys.stdin); print($1)"; }

# --- nvidia-smi backend: a stand-in that answers our query ------------------
cat >"$BIN/smi-ok" <<EOF
#!/bin/sh
echo "\$@" >>"$TEST_TMP/smi-ok.args"
case "\$1" in
--query-compute-apps=*)
  echo "GPU-bbbb, 4242, 20000"
  echo "GPU-bbbb, 4243, [N/A]"
  exit 0;;
esac
cat <<'OUT'
0, GPU-aaaa, NVIDIA GeForce RTX 3090, 00000000:01:00.0, 24576, 1000, 23000, 8.6, 40, 55, [N/A]
1, GPU-bbbb, NVIDIA GeForce RTX 3090, 00000000:02:00.0, 24576, 0, 24000, 8.6, 0, 35, [N/A]
OUT
EOF
chmod +x "$BIN/smi-ok"
out=$(GPUMGR_NVIDIA_SMI=$BIN/smi-ok gpumgr gpus --backend nvidia-smi --json)
expect_eq "source" "$(jget 'd["source"]' <<<"$out")" "nvidia-smi"
expect_eq "count" "$(jget 'len(d["gpus"])' <<<"$out")" "2"
expect_eq "gpu1 free" "$(jget 'd["gpus"][1]["vram_free_mb"]' <<<"$out")" "24000"
expect_eq "gpu0 cc" "$(jget 'd["gpus"][0]["compute_capability"]' <<<"$out")" "8.6"
expect_eq "gpu0 procs" "$(jget 'd["gpus"][0]["processes"]' <<<"$out")" "[]"
expect_eq "gpu1 procs" "$(jget 'd["gpus"][1]["processes"]' <<<"$out")" \
  "[{'pid': 4242, 'used_mb': 20000}, {'pid': 4243, 'used_mb': None}]"
expect_eq "gpu1 procs used" "$(jget 'd["gpus"][1]["procs_used_mb"]' <<<"$out")" "20000"
grep -qx -- "--query-compute-apps=gpu_uuid,pid,used_memory --format=csv,noheader,nounits" \
  "$TEST_TMP/smi-ok.args" || fail "no compute-apps query"
expect_eq "args" "$(head -1 "$TEST_TMP/smi-ok.args")" \
  "--query-gpu=index,uuid,name,pci.bus_id,memory.total,memory.used,memory.free,compute_cap,utilization.gpu,temperature.gpu,mig.mode.current --format=csv,noheader,nounits"
pass "nvidia-smi backend reads its query"

# auto with no NVML falls back to nvidia-smi
out=$(GPUMGR_NVML_LIB=/nonexistent/libnvml.so GPUMGR_NVIDIA_SMI=$BIN/smi-ok gpumgr gpus --json)
expect_eq "auto source" "$(jget 'd["source"]' <<<"$out")" "nvidia-smi"
pass "auto falls back to nvidia-smi"

# --- old nvidia-smi: compute_cap refused, asked again without it ------------
cat >"$BIN/smi-old" <<EOF
#!/bin/sh
case "\$1" in
*compute_cap*) echo 'Field "compute_cap" is not a valid field to query.'; exit 2;;
--query-compute-apps=*) echo 'No running processes found'; exit 0;;
esac
echo "\$1" >"$TEST_TMP/smi-old.args"
echo "0, GPU-cccc, Tesla P4, 00000000:07:00.0, 7611, 0, 7611, 0, 31, [N/A]"
EOF
chmod +x "$BIN/smi-old"
out=$(GPUMGR_NVIDIA_SMI=$BIN/smi-old gpumgr gpus --backend nvidia-smi --json)
expect_eq "old total" "$(jget 'd["gpus"][0]["vram_total_mb"]' <<<"$out")" "7611"
expect_eq "old cc" "$(jget 'd["gpus"][0]["compute_capability"]' <<<"$out")" "None"
expect_eq "old temp" "$(jget 'd["gpus"][0]["temp_c"]' <<<"$out")" "31"
grep -q -- '--query-gpu=index,uuid,name,pci.bus_id,memory.total,memory.used,memory.free,utilization.gpu' \
  "$TEST_TMP/smi-old.args" || fail "no retry without compute_cap"
pass "old nvidia-smi: retried without compute_cap"

# --- a driver failure is an error with nvidia-smi's text and status ----------
cat >"$BIN/smi-broken" <<EOF
#!/bin/sh
cat "$FIX/err_nvml-init_driver-library-version-mismatch_drv550.txt"
exit 18
EOF
chmod +x "$BIN/smi-broken"
rc=0
err=$(GPUMGR_NVIDIA_SMI=$BIN/smi-broken gpumgr gpus --backend nvidia-smi 2>&1 >/dev/null) || rc=$?
expect_eq "broken rc" "$rc" "1"
[[ $err == *"exited with status 18"*"Failed to initialize NVML: Driver/library version mismatch"* ]] \
  || fail "broken: $err"
pass "nvidia-smi driver failure reported"

# no GPU backend at all: exit 1 naming both causes
rc=0
err=$(GPUMGR_NVML_LIB=/nonexistent/libnvml.so GPUMGR_NVIDIA_SMI=/nonexistent/nvidia-smi \
  gpumgr gpus 2>&1 >/dev/null) || rc=$?
expect_eq "none rc" "$rc" "1"
[[ $err == *"nvml: cannot load /nonexistent/libnvml.so"*"nvidia-smi: cannot run /nonexistent/nvidia-smi"* ]] \
  || fail "none: $err"
pass "no backend: both causes named"

# --- NVML backend through the fake library ------------------------------------
if [[ -n "${GPUMGR_FAKE_NVML:-}" ]]; then
  cat >"$TEST_TMP/nvml.json" <<'EOF'
{"gpus": [{"uuid": "GPU-dddd", "name": "NVIDIA H100 80GB HBM3", "pci_bus_id": "00000000:53:00.0",
           "total_mb": 81559, "used_mb": 1, "free_mb": 81000, "cc": [9, 0], "util": 3, "temp": 25},
          {"uuid": "GPU-eeee", "rc": {"GetMemoryInfo": 15}}]}
EOF
  out=$(GPUMGR_NVML_LIB=$GPUMGR_FAKE_NVML GPUMGR_FAKE_NVML_SCRIPT=$TEST_TMP/nvml.json gpumgr gpus --json)
  expect_eq "nvml source" "$(jget 'd["source"]' <<<"$out")" "nvml"
  expect_eq "nvml cc" "$(jget 'd["gpus"][0]["compute_capability"]' <<<"$out")" "9.0"
  expect_eq "nvml lost" "$(jget 'd["gpus"][1]["health"]' <<<"$out")" "lost"
  expect_eq "nvml lost uuid" "$(jget 'd["gpus"][1]["uuid"]' <<<"$out")" "GPU-eeee"
  table=$(GPUMGR_NVML_LIB=$GPUMGR_FAKE_NVML GPUMGR_FAKE_NVML_SCRIPT=$TEST_TMP/nvml.json gpumgr gpus)
  [[ $table == *"NVIDIA H100 80GB HBM3"*"1/81559 MiB"*"81000 MiB"*"9.0"*"3%"*"25C"*"ok"* ]] \
    || fail "nvml table: $table"
  pass "nvml backend through the fake library"
fi

# --- simulation -------------------------------------------------------------
err=$(gpumgr gpus --sim 2x24GB,1x80GB --json 2>&1 >"$TEST_TMP/sim.json")
[[ $err == *"SIMULATED GPUs"* ]] || fail "no SIMULATED warning: $err"
expect_eq "sim count" "$(jget 'len(d["gpus"])' <"$TEST_TMP/sim.json")" "3"
expect_eq "sim 80GB" "$(jget 'd["gpus"][2]["vram_total_mb"]' <"$TEST_TMP/sim.json")" "81920"
rc=0; gpumgr gpus --sim 0xnothing 2>/dev/null || rc=$?
expect_eq "bad spec rc" "$rc" "2"
pass "--sim"

# the sim backend reads ROOT/sim_gpus.json, re-read at every run
cat >"$GPUMGR_ROOT/sim_gpus.json" <<'EOF'
{"gpus": [{"uuid": "GPU-s0", "vram_total_mb": 24576, "vram_used_mb": 4096},
          {"uuid": "GPU-s1", "vram_total_mb": 24576, "health": "xid:79"}]}
EOF
out=$(gpumgr gpus --backend sim --json 2>/dev/null)
expect_eq "sim file free" "$(jget 'd["gpus"][0]["vram_free_mb"]' <<<"$out")" "20480"
expect_eq "sim file health" "$(jget 'd["gpus"][1]["health"]' <<<"$out")" "xid:79"
sed -i 's/"xid:79"/"ok"/' "$GPUMGR_ROOT/sim_gpus.json"
out=$(gpumgr gpus --backend sim --json 2>/dev/null)
expect_eq "sim healed" "$(jget 'd["gpus"][1]["health"]' <<<"$out")" "ok"
echo '{"gpus": [{"uuid": "GPU-s0"}]}' >"$GPUMGR_ROOT/sim_gpus.json"
rc=0; err=$(gpumgr gpus --backend sim 2>&1) || rc=$?
expect_eq "sim broken rc" "$rc" "1"
[[ $err == *"sim_gpus.json:1:11: gpus[0]: \"vram_total_mb\" is required"* ]] || fail "sim broken: $err"
pass "sim backend file"

# --- captures -----------------------------------------------------------------
out=$(gpumgr gpus --from-file "$FIX/table_3of4gpu_rtxpro6000_gpu1-lost-unknown-error_kmd-header_drv610.txt" --json)
expect_eq "capture count" "$(jget 'len(d["gpus"])' <<<"$out")" "4"
expect_eq "capture lost" "$(jget 'd["gpus"][1]["health"]' <<<"$out")" "error: Unknown Error"
expect_eq "capture bus" "$(jget 'd["gpus"][1]["pci_bus_id"]' <<<"$out")" "00000000:34:00.0"
expect_eq "capture used" "$(jget 'd["gpus"][3]["vram_used_mb"]' <<<"$out")" "10"
rc=0; gpumgr gpus --from-file "$FIX/err_no-driver_couldnt-communicate.txt" 2>/dev/null || rc=$?
expect_eq "capture error rc" "$rc" "4"
rc=0; gpumgr gpus --from-file x --sim 1x1GB 2>/dev/null || rc=$?
expect_eq "exclusive options rc" "$rc" "2"
pass "--from-file"
