#!/usr/bin/env python3
"""Makes gpumgr's man pages at build time, from the texts that are the
truth, so they cannot drift from the program:

  gen-man.py commands GPUMGR_BIN OUTDIR   gpumgr.1 from `gpumgr --help`,
      and gpumgr-CMD.1 for every command in its table from `gpumgr CMD
      --help` (the usage each command prints), plus man/gpumgr.1.extra
  gen-man.py config CONFIG_MD OUT         gpumgr-config.5 from docs/config.md

Only what those texts use is understood: usage blocks with "  -x, --opt ARG
  text" items; Markdown headings, paragraphs, lists, tables, code blocks.
"""
import os
import re
import subprocess
import sys

DATE = os.environ.get("GPUMGR_MAN_DATE", "")
VERSION = os.environ.get("GPUMGR_VERSION", "")


def esc(text):
    """Roff-escapes plain text: backslashes, and a leading . or '."""
    text = text.replace("\\", "\\e")
    if text.startswith((".", "'")):
        text = "\\&" + text
    return text


OPT_TOKEN = re.compile(r"(?<![\w-])(--?[A-Za-z][\w-]*)")


def esc_text(text):
    """Plain text whose option-like words (-p, --log) get real minus signs,
    so that they can be searched for and copied; other hyphens stay."""
    return OPT_TOKEN.sub(lambda m: m.group(1).replace("-", "\\-"), esc(text))


def esc_opt(text):
    """An option or command term: hyphens are real minus signs."""
    return esc(text).replace("-", "\\-")


def th(name, section, title):
    return ['.TH "%s" "%s" "%s" "gpumgr %s" "%s"' %
            (name.upper(), section, DATE, VERSION, title)]


# ---- usage texts ----------------------------------------------------------

ITEM = re.compile(r"^( {1,8})(\S.*?)(?: {2,}|\t)(\S.*)$")
BARE_OPT = re.compile(r"^( {1,8})(-\S.*)$")


def usage_body(lines):
    """Roff for the lines after a usage's synopsis."""
    out, item_indent, literal = [], None, False
    for line in lines:
        if not line.strip():
            if literal:
                out.append(".fi")
                literal = False
            out.append(".PP")
            item_indent = None
            continue
        m = ITEM.match(line)
        b = BARE_OPT.match(line)
        indent = len(line) - len(line.lstrip(" "))
        dash = bool(m and m.group(2).startswith("-"))
        if item_indent is not None and indent > item_indent and not dash:
            out.append(esc_text(line.strip()))        # the item's text goes on
            continue
        if m and (dash or indent <= 4):
            if literal:
                out.append(".fi")
                literal = False
            out += [".TP", "\\fB%s\\fR" % esc_opt(m.group(2)), esc_text(m.group(3))]
            item_indent = len(m.group(1))
            continue
        if b:
            if literal:
                out.append(".fi")
                literal = False
            out += [".TP", "\\fB%s\\fR" % esc_opt(b.group(2))]
            item_indent = len(b.group(1))
            continue
        if item_indent is not None:
            out.append(".PP")                   # the list is over
        item_indent = None
        if indent > 0:
            if not literal:
                out += [".nf"]
                literal = True
            out.append(esc_text(line))
            continue
        if literal:
            out.append(".fi")
            literal = False
        out.append(esc_text(line))
    if literal:
        out.append(".fi")
    # no empty paragraphs
    clean = []
    for l in out:
        if l == ".PP" and (not clean or clean[-1] in (".PP", ".SH DESCRIPTION")):
            continue
        clean.append(l)
    while clean and clean[-1] == ".PP":
        clean.pop()
    return clean


def split_usage(text):
    """(synopsis lines, the rest) of a `gpumgr CMD --help` text."""
    lines = text.rstrip("\n").split("\n")
    if not lines or not lines[0].startswith("usage: gpumgr "):
        raise SystemExit("gen-man: not a usage text: %r" % lines[:1])
    syn = [lines[0][len("usage: gpumgr "):]]
    i = 1
    while i < len(lines) and lines[i].startswith("       gpumgr "):
        syn.append(lines[i][len("       gpumgr "):])
        i += 1
    return syn, lines[i:]


