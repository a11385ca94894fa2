"""Benchmark-only: count image reads in every Python process (the Ray workers included) of a ``bench`` run.

Active only when ``IQABENCH_COUNT_READS_DIR`` is set and this folder is on ``PYTHONPATH`` (benchmarks/overhead.py
does both): ``datasets_io.decode.read_image`` is wrapped before anything imports it, and each call appends the
path to ``<dir>/<pid>.txt``. Never used by iqabench itself.
"""

import os

_DIR = os.environ.get("IQABENCH_COUNT_READS_DIR")
if _DIR:
    import datasets_io.decode as _decode

    _read_image = _decode.read_image

    def read_image(path):
        with open(os.path.join(_DIR, f"{os.getpid()}.txt"), "a", encoding="utf-8") as fh:
            fh.write(f"{path}\n")
        return _read_image(path)

    _decode.read_image = read_image
