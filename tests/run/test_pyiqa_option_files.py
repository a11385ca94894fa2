"""pyiqa's option files and benchmark flags read by the planner (no Ray): named variants, custom weights, metric
modes, ``--extra_metric_opts``, legacy dataset fields, ``--split_file`` / ``--test_phase`` / ``--update_benchmark``.
Every refusal is one line naming the file (or flag), the key and what was expected, and writes nothing."""

from __future__ import annotations

import hashlib
from pathlib import Path

import pytest

from orchestrator.run.plan import PlanError, build_plan
from orchestrator.run.request import BenchmarkRequest
from tests._helpers.pyiqa_examples import (
    EXAMPLE_DATA_OPTS,
    EXAMPLE_METRIC_OPTS,
    LIVE_SPLIT,
    make_live,
    metric_opts_with_custom,
)

PSNR_Y_ONLY = EXAMPLE_METRIC_OPTS[:EXAMPLE_METRIC_OPTS.index("custom_metric:")]


@pytest.fixture
def live(tmp_path, monkeypatch):
    """The made-up LIVE under a working directory where pyiqa's ``./datasets/...`` paths find it."""
    monkeypatch.chdir(tmp_path)
    monkeypatch.delenv("IQABENCH_DATA_ROOT", raising=False)
    rows = make_live(tmp_path)
    (tmp_path / "example_benchmark_data_opts.yml").write_text(EXAMPLE_DATA_OPTS)
    return tmp_path, rows


def _plan(root: Path, metric_text: str | None = None, **request):
    if metric_text is not None:
        (root / "example_benchmark_metric_opts.yml").write_text(metric_text)
        request.setdefault("metric_opt", root / "example_benchmark_metric_opts.yml")
    request.setdefault("datasets", ())
    request.setdefault("data_opt", root / "example_benchmark_data_opts.yml")
    return build_plan(BenchmarkRequest(out=root / "out", **request))


def _refusal(root: Path, metric_text: str | None = None, **request) -> str:
    with pytest.raises(PlanError) as info:
        _plan(root, metric_text, **request)
    message = str(info.value)
    assert not (root / "out").exists(), "a refused run must leave nothing in --out"
    return message


def test_the_example_data_file_reads_as_pyiqa_reads_it(live):
    root, rows = live
    plan = _plan(root, PSNR_Y_ONLY, metrics=("psnr-y",), datasets=("live-split1",))
    (dataset_pass,) = plan.passes
    spec, table = dataset_pass.dataset, dataset_pass.manifest.table.to_pandas()
    assert (spec.name, spec.split_label, spec.dmos_max) == ("LIVE", "val", 100.0)
    val = [rows[i] for i in LIVE_SPLIT[1]["val"]]
    assert [Path(p).relative_to(root / "datasets/LIVEIQA_release2").as_posix() for p in table["dist_path"]] == [
        r[1] for r in val]
    assert table["mos"].tolist() == pytest.approx([100 - r[2] for r in val])  # mos = dmos_max - dmos
    assert not spec.mos_lower_better  # DMOS turned into MOS: higher is better


def test_psnr_y_is_a_named_variant_of_psnr_on_the_luma(live):
    root, _ = live
    plan = _plan(root, PSNR_Y_ONLY, metrics=("psnr-y", "psnry"), datasets=("live-split1",))
    cells = {c.metric: c for c in plan.cells}
    variant, registered = cells["psnr-y"], cells["psnry"]
    assert (variant.spec.name, variant.spec.builds, variant.spec.mode) == ("psnr-y", "psnr", "FR")
    assert dict(variant.options) == {"channel": "yiq"} == dict(registered.options)  # pyiqa's unrounded YIQ luma
    assert variant.key != registered.key  # a cell of its own name


def test_pyiqa_entries_join_the_run_without_minus_m(live):
    root, _ = live
    plan = _plan(root, PSNR_Y_ONLY + "ssim-rgb:\n  metric_opts: {type: SSIM, test_y_channel: false}\n"
                 "  metric_mode: FR\n  lower_better: true\n", datasets=("live-split1",))
    specs = {c.metric: c.spec for c in plan.cells}
    assert sorted(specs) == ["psnr-y", "ssim-rgb"]
    assert specs["ssim-rgb"].builds == "ssim" and specs["ssim-rgb"].lower_better is True


