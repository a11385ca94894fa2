"""Plan the metric × dataset matrix and validate all of it before any work starts."""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any, Callable, Mapping, Sequence

import metrics
from datasets_io.catalog import UnknownDatasetError, resolve_dataset
from datasets_io.decode import pixel_transforms
from datasets_io.download import DownloadError, MissingDatasetError, ensure_downloaded
from datasets_io.manifest import Manifest, build_manifest
from datasets_io.options import load_options_file, with_split_override
from datasets_io.spec import DatasetOptionError, DatasetSpec
from metrics import custom_weights
from metrics.registry import (
    MetricSpec,
    Resources,
    UnknownMetricError,
    default_metric_names,
)
from orchestrator.efficiency.measured_resources import (
    load_measured_resources,
    with_measured_resources,
)
from orchestrator.results import trained_runs
from orchestrator.results.export import ResultsCsvError, read_results_csv
from orchestrator.results.outlock import blocking_file, check_output_folder
from orchestrator.results.tracking_store import tracking_uri
from orchestrator.run.captions import CaptionError, captions_digest, captions_for, load_caption_file, missing_source
from orchestrator.run.cells import Cell
from orchestrator.run.metric_options import (
    MAX_METRIC_OPTION_BYTES,
    MetricEntry,
    MetricOptionError,
    load_metric_entries,
    parse_extra_options,
    with_extra_options,
)
from orchestrator.run.placement import (
    PlacementError,
    ResourceOverride,
    resource_override,
)
from orchestrator.run.request import BenchmarkRequest, RunSettings

__all__ = ["MAX_METRIC_OPTION_BYTES", "DatasetPass", "MetricChoice", "Plan", "PlanError", "build_plan", "cell_key",
           "choose_metrics", "describe_plan", "parameter_fingerprint", "plan_error"]


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
    #: A :class:`BenchmarkRequest` (``bench``) or a :class:`~orchestrator.run.request.ScoreRequest` (``score``).
    request: RunSettings
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


#: Problems a :class:`PlanError` lists one by one (the rest are counted).
MAX_LISTED_PROBLEMS = 20


def plan_error(what: str, problems: list[str]) -> PlanError:
    """One error: a single problem on one line, else the first :data:`MAX_LISTED_PROBLEMS` listed one per line
    and the others counted."""
    if len(problems) == 1:
        return PlanError(f"{what}: {problems[0]}")
    listed = problems[:MAX_LISTED_PROBLEMS]
    more = [f"... and {len(problems) - len(listed)} more"] if len(problems) > len(listed) else []
    return PlanError(f"{what}:\n  - " + "\n  - ".join(listed + more))


def parameter_fingerprint(metric: MetricSpec, fetch: bool, options: Mapping[str, Any] | None = None) -> dict[str, str]:
    """sha256 of every parameter and weight file the metric loads (weights fetched first when ``fetch``); a custom
    checkpoint (option ``pretrained_model_path``) stands, under its own key, for the published file it replaces."""
    from datasets_io.manifest import file_sha256
    from metrics.deep import weights

    name = metric.registered_name
    found = {f"data/{path.name}": file_sha256(path) for path in metric.parameter_paths()}
    custom = (options or {}).get(custom_weights.OPTION)
    if custom is None:
        if weights.weight_files(name):
            if fetch:
                weights.download([name])
            found.update(weights.fingerprint(name))
        return found
    replaced = custom_weights.replaced_file(name)
    for wf in weights.weight_files(name):
        if wf == replaced:
            continue
        path = weights.fetch(wf) if fetch else weights.cached_path(wf)
        if path is None:
            raise weights.WeightsMissingError(f"{wf.name} (of {name}) is not in the cache")
        found[wf.name], _ = weights.verify(wf, path)
    found[f"{custom_weights.OPTION} (for {replaced.filename})"] = custom_weights.sha256_of(custom)
    return found


