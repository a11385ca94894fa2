"""The cost model: how long a metric takes per image on a device, how long its model takes to load, and how much
work each cell of a plan therefore is.

Sources, in order of trust:

1. ``resources.json`` written by ``iqabench efficiency`` on this kind of machine (``seconds_per_image`` by
   device, ``load_seconds``, and ``at_pixels``, the image size the seconds were measured at);
2. pyiqa's published efficiency table (:mod:`orchestrator.run.pyiqa_efficiency`: seconds per ~1080×800 image
   on a Xeon E5-2650 v4 and a V100, batch 1, decode included);
3. a default per device (:data:`DEFAULT_SECONDS`), which the scheduler replaces by the measured rate as soon as
   a metric has scored a few batches.

Seconds scale with the image's pixels (an affine model: a fixed part per image plus a part per pixel), from the
size the seconds were measured at to the dataset's typical size, sampled from a few image headers.
"""

from __future__ import annotations

import logging
import math
from dataclasses import dataclass
from typing import Any, Mapping

from datasets_io.decode import shorter_side_size
from metrics.spec import MetricSpec
from orchestrator.run.pyiqa_efficiency import PYIQA_EFFICIENCY

log = logging.getLogger(__name__)

#: The image size of pyiqa's efficiency protocol (about 1080×800).
REFERENCE_PIXELS = 1080 * 800
#: Share of a metric's per-image time that does not grow with the image (decode set-up, model call, transfers).
FIXED_SHARE = 0.1
#: Seconds per reference image when nothing better is known.
DEFAULT_SECONDS = {"cpu": 0.5, "cuda": 0.05}
#: Seconds from asking Ray for a new actor to its models starting to load: a worker process starts and imports the
#: scoring code (torch for deep metrics). An estimate (1-4 s measured on the 2-core VM with ten actors starting at
#: once and no torch; importing torch adds about 2 s); the scheduler replaces it by the time measured in the run.
ACTOR_START_SECONDS = 2.0
#: Seconds to build a metric's model when nothing better is known (after :data:`ACTOR_START_SECONDS`): classical
#: metrics build filters, deep ones read their weights (and initialise CUDA). The scheduler replaces it by the
#: measured time once an actor is ready.
DEFAULT_LOAD_SECONDS = {"cpu": 1.0, "cuda": 4.0}
#: Image headers read per dataset to estimate its typical size.
SIZE_SAMPLE = 16


@dataclass(frozen=True)
class MetricCost:
    """What one actor of a metric costs: seconds per image at ``at_pixels`` and seconds to load the model (once its
    worker process is up: see :data:`ACTOR_START_SECONDS`)."""

    metric: str
    device: str
    seconds_per_image: float
    load_seconds: float
    at_pixels: float = REFERENCE_PIXELS
    source: str = "default"

    def seconds_for(self, pixels: float) -> float:
        """Seconds per image of ``pixels`` pixels (affine in the pixel count)."""
        ratio = max(pixels, 1.0) / max(self.at_pixels, 1.0)
        return self.seconds_per_image * (FIXED_SHARE + (1.0 - FIXED_SHARE) * ratio)


def pyiqa_table() -> dict[str, dict[str, float]]:
    """pyiqa's published efficiency numbers by metric name (see :mod:`orchestrator.run.pyiqa_efficiency`)."""
    return {name: {"cpu": cpu, "cuda": cuda, "peak_gpu_gb": peak} for name, (cpu, cuda, peak) in PYIQA_EFFICIENCY.items()}


def _positive(value: Any) -> float | None:
    try:
        number = float(value)
    except (TypeError, ValueError):
        return None
    return number if math.isfinite(number) and number > 0 else None


def metric_cost(spec: MetricSpec, device: str, measured: Mapping[str, Any] | None = None) -> MetricCost:
    """The cost of one actor of ``spec`` on ``device`` (``cpu`` or ``cuda``) from the best source available.

    ``measured``: the metric's entry of ``resources.json`` (see
    :mod:`orchestrator.efficiency.measured_resources`), if any.
    """
    kind = "cuda" if device.startswith("cuda") else "cpu"
    entry = measured or {}
    seconds = _positive((entry.get("seconds_per_image") or {}).get(kind))
    load = _positive(entry.get("load_seconds"))
    if seconds is not None:
        at = _positive(entry.get("at_pixels")) or REFERENCE_PIXELS
        return MetricCost(spec.name, kind, seconds, load or DEFAULT_LOAD_SECONDS[kind], at, "measured")
    published = pyiqa_table().get(spec.registered_name)
    if published is not None and published[kind] > 0:
        # A bigger model takes longer to load: ~2 s per GB it holds on the GPU.
        base = DEFAULT_LOAD_SECONDS[kind]
        estimated_load = min(base + 2.0 * published["peak_gpu_gb"], 3 * base) if kind == "cuda" else base
        return MetricCost(spec.name, kind, published[kind], load or estimated_load, REFERENCE_PIXELS, "pyiqa table")
    return MetricCost(spec.name, kind, DEFAULT_SECONDS[kind], load or DEFAULT_LOAD_SECONDS[kind],
                      REFERENCE_PIXELS, "default")


def typical_pixels(paths: list[str], resize: int | None = None) -> float:
    """Mean pixel count of up to :data:`SIZE_SAMPLE` images spread over ``paths`` (headers only), after the
    dataset's shorter-side ``resize``; :data:`REFERENCE_PIXELS` when none can be read (remote storage, say)."""
    from PIL import Image, UnidentifiedImageError

    if not paths:
        return float(REFERENCE_PIXELS)
    step = max(1, len(paths) // SIZE_SAMPLE)
    sizes = []
    for path in paths[::step][:SIZE_SAMPLE]:
        if "://" in path:
            continue
        try:
            with Image.open(path) as image:
                width, height = image.size
        except (OSError, UnidentifiedImageError) as exc:  # the scoring run reports unreadable images per row
            log.debug("cost model: cannot read the size of %s (%s)", path, exc)
            continue
        if resize:
            width, height = shorter_side_size(width, height, resize)
        sizes.append(width * height)
    return float(sum(sizes) / len(sizes)) if sizes else float(REFERENCE_PIXELS)
