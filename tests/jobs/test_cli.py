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


def test_calibrate_says_which_parameter_file_is_not_shipped(tmp_path, monkeypatch, capsys):
    """A classical metric whose parameters only pyiqa publishes, without them in the cache: no scores, no cases,
    and the table says why (the file is not shipped, and not cached here)."""
    monkeypatch.setenv("IQABENCH_WEIGHTS_CACHE", str(tmp_path / "empty-cache"))
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    report = tmp_path / "calibration.md"
    assert main(["calibrate", "-m", "nrqm", "--out", str(report)]) == 0
    text = report.read_text()
    assert "| nrqm | unverified here: parameter file not shipped" in text and "NRQM_model.mat" in text
    assert "| nrqm | odd size" not in text


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


def test_version_comes_from_the_installed_distribution(capsys):
    from importlib import metadata

    with pytest.raises(SystemExit) as done:
        main(["--version"])
    assert done.value.code == 0
    assert capsys.readouterr().out.strip() == f"iqabench {metadata.version('iqabench')}"


@pytest.mark.parametrize("argv, shown, hidden", [
    (["calibrate"], ["calibrating psnr ...", "Wrote "], []),
    (["-q", "calibrate"], [], ["calibrating psnr", "Wrote "]),
    (["calibrate", "-q"], [], ["calibrating psnr", "Wrote "]),
])
def test_quiet_hides_progress_lines(argv, shown, hidden, tmp_path, capsys):
    report = tmp_path / "c.md"
    assert main([*argv, "-m", "psnr", "--out", str(report)]) == 0
    out = capsys.readouterr().out
    assert report.is_file()
    for text in shown:
        assert text in out
    for text in hidden:
        assert text not in out


def test_verbose_sets_debug_on_our_loggers_only(capsys):
    import logging

    from jobs.console import ray_verbose
    from orchestrator.run.ray_session import logging_is_verbose

    assert main(["-v", "metrics", "--mode", "FR"]) == 0
    assert "paper:" in capsys.readouterr().out  # -v on `metrics` also prints each metric's paper
    assert ray_verbose() and logging_is_verbose()
    assert logging.getLogger("orchestrator").getEffectiveLevel() == logging.DEBUG
    assert logging.getLogger("some_library").getEffectiveLevel() == logging.INFO
    assert main(["metrics"]) == 0
    assert not ray_verbose() and logging.getLogger("some_library").getEffectiveLevel() == logging.WARNING


def test_warnings_go_to_stderr_and_progress_to_stdout(capsys):
    from jobs.console import configure_logging

    configure_logging(0)
    logging_ = __import__("logging")
    logging_.getLogger("orchestrator.x").info("scoring demo")
    logging_.getLogger("orchestrator.x").warning("tracking failed")
    captured = capsys.readouterr()
    assert captured.out == "scoring demo\n" and captured.err == "warning: tracking failed\n"
    with pytest.raises(ValueError, match="verbosity must be one of"):
        configure_logging(3)


def test_python_m_job_takes_the_global_flags():
    result = subprocess.run([sys.executable, "-m", "jobs.list_metrics", "-q", "--mode", "NR"],
                            capture_output=True, text=True, timeout=300)
    assert result.returncode == 0, result.stderr
    assert "metric(s)" in result.stdout
