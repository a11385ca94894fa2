"""The HTML report: built from stored files only, self-contained, and rendered by headless Chromium."""

from __future__ import annotations

import base64
import re
import shutil
import subprocess
from pathlib import Path

import pandas as pd
import pytest
from PIL import Image

from jobs.cli import main as cli_main
from orchestrator.results.report import ReportError, build_report

CHROMIUM = shutil.which("chromium") or shutil.which("chromium-browser")
CHROMIUM_FLAGS = [
    "--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
    "--disable-background-networking", "--disable-component-update", "--disable-sync",
]  # fmt: skip
needs_chromium = pytest.mark.skipif(
    CHROMIUM is None, reason="chromium is not installed (Debian: apt-get install -y chromium)"
)


@pytest.fixture(scope="module")
def report(report_dir) -> tuple[Path, str]:
    path = build_report(report_dir)
    return path, path.read_text(encoding="utf-8")


def test_report_has_every_table(report, report_dir):
    path, text = report
    assert path == report_dir / "report.html"
    for table_id in ("leaderboard-alpha", "leaderboard-beta", "best-groups", "significance-alpha",
                     "significance-beta", "pyiqa-results", "versions"):  # fmt: skip
        assert f'<table id="{table_id}">' in text, table_id
    for metric in ("exact", "near", "noisy", "flat"):
        assert f"<td>{metric}</td>" in text
    assert "4PL: constant score" in text  # the failed fit is shown, not hidden
    assert '<pre id="plan">' in text and "Inputs not available" not in text


def test_images_are_embedded_and_identical_to_the_plots(report, report_dir):
    _, text = report
    embedded = re.findall(r'<img src="data:image/png;base64,([A-Za-z0-9+/=]+)"', text)
    on_disk = sorted((report_dir / "plots").rglob("*.png"))
    assert len(embedded) == len(on_disk) == 9  # 6 scatters, 1 heat map, 2 rankings
    assert sorted(base64.b64decode(e) for e in embedded) == sorted(p.read_bytes() for p in on_disk)
    # self-contained: nothing is fetched from anywhere
    assert not re.search(r'(src|href)="(?!data:)', text)


def test_report_shows_the_stored_numbers_without_recomputing(report_dir, tmp_path):
    run = tmp_path / "run"
    shutil.copytree(report_dir, run)
    summary = pd.read_csv(run / "summary.csv")
    summary.loc[(summary["dataset"] == "beta") & (summary["metric"] == "noisy"), "srcc"] = 0.123456
    summary.loc[(summary["dataset"] == "beta") & (summary["metric"] == "noisy"), "srcc_ci_low"] = 0.0111
    summary.to_csv(run / "summary.csv", index=False)
    text = build_report(run).read_text()
    assert "<td>0.1235</td>" in text and "[0.0111, " in text


def test_missing_inputs_are_named(report_dir, tmp_path):
    run = tmp_path / "run"
    run.mkdir()
    shutil.copy(report_dir / "summary.csv", run / "summary.csv")
    (run / "plan.json").write_text("{not json")
    text = build_report(run, tmp_path / "elsewhere" / "r.html").read_text()
    assert "significance.csv: not found" in text and "plots/: not found" in text
    assert "plan.json: unreadable (JSONDecodeError" in text
    with pytest.raises(ReportError, match="summary.csv not found"):
        build_report(tmp_path / "nothing-here")


def test_cli_report(report_dir, tmp_path, capsys):
    run = tmp_path / "run"
    shutil.copytree(report_dir, run)
    (run / "report.html").unlink(missing_ok=True)
    assert cli_main(["report", "--out", str(run)]) == 0
    assert (run / "report.html").is_file() and f"Wrote {run / 'report.html'}" in capsys.readouterr().out
    assert cli_main(["report", "--out", str(run), "--html", str(tmp_path / "x.html")]) == 0
    assert (tmp_path / "x.html").is_file()
    assert cli_main(["report", "--out", str(tmp_path / "absent")]) == 2
    assert "summary.csv not found" in capsys.readouterr().err


def _chromium(tmp_path: Path, *args: str) -> subprocess.CompletedProcess:
    profile = tmp_path / f"chromium-profile-{len(list(tmp_path.iterdir()))}"
    return subprocess.run(
        [CHROMIUM, *CHROMIUM_FLAGS, f"--user-data-dir={profile}", *args],
        capture_output=True, text=True, timeout=120,
    )  # fmt: skip


@needs_chromium
@pytest.mark.timeout(300)
def test_chromium_renders_tables_and_images(report, tmp_path):
    path, _ = report
    dom = _chromium(tmp_path, "--virtual-time-budget=5000", "--dump-dom", path.resolve().as_uri())
    assert dom.returncode == 0, dom.stderr[-2000:]
    body = re.search(r"<body([^>]*)>", dom.stdout)
    assert body, dom.stdout[:500]
    # set by the report's own script once the page loaded: every image decoded, no script or resource error
    assert 'data-images-decoded="9/9"' in body.group(1) and 'data-page-errors="0"' in body.group(1)
    assert dom.stdout.count("<table") == 7 and dom.stdout.count("<tr>") > 20
    shot = tmp_path / "shot.png"
    result = _chromium(tmp_path, "--window-size=1200,1600", f"--screenshot={shot}", path.resolve().as_uri())
    assert result.returncode == 0 and shot.is_file(), result.stderr[-2000:]
    with Image.open(shot) as image:
        assert image.size == (1200, 1600)
        assert len(set(image.convert("L").resize((120, 160)).tobytes())) > 20  # rendered content, not a blank page