def run(binary, *args):
    r = subprocess.run([binary, *args], capture_output=True, text=True,
                       env=dict(os.environ, GPUMGR_ROOT="/nonexistent"))
    if r.returncode != 0:
        raise SystemExit("gen-man: %s %s: exit %d: %s" %
                         (binary, " ".join(args), r.returncode, r.stderr))
    return r.stdout


def commands(binary):
    """[(name, summary)] from `gpumgr --help`'s table."""
    text = run(binary, "--help")
    out, inside = [], False
    for line in text.split("\n"):
        if line == "commands:":
            inside = True
            continue
        if inside:
            m = re.match(r"^  (\S+)\s+(.*)$", line)
            if not m:
                break
            out.append((m.group(1), m.group(2)))
    if not out:
        raise SystemExit("gen-man: no command table in `gpumgr --help`")
    return out


def synopsis(syn):
    out = [".SH SYNOPSIS", ".nf"]
    out += ["\\fBgpumgr\\fR %s" % esc_text(s) for s in syn]
    return out + [".fi"]


def command_page(binary, name, summary):
    syn, rest = split_usage(run(binary, name, "--help"))
    page = th("gpumgr-" + name, "1", "gpumgr manual")
    page += [".SH NAME", "gpumgr\\-%s \\- %s" % (esc_opt(name), esc(summary))]
    page += synopsis(syn)
    page += [".SH DESCRIPTION"] + usage_body(rest)
    page += [".SH GLOBAL OPTIONS",
             "\\fB\\-\\-root\\fR \\fIDIR\\fR and \\fB\\-\\-config\\fR "
             "\\fIFILE\\fR go before the command; see \\fBgpumgr\\fR(1).",
             ".SH SEE ALSO", "\\fBgpumgr\\fR(1), \\fBgpumgr\\-config\\fR(5)"]
    return page


def main_page(binary, cmds, extra):
    syn, rest = split_usage(run(binary, "--help"))
    page = th("gpumgr", "1", "gpumgr manual")
    page += [".SH NAME", "gpumgr \\- a GPU resource manager for one machine"]
    page += synopsis(syn)
    desc = []
    for line in rest:
        if line == "commands:":
            break
        desc.append(line)
    page += [".SH DESCRIPTION"] + usage_body(desc)
    page += [".SH COMMANDS"]
    for name, summary in cmds:
        page += [".TP", "\\fBgpumgr\\-%s\\fR(1)" % esc_opt(name), esc(summary)]
    tail = rest[rest.index("commands:") + 1:] if "commands:" in rest else []
    tail = [l for l in tail if not re.match(r"^  \S", l)]
    page += [".SH EXIT STATUS"] + usage_body(
        [l for l in tail if "describes one command" not in l])
    with open(extra) as f:
        page += [l.rstrip("\n") for l in f if not l.startswith('.\\"')]
    see = ", ".join("\\fBgpumgr\\-%s\\fR(1)" % esc_opt(n) for n, _ in cmds)
    page += [".SH SEE ALSO", "\\fBgpumgr\\-config\\fR(5), " + see]
    return page


# ---- docs/config.md -------------------------------------------------------

def md_inline(text):
    text = re.sub(r"\[([^\]]+)\]\([^)]+\)", r"\1", text)
    parts = re.split(r"(`[^`]*`|\*\*[^*]+\*\*|\*[^*\s][^*]*\*)", text)
    out = []
    for p in parts:
        if p.startswith("`") and p.endswith("`") and len(p) > 1:
            out.append("\\fB%s\\fR" % esc(p[1:-1]).lstrip("\\&"))
        elif p.startswith("**") and p.endswith("**") and len(p) > 4:
            out.append("\\fB%s\\fR" % esc(p[2:-2]))
        elif p.startswith("*") and p.endswith("*") and len(p) > 2:
            out.append("\\fI%s\\fR" % esc(p[1:-1]))
        else:
            out.append(esc(p).replace("\\&", ""))
    line = "".join(out)
    if line.startswith((".", "'")):
        line = "\\&" + line
    return line


