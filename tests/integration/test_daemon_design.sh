#!/usr/bin/env bash
# The original design to the letter, in the daemon, on its 5 GPUs:
# 1. its configuration block (tests/fixtures/design/config-block.json, byte
#    for byte) plus only the keys that select simulated GPUs and the fake
#    LLM server: `config check` passes, the daemon serves, and the brain GPUs
#    0 and 3 boot the brain's model at start;
# 2. its worked example, smaller: a 60-item exclusive batch while LLM tasks
#    arrive. Sampled every 100 ms, these always hold: GPUs 0 and 3 stay
#    llm_ready/llm_busy and never run a script; the batch record's
#    `completed` and `top --once`'s "Progress: N/60" never run ahead of
#    `batch show` nor lag it by more than one item per batch GPU; the mode,
#    once exclusive, stays so until the last item has ended. After it: the
#    LLM tasks were answered by GPUs 0 and 3 during the batch, the items ran
#    on GPUs 1, 2 and 4, the record says complete with 60 completed, and the
#    daemon entered the mode once;
# 3. a script registered with "gpu": "none" (the design's embed_1536, "API
#    call, no GPU") runs with no GPU visible and takes no GPU.
# GPUMGR_DESIGN_ITEMS=N and GPUMGR_DESIGN_ITEM_MS=MS make the batch bigger.
. "$(dirname "$0")/lib.sh"

ITEMS=${GPUMGR_DESIGN_ITEMS:-60}
ITEM_MS=${GPUMGR_DESIGN_ITEM_MS:-500}
port=$(free_ports 8)
echo "base_port: $port, items: $ITEMS x ${ITEM_MS} ms"
ledger=$TEST_TMP/ledger
block=$GPUMGR_FIXTURES/design/config-block.json

# config.json: the design's block with keys added, never changed.
make_config() {
  python3 - "$block" "$1" <<'PY'
import json, sys
cfg = json.load(open(sys.argv[1]))
extra = json.loads(sys.argv[2])
for k, v in extra.items():
    assert k not in cfg, k          # adds keys; the block stays as written
    cfg[k] = v
print(json.dumps(cfg, indent=2))
PY
}
fake_llm="{\"server\": {\"argv\": [\"$GPUMGR_BIN\", \"fake-llm\", \"--boot-sec\", \"0.3\",
            \"--load-sec\", \"0.1\", \"--tokens-per-sec\", \"400\", \"--models\", \"qwen2.5:14b\"],
          \"env\": {\"OLLAMA_HOST\": \"127.0.0.1:{port}\"}}, \"base_port\": $port}"
write_config "$(make_config "{\"gpu_backend\": \"sim\", \"llm\": $fake_llm}")"

# 1. As written.
gpumgr config check >"$TEST_TMP/check.out" 2>&1 || { cat "$TEST_TMP/check.out"; fail "config check refused the design's block"; }
grep -qi "warn" "$TEST_TMP/check.out" && { cat "$TEST_TMP/check.out"; fail "config check warned"; }
stop_llm_servers_on_exit
start_daemon --sim 5x24GB
wait_for 30 state_is 0 state llm_ready
wait_for 30 state_is 3 state llm_ready
expect_eq "GPU 0 model" "$(state_field 0 model)" qwen2.5:14b
expect_eq "GPU 3 model" "$(state_field 3 model)" qwen2.5:14b
for g in 1 2 4; do expect_eq "GPU $g" "$(state_field $g state)" idle; done
curl -sf --unix-socket "$GPUMGR_ROOT/api.sock" http://localhost/v1/gpus >/dev/null ||
  fail "the daemon does not serve its API"
grep -q "gpu_count" "$GPUMGR_ROOT/gpu_state.json" && ! grep -q '"gpu_count_warning"' "$GPUMGR_ROOT/gpu_state.json" ||
  fail "gpu_count 5 with 5 GPUs found should raise no warning"
pass "the design's block as written: config check passes, brains 0 and 3 booted qwen2.5:14b"

# 2. The scripts the example needs (the block registers none), no cooling
# pause so the test stays short, then SIGHUP.
write_config "$(make_config "{\"gpu_backend\": \"sim\", \"llm\": $fake_llm, \"cooling_sec\": 0,
  \"scripts\": {\"whisper_transcribe\": {\"argv\": [\"$SCRIPTS_DIR/record.sh\", \"$ledger\", \"{ms}\"]},
                \"embed_1536\": {\"argv\": [\"/usr/bin/env\"],
                                 \"gpu\": \"none\"}}}")"
kill -HUP "$DAEMON_PID"
wait_for 20 grep -q "configuration reloaded" "$TEST_TMP/daemon.log"