def test_custom_weights_key_the_cell_by_their_sha256(live):
    root, _ = live
    weights = root / "my_cnniqa.pth"
    weights.write_bytes(b"first")  # not loaded by the planner: only hashed
    custom = ("custom_metric:\n  metric_opts:\n    type: CNNIQA\n    pretrained: false\n"
              f"    pretrained_model_path: {weights}\n  metric_mode: NR\n")
    first = _plan(root, metric_opts_with_custom(custom), datasets=("live-split1",))
    cell = {c.metric: c for c in first.cells}["custom_metric"]
    assert cell.spec.builds == "cnniqa" and cell.options["pretrained_model_path"] == str(weights)
    weights.write_bytes(b"second")
    second = {c.metric: c for c in _plan(root, metric_opts_with_custom(custom), datasets=("live-split1",)).cells}
    assert second["custom_metric"].key != cell.key
    assert second["psnr-y"].key == {c.metric: c for c in first.cells}["psnr-y"].key
    from orchestrator.run.plan import parameter_fingerprint

    assert parameter_fingerprint(cell.spec, False, cell.options) == {
        "pretrained_model_path (for CNNIQA_koniq10k-e6f14c91.pth)": hashlib.sha256(b"second").hexdigest()}


def test_the_published_template_is_refused_in_one_line(live):
    root, _ = live
    message = _refusal(root, EXAMPLE_METRIC_OPTS, metrics=("psnr-y",), datasets=("live-split1",))
    assert "example_benchmark_metric_opts.yml: not valid YAML" in message and "\n" not in message


@pytest.mark.parametrize("entry,expected", [
    ("custom_metric:\n  metric_opts: {type: CustomModel}\n  metric_mode: FR\n",
     "example_benchmark_metric_opts.yml: metric 'custom_metric': metric_opts: unknown metric type 'CustomModel' "
     "(known types: AFINE, AHIQ, ARNIQA, BRISQUE,"),
    ("custom_metric:\n  metric_opts: {type: PSNR}\n  metric_mode: NR\n",
     "metric 'custom_metric': metric_mode is NR but type PSNR builds psnr, a full-reference metric"),
    ("custom_metric:\n  metric_opts: {type: PSNR}\n  metric_mode: FR\n  lower_better: 1\n",
     "metric 'custom_metric': lower_better must be true or false, got 1"),
    ("custom_metric:\n  metric_opts: {type: PSNR}\n  metric_modes: FR\n",
     "metric 'custom_metric': unknown key 'metric_modes' in a pyiqa entry (expected metric_opts, metric_mode"),
    ("custom_metric:\n  metric_opts: {test_y_channel: true}\n",
     "metric 'custom_metric': metric_opts must be a mapping with a 'type'"),
    ("custom_metric:\n  metric_opts: {type: CNNIQA, pretrained_model_path: /nowhere/x.pth}\n  metric_mode: NR\n",
     "metric 'custom_metric' (built as cnniqa): metric 'cnniqa': option 'pretrained_model_path': /nowhere/x.pth "
     "is not a file"),
    ("custom_metric:\n  metric_opts: {type: PSNR, data_range: -1}\n  metric_mode: FR\n",
     "option 'data_range' must be > 0, got -1"),
])
def test_bad_metric_entries_are_one_line_each(live, entry, expected):
    root, _ = live
    message = _refusal(root, metric_opts_with_custom(entry), metrics=("psnr-y",), datasets=("live-split1",))
    assert expected in message and "\n" not in message, message