def config_page(md_path):
    with open(md_path) as f:
        lines = f.read().split("\n")
    page = th("gpumgr-config", "5", "gpumgr manual")
    page += [".SH NAME", "gpumgr-config \\- the configuration file of gpumgr,"
             " ROOT/config.json", ".SH DESCRIPTION"]
    i, header = 0, None
    while i < len(lines):
        line = lines[i]
        if line.startswith("# ") or (line.startswith("<!--") and
                                       line.rstrip().endswith("-->")):
            i += 1      # the title; a comment (docs/hacking.md's markers)
            continue
        if line.startswith("## "):
            title = line[3:].strip()
            if title == "For code":      # the source's map, not the user's
                break
            page.append(".SH " + esc(title.upper()))
        elif line.startswith("### "):
            page.append(".SS " + esc(line[4:].strip()))
        elif line.startswith("```"):
            page += [".PP", ".nf", ".RS 4"]
            i += 1
            while i < len(lines) and not lines[i].startswith("```"):
                page.append(esc(lines[i]) if lines[i] else "")
                i += 1
            page += [".RE", ".fi"]
        elif line.startswith("|"):
            cells = [c.strip() for c in line.strip("|").split("|")]
            if header is None:
                header = cells
            elif not all(re.match(r"^-+$", c) for c in cells):
                page += [".TP", md_inline(cells[0])]
                rest = ["%s: %s" % (h, md_inline(c))
                        for h, c in zip(header[1:], cells[1:]) if c]
                page.append("; ".join(rest) if rest else "")
        elif line.startswith("- "):
            text = line[2:]
            while i + 1 < len(lines) and lines[i + 1].startswith("  "):
                i += 1
                text += " " + lines[i].strip()
            page += [".IP \\(bu 2", md_inline(text)]
        elif not line.strip():
            header = None
            page.append(".PP")
        else:
            if page[-1].startswith((".SH", ".SS", ".TP")) or \
                    page[-1].startswith(".IP"):
                page.append(".PP")
            page.append(md_inline(line))
        i += 1
    page += [".SH FILES", ".TP", "\\fB/var/lib/gpumgr/config.json\\fR",
             "the system daemon's file (ROOT is \\fB/var/lib/gpumgr\\fR);"
             " optional: without it every default holds",
             ".TP", "\\fB/usr/share/doc/gpumgr/examples/config.example.json\\fR",
             "a complete example for a 5-GPU machine",
             ".SH SEE ALSO", "\\fBgpumgr\\fR(1), \\fBgpumgr\\-config\\fR(1)"]
    out, prev = [], None
    for l in page:
        if l == ".PP" and prev is not None and (prev == ".PP" or prev.startswith(
                (".SH", ".SS", ".TP")) or prev.startswith(".IP")):
            continue
        out.append(l)
        prev = l
    return out


def write(path, lines):
    with open(path + ".tmp", "w") as f:
        f.write("\n".join(lines) + "\n")
    os.replace(path + ".tmp", path)


def main():
    if len(sys.argv) == 4 and sys.argv[1] == "commands":
        binary, outdir = sys.argv[2], sys.argv[3]
        extra = os.path.join(os.path.dirname(os.path.abspath(__file__)),
                             "gpumgr.1.extra")
        os.makedirs(outdir, exist_ok=True)
        cmds = commands(binary)
        write(os.path.join(outdir, "gpumgr.1"), main_page(binary, cmds, extra))
        for name, summary in cmds:
            write(os.path.join(outdir, "gpumgr-%s.1" % name),
                  command_page(binary, name, summary))
    elif len(sys.argv) == 4 and sys.argv[1] == "config":
        write(sys.argv[3], config_page(sys.argv[2]))
    else:
        raise SystemExit(__doc__)


if __name__ == "__main__":
    main()
