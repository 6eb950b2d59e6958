"""A stand-in for faster-whisper's API (WhisperModel, transcribe's lazy
segments and info) so that contrib/scripts/transcribe.py's own work -- the
protocol lines, progress from segment ends, the output formats, errors --
is tested here, where the real library and its models cannot be
downloaded. Nothing is transcribed: the segments are made up from the
file's size. STUB_WHISPER_FAIL=load|transcribe makes that step raise.
"""
import os
from collections import namedtuple

Segment = namedtuple("Segment", "start end text")
Info = namedtuple("Info", "language language_probability duration")


class WhisperModel:
    def __init__(self, model_size_or_path, device="auto", compute_type="default", **kw):
        if os.environ.get("STUB_WHISPER_FAIL") == "load":
            raise RuntimeError("Unable to open file 'model.bin' in model '%s'" % model_size_or_path)
        self.model, self.device = model_size_or_path, device

    def transcribe(self, audio, language=None, **kw):
        size = os.path.getsize(audio)
        duration = 10.0

        def segments():
            for i in range(5):
                if os.environ.get("STUB_WHISPER_FAIL") == "transcribe" and i == 2:
                    raise RuntimeError("CUDA out of memory")
                yield Segment(i * 2.0, i * 2.0 + 1.5,
                              " part %d of %d bytes on %s" % (i + 1, size, self.device))
        return segments(), Info(language or "en", 0.99, duration)
