"""Efficiency_benchmark.csv in pyiqa's format (new file, merge into pyiqa's own) and measured resources."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pandas as pd
import pytest

import metrics
from orchestrator.efficiency.table import GB, PEAK_GPU, device_column, device_slug, merge_efficiency_csv
from orchestrator.efficiency.measured_resources import (
    HEADROOM,
    gpu_share,
    load_measured_resources,
    merge_measured_resources,
    with_measured_resources,
)

REFERENCE = Path("/work/shared/reference/Efficiency_benchmark.csv")


def test_new_file_has_pyiqa_header_and_four_decimals(tmp_path):
    path = tmp_path / "Efficiency_benchmark.csv"
    merge_efficiency_csv(path, "cpu_test", {"psnr": 0.041234, "ssim": 0.5})
    lines = path.read_text().splitlines()
    assert lines[0] == "Method,cpu_test,Peak GPU Mem (GB)"
    assert lines[1:] == ["psnr,0.0412,", "ssim,0.5000,"]


def test_merge_keeps_existing_cells_and_adds_column_and_rows(tmp_path):
    if not REFERENCE.is_file():
        pytest.skip(f"{REFERENCE} is not on this machine")
    path = tmp_path / "Efficiency_benchmark.csv"
    shutil.copy(REFERENCE, path)
    before = pd.read_csv(REFERENCE, dtype=str, keep_default_na=False)
    merge_efficiency_csv(path, "cuda_v100", {"psnr": 0.01}, {"psnr": 3 * GB})
    merge_efficiency_csv(path, "cpu_new", {"ssim": 1.23456, "brand_new_metric": 2.0})
    after = pd.read_csv(path, dtype=str, keep_default_na=False)
    assert list(after.columns) == [*before.columns, "cpu_new"]
    assert list(after["Method"]) == [*before["Method"], "brand_new_metric"]
    merged = after.set_index("Method")
    original = before.set_index("Method")
    assert merged.loc["psnr", "cuda_v100"] == "0.0100" and merged.loc["psnr", PEAK_GPU] == "3.0000"
    assert merged.loc["ssim", "cpu_new"] == "1.2346" and merged.loc["brand_new_metric", "cpu_new"] == "2.0000"
    assert merged.loc["brand_new_metric", "cuda_v100"] == "" and merged.loc["psnr", "cpu_new"] == ""
    # every other cell, including pyiqa's empty ones, is as it was
    untouched = original.drop(index="psnr", columns=["cuda_v100", PEAK_GPU])
    assert merged.loc[untouched.index, untouched.columns].equals(untouched)
    assert merged.loc["psnr", "cpu_xe6150"] == original.loc["psnr", "cpu_xe6150"]


def test_merge_refuses_a_file_that_is_not_an_efficiency_table(tmp_path):
    path = tmp_path / "x.csv"
    path.write_text("Metric,foo\npsnr,1\n")
    with pytest.raises(ValueError, match="not an efficiency table"):
        merge_efficiency_csv(path, "cpu_x", {"psnr": 1.0})


def test_device_columns():
    assert device_slug("NVIDIA H100 80GB HBM3") == "h10080gbhbm3"
    assert device_slug("Intel(R) Xeon(R) CPU E5-2680 v4 @ 2.40GHz") == "xeone52680v4"
    assert device_column("cuda:0", "Tesla V100-SXM2-16GB", tag="v100") == "cuda_v100"
    assert device_column("cpu", "AMD EPYC 7B13") == "cpu_epyc7b13"


def test_gpu_share_rounds_up_to_powers_of_two():
    assert gpu_share(100, 1000) == 0.125  # exactly 1/8 with the headroom
    assert gpu_share(110, 1000) == 0.25  # 0.1375 → the next power of two above: 1/4
    assert gpu_share(1, 80_000) == 1 / 64
    assert gpu_share(900, 1000) == 2.0
    with pytest.raises(ValueError):
        gpu_share(0, 1000)


def test_measured_resources_override_the_registry(tmp_path):
    path = tmp_path / "resources.json"
    merge_measured_resources(path, {"ssim": {"host_peak_mb": 800.0}})
    merge_measured_resources(path, {"ssim": {"gpu": {"name": "g", "total_mb": 10_000.0,
                                                       "peak_mb_by_batch": {"1": 100.0, "8": 3000.0}}},
                                    "entropy": {"host_peak_mb": 500.0,
                                                "gpu": {"total_mb": 10_000.0, "peak_mb_by_batch": {"1": 50.0}}}})
    measured = load_measured_resources(path)
    assert measured["ssim"]["host_peak_mb"] == 800.0  # a later GPU measurement keeps the host figure
    ssim = with_measured_resources(metrics.get_spec("ssim"), measured, batch_size=8)
    assert ssim.resources.memory_mb == int(800 * HEADROOM)
    assert ssim.resources.num_gpus == 0.5  # 3000 MB × 1.25 of 10 GB → 1/2
    assert with_measured_resources(metrics.get_spec("ssim"), measured, batch_size=1).resources.num_gpus == 1 / 64
    assert ssim.resources.num_cpus == metrics.get_spec("ssim").resources.num_cpus
    entropy = with_measured_resources(metrics.get_spec("entropy"), measured)
    assert entropy.resources.num_gpus == 0.0  # a CPU-only metric stays on the CPU
    psnr = metrics.get_spec("psnr")
    assert with_measured_resources(psnr, measured) is psnr  # not measured: unchanged


def test_malformed_resources_file_is_reported(tmp_path):
    path = tmp_path / "resources.json"
    path.write_text(json.dumps({"metrics": []}))
    with pytest.raises(ValueError, match="not an iqabench resources file"):
        load_measured_resources(path)
    assert load_measured_resources(tmp_path / "absent.json") == {}
