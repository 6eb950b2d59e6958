#!/usr/bin/env bash
# The real scripts in contrib/scripts. keyframes.sh runs as a gpumgr task on
# simulated GPUs on a video made here with ffmpeg (lavfi testsrc): the
# keyframe images and their index exist, and the task completed with its
# progress reported. transcribe.py and embed.py cannot load their models
# here: their argument checks, their clear error when the library is
# missing, and (against stand-ins of faster-whisper, sentence-transformers
# and whisper-cli in tests/integration/stubs) their protocol lines and
# outputs; embed.py also as a task, registered the way
# contrib/config.example.json registers it.
. "$(dirname "$0")/lib.sh"

command -v ffmpeg >/dev/null && command -v ffprobe >/dev/null ||
  fail "ffmpeg is not installed (scripts/install-deps.sh installs it)"
SRC=${GPUMGR_SRC:-$(cd "$(dirname "$0")/../.." && pwd)}
CONTRIB=$SRC/contrib/scripts
STUBS=$(cd "$(dirname "$0")/stubs" && pwd)

# A 6 s video, 10 frames a second, a keyframe every 10 frames (6
# keyframes), with a 440 Hz tone as its sound track.
video=$TEST_TMP/in/clip.mp4
mkdir -p "$TEST_TMP/in"
ffmpeg -nostdin -hide_banner -loglevel error -f lavfi -i testsrc=duration=6:size=160x120:rate=10 \
  -f lavfi -i sine=frequency=440:duration=6 -c:v mpeg4 -g 10 -c:a aac -shortest -y "$video" ||
  fail "ffmpeg could not make the test video"
want=$(ffprobe -v error -select_streams v:0 -skip_frame nokey -show_entries frame=pts_time \
  -of csv=p=0 "$video" | grep -c .)
expect_eq "keyframes in the test video" "$want" 6

write_config "{\"gpu_backend\": \"sim\", \"cooling_sec\": 0,
  \"scripts\": {
    \"keyframes\": {\"argv\": [\"$CONTRIB/keyframes.sh\", \"--input\", \"{input}\",
                             \"--output-dir\", \"{output_dir}\"],
                   \"gpu\": \"any\", \"vram_mb\": 512, \"timeout_sec\": 300},
    \"embed\": {\"argv\": [\"python3\", \"$CONTRIB/embed.py\", \"--model=all-mpnet-base-v2\",
                         \"--input={input}\", \"--output={output}\", \"--batch-size={batch_size}\"],
               \"gpu\": \"any\", \"vram_mb\": \"3.5G\", \"model\": \"sentence-transformers:all-mpnet-base-v2\",
               \"env\": {\"PYTHONPATH\": \"$STUBS/python\"}}}}"
start_daemon --sim 2x24GB

# contrib/config.example.json registers the shipped scripts (installed as
# docs/real-gpus.md says), not scripts that do not exist.
python3 - "$SRC/contrib/config.example.json" "$CONTRIB" <<'PY' || fail "config.example.json names a script not shipped"
import json, os, sys
c = json.load(open(sys.argv[1]))
prefix = "/usr/local/lib/gpumgr/scripts/"
named = {a[len(prefix):] for s in c["scripts"].values() for a in s["argv"] if a.startswith(prefix)}
assert named == {"keyframes.sh", "transcribe.py", "embed.py"}, named
for n in named:
    assert os.access(os.path.join(sys.argv[2], n), os.X_OK), n
PY

# task_field ID PYTHON-EXPR: EXPR on the task t in complete/ or failed/.
task_field() {
  python3 - "$GPUMGR_ROOT/tasks" "$1" "$2" <<'PY'
import json, os, sys
tasks, tid, expr = sys.argv[1:4]
for stage in ("complete", "failed"):
    p = os.path.join(tasks, stage, tid + ".json")
    if os.path.exists(p):
        t = json.load(open(p))
        print(eval(expr))
        break
PY
}
finished() { [[ -f $GPUMGR_ROOT/tasks/complete/$1.json || -f $GPUMGR_ROOT/tasks/failed/$1.json ]]; }

# --- keyframes.sh as a gpumgr task ---------------------------------------------
out=$TEST_TMP/frames
gpumgr submit --id kf1 --script keyframes --arg "input=$video" --arg "output_dir=$out" >/dev/null
wait_for 120 finished kf1
expect_eq "kf1 status" "$(task_field kf1 't["status"]')" complete
expect_eq "kf1 exit code" "$(task_field kf1 't["exit_code"]')" 0
expect_eq "kf1 progress reported" "$(task_field kf1 't.get("progress")')" 1.0
[[ $(task_field kf1 't.get("assigned_gpu_uuid", "")') == GPU-* ]] || fail "kf1 ran on no GPU"
expect_eq "frame files" "$(find "$out" -name 'frame-*.jpg' | wc -l)" "$want"
for f in "$out"/frame-0000{1..6}.jpg; do
  [[ $(ffprobe -v error -show_entries stream=width,height -of csv=p=0 "$f") == 160,120 ]] ||
    fail "$f is not a 160x120 image"
