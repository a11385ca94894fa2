"""The distribution metrics' output file: ``<out>/<name>_sets.csv``, one row per metric (written atomically)."""

from __future__ import annotations

import csv
import io
import json
import os
from pathlib import Path

from orchestrator.sets.score import SetScore

COLUMNS = ("metric", "value", "extra", "mode", "distance", "images", "reference_images", "reference_statistics",
           "n_failed", "failures", "weight_sha256")


def write_set_scores(path: Path, scores: list[SetScore]) -> Path:
    buffer = io.StringIO()
    writer = csv.writer(buffer)
    writer.writerow(COLUMNS)
    for s in scores:
        writer.writerow([s.metric, repr(s.value), json.dumps(s.extra), s.mode, s.distance, s.images,
                         "" if s.reference_images is None else s.reference_images, s.reference_statistics or "",
                         len(s.failures), json.dumps(s.failures), json.dumps(s.weight_sha256)])
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    tmp.write_text(buffer.getvalue(), encoding="utf-8")
    os.replace(tmp, path)
    return path