def test_extra_metric_opts_apply_to_every_metric_as_in_pyiqa(live):
    root, _ = live
    plan = _plan(root, PSNR_Y_ONLY, metrics=("psnr", "ssim", "psnr-y"), datasets=("live-split1",),
                 extra_metric_opts=("test_y_channel=false",))
    options = {c.metric: dict(c.options) for c in plan.cells}
    assert options == {"psnr": {"channel": "rgb"}, "ssim": {"channel": "rgb"}, "psnr-y": {"channel": "rgb"}}
    plan = _plan(root, metrics=("ssim", "ssimc"), datasets=("live-split1",), extra_metric_opts=("window_size=7",))
    assert {c.metric: c.options["window_size"] for c in plan.cells} == {"ssim": 7, "ssimc": 7}  # our own option
    message = _refusal(root, metrics=("psnr", "niqe"), datasets=("live-split1",),
                       extra_metric_opts=("crop_border=4", "x"))
    assert "--extra_metric_opts: 'x' is not KEY=VALUE (pyiqa would ignore it)" in message


def test_legacy_dataset_fields_and_their_refusals(live):
    root, _ = live
    base = EXAMPLE_DATA_OPTS.replace("live-split1", "live-x")
    cases = {
        "override_phase: test\n": None,
        "dmos_max: 0\n": None,
        "io_backend: {type: disk}\n": None,
        "dmos_max: yes\n": "field 'dmos_max': must be a finite number (pyiqa scored dmos_max - dmos), got True",
        "mos_normalize: true\n  mos_range: [0, 100]\n": "field 'dmos_max': with mos_normalize",
        "io_backend: {type: lmdb}\n": "field 'io_backend': pyiqa's early datasets read images through BasicSR's",
        "override_phase: dev\n": "field 'override_phase': must be one of train, val, test, got 'dev'",
    }
    for extra, expected in cases.items():
        (root / "d.yml").write_text(base + "  " + extra)
        if expected is None:
            spec = _plan(root, PSNR_Y_ONLY, datasets=("live-x",), data_opt=root / "d.yml").passes[0].dataset
            assert spec.effective_phase == ("test" if "override" in extra else "val")
            assert spec.dmos_max == (None if "dmos_max: 0" in extra else 100.0)
        else:
            message = _refusal(root, PSNR_Y_ONLY, datasets=("live-x",), data_opt=root / "d.yml")
            assert f"d.yml: dataset 'live-x', {expected}" in message and "\n" not in message, message


def test_split_file_and_test_phase_flags(live):
    root, rows = live
    split = root / "datasets/meta_info/live_123.pkl"
    (root / "d.yml").write_text(EXAMPLE_DATA_OPTS.replace("  split_file: './datasets/meta_info/live_123.pkl'\n", "")
                                .replace("  phase: val\n", "").replace("split_index: 1", "split_index: 2"))
    plan = _plan(root, PSNR_Y_ONLY, datasets=("live-split1",), data_opt=root / "d.yml", split_file=split,
                 test_phase="train")
    table = plan.passes[0].manifest.table.to_pandas()
    assert plan.passes[0].split == "train" and len(table) == len(LIVE_SPLIT[2]["train"])
    assert table["mos"].tolist() == pytest.approx([100 - rows[i][2] for i in LIVE_SPLIT[2]["train"]])
    plan = _plan(root, PSNR_Y_ONLY, datasets=("live-split1",), data_opt=root / "d.yml", split_file=split)
    assert plan.passes[0].split == "test" and plan.passes[0].manifest.num_rows == 2  # pyiqa's default phase
    assert "--test_phase val without --split_file: pyiqa's benchmark ignores it" in _refusal(
        root, PSNR_Y_ONLY, datasets=("live-split1",), test_phase="val")
    assert f"--split_file {root / 'nope.pkl'}: not a file" in _refusal(
        root, PSNR_Y_ONLY, datasets=("live-split1",), split_file=root / "nope.pkl")


def test_update_benchmark_must_be_a_pyiqa_results_file(live):
    root, _ = live
    assert f"--update_benchmark {root / 'none.csv'}: not a file" in _refusal(
        root, PSNR_Y_ONLY, datasets=("live-split1",), update_benchmark=root / "none.csv")
    (root / "bad.csv").write_text("Metric,x\n")
    message = _refusal(root, PSNR_Y_ONLY, datasets=("live-split1",), update_benchmark=root / "bad.csv")
    assert f"--update_benchmark {root / 'bad.csv'}: not a pyiqa benchmark file" in message and "\n" not in message
