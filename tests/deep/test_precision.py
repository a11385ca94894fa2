"""The deep metrics' ``precision`` option: bfloat16 on the CPU stays close to float32, bad values are refused, and
the precision is part of the metric's options (hence of its cell key).

Weights are random (seeded by ``deep_env``), inputs the five TID2013 calibration pairs at quarter size (96×128).
The tolerances are about 3-4× the largest deviation measured on these inputs (torch 2.14.1, this repository's
CPU with avx512_bf16); ``benchmarks/precision.py`` measures the deviations on the demo pairs for every deep metric.
"""

from __future__ import annotations

import pytest
import torch
import yaml

import metrics
from metrics.deep.weights import weight_files
from metrics.registry import module_of
from tests._helpers.equivalence import calibration_case

#: name -> (rtol, atol): |bf16 - fp32| <= rtol·|fp32| + atol for every pair. Measured largest deviation in comments.
TOLERANCE = {
    "lpips": (3e-3, 1e-4),  # 2.1e-4 abs, 6.6e-4 rel
    "dists": (5e-3, 1.5e-3),  # 4.0e-4 abs on a score of 0.014 (2.8e-2 rel)
    "topiq_nr": (2e-2, 0.0),  # 1.6e-2 abs on 2.08 (7.9e-3 rel; the float32 score MLP did not shrink it here)
    "musiq": (6e-4, 0.0),  # 8.7e-3 abs on 49.5 (1.8e-4 rel; 0.24 / 4.8e-3 while the head ran in bfloat16)
    "dbcnn": (1e-3, 0.0),  # 4.9e-5 abs on 0.21 (2.3e-4 rel)
}


def _deep_metrics() -> list[str]:
    return [name for name in metrics.available() if module_of(name).startswith("metrics.deep.")]


def _score(model: torch.nn.Module, dist: torch.Tensor, ref: torch.Tensor) -> torch.Tensor:
    with torch.inference_mode():
        return model(dist, ref) if model.spec.mode == "FR" else model(dist)


@pytest.mark.parametrize("name", sorted(TOLERANCE))
def test_bfloat16_on_cpu_is_close_to_float32(name, deep_env, tid_pairs):
    deep_env.ensure(*[wf.filename for wf in weight_files(name)])
    _, dist, ref = calibration_case(tid_pairs, 0.25)
    full = _score(metrics.create(name), dist, ref)
    low_model = metrics.create(name, precision="bfloat16")
    low = _score(low_model, dist, ref)
    assert low_model.options["precision"] == "bfloat16"
    assert low.dtype == torch.float32 and low.shape == full.shape and torch.isfinite(low).all()
    assert not torch.equal(low, full), "bfloat16 gave float32's scores bit for bit: the option did not take effect"
    rtol, atol = TOLERANCE[name]
    deviation = (low - full).abs()
    allowed = rtol * full.abs() + atol
    assert (deviation <= allowed).all(), (name, full.tolist(), low.tolist())
    worst = (deviation / full.abs()).max()
    print(f"\n{name} bfloat16 vs float32: max |Δ| {deviation.max():.3g}, max rel. {worst:.3g}")


@pytest.mark.parametrize("name", _deep_metrics())
def test_unknown_precision_is_refused(name):
    with pytest.raises(ValueError, match="precision must be one of"):
        metrics.create(name, precision="float8")


@pytest.mark.parametrize("name", _deep_metrics())
def test_spec_declares_the_default_precision(name):
    """The default is part of the spec's options, so leaving it out and naming it give the same options."""
    assert metrics.get_spec(name).options["precision"] == "float32"
    assert metrics.check_options(name, {}) == metrics.check_options(name, {"precision": "float32"})


def test_precision_enters_the_cell_key(deep_env, tmp_path):
    from orchestrator.run.plan import build_plan
    from orchestrator.run.request import BenchmarkRequest

    deep_env.ensure(*[wf.filename for wf in weight_files("lpips")])
    cells = {}
    for precision in (None, "float32", "bfloat16"):
        opt = None
        if precision is not None:
            opt = tmp_path / f"{precision}.yml"
            opt.write_text(yaml.safe_dump({"lpips": {"precision": precision}}))
        plan = build_plan(BenchmarkRequest(metrics=("lpips",), datasets=("demo",), metric_opt=opt, limit=2,
                                           out=tmp_path / "out"))
        (cells[precision],) = plan.cells
    assert cells[None].options["precision"] == cells["float32"].options["precision"] == "float32"
    assert cells["bfloat16"].options["precision"] == "bfloat16"
    assert cells[None].key == cells["float32"].key, "an explicit default precision must not change the cell key"
    assert cells["float32"].key != cells["bfloat16"].key
