"""The callables Ray Data runs: ``decode_batch`` (CPU tasks) and ``ScoreWith`` (one metric model per actor).

Rows flow as dicts of numpy columns. ``decode_batch`` adds uint8 H×W×3 ``dist`` (and ``ref``) images and a
``decode_error`` column; every ``ScoreWith`` stage adds ``score__<m>``, ``error__<m>``, ``seconds__<m>``,
``node__<m>`` and passes the images on, so each image is decoded once however many metrics score it.
Errors never escape a batch: they are recorded per image (which, why).
"""

from __future__ import annotations

import os
import time
import traceback
from typing import Any

import numpy as np

from datasets_io.decode import ImageDecodeError, read_image, resize_shorter_side

_PLACEHOLDER = np.zeros((1, 1, 3), dtype=np.uint8)


def column(metric: str, what: str) -> str:
    return f"{what}__{metric}"


def decode_batch(batch: dict[str, np.ndarray], resize: int | None = None, with_ref: bool = True) -> dict[str, Any]:
    """Read and decode the batch's images; a failure becomes that row's ``decode_error``."""
    n = len(batch["id"])
    dists: list[np.ndarray] = []
    refs: list[np.ndarray] = []
    errors: list[str | None] = []
    for i in range(n):
        role = "distorted image"
        try:
            dist = read_image(batch["dist_path"][i])
            role = "reference image"
            ref = read_image(batch["ref_path"][i]) if with_ref else None
            role = "image pair"
            if resize:
                dist = resize_shorter_side(dist, resize)
                ref = resize_shorter_side(ref, resize) if ref is not None else None
            if ref is not None and ref.shape != dist.shape:
                raise ImageDecodeError(
                    batch["dist_path"][i],
                    f"size {dist.shape[1]}×{dist.shape[0]} differs from its reference {ref.shape[1]}×{ref.shape[0]}",
                )
            dists.append(dist)
            refs.append(ref if ref is not None else _PLACEHOLDER)
            errors.append(None)
        except ImageDecodeError as exc:
            # The row names the image; the message says which file of it failed and why (groupable).
            dists.append(_PLACEHOLDER)
            refs.append(_PLACEHOLDER)
            errors.append(f"decode: {role}: {exc.reason}")
    out: dict[str, Any] = {"id": batch["id"], "dist": _as_column(dists), "decode_error": np.array(errors, dtype=object)}
    if with_ref:
        out["ref"] = _as_column(refs)
    return out


def _as_column(images: list[np.ndarray]) -> np.ndarray | list[np.ndarray]:
    if len({im.shape for im in images}) == 1:
        return np.stack(images)
    return images  # ragged: Ray stores it as a variable-shaped tensor column


def _one_line(exc: BaseException) -> str:
    return f"{type(exc).__name__}: {exc}".splitlines()[0][:500]


class ScoreWith:
    """Holds one metric model; scores the batch's rows and appends its columns."""

    def __init__(self, metric: str, options: dict[str, Any], device: str = "cpu", batch_size: int = 8,
                 num_threads: int = 1, drop_images: bool = False) -> None:
        import ray
        import torch

        import metrics

        torch.set_num_threads(max(1, num_threads))
        self.metric = metric
        self.device = device
        self.batch_size = batch_size
        #: The last stage of a pass drops the decoded images so that only scores travel back to the driver.
        self.drop_images = drop_images
        self.node = ray.get_runtime_context().get_node_id()
        self.construct_error: str | None = None
        self.model = None
        try:
            self.model = metrics.create(metric, device=device, **options)
            self.full_reference = self.model.spec.mode == "FR"
        except Exception as exc:  # recorded on every row of the cell, the rest of the matrix goes on
            self.construct_error = f"construct: {_one_line(exc)}"
            traceback.print_exc()

    def __call__(self, batch: dict[str, Any]) -> dict[str, Any]:
        n = len(batch["id"])
        scores = np.full(n, np.nan, dtype=np.float64)
        errors: list[str | None] = [None] * n
        seconds = np.full(n, np.nan, dtype=np.float64)
        started = time.time()
        if self.construct_error is not None:
            errors = [self.construct_error] * n
        else:
            groups: dict[tuple, list[int]] = {}
            for i in range(n):
                decode_error = batch["decode_error"][i]
                if isinstance(decode_error, str):  # Arrow may hand an all-null column back as NaN
                    errors[i] = decode_error
                else:
                    groups.setdefault(tuple(batch["dist"][i].shape), []).append(i)
            for rows in groups.values():
                for start in range(0, len(rows), self.batch_size):
                    self._score_rows(batch, rows[start : start + self.batch_size], scores, errors, seconds)
        finished = time.time()
        batch[column(self.metric, "score")] = scores
        batch[column(self.metric, "error")] = np.array(errors, dtype=object)
        batch[column(self.metric, "seconds")] = seconds
        batch[column(self.metric, "node")] = np.array([self.node] * n, dtype=object)
        batch[column(self.metric, "started")] = np.full(n, started)
        batch[column(self.metric, "finished")] = np.full(n, finished)
        if self.drop_images:
            for key in ("dist", "ref"):
                batch.pop(key, None)
        return batch

    def _score_rows(self, batch, rows, scores, errors, seconds) -> None:
        try:
            values, elapsed = self._forward(batch, rows)
        except Exception as exc:
            if len(rows) == 1:
                errors[rows[0]] = f"score: {_one_line(exc)}"
                return
            for row in rows:  # isolate the failing image(s)
                self._score_rows(batch, [row], scores, errors, seconds)
            return
        for row, value in zip(rows, values):
            scores[row] = value
            seconds[row] = elapsed / len(rows)
            if not np.isfinite(value):
                errors[row] = f"score: non-finite value {value}"

    def _forward(self, batch, rows) -> tuple[np.ndarray, float]:
        import torch

        def to_tensor(key: str) -> torch.Tensor:
            stacked = np.stack([batch[key][i] for i in rows])
            tensor = torch.from_numpy(stacked).to(self.device).permute(0, 3, 1, 2)
            return tensor.float().div_(255.0)

        start = time.perf_counter()
        with torch.inference_mode():
            dist = to_tensor("dist")
            ref = to_tensor("ref") if self.full_reference else None
            values = self.model(dist, ref).detach().to("cpu", torch.float64).numpy()
        if self.device.startswith("cuda"):
            torch.cuda.synchronize()
        elapsed = time.perf_counter() - start
        if values.shape != (len(rows),):
            raise RuntimeError(f"metric returned shape {values.shape} for {len(rows)} images")
        return values, elapsed


def worker_threads(num_cpus: float) -> int:
    return max(1, min(int(num_cpus + 0.5), os.cpu_count() or 1))