def cell_key(metric: MetricSpec, options: Mapping[str, Any], manifest: Manifest, split: str,
             parameters: Mapping[str, str] | None = None, captions: Sequence[str] | None = None) -> str:
    """Content hash identifying a cell's result: metric, options, implementation version, the sha256 of its
    parameter files, the dataset manifest digest, the split (and, for a named variant, the registered metric that
    builds it and its direction) and what is done to the decoded pixels (a resized dataset's resize method; absent
    for datasets scored as decoded, whose keys are thus unchanged) and, for a caption metric, the digest of its
    captions."""
    content: dict[str, Any] = {
        "metric": metric.name,
        "version": metric.version,
        "options": dict(options),
        "parameters": dict(parameters or {}),
        "dataset": manifest.spec.key,
        "manifest": manifest.digest,
        "split": split,
    }
    if metric.builds is not None:  # a named variant: what builds it and its direction are part of its result
        content.update(builds=metric.builds, lower_better=metric.lower_better)
    if transforms := pixel_transforms(manifest.spec.resize):
        content["pixels"] = transforms
    if captions is not None:
        content["captions"] = captions_digest(captions)
    payload = json.dumps(content, sort_keys=True, default=str)
    return hashlib.sha256(payload.encode()).hexdigest()[:20]


def _spec_of(entry: MetricEntry) -> MetricSpec:
    """The spec of an entry: the registered one, or a named variant of the registered metric that builds it."""
    spec = metrics.get_spec(entry.builds)
    if entry.builds == entry.name and entry.lower_better in (None, spec.lower_better):
        return spec
    lower_better = spec.lower_better if entry.lower_better is None else entry.lower_better
    return replace(spec, name=entry.name, builds=entry.builds, lower_better=lower_better, in_default_set=False)


def _applies(metric: MetricSpec, dataset: DatasetSpec) -> bool:
    """FR datasets take every metric, NR datasets the NR metrics, 2AFC datasets the FR metrics."""
    if dataset.mode == "2AFC":
        return metric.mode == "FR"
    return dataset.mode == "FR" or metric.mode == "NR"


def _with_split_flags(dataset: DatasetSpec, request: BenchmarkRequest) -> DatasetSpec:
    """``dataset`` with ``--split_file`` / ``--test_phase`` applied (pyiqa's benchmark applies them to every
    dataset); the built-in demo has no meta-info split to choose from and is left as it is."""
    if dataset.source == "builtin demo":
        return dataset
    return with_split_override(dataset, request.split_file, request.test_phase)


def _split_flag_problems(request: BenchmarkRequest) -> list[str]:
    """Why ``--split_file``, ``--test_phase`` or ``--update_benchmark`` cannot be used, one line each."""
    problems = []
    if request.split_file is not None and not Path(request.split_file).is_file():
        problems.append(f"--split_file {request.split_file}: not a file (a pyiqa split pickle was expected)")
    if request.test_phase is not None and request.split_file is None:
        problems.append(f"--test_phase {request.test_phase} without --split_file: pyiqa's benchmark ignores it "
                        "then; give the split file, or set 'phase' in the dataset options")
    if request.update_benchmark is not None:
        target = Path(request.update_benchmark)
        if not target.is_file():
            problems.append(f"--update_benchmark {target}: not a file (pyiqa updates an existing results CSV)")
        else:
            try:
                read_results_csv(target)
            except (ResultsCsvError, OSError, UnicodeDecodeError) as exc:
                problems.append(f"--update_benchmark {exc}" if isinstance(exc, ResultsCsvError)
                                else f"--update_benchmark {target}: cannot be read ({exc})")
    return problems


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


@dataclass(frozen=True)
class MetricChoice:
    """The run's metrics, validated: the names asked for (``-m`` and a pyiqa-format option file's; None: the
    default set), and by metric its spec, full option set, parameter fingerprints, resource override and, for a
    caption metric given a caption file, its image name → caption mapping."""

    named: list[str] | None
    specs: dict[str, MetricSpec]
    options: dict[str, dict[str, Any]]
    fingerprints: dict[str, dict[str, str]]
    overrides: dict[str, ResourceOverride]
    caption_files: dict[str, dict[str, str]] = field(default_factory=dict)


#: Under ``--out``: the weight files of ``<metric>@<run-id>`` metrics, downloaded from MLflow (one folder per run).
TRAINED_WEIGHTS_DIR = "trained_weights"


def _trained_entries(request: RunSettings, problems: list[str], refused: set[str]) -> dict[str, MetricEntry]:
    """``<metric>@<mlflow-run-id>`` names of ``-m``: the metric built from the run's trained weights (their sha256
    enters the cell key as ``pretrained_model_path``'s does); a name that cannot be resolved is one problem and
    is ``refused``."""
    entries = {}
    for name in request.metrics or ():
        if trained_runs.split_name(name) is None:
            continue
        try:
            found = trained_runs.resolve(name, tracking_uri(Path(request.out), request.tracking_uri),
                                         Path(request.out) / TRAINED_WEIGHTS_DIR)
        except (trained_runs.TrainedRunError, OSError) as exc:
            problems.append(str(exc) if isinstance(exc, trained_runs.TrainedRunError) else f"{name}: {exc}")
            refused.add(name)
            continue
        entries[name] = MetricEntry(name, found.metric, {custom_weights.OPTION: str(found.path)})
    return entries


