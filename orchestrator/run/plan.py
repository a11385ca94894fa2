"""Plan the metric × dataset matrix and validate all of it before any work starts."""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable, Mapping

import metrics
from datasets_io.bounded import MIB, load_yaml_mapping
from datasets_io.catalog import UnknownDatasetError, resolve_dataset
from datasets_io.download import DownloadError, MissingDatasetError, ensure_downloaded
from datasets_io.manifest import Manifest, build_manifest
from datasets_io.spec import DatasetOptionError, DatasetSpec
from metrics.registry import MetricSpec, Resources, UnknownMetricError, default_metric_names
from orchestrator.efficiency.measured_resources import load_measured_resources, with_measured_resources
from orchestrator.results.outlock import blocking_file, check_output_folder
from orchestrator.run.placement import PlacementError, ResourceOverride, resource_override
from orchestrator.run.cells import Cell
from orchestrator.run.request import BenchmarkRequest


class PlanError(ValueError):
    """The requested matrix cannot run; the message names every bad entry."""


@dataclass(frozen=True)
class DatasetPass:
    """One read + decode of a dataset, scored by every metric of its cells."""

    dataset: DatasetSpec
    manifest: Manifest
    cells: tuple[Cell, ...]

    @property
    def split(self) -> str:
        return self.dataset.split_label


@dataclass(frozen=True)
class Plan:
    request: BenchmarkRequest
    passes: tuple[DatasetPass, ...]
    #: Per-run resource overrides by metric (``resources:`` in ``--metric_opt``); they do not enter cell keys.
    overrides: Mapping[str, ResourceOverride] = field(default_factory=dict)

    def resources(self, cell: Cell) -> Resources:
        override = self.overrides.get(cell.metric)
        return override.apply(cell.spec.resources) if override else cell.spec.resources

    @property
    def cells(self) -> list[Cell]:
        return [cell for p in self.passes for cell in p.cells]

    def as_dict(self) -> dict[str, Any]:
        return {
            "datasets": [
                {
                    "dataset": p.dataset.key,
                    "type": p.dataset.type,
                    "images": p.manifest.num_rows,
                    "split": p.split,
                    "manifest_digest": p.manifest.digest,
                    "metrics": [
                        {"metric": c.metric, "options": dict(c.options), "cell_key": c.key} for c in p.cells
                    ],
                }
                for p in self.passes
            ],
            "batch_size": self.request.batch_size,
            "use_gpu": self.request.use_gpu,
            "limit": self.request.limit,
        }


#: The largest ``--metric_opt`` file accepted, refused unread above it: a real one is a few hundred bytes, and
#: parsing YAML costs ~6 s per MiB of keys here (16 MiB took 90 s), so 1 MiB bounds a hostile file to seconds.
MAX_METRIC_OPTION_BYTES = 1 * MIB
#: Reserved key of a metric's ``--metric_opt`` entry: per-run resource overrides (not a metric option).
RESOURCES_KEY = "resources"


def load_metric_options(path: Path | None) -> dict[str, dict[str, Any]]:
    """``--metric_opt`` YAML: a mapping of metric name → mapping of options (safe-loaded). A metric's mapping may
    hold ``resources: {num_cpus, num_gpus, memory_mb, workers}``, which overrides the registry for this run."""
    if path is None:
        return {}
    document = load_yaml_mapping(path, "metric option file", MAX_METRIC_OPTION_BYTES, PlanError,
                                 shape="a mapping of metric names to option mappings")
    options: dict[str, dict[str, Any]] = {}
    for name, opts in document.items():
        if opts is None:
            opts = {}
        if not isinstance(name, str) or not isinstance(opts, Mapping):
            raise PlanError(f"{path}: entry {name!r} must map to a mapping of options, got {opts!r}")
        options[name] = dict(opts)
    return options


#: Problems a :class:`PlanError` lists one by one (the rest are counted).
MAX_LISTED_PROBLEMS = 20


def _plan_error(what: str, problems: list[str]) -> PlanError:
    """One error: a single problem on one line, else the first :data:`MAX_LISTED_PROBLEMS` listed one per line
    and the others counted."""
    if len(problems) == 1:
        return PlanError(f"{what}: {problems[0]}")
    listed = problems[:MAX_LISTED_PROBLEMS]
    more = [f"... and {len(problems) - len(listed)} more"] if len(problems) > len(listed) else []
    return PlanError(f"{what}:\n  - " + "\n  - ".join(listed + more))


