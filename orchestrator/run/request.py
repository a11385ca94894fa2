"""The typed requests a job hands to the orchestrator (built by ``jobs`` from command-line flags): what every run
that scores images on the cluster shares (:class:`RunSettings`), a benchmark's (:class:`BenchmarkRequest`) and
a scoring of images without opinion scores (:class:`ScoreRequest`)."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path


@dataclass(frozen=True)
class RunSettings:
    """The metrics, the output folder and how the scoring runs: read by the planner, the pools and the scheduler
    for ``bench`` and ``score`` alike."""

    #: Metric names; ``None`` means every registered metric that applies to the datasets.
    metrics: tuple[str, ...] | None = None
    metric_opt: Path | None = None
    #: ``--extra_metric_opts KEY=VALUE ...``: options applied to every metric, as pyiqa applies them.
    extra_metric_opts: tuple[str, ...] = ()
    out: Path = Path("results")
    batch_size: int = 8
    use_gpu: bool = False
    limit: int | None = None
    dry_run: bool = False
    #: Recompute cells even when a committed result with the same key exists.
    force: bool = False
    #: Commit streamed per-image results at least every this many images (what a killed run can lose).
    checkpoint_every: int = 64
    #: Actors per metric; ``None`` chooses from the cluster's CPUs.
    num_workers: int | None = None
    #: Ray address (``None``: the address in RAY_ADDRESS, else a new local cluster).
    ray_address: str | None = None
    tracking_uri: str | None = None
    #: ``--dry-run`` plans for this cluster (CPUs, GPUs) instead of this machine.
    plan_cluster: tuple[float, float] | None = None
    #: MLflow experiment (``None``: ``MLFLOW_EXPERIMENT_NAME``, else ``iqabench``).
    experiment: str | None = None
    extra_tags: dict[str, str] = field(default_factory=dict)
    #: Seconds to wait for another run to release the output folder (0: refuse at once).
    wait_for_lock: float = 0.0

    def __post_init__(self) -> None:
        if self.batch_size < 1:
            raise ValueError(f"--batch_size must be >= 1, got {self.batch_size}")
        if self.limit is not None and self.limit < 1:
            raise ValueError(f"--limit must be >= 1, got {self.limit}")
        if self.num_workers is not None and self.num_workers < 1:
            raise ValueError(f"--num_workers must be >= 1, got {self.num_workers}")
        if self.checkpoint_every < 1:
            raise ValueError(f"--checkpoint_every must be >= 1, got {self.checkpoint_every}")
        if self.plan_cluster is not None and (min(self.plan_cluster) < 0 or self.plan_cluster[0] <= 0):
            raise ValueError(f"--plan_cluster needs CPUS > 0 and GPUS >= 0, got {self.plan_cluster}")
        if not self.wait_for_lock >= 0:
            raise ValueError(f"--wait_for_lock must be >= 0 seconds, got {self.wait_for_lock}")


@dataclass(frozen=True)
class BenchmarkRequest(RunSettings):
    #: Dataset keys; empty: every entry of ``data_opt`` (as pyiqa's benchmark runs them).
    datasets: tuple[str, ...] = ("demo",)
    data_opt: Path | None = None
    data_root: str | None = None
    #: ``--split_file``: the split pickle of every dataset (pyiqa's); ``--test_phase``: the phase scored with it.
    split_file: Path | None = None
    test_phase: str | None = None
    save_result_path: Path | None = None
    #: ``--update_benchmark``: a pyiqa results CSV the run's cells are written into, sorted as pyiqa sorts it.
    update_benchmark: Path | None = None
    #: Bootstrap resamples for the confidence intervals and paired significance tests, and their seed.
    bootstrap_resamples: int = 1000
    seed: int = 0
    #: Download missing datasets from the Hugging Face hub before scoring.
    download: bool = False

    def __post_init__(self) -> None:
        super().__post_init__()
        if self.bootstrap_resamples < 1:
            raise ValueError(f"--bootstrap_resamples must be >= 1, got {self.bootstrap_resamples}")
        if self.test_phase is not None and self.test_phase not in ("train", "val", "test"):
            raise ValueError(f"--test_phase must be train, val or test, got {self.test_phase!r}")
        if not self.datasets and self.data_opt is None:
            raise ValueError("at least one dataset is required (-d, or the entries of --data_opt)")


@dataclass(frozen=True)
class ScoreRequest(RunSettings):
    """Score images without opinion scores: ``target`` (a file, a folder, a glob or a CSV of paths), against
    ``ref`` (a file or a folder matched by file name) for full-reference metrics."""

    target: str = ""
    ref: str | None = None
    #: The image set's name in the outputs and the cell keys.
    name: str = "images"

    def __post_init__(self) -> None:
        super().__post_init__()
        if not self.target:
            raise ValueError("-t/--target is required: an image, a folder, a glob or a CSV of paths")
        if not self.metrics and self.metric_opt is None:
            raise ValueError("-m/--metric_names is required: name the metric(s) to score (or give a pyiqa-format "
                             "--metric_opt file, whose metrics are scored)")
        if not self.name or "/" in self.name or self.name.startswith("."):
            raise ValueError(f"--name must be a plain name (no '/', not starting with '.'), got {self.name!r}")