done
expect_eq "index" "$(cut -f2 "$out/keyframes.tsv" | tr '\n' ' ')" "time_sec 0 1 2 3 4 5 "
grep -q "keyframes: 6 frames of $video" <<<"$(task_field kf1 't["output"]')" || fail "kf1 output: $(task_field kf1 't["output"]')"
pass "keyframes.sh as a task: 6 keyframes and their index, progress 1 recorded"

# Not a video: the task fails with the reason, its retries spent.
echo "not a video" >"$TEST_TMP/in/notes.txt"
gpumgr submit --id kf2 --retries 0 --script keyframes --arg "input=$TEST_TMP/in/notes.txt" \
  --arg "output_dir=$TEST_TMP/frames2" >/dev/null
wait_for 120 finished kf2
expect_eq "kf2 status" "$(task_field kf2 't["status"]')" failed
expect_eq "kf2 exit code" "$(task_field kf2 't["exit_code"]')" 2
msg=$(task_field kf2 't["error"]["message"]')
[[ $msg == *"not a video ffprobe can read"* ]] || fail "kf2 error: $msg"
pass "keyframes.sh on a text file: failed, exit 2, the reason in the task"

# --- embed.py as a task (stand-in library) -------------------------------------
printf 'the first passage\n\nthe second one\nand a third\n' >"$TEST_TMP/in/texts.txt"
gpumgr submit --id emb1 --script embed --arg "input=$TEST_TMP/in/texts.txt" \
  --arg "output=$TEST_TMP/emb.jsonl" --arg batch_size=2 >/dev/null
wait_for 120 finished emb1
expect_eq "emb1 status" "$(task_field emb1 't["status"]')" complete
expect_eq "emb1 progress reported" "$(task_field emb1 't.get("progress")')" 1.0
python3 - "$TEST_TMP/emb.jsonl" <<'PY'
import json, sys
rows = [json.loads(l) for l in open(sys.argv[1])]
assert [r["id"] for r in rows] == [1, 3, 4], rows
assert rows[0]["embedding"] == [17.0, 3.0, float(sum(map(ord, "the first passage")) % 1000)], rows[0]
PY
pass "embed.py as a task: 3 embeddings in input order, progress seen by the daemon"
stop_daemon

# --- direct runs: arguments, errors, protocol lines ----------------------------
# run NAME CMD...: runs CMD with the status fd on $TEST_TMP/NAME.status,
# stdout and stderr in NAME.out / NAME.err; sets rc.
run() {
  local name=$1; shift
  rc=0
  GPUMGR_STATUS_FD=3 "$@" 3>"$TEST_TMP/$name.status" >"$TEST_TMP/$name.out" 2>"$TEST_TMP/$name.err" || rc=$?
}
err_has() { grep -q -- "$2" "$TEST_TMP/$1.err" || fail "$1: stderr lacks '$2': $(cat "$TEST_TMP/$1.err")"; }
# protocol_ok NAME: "ready" first, then rising fractions, "progress 1" last.
protocol_ok() {
  python3 - "$TEST_TMP/$1.status" <<'PY' || fail "$1: protocol lines: $(cat "$TEST_TMP/$1.status")"
import sys
lines = [l.strip() for l in open(sys.argv[1])]
assert lines[0] == "ready", lines
fr = [float(l.split()[1]) for l in lines[1:]]
assert all(l.startswith("progress ") for l in lines[1:]), lines
assert fr == sorted(fr) and fr[-1] == 1 and len(fr) >= 2 and all(0 <= f <= 1 for f in fr), lines
PY
}

run kfa bash "$CONTRIB/keyframes.sh" --input "$video"
expect_eq "keyframes without --output-dir" "$rc" 2; err_has kfa "output-dir is required"
run kfb bash "$CONTRIB/keyframes.sh" --input "$video" --output-dir "$TEST_TMP/x" --every 1 --scene 0.3
expect_eq "keyframes --every with --scene" "$rc" 2; err_has kfb "exclude each other"
run kfc bash "$CONTRIB/keyframes.sh" --input "$video" --output-dir "$TEST_TMP/every" --every 1.5 --width 80 --format png
expect_eq "keyframes --every 1.5" "$rc" 0
protocol_ok kfc
expect_eq "--every 1.5 frames" "$(find "$TEST_TMP/every" -name 'frame-*.png' | wc -l)" 4
[[ $(ffprobe -v error -show_entries stream=width -of csv=p=0 "$TEST_TMP/every/frame-00001.png") == 80 ]] ||
  fail "--width 80 not applied"
run kfd env PATH=/nonexistent /bin/bash "$CONTRIB/keyframes.sh" --input "$video" --output-dir "$TEST_TMP/y"
expect_eq "keyframes without ffmpeg" "$rc" 127; err_has kfd "ffmpeg not found"
pass "keyframes.sh: argument errors, --every/--width/--format, no ffmpeg"

