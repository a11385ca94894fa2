"""iqabench's Python API, in the shape a pyiqa user knows::

    import iqabench

    metric = iqabench.create_metric("lpips", device="cpu")
    metric("dist.png", "ref.png")          # paths, PIL images, numpy arrays or tensors
    metric.lower_better, metric.score_range
    iqabench.list_models(metric_mode="NR", filter="*iqa*")
    iqabench.create_metric("fid")("generated/", "real/")   # distribution metrics score folders

Images given as files are decoded exactly as the benchmark decodes them (:mod:`datasets_io.decode`), so a score
from the API equals the score ``iqabench score`` and ``iqabench bench`` record for the same file. This package is
a facade over :mod:`metrics` and :mod:`datasets_io`; nothing in the product imports it back.
"""

from __future__ import annotations

from iqabench.api import Metric, SetMetric, create_metric, list_models
from iqabench.images import ImageInput, to_batch

__all__ = ["ImageInput", "Metric", "SetMetric", "create_metric", "list_models", "to_batch"]