for i in $(seq 1 "$ITEMS"); do echo "$(( ITEM_MS + (i % 3) * 100 ))"; done >"$TEST_TMP/items.txt"
python3 - "$GPUMGR_BIN" "$GPUMGR_ROOT" "$TEST_TMP" "$ITEMS" <<'PY'
import json, os, re, subprocess, sys, time
gpumgr, root, tmp, items = sys.argv[1], sys.argv[2], sys.argv[3], int(sys.argv[4])

def run(*args):
    return subprocess.run([gpumgr, *args], capture_output=True, text=True,
                          env=dict(os.environ, GPUMGR_ROOT=root))

def load(path):
    for _ in range(50):          # a reader may race the atomic rename
        try:
            with open(path) as f:
                return json.load(f)
        except (OSError, ValueError):
            time.sleep(0.01)
    raise SystemExit("FAIL: cannot read " + path)

def fail(msg):
    raise SystemExit("FAIL: " + msg)

r = run("batch", "submit", "--type", "transcribe", "--script",
        "whisper_transcribe", "--input", os.path.join(tmp, "items.txt"),
        "--item-arg", "ms", "--exclusive", "--batch-id", "vids")
if r.returncode != 0:
    fail("batch submit: " + r.stderr)
rec_path = os.path.join(root, "batches", "vids.json")
llm_ids, samples, lags, seen_excl, t_end = [], 0, {}, False, None
other_sent, why_seen, why_deadline = False, False, time.time() + 60
next_llm = time.time()
deadline = time.time() + 240
while True:
    if time.time() > deadline:
        fail("the batch did not end in time")
    now = time.time()
    if now >= next_llm and len(llm_ids) < 8:
        r = run("submit", "--priority", "5", "a question from the brain %d" % len(llm_ids))
        if r.returncode != 0:
            fail("submit: " + r.stderr)
        llm_ids.append(r.stdout.split()[0])
        next_llm = now + 1.0
    if len(llm_ids) >= 2 and not why_seen:
        if not other_sent:
            r = run("submit", "--script", "whisper_transcribe", "--type",
                    "transcribe", "--arg", "ms=10", "--id", "other1")
            if r.returncode != 0:
                fail("submit other1: " + r.stderr)
            other_sent = True
        # why it waits, in show, ls, the API and top (within a second or so)
        w = json.loads(run("show", "other1").stdout).get("waiting", {})
        if "behind exclusive batch vids" in w.get("reason", ""):
            ls = run("ls", "--status", "queued").stdout
            api = subprocess.run(["curl", "-sf", "--unix-socket",
                os.path.join(root, "api.sock"), "http://localhost/v1/tasks/other1"],
                capture_output=True, text=True).stdout
            top_r = run("top", "--once")
            top_w = top_r.stdout + top_r.stderr + " rc=%d" % top_r.returncode
            if not re.search(r"other1 .*<- held: behind exclusive batch vids, \d+/%d done, about" % items, ls):
                fail("ls does not say why other1 waits:\n" + ls)
            if "behind exclusive batch vids" not in json.loads(api).get("waiting", {}).get("reason", ""):
                fail("the API does not say why other1 waits: " + api)
            if not re.search(r"other1  held: behind exclusive batch vids", top_w):
                fail("top does not say why other1 waits:\n" + top_w)
            print("ok: other1 waits, and says why: " + w["reason"])
            why_seen = True
        elif time.time() > why_deadline:
            fail("other1's reason never showed: %r" % w)
    if len(llm_ids) == 3:
        r = run("submit", "--script", "embed_1536", "--type", "embed", "--id", "emb1")
        llm_ids.append(None)      # submitted once
        if r.returncode != 0:
            fail("submit embed_1536: " + r.stderr)
    before = json.loads(run("batch", "show", "vids").stdout)
    st = load(os.path.join(root, "gpu_state.json"))
    rec = load(rec_path)
    top = run("top", "--once").stdout
    after = json.loads(run("batch", "show", "vids").stdout)
    samples += 1
    for g in ("0", "3"):
        s = st["gpus"][g]
        if s["state"] not in ("llm_ready", "llm_busy") or s.get("script"):
            fail("brain GPU %s is %s (%s) during the batch" % (g, s["state"], s.get("script")))
    c, b0, b1 = rec["completed"], before["completed"], after["completed"]
    # While `batch submit` still writes the items, the record is its own
    # ("submitting"); from its last write on, the daemon keeps it current.
    if rec["status"] != "submitting" and not (b0 - 3 <= c <= b1):
        fail("record completed %d vs batch show %d..%d" % (c, b0, b1))
    lags[b0 - c] = lags.get(b0 - c, 0) + 1
    m = re.search(r"Progress: (\d+)/(\d+) ", top)
    # `after` is read once top has answered: if the batch was still
    # running then, top ran while it ran (the samples before top may see it
    # running and its last items end before top looks, under load).
    if (st.get("mode") == "exclusive" or c < items) and \
            after["completed"] + after["failed"] < items:
        if m is None:
            fail("no Progress line in top --once while the batch runs:\n" + top)
    if m is not None:
        n = int(m.group(1))
        if int(m.group(2)) != items or not (b0 - 3 <= n <= b1 + 3):
            fail("top says %s/%s, batch show %d..%d" % (m.group(1), m.group(2), b0, b1))
    if st.get("mode") == "exclusive":
        seen_excl = True
    elif seen_excl and after["completed"] + after["failed"] < items:
        fail("exclusive mode left with %d of %d done" % (after["completed"], items))
    if after["status"] == "complete" and rec["status"] == "complete":
        break
    time.sleep(0.1)
