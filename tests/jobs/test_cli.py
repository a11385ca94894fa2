"""The command line: metrics table, calibrate job, bench validation errors (no Ray needed)."""

from __future__ import annotations

import subprocess
import sys

import pytest

import metrics
from jobs.cli import main


def test_metrics_table_lists_every_metric(capsys):
    assert main(["metrics"]) == 0
    out = capsys.readouterr().out
    for name in metrics.available():
        assert f"\n{name} " in out
    assert f"{len(metrics.available())} metric(s)" in out


def test_calibrate_writes_the_table(tmp_path, capsys):
    report = tmp_path / "calibration.md"
    assert main(["calibrate", "-m", "psnr", "ssim", "psnry", "--out", str(report)]) == 0
    text = report.read_text()
    assert "| psnr | pass |" in text and "| ssim | pass |" in text
    assert "| psnry | no official values" in text
    assert "| I03 | 21.11 | 21.1136" in text


def test_calibrate_rejects_unknown_metric(tmp_path, capsys):
    assert main(["calibrate", "-m", "nope", "--out", str(tmp_path / "c.md")]) == 2
    assert "unknown metric 'nope'" in capsys.readouterr().err
    assert not (tmp_path / "c.md").exists()


def test_bench_reports_invalid_matrix_without_traceback(tmp_path):
    result = subprocess.run(
        [sys.executable, "-m", "jobs.benchmark", "-m", "psnr", "bogus", "-d", "demo", "nowhere", "--out", str(tmp_path)],
        capture_output=True, text=True, timeout=300,
    )
    assert result.returncode == 2
    assert "Traceback" not in result.stderr
    assert "unknown metric 'bogus'" in result.stderr and "unknown dataset 'nowhere'" in result.stderr


@pytest.mark.parametrize("args", [["bench", "--batch_size", "0"], ["bench", "--limit", "-1"]])
def test_bench_rejects_bad_numbers(args, capsys, tmp_path):
    assert main([*args, "--out", str(tmp_path), "--dry-run"]) == 2
    assert "must be >= 1" in capsys.readouterr().err


def test_building_the_parser_imports_no_heavy_library(top_level_modules_loaded_by):
    """`iqabench --help` and every command's start-up pay only for what the command uses."""
    heavy = ("torch", "ray", "mlflow", "pandas", "scipy")
    assert top_level_modules_loaded_by("from jobs.cli import build_parser; build_parser()", heavy) == []


def test_a_storage_error_ends_the_job_with_one_clear_line(monkeypatch, capsys):
    import errno

    import jobs.list_metrics

    def full_disk(args):
        raise OSError(errno.ENOSPC, "No space left on device", "/results/run-01/summary.csv")

    monkeypatch.setattr(jobs.list_metrics, "run", full_disk)
    assert main(["metrics"]) == 1
    err = capsys.readouterr().err
    assert err.startswith("iqabench metrics: error: No space left on device (/results/run-01/summary.csv).")
    assert "run the same command again to resume" in err and "Traceback" not in err

    def other(args):
        raise OSError(errno.ECONNRESET, "Connection reset by peer")

    monkeypatch.setattr(jobs.list_metrics, "run", other)
    with pytest.raises(ConnectionResetError):  # not a storage error: not ours to summarise
        main(["metrics"])
