"""Plan ``iqabench score``: the request's metrics (validated as ``bench`` validates them) on one image set, as a
:class:`~orchestrator.run.plan.Plan` of one pass, so that the pools, the scheduler and the cell store run it
exactly as they run a benchmark."""

from __future__ import annotations

from typing import Callable

from datasets_io.image_set import (
    ImageSetError,
    collect_images,
    image_set_manifest,
    pair_references,
)
from orchestrator.results.outlock import check_output_folder
from orchestrator.run.captions import CaptionError, captions_for, missing_source
from orchestrator.run.cells import Cell
from orchestrator.run.plan import (
    DatasetPass,
    Plan,
    cell_key,
    choose_metrics,
    plan_error,
)
from orchestrator.run.request import ScoreRequest

#: The split label of an image set's cells (every image is scored).
ALL_IMAGES = "all"


def build_score_plan(request: ScoreRequest, echo: Callable[[str], None] | None = None) -> Plan:
    """Resolve and validate the metrics, their options and the images (and references); every problem is
    collected into one :class:`~orchestrator.run.plan.PlanError`."""
    problems = [p for p in [check_output_folder(request.out)] if p]
    chosen = (choose_metrics(request, problems, echo, lambda name, spec: missing_source(name, [request.name]))
              if request.metrics or request.metric_opt else None)
    if chosen is None or chosen.named is None:
        problems.append("no metric named: name the metrics to score with -m (or a pyiqa-format --metric_opt file)")
    manifest = None
    try:
        images = pair_references(collect_images(request.target), request.ref)
        manifest = image_set_manifest(images[: request.limit] if request.limit else images, request.name)
    except (ImageSetError, OSError) as exc:
        problems.append(str(exc))
    if chosen is not None and manifest is not None and manifest.spec.mode == "NR":
        full_reference = sorted(name for name, spec in chosen.specs.items() if spec.mode == "FR")
        if full_reference:
            problems.append(f"{', '.join(full_reference)}: full-reference, but no references were given (-r/--ref: "
                            "a reference image, or a folder of references matched by file name)")
    captions: dict[str, tuple[str, ...]] = {}
    if chosen is not None and manifest is not None:
        for name, spec in chosen.specs.items():
            if spec.needs_captions:  # an image folder has no meta-info: only a caption file gives them
                try:
                    captions[name] = captions_for(name, manifest, chosen.caption_files.get(name))
                except CaptionError as exc:
                    problems.append(str(exc))
    if problems or manifest is None or chosen is None:
        raise plan_error("cannot score", problems)
    cells = tuple(
        Cell(metric=name, dataset=manifest.spec.key, options=chosen.options[name], spec=spec,
             key=cell_key(spec, chosen.options[name], manifest, ALL_IMAGES, chosen.fingerprints[name],
                          captions.get(name)), captions=captions.get(name))
        for name, spec in chosen.specs.items()
    )
    return Plan(request=request, passes=(DatasetPass(dataset=manifest.spec, manifest=manifest, cells=cells),),
                overrides={k: v for k, v in chosen.overrides.items() if k in chosen.specs})