def choose_metrics(request: RunSettings, problems: list[str], echo: Callable[[str], None] | None = None,
                   captionless: Callable[[str, MetricSpec], str | None] | None = None) -> MetricChoice:
    """Resolve and validate the request's metrics, ``--metric_opt`` and ``--extra_metric_opts`` (``bench`` and
    ``score`` alike); what is wrong is appended to ``problems``. ``captionless(name, spec)`` says why a caption
    metric given no caption file cannot run (None: the datasets have captions); such a metric gets that one
    problem, not also its weights'."""
    entries: dict[str, MetricEntry] = {}
    refused: set[str] = set()
    unreadable = False  # the whole --metric_opt file: a name it may define is not unknown for that
    try:
        entries, entry_problems, refused = load_metric_entries(request.metric_opt)
        problems += entry_problems
    except MetricOptionError as exc:
        problems.append(str(exc))
        unreadable = True
    extra: dict[str, Any] = {}
    try:
        extra = parse_extra_options(request.extra_metric_opts)
    except MetricOptionError as exc:
        problems.append(str(exc))

    trained = _trained_entries(request, problems, refused)
    entries.update(trained)
    # As in pyiqa's benchmark, the metrics of a pyiqa-format option file join those named with -m.
    from_file = [name for name, entry in entries.items() if entry.from_pyiqa]
    names = list(dict.fromkeys([*(request.metrics or ()), *from_file])) or None
    specs: dict[str, MetricSpec] = {}
    for name in names or metrics.available():
        if name in refused or (name in entries and entries[name].from_pyiqa):
            continue
        try:
            specs[name] = metrics.get_spec(trained[name].builds if name in trained else name)
        except UnknownMetricError as exc:
            if not unreadable:
                problems.append(str(exc))
    if names is None:
        default = set(default_metric_names())
        uncalibrated = sorted(name for name in specs if name not in default)
        for name in uncalibrated:
            del specs[name]
        if uncalibrated and echo is not None:
            echo("Not in the default set (not calibrated; name it with -m to run it): " + ", ".join(uncalibrated))
    unavailable = {name: reason for name, spec in specs.items() if spec.unavailable and (reason := spec.unavailable())}
    for name, reason in unavailable.items():
        del specs[name]
        problems.append(f"metric {name!r} cannot run here: {reason}")
    registered = set(metrics.available())
    for name, entry in entries.items():
        if not entry.from_pyiqa and name not in specs and name not in unavailable:
            where = "is not a registered metric" if name not in registered else "is not in the run (-m)"
            problems.append(f"{request.metric_opt}: options for {name!r}, which {where}")
    run_entries: dict[str, MetricEntry] = {}
    for name in [*specs, *from_file]:
        try:
            run_entries[name] = with_extra_options(entries.get(name) or MetricEntry(name, name), extra)
        except MetricOptionError as exc:
            problems.append(str(exc))
    specs = {name: _spec_of(entry) for name, entry in run_entries.items()}
    caption_files: dict[str, dict[str, str]] = {}
    for name, entry in run_entries.items():
        if entry.captions is None:
            continue
        if not specs[name].needs_captions:
            problems.append(f"{request.metric_opt}: metric {name!r} takes no captions (captions: is for metrics "
                            "that score an image against its caption, such as clipscore)")
            continue
        try:
            caption_files[name] = load_caption_file(entry.captions, name)
        except CaptionError as exc:
            problems.append(str(exc))
    for name, spec in list(specs.items()):
        if spec.needs_captions and name not in caption_files and captionless is not None \
                and (problem := captionless(name, spec)) is not None:
            problems.append(problem)
            del specs[name]
    overrides: dict[str, ResourceOverride] = {}
    for name, entry in run_entries.items():
        if entry.resources is not None:
            try:
                overrides[name] = resource_override(name, entry.resources, source=str(request.metric_opt))
            except (PlacementError, ValueError, TypeError) as exc:
                problems.append(str(exc))
    # Resource needs measured by `iqabench efficiency` (resources.json) replace the registry's estimates.
    try:
        measured = load_measured_resources()
    except ValueError as exc:
        problems.append(str(exc))
        measured = {}
    specs = {name: with_measured_resources(spec, measured, request.batch_size) for name, spec in specs.items()}
    resolved_options: dict[str, dict[str, Any]] = {}
    for name, spec in list(specs.items()):
        try:
            resolved_options[name] = metrics.check_options(spec.registered_name, run_entries[name].options)
        except ValueError as exc:
            source = request.metric_opt if name in entries else None
            problems.append(f"{source or 'metric options'}: {exc}" if spec.builds is None
                            else f"{source or 'metric options'}: metric {name!r} (built as {spec.builds}): {exc}")
            del specs[name]
    fingerprints: dict[str, dict[str, str]] = {}
    skipped: list[str] = []
    for name in list(specs):
        try:
            fingerprints[name] = parameter_fingerprint(specs[name], fetch=names is not None,
                                                       options=resolved_options[name])
        except (OSError, RuntimeError, ValueError) as exc:
            if names is None:  # the default set: leave out metrics whose weights are not here, and say so
                skipped.append(name)
                del specs[name]
            else:
                problems.append(f"metric {name!r}: {exc}")
    if skipped and echo is not None:
        echo("Not in the default set (weights not cached; `iqabench weights download METRIC` fetches them, "
             "`-m METRIC` names the missing file): " + ", ".join(skipped))
    return MetricChoice(names, specs, resolved_options, fingerprints, overrides,
                        {name: found for name, found in caption_files.items() if name in specs})


