"""The efficiency timing protocol for one metric in one process (no Ray, no MLflow).

Protocol (as pyiqa's efficiency table): batch 1, float32, each timed step = decode the image file(s) + convert
to a tensor + forward (+ ``cuda.synchronize``); the first ``warmup`` steps are not timed; model construction is
not timed; ``repeats`` timed steps cycle over several images; the median and the spread are reported. After
that, an optional batch sweep measures images/s at each batch size (decode + forward of the whole batch).

Memory: the GPU peak is ``torch.cuda.max_memory_allocated`` after resetting the peak before construction; the
host peak is the process's peak resident set (``VmHWM``), reset before construction by writing ``5`` to
``/proc/self/clear_refs`` where the kernel allows it (otherwise it is the peak since the process started, which
:attr:`Measurement.host_peak_reset` says).

Only this module's callers decide which implementation they time: ``build`` returns a model and ``score``
calls it, so the same protocol times iqabench and a baseline library alike (see ``benchmarks/``).
"""

from __future__ import annotations

import statistics
import time
import traceback
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any, Callable, Sequence

import numpy as np

from datasets_io.decode import read_image

#: A pair of image files: (distorted, reference); the reference is None for no-reference metrics.
ImagePair = tuple[Path, Path | None]


@dataclass
class Measurement:
    """What :func:`measure` found for one metric on one device (every number measured, none assumed)."""

    metric: str
    device: str
    threads: int
    image_size: tuple[int, int]
    warmup: int
    #: Seconds of each timed batch-1 step (decode + forward), and the decode + to-tensor part of each.
    seconds: list[float] = field(default_factory=list)
    decode_seconds: list[float] = field(default_factory=list)
    #: Images per second at each batch size of the sweep (decode + forward of the batch).
    batch_images_per_second: dict[int, float] = field(default_factory=dict)
    #: Peak ``torch.cuda.max_memory_allocated`` (bytes) after the batch-1 steps, and after the whole sweep.
    gpu_peak_bytes_batch1: int | None = None
    gpu_peak_bytes_by_batch: dict[int, int] = field(default_factory=dict)
    gpu_name: str | None = None
    gpu_total_bytes: int | None = None
    #: Process peak resident memory (bytes) before construction, after the batch-1 steps, and after the sweep.
    host_rss_before_bytes: int | None = None
    host_peak_bytes_batch1: int | None = None
    host_peak_bytes: int | None = None
    host_peak_reset: bool = False
    construct_seconds: float | None = None
    error: str | None = None

    @property
    def median(self) -> float:
        return statistics.median(self.seconds) if self.seconds else float("nan")

    @property
    def spread(self) -> tuple[float, float]:
        """The interquartile range (25th, 75th percentile) of the timed steps, seconds."""
        if not self.seconds:
            return float("nan"), float("nan")
        low, high = np.percentile(self.seconds, [25, 75])
        return float(low), float(high)

    @property
    def best_batch(self) -> tuple[int, float] | None:
        """(batch size, images/s) of the fastest batch size of the sweep."""
        if not self.batch_images_per_second:
            return None
        size = max(self.batch_images_per_second, key=self.batch_images_per_second.__getitem__)
        return size, self.batch_images_per_second[size]

    def as_dict(self) -> dict[str, Any]:
        found = asdict(self)
        low, high = self.spread
        forward = [total - decode for total, decode in zip(self.seconds, self.decode_seconds)]
        found.update(median_seconds=self.median, q25_seconds=low, q75_seconds=high,
                     median_forward_seconds=statistics.median(forward) if forward else None,
                     min_seconds=min(self.seconds) if self.seconds else None,
                     max_seconds=max(self.seconds) if self.seconds else None)
        best = self.best_batch
        found["best_batch_size"], found["best_images_per_second"] = best if best else (None, None)
        found["batch_images_per_second"] = {str(k): v for k, v in self.batch_images_per_second.items()}
        found["gpu_peak_bytes_by_batch"] = {str(k): v for k, v in self.gpu_peak_bytes_by_batch.items()}
        return found


def _status_bytes(key: str) -> int | None:
    """A ``kB`` field of ``/proc/self/status`` (e.g. ``VmHWM``, ``VmRSS``) in bytes; None off Linux."""
    try:
        for line in Path("/proc/self/status").read_text().splitlines():
            if line.startswith(key + ":"):
                return int(line.split()[1]) * 1024
    except OSError:
        return None
    return None


