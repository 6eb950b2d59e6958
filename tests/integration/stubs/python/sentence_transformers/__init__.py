"""A stand-in for sentence-transformers' SentenceTransformer so that
contrib/scripts/embed.py's own work -- input parsing, batching, the protocol
lines, the output -- is tested here, where the real library and its models
cannot be downloaded. The "embedding" of a text is 3 numbers computed from
it (length, words, sum of code points). STUB_ST_FAIL=load makes loading
raise.
"""
import math
import os


class SentenceTransformer:
    def __init__(self, model_name_or_path, device=None, **kw):
        if os.environ.get("STUB_ST_FAIL") == "load":
            raise OSError("%s is not a local folder and is not a valid model identifier"
                          % model_name_or_path)
        self.calls = 0

    def encode(self, sentences, batch_size=32, normalize_embeddings=False,
               show_progress_bar=None, **kw):
        out = []
        for s in sentences:
            v = [float(len(s)), float(len(s.split())), float(sum(map(ord, s)) % 1000)]
            if normalize_embeddings:
                n = math.sqrt(sum(x * x for x in v)) or 1.0
                v = [x / n for x in v]
            out.append(v)
        return out