def parameter_fingerprint(metric: MetricSpec, fetch: bool) -> dict[str, str]:
    """sha256 of every parameter and weight file the metric loads (weights fetched first when ``fetch``)."""
    from datasets_io.manifest import file_sha256
    from metrics.deep import weights

    found = {f"data/{path.name}": file_sha256(path) for path in metric.parameter_paths()}
    if weights.weight_files(metric.name):
        if fetch:
            weights.download([metric.name])
        found.update(weights.fingerprint(metric.name))
    return found


def cell_key(metric: MetricSpec, options: Mapping[str, Any], manifest: Manifest, split: str,
             parameters: Mapping[str, str] | None = None) -> str:
    """Content hash identifying a cell's result: metric, options, implementation version, the sha256 of its
    parameter files, the dataset manifest digest and the split."""
    payload = json.dumps(
        {
            "metric": metric.name,
            "version": metric.version,
            "options": dict(options),
            "parameters": dict(parameters or {}),
            "dataset": manifest.spec.key,
            "manifest": manifest.digest,
            "split": split,
        },
        sort_keys=True,
        default=str,
    )
    return hashlib.sha256(payload.encode()).hexdigest()[:20]


def _applies(metric: MetricSpec, dataset: DatasetSpec) -> bool:
    """FR datasets take every metric, NR datasets the NR metrics, 2AFC datasets the FR metrics."""
    if dataset.mode == "2AFC":
        return metric.mode == "FR"
    return dataset.mode == "FR" or metric.mode == "NR"


def _output_problems(request: BenchmarkRequest) -> list[str]:
    """Why ``--out`` or ``--save_result_path`` cannot be written (a file where a folder must be, or the reverse)."""
    problems = [p for p in [check_output_folder(request.out)] if p]
    if request.save_result_path is not None:
        target = Path(request.save_result_path)
        if target.is_dir():
            problems.append(f"--save_result_path {target}: is a folder, not a file")
        elif (blocker := blocking_file(target.parent)) is not None:
            problems.append(f"--save_result_path {target}: is under {blocker}, a file, not a folder")
    return problems