def build_plan(request: BenchmarkRequest, echo: Callable[[str], None] | None = None) -> Plan:
    """Resolve and validate every metric, option and dataset; collect all problems into one error."""
    problems: list[str] = _output_problems(request)
    problems += _split_flag_problems(request)
    datasets: list[DatasetSpec] = []
    keys = request.datasets
    if not keys and request.data_opt is not None:  # pyiqa runs every dataset its --data_opt file holds
        try:
            keys = tuple(load_options_file(request.data_opt, request.data_root))
            if not keys:
                problems.append(f"{request.data_opt}: holds no dataset entry (name datasets with -d)")
        except DatasetOptionError as exc:
            problems.append(str(exc))
    for key in dict.fromkeys(keys):
        try:
            datasets.append(_with_split_flags(resolve_dataset(key, request.data_opt, request.data_root), request))
        except (UnknownDatasetError, DatasetOptionError) as exc:
            problems.append(str(exc))

    def captionless(name: str, spec: MetricSpec) -> str | None:
        lacking = [d for d in datasets if _applies(spec, d) and d.caption_column is None]
        return missing_source(name, [d.key for d in lacking]) if lacking else None

    chosen = choose_metrics(request, problems, echo, captionless)
    names, specs, resolved_options, fingerprints, overrides = (chosen.named, chosen.specs, chosen.options,
                                                               chosen.fingerprints, chosen.overrides)

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
        raise plan_error("invalid benchmark matrix", problems)

    # Only now that the whole matrix is valid: make sure every dataset is on disk (downloading if asked).
    for index, dataset in enumerate(datasets):
        if dataset.key == "demo" and dataset.source == "builtin demo":
            continue
        try:
            datasets[index] = _with_split_flags(ensure_downloaded(
                dataset.key, request.data_root, data_opt=request.data_opt, download=request.download
            ), request)
        except (MissingDatasetError, DownloadError) as exc:
            problems.append(str(exc))
    if problems:
        raise plan_error("cannot run the benchmark", problems)

    passes = []
    for dataset in datasets:
        try:
            manifest = build_manifest(dataset, limit=request.limit)
        except (OSError, ValueError) as exc:
            problems.append(str(exc))
            continue
        split = dataset.split_label
        cells = []
        for name, spec in specs.items():
            if not _applies(spec, dataset):
                continue
            captions = None
            if spec.needs_captions:
                try:
                    captions = captions_for(name, manifest, chosen.caption_files.get(name))
                except CaptionError as exc:
                    problems.append(str(exc))
                    continue
            cells.append(Cell(metric=name, dataset=dataset.key, options=resolved_options[name], spec=spec,
                              key=cell_key(spec, resolved_options[name], manifest, split, fingerprints[name],
                                           captions), captions=captions))
        cells = tuple(cells)
        if not cells:
            problems.append(f"dataset {dataset.key!r}: none of the requested metrics applies to it")
        passes.append(DatasetPass(dataset=dataset, manifest=manifest, cells=cells))
    if problems:
        raise plan_error("invalid benchmark matrix", problems)
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
