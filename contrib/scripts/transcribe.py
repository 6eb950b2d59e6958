#!/usr/bin/env python3
"""Speech to text as a gpumgr script task, with faster-whisper (default) or
whisper.cpp's command-line program. Speaks gpumgr's status protocol
(docs/scripts.md): `ready` once the model is loaded, `progress F` as the
audio is transcribed. The GPU is the one gpumgr gave it
(CUDA_VISIBLE_DEVICES); install steps are in docs/real-gpus.md.

  transcribe.py --input MEDIA [--lang auto|en|...] [--model NAME|PATH]
                [--backend faster-whisper|whisper.cpp] [--format txt|srt|json]
                [--output FILE] [--device auto|cuda|cpu] [--compute-type T]
                [--whisper-cli PROGRAM]

The transcript goes to --output (written whole, then renamed into place),
else to stdout. Exit: 0 done, 1 transcription failed, 2 bad arguments,
3 the model could not be loaded, 127 the backend is not installed.
"""
import argparse
import json
import os
import re
import shutil
import subprocess
import sys
import tempfile

ME = os.path.basename(sys.argv[0])
STATUS_FD = int(os.environ.get("GPUMGR_STATUS_FD", "-1") or -1)


def status(line):
    """One protocol line to gpumgr (one write: never split)."""
    if STATUS_FD >= 0:
        try:
            os.write(STATUS_FD, (line + "\n").encode())
        except OSError:
            pass


def die(code, msg):
    print("%s: %s" % (ME, msg), file=sys.stderr)
    sys.exit(code)


class Progress:
    """Sends `progress F` when F moved by a percent or more."""

    def __init__(self, total):
        self.total, self.last = total, -1.0

    def at(self, pos):
        if not self.total or self.total <= 0:
            return
        f = min(max(pos / self.total, 0.0), 0.99)
        if f >= self.last + 0.01:
            status("progress %.2f" % f)
            self.last = f


def stamp(sec, comma):
    ms = int(round(sec * 1000))
    h, ms = divmod(ms, 3600000)
    m, ms = divmod(ms, 60000)
    s, ms = divmod(ms, 1000)
    return "%02d:%02d:%02d%s%03d" % (h, m, s, "," if comma else ".", ms)


def render(segments, fmt, language):
    """segments: [(start, end, text)] -> the transcript in FMT."""
    if fmt == "json":
        return json.dumps({"language": language, "segments": [
            {"start": round(a, 3), "end": round(b, 3), "text": t} for a, b, t in segments]},
            ensure_ascii=False) + "\n"
    if fmt == "srt":
        return "".join("%d\n%s --> %s\n%s\n\n" % (i + 1, stamp(a, True), stamp(b, True), t)
                       for i, (a, b, t) in enumerate(segments))
    return "".join(t + "\n" for _, _, t in segments)


def faster_whisper(args):
    try:
        from faster_whisper import WhisperModel
    except ImportError as e:
        die(127, "faster-whisper is not installed (%s); install it with "
            "`pip install faster-whisper` (docs/real-gpus.md)" % e)
    device = args.device
    if device == "auto":
        device = "cuda" if os.environ.get("CUDA_VISIBLE_DEVICES") else "cpu"
    try:
        model = WhisperModel(args.model, device=device, compute_type=args.compute_type)
    except Exception as e:  # the library raises many kinds
        die(3, "cannot load model %r on %s: %s" % (args.model, device, e))
    status("ready")
    try:
        segs, info = model.transcribe(args.input,
                                      language=None if args.lang == "auto" else args.lang)
        prog = Progress(getattr(info, "duration", None))
        out = []
        for s in segs:  # a generator: the work happens here
            out.append((s.start, s.end, s.text.strip()))
            prog.at(s.end)
    except Exception as e:
        die(1, "transcribing %s failed: %s" % (args.input, e))
    return out, getattr(info, "language", args.lang)


SEGMENT = re.compile(r"^\[(\d+):(\d+):(\d+)\.(\d+) --> (\d+):(\d+):(\d+)\.(\d+)\]\s*(.*)$")
PROGRESS = re.compile(r"progress\s*=\s*(\d+)%")


