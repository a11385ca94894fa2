"""Issue 5 end to end: `iqabench datasets download` from a fake hub on 127.0.0.1, then `bench` on those datasets."""

from __future__ import annotations

import pandas as pd
import pytest

from jobs.cli import main
from tests._helpers.builders import populate
from tests._helpers.fakehub import FakeHub, isolate_for_downloads

pytestmark = [pytest.mark.ray]


@pytest.mark.timeout(600)
def test_download_then_bench(ray_cluster, tmp_path, monkeypatch, capsys):
    isolate_for_downloads(monkeypatch, tmp_path)
    root = tmp_path / "data"
    with FakeHub() as hub:
        populate(hub)
        monkeypatch.setenv("HF_ENDPOINT", hub.url)
        # Before the download, bench says how to get the data, and scores nothing.
        assert main(["bench", "-m", "psnr", "-d", "csiq", "--data_root", str(root), "--out", str(tmp_path / "x")]) == 2
        assert "iqabench datasets download csiq" in capsys.readouterr().err
        assert main(["datasets", "download", "csiq", "koniq10k", "livec", "--root", str(root)]) == 0
        # --download fetches what is still missing (AVA) before scoring.
        assert main(["bench", "-m", "entropy", "-d", "koniq10k", "livec", "ava", "--data_root", str(root),
                     "--out", str(tmp_path / "nr"), "--download", "--bootstrap_resamples", "50"]) == 0
    assert main(["bench", "-m", "psnr", "gmsd", "-d", "csiq", "--data_root", str(root), "--out", str(tmp_path / "fr"),
                 "--bootstrap_resamples", "50"]) == 0
    nr = pd.read_csv(tmp_path / "nr" / "summary.csv").set_index("dataset")
    assert nr.loc["koniq10k", "n"] == 2 and nr.loc["livec", "n"] == 3  # test split; 7 training rows excluded
    assert nr.loc["ava", "n"] > 0 and (nr["n_failed"] == 0).all()
    fr = pd.read_csv(tmp_path / "fr" / "summary.csv").set_index("metric")
    assert (fr["n"] == 6).all() and (fr["n_failed"] == 0).all()
    header = (tmp_path / "fr" / "benchmark_results.csv").read_text().splitlines()[0]
    assert header == "Metric name,csiq(PLCC/SRCC/KRCC)"
