#!/usr/bin/env bash
# Docs that run: every ```json block in docs/*.md and README.md is a
# configuration example and must pass `gpumgr config check` (the convention
# is in docs/hacking.md, "Examples in the docs"): a block that starts with
# a key ("llm": {...}) is a part of config.json's top level and is checked
# inside { }; an HTML comment `<!-- config-check: under llm -->` just before
# the fence puts it under that key first. JSON that is not a configuration
# (a task, an API answer, a state file) is fenced ```jsonc, and is only
# checked to be there at all. The count of checked blocks must not fall to
# zero (a parser that finds nothing passes nothing).
. "$(dirname "$0")/lib.sh"

SRC=$(cd "$(dirname "$0")/../.." && pwd)
python3 - "$SRC" "$GPUMGR_BIN" "$TEST_TMP" <<'PY'
import glob, json, os, re, subprocess, sys
src, gpumgr, tmp = sys.argv[1:4]
fence = re.compile(r"^([ \t]*)```(\w*)[ \t]*$")
marker = re.compile(r"<!--\s*config-check:\s*under\s+([\w.]+)\s*-->")
files = sorted(glob.glob(os.path.join(src, "docs", "*.md"))) + [os.path.join(src, "README.md")]
checked, other, bad = 0, 0, []
for path in files:
    lines = open(path, encoding="utf-8").read().split("\n")
    i = 0
    while i < len(lines):
        m = fence.match(lines[i])
        if not m or not m.group(2):
            i += 1
            continue
        indent, lang, start = m.group(1), m.group(2), i
        j = i + 1
        while j < len(lines) and lines[j].strip() != "```":
            j += 1
        body = "\n".join(l[len(indent):] if l.startswith(indent) else l
                         for l in lines[i + 1:j])
        i = j + 1
        if lang == "jsonc":
            other += 1
            continue
        if lang != "json":
            continue
        where = "%s:%d" % (os.path.relpath(path, src), start + 1)
        prev = lines[start - 1] if start > 0 else ""
        text = body.strip()
        if text.startswith('"'):
            text = "{" + text + "}"
        mk = marker.search(prev)
        if mk:
            for key in reversed(mk.group(1).split(".")):
                text = '{"%s": %s}' % (key, text)
        cfg = os.path.join(tmp, "doc-%d.json" % checked)
        with open(cfg, "w") as f:
            f.write(text + "\n")
        r = subprocess.run([gpumgr, "config", "check", cfg], capture_output=True, text=True)
        checked += 1
        if r.returncode != 0:
            bad.append("%s: %s" % (where, (r.stdout + r.stderr).strip().replace(cfg, "the block")))
        else:
            print("ok: %s %s" % (where, r.stdout.strip().replace(cfg, "").strip(": ") or "OK"))
for b in bad:
    print("FAIL: " + b, file=sys.stderr)
assert checked >= 5, "only %d configuration examples found" % checked
print("checked %d configuration examples, %d other JSON blocks" % (checked, other))
sys.exit(1 if bad else 0)
PY
pass "every configuration example in the docs passes config check"
