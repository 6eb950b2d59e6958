#!/usr/bin/env python3
"""Text embeddings with sentence-transformers as a gpumgr script task.
Speaks gpumgr's status protocol (docs/scripts.md): `ready` once the model is
loaded, `progress F` after each batch. The GPU is the one gpumgr gave it
(CUDA_VISIBLE_DEVICES); install steps are in docs/real-gpus.md.

  embed.py --input FILE --output FILE [--model NAME|PATH] [--batch-size N]
           [--device auto|cuda|cpu] [--normalize]

FILE is text, one passage a line (blank lines skipped), or JSON Lines
(a .jsonl/.ndjson name) with a "text" and an optional "id" per line. The
output is JSON Lines, {"id": ..., "embedding": [...]} per input in order
(id: the input's, else its line number), written whole and renamed into
place. Exit: 0 done, 1 encoding failed, 2 bad arguments or input, 3 the
model could not be loaded, 127 sentence-transformers is not installed.
"""
import argparse
import json
import os
import sys

ME = os.path.basename(sys.argv[0])
STATUS_FD = int(os.environ.get("GPUMGR_STATUS_FD", "-1") or -1)


def status(line):
    if STATUS_FD >= 0:
        try:
            os.write(STATUS_FD, (line + "\n").encode())
        except OSError:
            pass


def die(code, msg):
    print("%s: %s" % (ME, msg), file=sys.stderr)
    sys.exit(code)


def read_input(path):
    """[(id, text)] from PATH; exits 2 naming the line of a bad one."""
    items = []
    jsonl = path.endswith((".jsonl", ".ndjson"))
    try:
        with open(path, encoding="utf-8") as f:
            for n, line in enumerate(f, 1):
                if not line.strip():
                    continue
                if not jsonl:
                    items.append((n, line.rstrip("\n")))
                    continue
                try:
                    o = json.loads(line)
                except ValueError as e:
                    die(2, "%s:%d: not JSON: %s" % (path, n, e))
                if not isinstance(o, dict) or not isinstance(o.get("text"), str):
                    die(2, '%s:%d: want an object with a "text" string' % (path, n))
                items.append((o.get("id", n), o["text"]))
    except OSError as e:
        die(2, "--input %s: %s" % (path, e.strerror))
    except UnicodeDecodeError as e:
        die(2, "--input %s: not UTF-8 text (%s)" % (path, e))
    if not items:
        die(2, "--input %s: no text in it" % path)
    return items


def main():
    p = argparse.ArgumentParser(prog=ME, description="Embed texts for gpumgr.")
    p.add_argument("--input", required=True)
    p.add_argument("--output", required=True)
    p.add_argument("--model", default="all-mpnet-base-v2",
                   help="a sentence-transformers model name or folder")
    p.add_argument("--batch-size", type=int, default=32)
    p.add_argument("--device", choices=("auto", "cuda", "cpu"), default="auto")
    p.add_argument("--normalize", action="store_true",
                   help="unit-length vectors (cosine similarity = dot product)")
    args = p.parse_args()
    if args.batch_size < 1:
        die(2, "--batch-size %d: want 1 or more" % args.batch_size)
    if not os.path.isdir(os.path.dirname(os.path.abspath(args.output))):
        die(2, "--output %s: its folder does not exist" % args.output)
    items = read_input(args.input)

    try:
        from sentence_transformers import SentenceTransformer
    except ImportError as e:
        die(127, "sentence-transformers is not installed (%s); install it with "
            "`pip install sentence-transformers` (docs/real-gpus.md)" % e)
    device = args.device
    if device == "auto":
        device = "cuda" if os.environ.get("CUDA_VISIBLE_DEVICES") else "cpu"
    try:
        model = SentenceTransformer(args.model, device=device)
    except Exception as e:  # the library raises many kinds
        die(3, "cannot load model %r on %s: %s" % (args.model, device, e))
    status("ready")

    tmp = "%s.tmp-%d" % (args.output, os.getpid())
    try:
        with open(tmp, "w", encoding="utf-8") as out:
            for start in range(0, len(items), args.batch_size):
                chunk = items[start:start + args.batch_size]
                vecs = model.encode([t for _, t in chunk], batch_size=args.batch_size,
                                    normalize_embeddings=args.normalize,
                                    show_progress_bar=False)
                for (ident, _), v in zip(chunk, vecs):
                    out.write(json.dumps({"id": ident, "embedding": [float(x) for x in v]}) + "\n")
                done = start + len(chunk)
                if done < len(items):
                    status("progress %.3f" % (done / len(items)))
            out.flush()
            os.fsync(out.fileno())
        os.replace(tmp, args.output)
    except Exception as e:
        try:
            os.unlink(tmp)
        except OSError:
            pass
        die(1, "encoding %s failed: %s" % (args.input, e))
    status("progress 1")
    print("embedded %d texts from %s -> %s" % (len(items), args.input, args.output))


if __name__ == "__main__":
    main()
