"""Issue #20's must-show: pyiqa's two example option files run unchanged through ``iqabench bench`` on a real local
Ray cluster: ``-m psnr-y --metric_opt example_benchmark_metric_opts.yml`` (its ``custom_metric`` entry made real: a
CNNIQA checkpoint of our own) ``--data_opt example_benchmark_data_opts.yml`` on a made-up LIVE, with
``--update_benchmark`` merging the results into a pyiqa results table."""

from __future__ import annotations

import csv

import numpy as np
import pandas as pd
import pytest
import torch

import metrics
from datasets_io.remote import read_image_uri
from tests._helpers.pyiqa_examples import (
    EXAMPLE_DATA_OPTS,
    LIVE_SPLIT,
    make_live,
    metric_opts_with_custom,
)
from tests._helpers.random_weights import FILES

pytestmark = [pytest.mark.ray, pytest.mark.timeout(600)]

PUBLISHED = ("Metric name,live-split1(PLCC/SRCC/KRCC),csiq(PLCC/SRCC/KRCC)\n"
             "ssim,0.95/0.94/0.8,0.86/0.87/0.68\n"
             "brisque,0.2/0.1/0.05,0.4/0.3/0.2\n"
             "piqe,,0.3/0.2/0.1\n")


def _as_tensor(root, names) -> torch.Tensor:
    """The made-up LIVE's images ``names`` (relative to its folder), decoded as the benchmark decodes them."""
    folder = root / "datasets" / "LIVEIQA_release2"
    return torch.stack([torch.from_numpy(read_image_uri(str(folder / n))).permute(2, 0, 1) for n in names]).float() / 255


@pytest.fixture(scope="module")
def example_run(ray_cluster, tmp_path_factory):
    from jobs.cli import main

    root = tmp_path_factory.mktemp("pyiqa-examples")
    make_live(root)
    weights = root / "my_cnniqa.pth"
    torch.save(FILES["CNNIQA_koniq10k-e6f14c91.pth"][1](), weights)
    custom = ("custom_metric:\n  metric_opts:\n    type: CNNIQA\n    pretrained: false\n"
              f"    pretrained_model_path: {weights}\n  metric_mode: NR")
    (root / "example_benchmark_metric_opts.yml").write_text(metric_opts_with_custom(custom))
    (root / "example_benchmark_data_opts.yml").write_text(EXAMPLE_DATA_OPTS)
    (root / "published.csv").write_text(PUBLISHED)
    mp = pytest.MonkeyPatch()
    mp.chdir(root)
    mp.delenv("IQABENCH_DATA_ROOT", raising=False)
    mp.delenv("MLFLOW_TRACKING_URI", raising=False)
    try:
        status = main(["bench", "-m", "psnr-y", "--metric_opt", "example_benchmark_metric_opts.yml",
                       "--data_opt", "example_benchmark_data_opts.yml", "--out", "out", "--batch_size", "4",
                       "--bootstrap_resamples", "20", "--update_benchmark", "published.csv"])
    finally:
        mp.undo()
    return status, root, weights


def test_both_metrics_are_scored_on_the_split_and_phase_of_the_file(example_run):
    status, root, _ = example_run
    assert status == 0
    summary = pd.read_csv(root / "out" / "summary.csv").set_index("metric")
    assert sorted(summary.index) == ["custom_metric", "psnr-y"]
    assert (summary["dataset"] == "live-split1").all() and (summary["split"] == "val").all()
    assert (summary["n"] == len(LIVE_SPLIT[1]["val"])).all() and (summary["n_failed"] == 0).all()
    # more noise, more DMOS, less MOS (= 100 - DMOS): PSNR on the y channel follows it
    assert summary.loc["psnr-y", "srcc"] > 0.8 and bool(summary.loc["psnr-y", "sign_ok"])


def make_rows(root):
    """The meta-info rows of the made-up LIVE (ref_name, dist_name, dmos)."""
    lines = (root / "datasets" / "meta_info" / "meta_info_LIVEIQADataset.csv").read_text().splitlines()[1:]
    return [tuple(line.split(",")) for line in lines]


def test_per_image_scores_are_the_built_metrics_scores(example_run):
    _, root, weights = example_run
    psnr_y = pd.read_parquet(root / "out" / "scores" / "live-split1" / "psnr-y.parquet")
    assert psnr_y["dist_name"].tolist() == [make_rows(root)[i][1] for i in LIVE_SPLIT[1]["val"]]
    dist, ref = _as_tensor(root, psnr_y["dist_name"]), _as_tensor(root, psnr_y["ref_name"])
    with torch.inference_mode():
        expected = metrics.create("psnry")(dist, ref).double().numpy()
    np.testing.assert_allclose(psnr_y["score"].to_numpy(), expected, rtol=1e-6)
    custom = pd.read_parquet(root / "out" / "scores" / "live-split1" / "custom_metric.parquet")
    with torch.inference_mode():
        expected = metrics.create("cnniqa", pretrained_model_path=str(weights))(
            _as_tensor(root, custom["dist_name"])).double().numpy()
    np.testing.assert_allclose(custom["score"].to_numpy(), expected, rtol=1e-5)


def test_update_benchmark_merges_and_sorts_as_pyiqa(example_run):
    _, root, _ = example_run
    with open(root / "published.csv", newline="") as handle:
        rows = list(csv.reader(handle))
    assert rows[0] == ["Metric name", "live-split1(PLCC/SRCC/KRCC)", "csiq(PLCC/SRCC/KRCC)"]
    table = {row[0]: row[1:] for row in rows[1:]}
    assert set(table) == {"ssim", "brisque", "piqe", "psnr-y", "custom_metric"}
    assert table["ssim"] == ["0.95/0.94/0.8", "0.86/0.87/0.68"]  # rows of the published table are kept
    summary = pd.read_csv(root / "out" / "summary.csv").set_index("metric")
    assert table["psnr-y"][0].split("/")[1] == str(round(summary.loc["psnr-y", "srcc"], 4))
    firsts = [float(row[1].split("/")[0]) for row in rows[1:] if row[1]]
    assert firsts == sorted(firsts) and rows[-1][0] == "piqe"  # ascending first-column PLCC, empty last
