"""``iqabench reproduce``: the metrics it picks, its delta table, and ``--table FR`` end to end on a fake hub
(small made-up CSIQ, LIVE, TID2008 and TID2013 downloaded with ``--download``) on a real local Ray cluster."""

from __future__ import annotations

import csv
import math

import pandas as pd
import pytest

import metrics

from orchestrator.reproduce.job import metrics_to_run, write_tables
from orchestrator.reproduce.tables import PROTOCOLS, SRCC_TOLERANCE, published, srcc_of
from orchestrator.run.plan import PlanError
from tests._helpers.builders import populate_fr_table
from tests._helpers.fakehub import FakeHub, isolate_for_downloads


def _read(path) -> dict[str, dict[str, str]]:
    with open(path, newline="") as handle:
        rows = list(csv.DictReader(handle))
    return {row.pop("Metric name"): row for row in rows}


def test_the_packaged_tables_are_the_published_ones():
    for protocol in PROTOCOLS.values():
        table = published(protocol)
        assert table and all(set(cells) <= set(protocol.datasets) for cells in table.values())
    assert published(PROTOCOLS["FR"])["ssim"]["live"] == "0.8253/0.9103/0.7309"
    assert srcc_of("0.8253/0.9103/0.7309") == 0.9103 and math.isnan(srcc_of("0.98/--/0.9")) and math.isnan(srcc_of(""))


def test_the_metrics_of_a_table_that_can_run_here(monkeypatch, tmp_path):
    monkeypatch.setenv("TORCH_HOME", str(tmp_path / "torch"))
    monkeypatch.setenv("IQABENCH_WEIGHTS_CACHE", str(tmp_path / "hf"))
    # every metric of pyiqa's FR table is registered now: take one away to see it left out as not registered
    registered = [name for name in metrics.available() if name != "stlpips"]
    monkeypatch.setattr(metrics, "available", lambda mode=None: registered)
    said: list[str] = []
    chosen = metrics_to_run(PROTOCOLS["FR"], None, download=False, echo=said.append)
    assert {"psnr", "ssim", "ms_ssim", "cw_ssim", "fsim", "vif"} <= set(chosen)
    assert not {"lpips", "dists", "stlpips"} & set(chosen)  # no weights here / not registered
    assert any(line == "Not registered here, left out: stlpips" for line in said), said
    assert any(line.startswith("Weights not cached, left out (--download fetches them): ") and "lpips" in line
               for line in said)
    with pytest.raises(PlanError, match=r"'niqe' is not in pyiqa's FR table \(its metrics: cw_ssim, ckdn"):
        metrics_to_run(PROTOCOLS["FR"], ("psnr", "niqe"), download=False, echo=said.append)


def test_the_delta_table_flags_differences_beyond_the_tolerance(tmp_path):
    reference = published(PROTOCOLS["FR"])
    close = srcc_of(reference["psnr"]["csiq"]) + SRCC_TOLERANCE / 2
    far = srcc_of(reference["psnr"]["live"]) - 3 * SRCC_TOLERANCE
    summary = pd.DataFrame([
        {"metric": "psnr", "dataset": "csiq", "plcc": 0.5, "srcc": close, "krcc": 0.4},
        {"metric": "psnr", "dataset": "live", "plcc": 0.5, "srcc": far, "krcc": 0.4},
        {"metric": "psnr", "dataset": "tid2008", "plcc": math.nan, "srcc": math.nan, "krcc": math.nan},
        {"metric": "psnr", "dataset": "tid2013", "plcc": 0.6, "srcc": 0.7, "krcc": 0.5},
    ])
    table_csv, delta_csv, flagged = write_tables(summary, PROTOCOLS["FR"], ["psnr"], tmp_path)
    assert flagged[:2] == [("psnr", "live"), ("psnr", "tid2008")]
    delta = _read(delta_csv)["psnr"]
    assert float(delta["live delta"]) == pytest.approx(round(far, 4) - srcc_of(reference["psnr"]["live"]), abs=1e-4)
    assert delta["tid2008 delta"] == "not computed"
    expected = ["live", "tid2008"] + (["tid2013"] if abs(0.7 - srcc_of(reference["psnr"]["tid2013"])) > SRCC_TOLERANCE
                                      else [])
    assert delta["flagged"].split(";") == expected
    ours = _read(table_csv)
    assert list(ours) == ["psnr"] and ours["psnr"]["tid2013(PLCC/SRCC/KRCC)"] == "0.6/0.7/0.5"


@pytest.mark.ray
@pytest.mark.timeout(600)
def test_reproduce_the_fr_table_on_a_fake_hub(ray_cluster, tmp_path, monkeypatch, capsys):
    from jobs.cli import main

    isolate_for_downloads(monkeypatch, tmp_path)
    out = tmp_path / "out"
    with FakeHub() as hub:
        populate_fr_table(hub)
        monkeypatch.setenv("HF_ENDPOINT", hub.url)
        status = main(["reproduce", "--table", "FR", "-m", "psnr", "ssim", "--download", "--data_root",
                       str(tmp_path / "data"), "--out", str(out), "--bootstrap_resamples", "20"])
    assert status == 0, capsys.readouterr()
    summary = pd.read_csv(out / "summary.csv")
    assert sorted(set(summary["dataset"])) == ["csiq", "live", "tid2008", "tid2013"]
    assert (summary["n"] == 6).all() and (summary["n_failed"] == 0).all()
    ours = _read(out / "FR_benchmark_results.csv")
    assert list(ours) == ["ssim", "psnr"]  # the published order
    delta = _read(out / "FR_delta.csv")
    reference = published(PROTOCOLS["FR"])
    for row in summary.itertuples():
        cells = delta[row.metric]
        assert ours[row.metric][f"{row.dataset}(PLCC/SRCC/KRCC)"].split("/")[1] == str(round(row.srcc, 4))
        difference = round(row.srcc, 4) - srcc_of(reference[row.metric][row.dataset])
        assert float(cells[f"{row.dataset} delta"]) == pytest.approx(difference, abs=1e-4)
        assert (row.dataset in cells["flagged"].split(";")) == (abs(difference) > SRCC_TOLERANCE)
