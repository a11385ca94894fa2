"""What runs on the Ray workers: ``decode_batch`` (a CPU task per block) and :class:`PoolActor` (a pool's actor,
holding one :class:`ScoreWith` per metric, its model loaded once per run).

Rows flow as dicts of numpy columns. ``decode_batch`` adds uint8 H×W×3 ``dist`` (and ``ref``) images and a
``decode_error`` column; each ``ScoreWith`` scores the rows its mask selects and adds ``score__<m>``,
``error__<m>``, ``seconds__<m>``, ``node__<m>``, ``started__<m>`` and ``finished__<m>``. Errors never escape a
block: they are recorded per image (which, why).
"""

from __future__ import annotations

import time
import traceback
from typing import Any

import numpy as np

from datasets_io.decode import ImageDecodeError, resize_shorter_side
from datasets_io.remote import read_image_uri as read_image
from orchestrator.results.columns import CAPTION_COLUMNS, column

_PLACEHOLDER = np.zeros((1, 1, 3), dtype=np.uint8)


def decode_batch(batch: dict[str, np.ndarray], resize: int | None = None, with_ref: bool = True) -> dict[str, Any]:
    """Read and decode the batch's images; a failure becomes that row's ``decode_error``.

    2AFC rows (a ``dist_b_path`` column) also decode the second candidate as ``dist_b``; a caption metric's
    ``caption__<metric>`` column is passed on as it is.
    """
    n = len(batch["id"])
    two_afc = "dist_b_path" in batch
    columns: dict[str, list[np.ndarray]] = {"dist": [], "ref": [], "dist_b": []}
    errors: list[str | None] = []
    for i in range(n):
        role = "distorted image"
        try:
            images = {"dist": read_image(batch["dist_path"][i])}
            if with_ref:
                role = "reference image"
                images["ref"] = read_image(batch["ref_path"][i])
            if two_afc:
                role = "second candidate image"
                images["dist_b"] = read_image(batch["dist_b_path"][i])
            role = "image pair"
            if resize:
                images = {k: resize_shorter_side(v, resize) for k, v in images.items()}
            for other in ("ref", "dist_b"):
                if other in images and images[other].shape != images["dist"].shape:
                    h, w = images[other].shape[:2]
                    raise ImageDecodeError(
                        batch["dist_path"][i],
                        f"size {images['dist'].shape[1]}×{images['dist'].shape[0]} differs from its "
                        f"{'reference' if other == 'ref' else 'second candidate'} {w}×{h}",
                    )
            errors.append(None)
        except ImageDecodeError as exc:
            # The row names the image; the message says which file of it failed and why (groupable).
            images = {}
            errors.append(f"decode: {role}: {exc.reason}")
        for key in columns:
            columns[key].append(images.get(key, _PLACEHOLDER))
    out: dict[str, Any] = {"id": batch["id"], "dist": _as_column(columns["dist"]),
                           "decode_error": np.array(errors, dtype=object)}
    if with_ref:
        out["ref"] = _as_column(columns["ref"])
    if two_afc:
        out["dist_b"] = _as_column(columns["dist_b"])
    out.update({key: value for key, value in batch.items() if key.startswith(CAPTION_COLUMNS)})
    return out


def _as_column(images: list[np.ndarray]) -> np.ndarray | list[np.ndarray]:
    if len({im.shape for im in images}) == 1:
        return np.stack(images)
    return images  # ragged: Ray stores it as a variable-shaped tensor column