def whisper_cpp(args):
    cli = shutil.which(args.whisper_cli)
    if cli is None:
        die(127, "whisper.cpp's %s is not in PATH (build whisper.cpp, or name it "
            "with --whisper-cli; docs/real-gpus.md)" % args.whisper_cli)
    if not os.path.isfile(args.model):
        die(3, "--model %s: whisper.cpp needs the path of a ggml model file" % args.model)
    if shutil.which("ffmpeg") is None:
        die(127, "ffmpeg is not in PATH (apt-get install ffmpeg): whisper.cpp "
            "reads 16 kHz WAV only")
    tmp = tempfile.mkdtemp(prefix="transcribe-", dir=os.environ.get("GPUMGR_RUN_DIR"))
    try:
        wav = os.path.join(tmp, "audio.wav")
        conv = subprocess.run(["ffmpeg", "-nostdin", "-hide_banner", "-loglevel", "error",
                               "-i", args.input, "-ar", "16000", "-ac", "1",
                               "-c:a", "pcm_s16le", "-y", wav],
                              stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
        if conv.returncode != 0:
            die(2, "--input %s: ffmpeg cannot read its audio: %s"
                % (args.input, conv.stderr.strip()[-500:]))
        cmd = [cli, "-m", args.model, "-f", wav, "-pp",
               "-l", "auto" if args.lang == "auto" else args.lang]
        proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                                text=True)
        out, errtail, ready = [], [], False
        # Progress is on stderr, segments on stdout: read stderr in the
        # foreground, stdout in a thread, so neither pipe fills up.
        import threading

        def read_out():
            for line in proc.stdout:
                m = SEGMENT.match(line.strip())
                if m:
                    g = [int(x) for x in m.groups()[:8]]
                    a = g[0] * 3600 + g[1] * 60 + g[2] + g[3] / 1000
                    b = g[4] * 3600 + g[5] * 60 + g[6] + g[7] / 1000
                    out.append((a, b, m.group(9).strip()))
        t = threading.Thread(target=read_out)
        t.start()
        for line in proc.stderr:
            errtail = (errtail + [line.rstrip()])[-20:]
            # The model is loaded once whisper.cpp reports its system info
            # or its first progress.
            if not ready and ("system_info" in line or PROGRESS.search(line)):
                status("ready")
                ready = True
            m = PROGRESS.search(line)
            if m:
                status("progress %.2f" % min(int(m.group(1)) / 100, 0.99))
        t.join()
        rc = proc.wait()
        if rc != 0:
            loadfail = any("failed to load model" in l for l in errtail)
            die(3 if loadfail else 1, "%s exited with %d: %s" % (cli, rc, " | ".join(errtail[-5:])))
        if not ready:
            status("ready")
        return out, args.lang
    finally:
        shutil.rmtree(tmp, ignore_errors=True)


def main():
    p = argparse.ArgumentParser(prog=ME, description="Transcribe audio or video for gpumgr.")
    p.add_argument("--input", required=True, help="audio or video file")
    p.add_argument("--lang", default="auto", help="language code, or auto (default)")
    p.add_argument("--model", default="small.en",
                   help="faster-whisper: a model name or folder; whisper.cpp: a ggml file")
    p.add_argument("--backend", choices=("faster-whisper", "whisper.cpp"),
                   default="faster-whisper")
    p.add_argument("--format", choices=("txt", "srt", "json"), default="txt")
    p.add_argument("--output", help="write the transcript here (default: stdout)")
    p.add_argument("--device", choices=("auto", "cuda", "cpu"), default="auto")
    p.add_argument("--compute-type", default="default",
                   help="faster-whisper's compute_type (float16, int8, ...)")
    p.add_argument("--whisper-cli", default="whisper-cli",
                   help="whisper.cpp's program (default: whisper-cli)")
    args = p.parse_args()  # bad arguments: exit 2 with the usage
    if not os.path.isfile(args.input) or not os.access(args.input, os.R_OK):
        die(2, "--input %s: no such readable file" % args.input)
    if args.output and not os.path.isdir(os.path.dirname(os.path.abspath(args.output))):
        die(2, "--output %s: its folder does not exist" % args.output)

    segs, language = (faster_whisper if args.backend == "faster-whisper" else whisper_cpp)(args)
    text = render(segs, args.format, language)
    if args.output:
        tmp = "%s.tmp-%d" % (args.output, os.getpid())
        with open(tmp, "w", encoding="utf-8") as f:
            f.write(text)
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, args.output)
        print("transcribed %s: %d segments -> %s" % (args.input, len(segs), args.output))
    else:
        sys.stdout.write(text)
    status("progress 1")


if __name__ == "__main__":
    main()
