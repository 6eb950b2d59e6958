#!/usr/bin/env bash
# ZIM batches: the test writes a ZIM archive with zimwriterfs (125 videos,
# 4 audio files, a page, an image), `batch submit --input X.zim` makes one
# item per media entry (--mime and --glob narrow it), each naming the
# archive and the entry; the 125-item batch runs to completion on 5
# simulated GPUs. A damaged archive is refused with what is wrong.
. "$(dirname "$0")/lib.sh"

command -v zimwriterfs >/dev/null ||
  fail "zimwriterfs not found: scripts/install-deps.sh installs zim-tools"

src=$TEST_TMP/site
mkdir -p "$src/videos" "$src/audio"
python3 - "$src" <<'PY'
import os, struct, sys, zlib
src = sys.argv[1]
def png(w, h):
    raw = b"".join(b"\x00" + b"\x20\x40\x60" * w for _ in range(h))
    def chunk(t, d):
        return struct.pack(">I", len(d)) + t + d + struct.pack(">I", zlib.crc32(t + d) & 0xffffffff)
    return (b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", struct.pack(">IIBBBBB", w, h, 8, 2, 0, 0, 0)) +
            chunk(b"IDAT", zlib.compress(raw)) + chunk(b"IEND", b""))
open(os.path.join(src, "illustration.png"), "wb").write(png(48, 48))
open(os.path.join(src, "index.html"), "w").write("<html><head><title>prepper</title></head><body>videos</body></html>")
for i in range(125):   # a WebM (EBML) header: typed video/webm by content
    open(os.path.join(src, "videos", "v%03d.webm" % i), "wb").write(b"\x1a\x45\xdf\xa3" + bytes([i]) * 64)
for i in range(4):     # a RIFF WAVE header: audio
    data = b"\x00\x00" * 800
    hdr = (b"RIFF" + struct.pack("<I", 36 + len(data)) + b"WAVEfmt " +
           struct.pack("<IHHIIHH", 16, 1, 1, 8000, 16000, 2, 16) + b"data" + struct.pack("<I", len(data)))
    open(os.path.join(src, "audio", "a%d.wav" % i), "wb").write(hdr + data)
PY
zimwriterfs -w index.html -I illustration.png -l eng -t "Urban prepper" -d "test videos" \
  -c gpumgr -p gpumgr -n urban-prepper -j "$src" "$TEST_TMP/urban-prepper.zim" >"$TEST_TMP/zimwriterfs.log" 2>&1 ||
  { cat "$TEST_TMP/zimwriterfs.log"; fail "zimwriterfs"; }
ZIM=$TEST_TMP/urban-prepper.zim

write_config '{"gpu_backend": "sim", "cooling_sec": 0, "api": {"socket": "api.sock"},
  "scripts": {"whisper_transcribe": {"argv": ["/bin/echo", "transcribed", "{archive}", "{entry}"]}},
  "resource_manager": {"batch_settings": {"auto_exclusive_threshold": 1000}},
  "rescan_interval_ms": 200}'

# count ARGS...: how many items a submission with ARGS would make (the
# record of a batch submitted to a scratch ROOT).
count() {
  "$GPUMGR_BIN" --root "$TEST_TMP/scratch" --config "$GPUMGR_ROOT/config.json" batch submit \
    --type transcribe --script whisper_transcribe --input "$ZIM" --shared --json "$@" |
    python3 -c 'import json,sys; print(json.load(sys.stdin)["total_items"])'
}
expect_eq "media entries (default: video and audio)" "$(count)" "129"
expect_eq "--mime video/webm" "$(count --mime video/webm)" "125"
expect_eq "--mime 'audio/*'" "$(count --mime 'audio/*')" "4"
expect_eq "--glob 'videos/v00*'" "$(count --glob 'videos/v00*')" "10"
expect_eq "--glob index.html (no MIME filter)" "$(count --glob index.html)" "1"
pass "one item per media entry; --mime and --glob filter"

head -c 3000 "$ZIM" >"$TEST_TMP/cut.zim"
set +e
gpumgr batch submit --type transcribe --script whisper_transcribe --input "$TEST_TMP/cut.zim" \
  >/dev/null 2>"$TEST_TMP/err"; rc=$?
set -e
expect_eq "a damaged archive" "$rc" "4"
grep -q "cut.zim: damaged ZIM archive" "$TEST_TMP/err" || fail "message: $(cat "$TEST_TMP/err")"
pass "a damaged archive is refused, saying so"

start_daemon --sim 5x24GB
gpumgr batch submit --type transcribe --script whisper_transcribe --input "$ZIM" \
  --mime 'video/*' --batch-id urban-prepper >"$TEST_TMP/out"
grep -q "^urban-prepper 125 items" "$TEST_TMP/out" || fail "submit said: $(cat "$TEST_TMP/out")"
gpumgr batch wait urban-prepper --timeout 240 >"$TEST_TMP/wait.out" ||
  { tail -3 "$TEST_TMP/wait.out"; fail "the batch did not complete"; }
expect_eq "complete tasks" "$(count_files complete)" "125"
python3 - "$GPUMGR_ROOT" "$(realpath "$ZIM")" <<'PY'
import glob, json, os, sys
root, zim = sys.argv[1], sys.argv[2]
rec = json.load(open(os.path.join(root, "batches", "urban-prepper.json")))
entries = sorted(it["item"]["entry"] for it in rec["items"])
assert entries == ["videos/v%03d.webm" % i for i in range(125)], entries[:3]
for it in rec["items"]:
    t = json.load(open(os.path.join(root, "tasks", "complete", it["task_id"] + ".json")))
    assert t["script_args"]["archive"] == zim, t["script_args"]
    assert t["output"].strip() == "transcribed %s %s" % (zim, it["item"]["entry"]), t["output"]
print("all 125 items ran with their archive and entry")
PY
pass "a 125-item batch from a ZIM archive ran to completion"