def reset_host_peak() -> bool:
    """Reset the process's peak resident set (Linux ``clear_refs`` 5); False when not allowed."""
    try:
        Path("/proc/self/clear_refs").write_text("5")
    except OSError:
        return False
    return True


def host_peak_bytes() -> int | None:
    peak = _status_bytes("VmHWM")
    if peak is not None:
        return peak
    import resource

    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024


def load_pair(pair: ImagePair, device: str) -> tuple[Any, Any]:
    """Decode one pair and make float32 1×3×H×W tensors in [0, 1] on ``device``."""
    return load_batch([pair], device)


def load_batch(pairs: Sequence[ImagePair], device: str) -> tuple[Any, Any]:
    import torch

    def tensor(images: list[np.ndarray]) -> torch.Tensor:
        stacked = torch.from_numpy(np.stack(images)).to(device)
        return stacked.permute(0, 3, 1, 2).float().div_(255.0)

    dist = tensor([read_image(d) for d, _ in pairs])
    refs = [r for _, r in pairs]
    ref = tensor([read_image(r) for r in refs]) if all(r is not None for r in refs) else None
    return dist, ref


def measure(metric: str, build: Callable[[], Any], score: Callable[[Any, Any, Any], Any], pairs: Sequence[ImagePair],
            device: str = "cpu", threads: int = 1, warmup: int = 2, repeats: int = 8,
            batch_sizes: Sequence[int] = (), image_size: tuple[int, int] = (0, 0)) -> Measurement:
    """Time ``score(model, dist, ref)`` for ``model = build()`` over ``pairs`` with the protocol above.

    A failure is recorded in :attr:`Measurement.error` (with what was measured before it), never raised.
    """
    import torch

    torch.set_num_threads(max(1, threads))
    result = Measurement(metric=metric, device=device, threads=threads, image_size=tuple(image_size), warmup=warmup)
    cuda = device.startswith("cuda")
    try:
        if not pairs:
            raise ValueError("no images to time")
        if cuda:
            torch.cuda.synchronize()
            torch.cuda.reset_peak_memory_stats()
            props = torch.cuda.get_device_properties(torch.device(device))
            result.gpu_name, result.gpu_total_bytes = props.name, int(props.total_memory)
        result.host_rss_before_bytes = _status_bytes("VmRSS")
        result.host_peak_reset = reset_host_peak()
        started = time.perf_counter()
        model = build()
        result.construct_seconds = time.perf_counter() - started

        def step(batch: Sequence[ImagePair], decode_times: list[float] | None = None) -> float:
            start = time.perf_counter()
            with torch.inference_mode():
                dist, ref = load_batch(batch, device)
                if decode_times is not None:
                    if cuda:
                        torch.cuda.synchronize()
                    decode_times.append(time.perf_counter() - start)
                values = score(model, dist, ref)
                values = torch.as_tensor(values).detach().to("cpu")
            if cuda:
                torch.cuda.synchronize()
            elapsed = time.perf_counter() - start
            if values.numel() != len(batch):
                raise RuntimeError(f"{metric} returned {values.numel()} value(s) for {len(batch)} image(s)")
            return elapsed

        for i in range(warmup):
            step([pairs[i % len(pairs)]])
        for i in range(repeats):
            result.seconds.append(step([pairs[(warmup + i) % len(pairs)]], result.decode_seconds))
        result.host_peak_bytes_batch1 = host_peak_bytes()
        if cuda:
            result.gpu_peak_bytes_batch1 = int(torch.cuda.max_memory_allocated(torch.device(device)))
            result.gpu_peak_bytes_by_batch[1] = result.gpu_peak_bytes_batch1
        for size in sorted(set(int(b) for b in batch_sizes)):
            batch = [pairs[i % len(pairs)] for i in range(size)]
            step(batch)  # warm-up at this size (allocator, kernel choice)
            if cuda:
                torch.cuda.reset_peak_memory_stats()
            elapsed = step(batch)
            result.batch_images_per_second[size] = size / elapsed
            if cuda:
                result.gpu_peak_bytes_by_batch[size] = int(torch.cuda.max_memory_allocated(torch.device(device)))
        result.host_peak_bytes = host_peak_bytes()
    except Exception as exc:  # the caller reports it next to the metric; the other metrics go on
        result.error = f"{type(exc).__name__}: {exc}".splitlines()[0][:500]
        traceback.print_exc()
        result.host_peak_bytes = host_peak_bytes()
    return result