def build_plan(request: BenchmarkRequest, echo: Callable[[str], None] | None = None) -> Plan:
    """Resolve and validate every metric, option and dataset; collect all problems into one error."""
    problems: list[str] = _output_problems(request)
    metric_options = {}
    try:
        metric_options = load_metric_options(request.metric_opt)
    except PlanError as exc:
        problems.append(str(exc))

    names = list(request.metrics) if request.metrics else None
    specs: dict[str, MetricSpec] = {}
    for name in names or metrics.available():
        try:
            specs[name] = metrics.get_spec(name)
        except UnknownMetricError as exc:
            problems.append(str(exc))
    if names is None:
        default = set(default_metric_names())
        uncalibrated = sorted(name for name in specs if name not in default)
        for name in uncalibrated:
            del specs[name]
        if uncalibrated and echo is not None:
            echo("Not in the default set (not calibrated; name it with -m to run it): " + ", ".join(uncalibrated))
    registered = set(metrics.available())
    for name in metric_options:
        if name not in specs:
            where = "is not a registered metric" if name not in registered else "is not in the run (-m)"
            problems.append(f"{request.metric_opt}: options for {name!r}, which {where}")
    overrides: dict[str, ResourceOverride] = {}
    for name, opts in metric_options.items():
        if RESOURCES_KEY in opts:
            try:
                overrides[name] = resource_override(name, opts.pop(RESOURCES_KEY), source=str(request.metric_opt))
            except (PlacementError, ValueError, TypeError) as exc:
                problems.append(str(exc))
    # Resource needs measured by `iqabench efficiency` (resources.json) replace the registry's estimates.
    try:
        measured = load_measured_resources()
    except ValueError as exc:
        problems.append(str(exc))
        measured = {}
    specs = {name: with_measured_resources(spec, measured, request.batch_size) for name, spec in specs.items()}
    fingerprints: dict[str, dict[str, str]] = {}
    skipped: list[str] = []
    for name in list(specs):
        try:
            fingerprints[name] = parameter_fingerprint(specs[name], fetch=names is not None)
        except (OSError, RuntimeError, ValueError) as exc:
            if names is None:  # the default set: leave out metrics whose weights are not here, and say so
                skipped.append(name)
                del specs[name]
            else:
                problems.append(f"metric {name!r}: {exc}")
    if skipped and echo is not None:
        echo("Not in the default set (weights not cached; `iqabench weights download METRIC` fetches them, "
             "`-m METRIC` names the missing file): " + ", ".join(skipped))
    resolved_options: dict[str, dict[str, Any]] = {}
    for name in specs:
        try:
            resolved_options[name] = metrics.check_options(name, metric_options.get(name, {}))
        except ValueError as exc:
            problems.append(f"{request.metric_opt or 'metric options'}: {exc}")

    datasets: list[DatasetSpec] = []
    for key in dict.fromkeys(request.datasets):
        try:
            datasets.append(resolve_dataset(key, request.data_opt, request.data_root))
        except (UnknownDatasetError, DatasetOptionError) as exc:
            problems.append(str(exc))

    # A metric named with -m scores every dataset it applies to (FR metrics: FR and 2AFC datasets; NR metrics: FR
    # and NR datasets); one that applies to none of them is an error, the pairs that do not apply are announced.
    if names is not None and datasets:
        for name, spec in specs.items():
            if not any(_applies(spec, dataset) for dataset in datasets):
                dataset = datasets[0]
                problems.append(
                    f"metric {name!r} is no-reference but dataset {dataset.key!r} holds 2AFC judgements against "
                    "a reference (only full-reference metrics apply)"
                    if dataset.mode == "2AFC" and len(datasets) == 1
                    else f"metric {name!r} is full-reference but dataset {dataset.key!r} ({dataset.type}) has no "
                    "reference images" if len(datasets) == 1
                    else f"metric {name!r} ({spec.mode}) applies to none of the datasets "
                    f"({', '.join(d.key for d in datasets)})"
                )
        skipped = [f"{name} × {d.key}" for d in datasets for name, spec in specs.items()
                   if not _applies(spec, d) and any(_applies(spec, other) for other in datasets)]
        if skipped and echo is not None:
            echo("Not applicable, left out (full-reference metrics need reference images; 2AFC datasets take "
                 "full-reference metrics): " + ", ".join(skipped))
    if problems:
        raise _plan_error("invalid benchmark matrix", problems)

    # Only now that the whole matrix is valid: make sure every dataset is on disk (downloading if asked).
    for index, dataset in enumerate(datasets):
        if dataset.key == "demo" and dataset.source == "builtin demo":
            continue
        try:
            datasets[index] = ensure_downloaded(
                dataset.key, request.data_root, data_opt=request.data_opt, download=request.download
            )
        except (MissingDatasetError, DownloadError) as exc:
            problems.append(str(exc))
    if problems:
        raise _plan_error("cannot run the benchmark", problems)

    passes = []
    for dataset in datasets:
        try:
            manifest = build_manifest(dataset, limit=request.limit)
        except (OSError, ValueError) as exc:
            problems.append(str(exc))
            continue
        split = dataset.split_label
        cells = tuple(
            Cell(
                metric=name,
                dataset=dataset.key,
                options=resolved_options[name],
                spec=spec,
                key=cell_key(spec, resolved_options[name], manifest, split, fingerprints[name]),
            )
            for name, spec in specs.items()
            if _applies(spec, dataset)
        )
        if not cells:
            problems.append(f"dataset {dataset.key!r}: none of the requested metrics applies to it")
        passes.append(DatasetPass(dataset=dataset, manifest=manifest, cells=cells))
    if problems:
        raise _plan_error("invalid benchmark matrix", problems)
    return Plan(request=request, passes=tuple(passes), overrides={k: v for k, v in overrides.items() if k in specs})


def describe_plan(plan: Plan) -> str:
    lines = [f"Plan: {len(plan.cells)} cell(s) over {len(plan.passes)} dataset(s)"]
    for p in plan.passes:
        lines.append(
            f"  {p.dataset.key} ({p.dataset.type}, split {p.split}): {p.manifest.num_rows} images, "
            f"digest {p.manifest.digest[:12]}"
        )
        for c in p.cells:
            opts = ", ".join(f"{k}={v}" for k, v in c.options.items()) or "defaults"
            r = plan.resources(c)
            overridden = " (overridden)" if c.metric in plan.overrides else ""
            lines.append(
                f"    - {c.metric:<12} {c.spec.mode}  [{opts}]  needs {r.num_cpus:g} CPU, {r.num_gpus:g} GPU, "
                f"{r.memory_mb} MB{overridden}  key {c.key}"
            )
    return "\n".join(lines)