class PoolActor:
    """A pool's actor: holds the models of one or more metrics (one :class:`ScoreWith` each), loaded once per run,
    and scores decoded blocks of any dataset with them.

    ``stages`` are :class:`ScoreWith` keyword arguments. :meth:`score` returns only the result columns (never the
    images), for the rows each metric's mask selects.
    """

    def __init__(self, stages: list[dict[str, Any]]) -> None:
        self.stages: list[ScoreWith] = []
        self._load(stages)

    def _load(self, stages: list[dict[str, Any]]) -> None:
        started = time.perf_counter()
        self.stages = [ScoreWith(**stage) for stage in stages]
        self.load_seconds = time.perf_counter() - started

    def switch(self, stages: list[dict[str, Any]]) -> dict[str, Any]:
        """Drop the models held and load ``stages`` instead, in this process: a pool whose work is done hands its
        actor (its worker process, imports and device) to a pool that wants one of the same shape, which then
        waits for a model load only, not for a new process. Returns what :meth:`ready` returns."""
        import gc
        import sys

        self.stages = []
        gc.collect()
        torch = sys.modules.get("torch")
        if torch is not None and torch.cuda.is_available():
            torch.cuda.empty_cache()  # the next model gets the memory the last one held
        self._load(stages)
        return self.ready()

    def ready(self) -> dict[str, Any]:
        """Seconds the models took to load and, per metric, why one could not be built (None: it was)."""
        return {"load_seconds": self.load_seconds,
                "construct_errors": {stage.metric: stage.construct_error for stage in self.stages}}

    def decode_and_score(self, batch: dict[str, np.ndarray], decode: dict[str, Any],
                         masks: dict[str, np.ndarray]) -> dict[str, Any]:
        """:func:`decode_batch` then :meth:`score`, in this actor (for a block no other pool needs, where a decode
        task would only compete with the actors for the same CPUs)."""
        return self.score(decode_batch(batch, **decode), masks)

    def score(self, block: dict[str, Any], masks: dict[str, np.ndarray]) -> dict[str, Any]:
        """Score the block's rows with every metric that has a mask; returns ``id`` and each metric's columns."""
        out: dict[str, Any] = {"id": np.asarray(block["id"])}
        for stage in self.stages:
            mask = masks.get(stage.metric)
            if mask is None or not mask.any():
                continue
            scored = stage(dict(block), mask=mask)
            out.update({k: v for k, v in scored.items() if k.endswith(f"__{stage.metric}")})
        return out


def _one_line(exc: BaseException) -> str:
    return f"{type(exc).__name__}: {exc}".splitlines()[0][:500]


