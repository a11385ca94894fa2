"""The efficiency job: seconds per image, best-batch throughput and peak memory of each metric, per device.

Each metric is timed in its own fresh Ray worker process (``max_calls=1``), so that its host-memory peak is its
own, with the protocol of :mod:`orchestrator.efficiency.timing` on the images of :mod:`orchestrator.efficiency.images`.
Timings never overlap on a device: CPU metrics run one after another (each task holding the CPUs it times
with); CUDA metrics run one per GPU, in parallel across GPUs (each task holds one whole GPU), after the CPU ones.

Outputs under ``out``: ``Efficiency_benchmark.csv`` (pyiqa's format, merged), ``measurements_<column>.json``
(every measured number with its conditions: threads, load average, versions) and ``resources.json`` (measured
memory for the placement, see :mod:`orchestrator.efficiency.measured_resources`); the run is logged to MLflow.
"""

from __future__ import annotations

import json
import os
import platform
import time
from pathlib import Path
from typing import Any, Callable, Sequence

from orchestrator.efficiency.table import CSV_NAME, cpu_model_name, device_column, merge_efficiency_csv
from orchestrator.efficiency.images import efficiency_pairs
from orchestrator.efficiency.request import DEFAULT_BATCH_SIZES, EfficiencyRequest, EfficiencyResult
from orchestrator.efficiency.measured_resources import FILE_NAME as RESOURCES_NAME
from orchestrator.efficiency.measured_resources import MB, merge_measured_resources
from orchestrator.results.files import write_text_atomic
from orchestrator.run.ray_session import cluster_resources, logging_is_verbose, start_ray
from orchestrator.efficiency.timing import ImagePair, measure

Echo = Callable[[str], None]


def _score(model: Any, dist: Any, ref: Any) -> Any:
    return model(dist, ref)


def measure_metric(metric: str, device: str, pairs: Sequence[ImagePair], threads: int, warmup: int, repeats: int,
                   batch_sizes: Sequence[int], image_size: tuple[int, int]) -> dict[str, Any]:
    """Time one iqabench metric in this process (what each Ray task runs); returns the measurement as a dict."""
    import metrics

    spec = metrics.get_spec(metric)
    if spec.mode == "NR":
        pairs = [(dist, None) for dist, _ in pairs]
    found = measure(metric, lambda: metrics.create(metric, device=device), _score, pairs, device=device,
                    threads=threads, warmup=warmup, repeats=repeats, batch_sizes=batch_sizes, image_size=image_size)
    return found.as_dict()


def default_metrics(echo: Echo) -> tuple[list[str], list[str]]:
    """The default metric set (:func:`metrics.registry.default_metric_names`, as ``bench`` without ``-m``) less
    the metrics whose parameter and weight files are not here, and the skipped ones (with why)."""
    import metrics
    from metrics.registry import default_metric_names
    from orchestrator.run.plan import parameter_fingerprint

    chosen, skipped = [], []
    for name in default_metric_names():
        try:
            parameter_fingerprint(metrics.get_spec(name), fetch=False)
        except (OSError, RuntimeError, ValueError) as exc:
            skipped.append(f"{name} ({exc})")
            continue
        chosen.append(name)
    if skipped:
        echo("Not timed (weights not cached; `iqabench weights download METRIC`): " + "; ".join(skipped))
    return chosen, skipped


def _validate(names: Sequence[str]) -> None:
    import metrics

    problems = []
    for name in names:
        try:
            metrics.get_spec(name)
        except KeyError as exc:
            problems.append(str(exc))
    if problems:
        raise ValueError("; ".join(problems))


def _node_cpus() -> int:
    """CPUs of the largest node of the Ray cluster (one CPU task cannot span nodes)."""
    import ray

    cpus = [node["Resources"].get("CPU", 0) for node in ray.nodes() if node.get("Alive")]
    return max(1, int(max(cpus, default=1)))


def _run_device(device: str, names: list[str], pairs: list[ImagePair], request: EfficiencyRequest,
                echo: Echo) -> list[dict[str, Any]]:
    """Measure every metric on ``device``: CPU ones in sequence, CUDA ones one per GPU at a time."""
    import ray

    sizes = request.batch_sizes if request.batch_sizes is not None else DEFAULT_BATCH_SIZES[device]
    args = dict(pairs=pairs, warmup=request.warmup, repeats=request.repeats, batch_sizes=tuple(sizes),
                image_size=request.image_size)
    remote = ray.remote(max_calls=1)(measure_metric)
    found: list[dict[str, Any]] = []
    if device == "cpu":
        node_cpus = _node_cpus()
        threads = min(request.threads or node_cpus, node_cpus)
        for name in names:
            load = os.getloadavg()
            echo(f"  timing {name} on cpu ({threads} thread(s), load average {load[0]:.2f}) ...")
            row = ray.get(remote.options(num_cpus=threads).remote(name, "cpu", threads=threads, **args))
            row["load_average_before"] = list(load)
            found.append(row)
            echo("    " + _describe(row))
        return found
    gpus = _cluster_gpus()
    echo(f"  timing {len(names)} metric(s) on {gpus:g} GPU(s), one metric per GPU at a time ...")
    load = os.getloadavg()
    refs = {name: remote.options(num_gpus=1, num_cpus=1).remote(name, "cuda", threads=1, **args) for name in names}
    for name, ref in refs.items():
        row = ray.get(ref)
        row["load_average_before"] = list(load)
        found.append(row)
        echo("    " + _describe(row))
    return found