T=$CONTRIB/transcribe.py
run tr1 python3 "$T" --input "$video"
expect_eq "transcribe without faster-whisper" "$rc" 127; err_has tr1 "faster-whisper is not installed"
[[ ! -s $TEST_TMP/tr1.status ]] || fail "transcribe said ready without a model"
run tr2 python3 "$T" --input "$TEST_TMP/in/missing.wav"
expect_eq "transcribe of a missing file" "$rc" 2; err_has tr2 "no such readable file"
run tr3 python3 "$T" --input "$video" --format docx
expect_eq "transcribe --format docx" "$rc" 2; err_has tr3 "invalid choice"
run tr4 env PYTHONPATH="$STUBS/python" python3 "$T" --input "$video" --format srt --output "$TEST_TMP/t.srt"
expect_eq "transcribe (stand-in faster-whisper)" "$rc" 0
protocol_ok tr4
expect_eq "srt cues" "$(grep -c -- '-->' "$TEST_TMP/t.srt")" 5
grep -q '^00:00:02,000 --> 00:00:03,500$' "$TEST_TMP/t.srt" || fail "srt times: $(head -8 "$TEST_TMP/t.srt")"
run tr5 env PYTHONPATH="$STUBS/python" STUB_WHISPER_FAIL=load python3 "$T" --input "$video"
expect_eq "transcribe, model not loadable" "$rc" 3; err_has tr5 "cannot load model 'small.en'"
run tr6 env PYTHONPATH="$STUBS/python" STUB_WHISPER_FAIL=transcribe python3 "$T" --input "$video" --output "$TEST_TMP/t6.txt"
expect_eq "transcribe failing midway" "$rc" 1; err_has tr6 "CUDA out of memory"
[[ ! -e $TEST_TMP/t6.txt ]] || fail "a failed transcription left a partial output"
: >"$TEST_TMP/ggml-tiny.bin"
run tr7 env PATH="$STUBS:$PATH" python3 "$T" --backend whisper.cpp --model "$TEST_TMP/ggml-tiny.bin" \
  --input "$video" --format json
expect_eq "transcribe (stand-in whisper-cli)" "$rc" 0
protocol_ok tr7
python3 - "$TEST_TMP/tr7.out" <<'PY' || fail "whisper.cpp json: $(cat "$TEST_TMP/tr7.out")"
import json, sys
j = json.load(open(sys.argv[1]))
assert j["segments"] == [{"start": 0.0, "end": 1.5, "text": "Hello from the stand-in."},
                         {"start": 1.5, "end": 3.0, "text": "Second line."}], j
PY
run tr8 python3 "$T" --backend whisper.cpp --whisper-cli no-such-whisper --model x --input "$video"
expect_eq "transcribe, no whisper-cli" "$rc" 127; err_has tr8 "no-such-whisper is not in PATH"
pass "transcribe.py: errors, faster-whisper and whisper.cpp paths against stand-ins"

E=$CONTRIB/embed.py
run em1 python3 "$E" --input "$TEST_TMP/in/texts.txt" --output "$TEST_TMP/e1.jsonl"
expect_eq "embed without sentence-transformers" "$rc" 127; err_has em1 "sentence-transformers is not installed"
printf '{"id": "a", "text": "x"}\n{"txt": "y"}\n' >"$TEST_TMP/in/bad.jsonl"
run em2 python3 "$E" --input "$TEST_TMP/in/bad.jsonl" --output "$TEST_TMP/e2.jsonl"
expect_eq "embed of a bad JSONL" "$rc" 2; err_has em2 "bad.jsonl:2: want an object with a \"text\" string"
run em3 env PYTHONPATH="$STUBS/python" STUB_ST_FAIL=load python3 "$E" --input "$TEST_TMP/in/texts.txt" --output "$TEST_TMP/e3.jsonl"
expect_eq "embed, model not loadable" "$rc" 3; err_has em3 "cannot load model 'all-mpnet-base-v2'"
printf '{"id": "a", "text": "one two"}\n{"id": "b", "text": "three"}\n' >"$TEST_TMP/in/ok.jsonl"
run em4 env PYTHONPATH="$STUBS/python" python3 "$E" --input "$TEST_TMP/in/ok.jsonl" --output "$TEST_TMP/e4.jsonl" --batch-size 1 --normalize
expect_eq "embed (stand-in library)" "$rc" 0
protocol_ok em4
python3 - "$TEST_TMP/e4.jsonl" <<'PY'
import json, math, sys
rows = [json.loads(l) for l in open(sys.argv[1])]
assert [r["id"] for r in rows] == ["a", "b"], rows
assert all(abs(math.hypot(*r["embedding"]) - 1) < 1e-9 for r in rows), rows
PY
pass "embed.py: errors, JSON Lines input, --normalize, batches with progress"