class ScoreWith:
    """Holds one metric model; scores the batch's rows and appends its columns.

    ``module`` names the metric's declaring module, so the actor imports only that one (not every family);
    ``builds`` the registered metric whose model it holds when ``metric`` is a named variant (pyiqa's ``psnr-y``).
    """

    def __init__(self, metric: str, options: dict[str, Any], device: str = "cpu", batch_size: int = 8,
                 num_threads: int = 1, module: str | None = None, builds: str | None = None) -> None:
        import ray

        import metrics
        from metrics.registry import load_module_specs

        self.num_threads = max(1, num_threads)
        self.metric = metric
        self.device = device
        self.batch_size = batch_size
        self.node = ray.get_runtime_context().get_node_id()
        self.construct_error: str | None = None
        self.model = None
        try:
            if module is not None:
                load_module_specs(module)
            self.model = metrics.create(builds or metric, device=device, **options)
            self.full_reference = self.model.spec.mode == "FR"
            #: A model that scores uint8 numpy images itself (the cluster simulator's stand-ins): no torch here.
            self.numpy_scoring = bool(getattr(self.model, "numpy_scoring", False))
            if not self.numpy_scoring:
                import torch

                torch.set_num_threads(self.num_threads)
        except Exception as exc:  # recorded on every row of the cell, the rest of the matrix goes on
            self.construct_error = f"construct: {_one_line(exc)}"
            traceback.print_exc()

    def __call__(self, batch: dict[str, Any], mask: np.ndarray | None = None) -> dict[str, Any]:
        """Score the batch's rows (only those ``mask`` selects, when given) and append this metric's columns."""
        n = len(batch["id"])
        two_afc = "dist_b" in batch
        scores = np.full(n, np.nan, dtype=np.float64)
        scores_b = np.full(n, np.nan, dtype=np.float64)
        errors: list[str | None] = [None] * n
        seconds = np.full(n, np.nan, dtype=np.float64)
        started = time.time()
        if self.construct_error is not None:
            errors = [self.construct_error] * n
        else:
            groups: dict[tuple, list[int]] = {}
            for i in range(n):
                if mask is not None and not mask[i]:
                    errors[i] = "not asked"
                    continue
                decode_error = batch["decode_error"][i]
                if isinstance(decode_error, str):  # Arrow may hand an all-null column back as NaN
                    errors[i] = decode_error
                else:
                    groups.setdefault(tuple(batch["dist"][i].shape), []).append(i)
            for rows in groups.values():
                for start in range(0, len(rows), self.batch_size):
                    chunk = rows[start : start + self.batch_size]
                    self._score_rows(batch, "dist", chunk, scores, errors, seconds)
                    if two_afc:
                        self._score_rows(batch, "dist_b", chunk, scores_b, errors, seconds)
        finished = time.time()
        batch[column(self.metric, "score")] = scores
        batch[column(self.metric, "score_b")] = scores_b
        batch[column(self.metric, "error")] = np.array(errors, dtype=object)
        batch[column(self.metric, "seconds")] = seconds
        batch[column(self.metric, "node")] = np.array([self.node] * n, dtype=object)
        batch[column(self.metric, "started")] = np.full(n, started)
        batch[column(self.metric, "finished")] = np.full(n, finished)
        return batch

    def _score_rows(self, batch, key, rows, scores, errors, seconds) -> None:
        """Score image column ``key`` (``dist`` or the 2AFC ``dist_b``) of ``rows``; record failures per row."""
        rows = [row for row in rows if errors[row] is None]
        if not rows:
            return
        try:
            values, elapsed = self._forward(batch, key, rows)
        except Exception as exc:
            if len(rows) == 1:
                errors[rows[0]] = f"score: {_one_line(exc)}"
                return
            for row in rows:  # isolate the failing image(s)
                self._score_rows(batch, key, [row], scores, errors, seconds)
            return
        for row, value in zip(rows, values):
            scores[row] = value
            seconds[row] = elapsed / len(rows) + (0.0 if np.isnan(seconds[row]) else seconds[row])
            if not np.isfinite(value):
                errors[row] = f"score: non-finite value {value}"

    def _forward(self, batch, key, rows) -> tuple[np.ndarray, float]:
        if self.numpy_scoring:
            start = time.perf_counter()
            ref = [batch["ref"][i] for i in rows] if self.full_reference else None
            values = np.asarray(self.model.score_numpy([batch[key][i] for i in rows], ref), dtype=np.float64)
            elapsed = time.perf_counter() - start
            if values.shape != (len(rows),):
                raise RuntimeError(f"metric returned shape {values.shape} for {len(rows)} images")
            return values, elapsed
        import torch

        from metrics.base import images_to_tensor

        start = time.perf_counter()
        with torch.inference_mode():
            dist = images_to_tensor([batch[key][i] for i in rows], self.device)
            ref = images_to_tensor([batch["ref"][i] for i in rows], self.device) if self.full_reference else None
            if self.model.spec.needs_captions:
                captions = batch.get(column(self.metric, "caption"))
                if captions is None:
                    raise RuntimeError(f"{self.metric} scores images against captions, and the rows carry none")
                values = self.model.score_captions(dist, [str(captions[i]) for i in rows])
            else:
                values = self.model(dist, ref)
            values = values.detach().to("cpu", torch.float64).numpy()
        if self.device.startswith("cuda"):
            torch.cuda.synchronize()
        elapsed = time.perf_counter() - start
        if values.shape != (len(rows),):
            raise RuntimeError(f"metric returned shape {values.shape} for {len(rows)} images")
        return values, elapsed