if not seen_excl:
    fail("never saw exclusive mode")
if not why_seen:
    fail("the batch ended before other1's reason was checked")
if rec["completed"] != items or rec["failed"] != 0:
    fail("record at the end: %s" % {k: rec[k] for k in ("completed", "failed", "status")})
if any(it["status"] != "complete" for it in rec["items"]):
    fail("an item's status is not complete in the record")
print("ok: %d samples; record lag behind batch show (items: samples) %s" % (samples, sorted(lags.items())))

done = [load(os.path.join(root, "tasks", "complete", it["task_id"] + ".json")) for it in rec["items"]]
gpus = {t["assigned_gpu"] for t in done}
if gpus != {1, 2, 4}:
    fail("batch items ran on GPUs %s, not 1, 2 and 4" % sorted(gpus))
if any("duration" not in t or t["status"] != "complete" for t in done):
    fail("a result has no duration")
last_end = max(t["completed_at"] for t in done)
first_start = min(t["started_at"] for t in done)
answered = 0
for i in (x for x in llm_ids if x):
    p = os.path.join(root, "tasks", "complete", i + ".json")
    deadline = time.time() + 60
    while not os.path.exists(p) and time.time() < deadline:
        time.sleep(0.05)
    t = load(p)
    if t["assigned_gpu"] not in (0, 3):
        fail("LLM task %s ran on GPU %s" % (i, t["assigned_gpu"]))
    if first_start < t["completed_at"] < last_end:
        answered += 1
if answered == 0:
    fail("no LLM task was answered during the batch")
print("ok: items on GPUs 1, 2, 4; %d of %d LLM tasks answered by GPUs 0/3 during the batch" %
      (answered, len([x for x in llm_ids if x])))

p = os.path.join(root, "tasks", "complete", "emb1.json")
deadline = time.time() + 30
while not os.path.exists(p) and time.time() < deadline:
    time.sleep(0.05)
t = load(p)
cvd = [l for l in t.get("output", "").splitlines() if l.startswith("CUDA_VISIBLE_DEVICES=")]
# CUDA reads an empty CUDA_VISIBLE_DEVICES as "no device" (unset would
# show it every GPU): the daemon sets it empty.
if t.get("assigned_gpu") is not None or cvd not in ([], ["CUDA_VISIBLE_DEVICES="]):
    fail("embed_1536: assigned_gpu %s, %s" % (t.get("assigned_gpu"), cvd))
print("ok: embed_1536 (gpu none) ran with no GPU visible and no GPU assigned")
PY
n=$(grep -c "exclusive mode for batch vids" "$TEST_TMP/daemon.log")
expect_eq "times the daemon entered exclusive mode for vids" "$n" 1
pass "the worked example: brains kept thinking, the batch took every other GPU, its record stayed true"

# gpu_count checked against discovery: one GPU goes away from the simulated
# machine (5 configured, 4 found): the log, gpu_state.json and `status` say so.
python3 - "$GPUMGR_ROOT/sim_gpus.json" <<'PY'
import json, sys
p = sys.argv[1]
d = json.load(open(p))
d["gpus"] = d["gpus"][:4]
open(p + ".tmp", "w").write(json.dumps(d))
PY
mv "$GPUMGR_ROOT/sim_gpus.json.tmp" "$GPUMGR_ROOT/sim_gpus.json"
wait_for 30 grep -q '"gpu_count_warning": "config gpu_count is 5 but 4 GPU(s) found' "$GPUMGR_ROOT/gpu_state.json"
grep -q "warn: config gpu_count is 5 but 4 GPU(s) found" "$TEST_TMP/daemon.log" || fail "no warning in the log"
gpumgr status | grep -q "^config gpu_count is 5 but 4 GPU(s) found: using the 4 found" || fail "status does not warn"
pass "gpu_count 5 with 4 GPUs found: warned in the log, gpu_state.json and status"