def _describe(row: dict[str, Any]) -> str:
    if row.get("error"):
        return f"{row['metric']}: FAILED ({row['error']})"
    text = (f"{row['metric']}: {row['median_seconds']:.4f} s/image (median of {len(row['seconds'])}; "
            f"IQR {row['q25_seconds']:.4f}–{row['q75_seconds']:.4f})")
    if row.get("best_batch_size"):
        text += f", best {row['best_images_per_second']:.2f} images/s at batch {row['best_batch_size']}"
    if row.get("gpu_peak_bytes_batch1") is not None:
        text += f", peak GPU {row['gpu_peak_bytes_batch1'] / 1024**3:.4f} GB"
    if row.get("host_peak_bytes"):
        text += f", peak host {row['host_peak_bytes'] / MB:.0f} MB"
    return text


def _resource_entries(rows: list[dict[str, Any]], column: str, device: str,
                      image_size: tuple[int, int]) -> dict[str, dict[str, Any]]:
    """What the benchmark's placement and cost model take from a measurement: memory peaks, seconds per image on
    ``device`` at the images' pixel count, and the model's construction time."""
    entries: dict[str, dict[str, Any]] = {}
    for row in rows:
        if row.get("error"):
            continue
        entry: dict[str, Any] = {"seconds_per_image": {device: row["median_seconds"]},
                                 "at_pixels": image_size[0] * image_size[1]}
        if row.get("construct_seconds") is not None:
            entry["load_seconds"] = round(float(row["construct_seconds"]), 3)
        if row.get("host_peak_bytes"):
            entry["host_peak_mb"] = round(row["host_peak_bytes"] / MB, 1)
            entry["host_tag"] = column
        if row.get("gpu_peak_bytes_by_batch"):
            entry["gpu"] = {
                "name": row.get("gpu_name"),
                "total_mb": round(row["gpu_total_bytes"] / MB, 1),
                "peak_mb_by_batch": {k: round(v / MB, 1) for k, v in row["gpu_peak_bytes_by_batch"].items()},
                "tag": column,
            }
        entries[row["metric"]] = entry
    return entries


def _conditions(device: str, column: str, request: EfficiencyRequest, model_name: str) -> dict[str, Any]:
    from orchestrator.results.tracking import git_commit, versions

    return {
        "device": device,
        "column": column,
        "device_name": model_name,
        "host": platform.node(),
        "cpus": os.cpu_count(),
        "date": time.strftime("%Y-%m-%d %H:%M:%S %z"),
        "image_size": list(request.image_size),
        "warmup": request.warmup,
        "repeats": request.repeats,
        "protocol": "batch 1, float32, decode + forward, warm-up excluded, construction not timed; median + IQR",
        "versions": versions(),
        "git_commit": git_commit(),
    }


def _cluster_gpus() -> float:
    gpus = cluster_resources().gpus
    if gpus < 1:
        raise ValueError("--device cuda was asked for but the Ray cluster has no whole GPU")
    return gpus


def _gpu_model_name() -> str:
    """The model name of a GPU of the cluster (checked to exist first: a GPU task would otherwise wait forever)."""
    import ray

    _cluster_gpus()

    @ray.remote(num_gpus=1, num_cpus=1, max_calls=1)
    def name() -> str:
        import torch

        return torch.cuda.get_device_name(0)

    return ray.get(name.remote())


def run_efficiency(request: EfficiencyRequest, echo: Echo = print) -> EfficiencyResult:
    out = Path(request.out)
    if request.metrics:
        names = list(dict.fromkeys(request.metrics))
        _validate(names)
        skipped: list[str] = []
    else:
        names, skipped = default_metrics(echo)
    out.mkdir(parents=True, exist_ok=True)
    result = EfficiencyResult(out=out, csv=out / CSV_NAME, skipped=skipped)
    pairs = efficiency_pairs(Path(request.image_root or out / "images"), request.image_size)
    echo(f"Timing {len(names)} metric(s) on {', '.join(request.devices)} with {len(pairs)} images of "
         f"{request.image_size[0]}×{request.image_size[1]} ({request.warmup} warm-up + {request.repeats} timed each)")
    columns: dict[str, dict[str, Any]] = {}
    with start_ray(request.ray_address, verbose=logging_is_verbose()):
        for device in request.devices:
            model_name = cpu_model_name() if device == "cpu" else _gpu_model_name()
            column = device_column(device, model_name, request.tag)
            rows = _run_device(device, names, pairs, request, echo)
            result.measurements[column] = rows
            columns[column] = _conditions(device, column, request, model_name)
            good = [r for r in rows if not r.get("error")]
            for row in rows:
                if row.get("error"):
                    result.failed[f"{row['metric']}@{column}"] = row["error"]
            merge_efficiency_csv(
                result.csv, column, {r["metric"]: r["median_seconds"] for r in good},
                {r["metric"]: r["gpu_peak_bytes_batch1"] for r in good if r.get("gpu_peak_bytes_batch1") is not None},
            )
            document = {"conditions": columns[column], "measurements": rows}
            write_text_atomic(json.dumps(document, indent=1, default=str), out / f"measurements_{column}.json")
            merge_measured_resources(out / RESOURCES_NAME,
                                     _resource_entries(rows, column, device, request.image_size))
    echo(f"Wrote {result.csv}, {out / RESOURCES_NAME} and measurements_<column>.json under {out}")
    from orchestrator.efficiency.tracking import log_efficiency

    log_efficiency(result, columns, request.tracking_uri, echo)
    if result.failed:
        echo(f"{len(result.failed)} measurement(s) failed: " + "; ".join(f"{k}: {v}" for k, v in result.failed.items()))
    return result
