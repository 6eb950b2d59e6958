#!/usr/bin/env bash
# `cmake --install` of the build under test: the binary, a man page for
# every command in the CLI's table and for the config file (each renders
# with `man -l` without a groff warning; the config page names every key
# `config show` prints), the bash completion (it completes commands and
# options from the installed binary), the systemd unit (`systemd-analyze
# verify` accepts it where systemd-analyze exists) and the example config.
. "$(dirname "$0")/lib.sh"

build=$(dirname "$GPUMGR_BIN")
[[ -f $build/cmake_install.cmake ]] || fail "$build is not a CMake build folder"
D=$TEST_TMP/D
DESTDIR=$D cmake --install "$build" --prefix /usr >"$TEST_TMP/install.log" ||
  fail "cmake --install failed: $(tail -5 "$TEST_TMP/install.log")"

for f in usr/bin/gpumgr usr/share/bash-completion/completions/gpumgr \
         usr/lib/systemd/system/gpumgr.service \
         usr/share/doc/gpumgr/examples/config.example.json \
         usr/share/man/man1/gpumgr.1 usr/share/man/man5/gpumgr-config.5; do
  [[ -s $D/$f ]] || fail "not installed: /$f"
done
[[ -x $D/usr/bin/gpumgr ]] || fail "/usr/bin/gpumgr is not executable"
# The supervisor program, where the installed daemon looks for it
# (../lib/gpumgr/ from its binary); it refuses to run by hand.
[[ -x $D/usr/lib/gpumgr/gpumgr-supervise ]] || fail "/usr/lib/gpumgr/gpumgr-supervise is not installed"
"$D/usr/lib/gpumgr/gpumgr-supervise" 2>/dev/null && fail "gpumgr-supervise ran without the daemon's descriptors"
grep -q '^ExecStart=/usr/bin/gpumgr --root /var/lib/gpumgr daemon$' \
  "$D/usr/lib/systemd/system/gpumgr.service" || fail "the unit does not run /usr/bin/gpumgr"
pass "binary, completion, unit, example config and man pages installed under DESTDIR"

# The scripts the example config names are installed where it names them
# (lib/gpumgr/scripts under the prefix; the example assumes /usr/local).
named=$(grep -o '/usr/local/lib/gpumgr/scripts/[A-Za-z0-9_.-]*' \
  "$D/usr/share/doc/gpumgr/examples/config.example.json" | sort -u)
[[ -n $named ]] || fail "the example config names no script under /usr/local/lib/gpumgr/scripts"
for s in $named; do
  [[ -x $D/usr/lib/gpumgr/scripts/${s##*/} ]] ||
    fail "the example config names $s, which is not installed (lib/gpumgr/scripts/${s##*/})"
done
pass "every script the example config names is installed, executable"

# Every command in the table has its page, and no page is left over.
cmds=$("$GPUMGR_BIN" --help | sed -n '/^commands:/,/^$/s/^  \([a-z][a-z-]*\) .*/\1/p')
(( $(wc -w <<<"$cmds") >= 15 )) || fail "too few commands read from --help: $cmds"
for c in $cmds; do
  [[ -s $D/usr/share/man/man1/gpumgr-$c.1 ]] || fail "no man page for 'gpumgr $c'"
done
expect_eq "man1 pages" "$(ls "$D/usr/share/man/man1" | wc -l)" "$(( $(wc -w <<<"$cmds") + 1 ))"
pass "every command in the CLI table has a man page"

# The scripts call only commands that exist ("$bin" CMD in scripts/*.sh).
src=${GPUMGR_SRC:-$(cd "$(dirname "$0")/../.." && pwd)}
for w in $(grep -ho '"$bin" [a-z][a-z-]*' "$src"/scripts/*.sh | awk '{print $2}' | sort -u); do
  grep -qx -- "$w" <<<"$cmds" || fail "scripts/ call 'gpumgr $w', which is no command"
done

command -v man >/dev/null || fail "man is not installed (scripts/install-deps.sh installs man-db)"
for page in "$D"/usr/share/man/man1/*.1 "$D"/usr/share/man/man5/*.5; do
  out=$(LC_ALL=C.UTF-8 MANWIDTH=80 man --warnings -l "$page" 2>"$TEST_TMP/man.err") ||
    fail "man -l $page failed: $(cat "$TEST_TMP/man.err")"
  [[ ! -s $TEST_TMP/man.err ]] || fail "groff warns about $page: $(head -3 "$TEST_TMP/man.err")"
  name=$(basename "$page"); name=${name%.*}
  grep -q "^NAME" <<<"$out" && grep -q "^SYNOPSIS\|^DESCRIPTION" <<<"$out" ||
    fail "$page renders without NAME or SYNOPSIS"
  grep -q "^ *$name" <<<"$out" || fail "$page does not name $name"
done
# A page says what its command's --help says: each option it lists.
for c in $cmds; do
  missing=$(comm -23 <("$GPUMGR_BIN" "$c" --help | grep -o -- '--[a-z][a-z0-9-]*' | sort -u) \
    <(sed 's/\\-/-/g' "$D/usr/share/man/man1/gpumgr-$c.1" | grep -o -- '--[a-z][a-z0-9-]*' | sort -u))
  [[ -z $missing ]] || fail "gpumgr-$c.1 lacks" $missing
done
pass "each page renders with man -l, without warnings, and lists its command's options"

# The config page: every key `config show` prints (a map's entries by the
# map's own key).
src5=$(sed 's/\\-/-/g; s/\\f[BIR]//g' "$D/usr/share/man/man5/gpumgr-config.5")
while read -r key _; do
  k=$key
  until grep -qF -- "$k" <<<"$src5"; do
    [[ $k == *.* ]] || fail "gpumgr-config.5 does not describe $key"
    k=${k%.*}
  done
  [[ $k == *.* || $k == "$key" ]] || fail "gpumgr-config.5 describes $key only as $k"
done < <(GPUMGR_ROOT=$TEST_TMP/none "$GPUMGR_BIN" config show)
pass "gpumgr-config.5 describes every key config show prints"

# The completion, from the installed binary.
completes() {	# WORDS... : what _gpumgr offers for the last word
  PATH=$D/usr/bin:$PATH bash -c '
    . "$1"; shift
    COMP_WORDS=("$@"); COMP_CWORD=$(($# - 1)); _gpumgr
    printf "%s\n" "${COMPREPLY[@]}"' _ "$D/usr/share/bash-completion/completions/gpumgr" "$@"
}
expect_eq "completion of 'gpumgr shu'" "$(completes gpumgr shu)" shutdown
completes gpumgr daemon --l | grep -qx -- --log || fail "no --log completion for daemon"
completes gpumgr --root /x subm | grep -qx submit || fail "no completion after --root"
pass "bash completion completes commands and options"

if command -v systemd-analyze >/dev/null; then
  # Installed at a prefix of its own, so that the unit's binary and its
  # Documentation= pages exist where the unit says.
  P=$TEST_TMP/P
  cmake --install "$build" --prefix "$P" >/dev/null || fail "cmake --install --prefix $P failed"
  out=$(MANPATH=$P/share/man systemd-analyze verify "$P/lib/systemd/system/gpumgr.service" 2>&1) ||
    fail "systemd-analyze verify: $out"
  [[ -z $out ]] || fail "systemd-analyze verify warns: $out"
  pass "systemd-analyze verify accepts the unit"
else
  echo "systemd-analyze not installed: the unit is not verified"
fi
