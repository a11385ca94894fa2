"""Benchmark-only: count image decodes in every Python process (the Ray workers included) of a ``bench`` run.

Active only when ``IQABENCH_COUNT_READS_DIR`` is set and this folder is on ``PYTHONPATH`` (benchmarks/overhead.py
does both): ``datasets_io.decode.decode_bytes`` (which every image read goes through, local or remote) is wrapped
before anything imports it, and each call appends the image's name to ``<dir>/<pid>.txt``. Never used by iqabench.
"""

import os

_DIR = os.environ.get("IQABENCH_COUNT_READS_DIR")
if _DIR:
    import datasets_io.decode as _decode

    _decode_bytes = _decode.decode_bytes

    def decode_bytes(data, name="<bytes>"):
        with open(os.path.join(_DIR, f"{os.getpid()}.txt"), "a", encoding="utf-8") as fh:
            fh.write(f"{name}\n")
        return _decode_bytes(data, name)

    _decode.decode_bytes = decode_bytes
