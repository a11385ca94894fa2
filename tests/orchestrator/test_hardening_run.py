"""Issue #16 (hardening, the run's part): one regression test per defect, each reproducing the attack."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from pathlib import Path

import pandas as pd
import pytest

from orchestrator.results.outlock import HOLDER_NAME
from orchestrator.results.store import LOST_ERROR, CellStore, IncompleteCellError, cell_frame

from .conftest import REPO, make_fr_dataset, plugin_env, write_data_opt


def _fr_entry(root: Path, name: str = "tiny") -> dict:
    return {"name": name, "type": "GeneralFRDataset", "dataroot_target": str(root / "dist"),
            "dataroot_ref": str(root / "ref"), "meta_info_file": str(root / "meta.csv")}


def _bench(args: list[str], env: dict[str, str]) -> subprocess.Popen:
    return subprocess.Popen([sys.executable, "-m", "jobs.cli", "bench", *args], cwd=REPO, env=env,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)


# ----------------------------------------------------------------------------------------------- defect 4
@pytest.mark.timeout(600)
def test_second_bench_on_the_same_out_is_refused_and_the_first_commits_complete_cells(demo_root, tmp_path,
                                                                                        markers):
    pairs = 16
    root = make_fr_dataset(tmp_path / "d", demo_root, pairs)
    opt = write_data_opt(tmp_path / "opt.yml", {"tiny": _fr_entry(root)})
    out = tmp_path / "out"
    env = {**os.environ, **plugin_env(markers), "MLFLOW_TRACKING_URI": f"sqlite:///{tmp_path / 'mlflow.db'}"}
    env.pop("RAY_ADDRESS", None)
    args = ["-m", "t_slow", "t_meandiff", "-d", "tiny", "--data_opt", str(opt), "--out", str(out),
            "--batch_size", "2", "--checkpoint_every", "2", "--bootstrap_resamples", "20", "--num_workers", "1"]
    first = _bench(args, env)
    try:
        deadline = time.monotonic() + 240
        while not (out / HOLDER_NAME).is_file():  # the first run holds the folder
            assert first.poll() is None, first.communicate()
            assert time.monotonic() < deadline, "the first run never took the lock"
            time.sleep(0.2)
        before = sorted(str(p.relative_to(out)) for p in out.rglob("*"))
        second = _bench(args, env)
        _, err = second.communicate(timeout=240)
        assert second.returncode == 2
        lines = err.strip().splitlines()
        assert len(lines) == 1, err
        assert f"output folder {out} is in use by another iqabench run (pid {first.pid} on" in lines[0]
        assert first.poll() is None, "the first run ended before the second was refused: the test proves nothing"
        after = sorted(str(p.relative_to(out)) for p in out.rglob("*") if "cells" not in p.parts)
        assert set(after) <= set(before) | {"cells"}  # the second run wrote nothing
        stdout, stderr = first.communicate(timeout=400)
    finally:
        if first.poll() is None:
            first.kill()
    assert first.returncode == 0, stderr[-3000:]
    summary = pd.read_csv(out / "summary.csv").set_index("metric")
    for metric in ("t_slow", "t_meandiff"):
        assert summary.loc[metric, "n"] == pairs and summary.loc[metric, "n_failed"] == 0
        frame = pd.read_parquet(out / "scores" / "tiny" / f"{metric}.parquet")
        assert len(frame) == pairs and frame["error"].isna().all()
    assert not (out / HOLDER_NAME).exists()


def test_a_commit_with_rows_that_never_came_back_is_refused_and_keeps_its_parts(demo_root, tmp_path):
    """A stray second writer removed the parts under a cell: the gap is never cached, the parts resume it."""
    from datasets_io.manifest import build_manifest
    from datasets_io.options import spec_from_entry

    root = make_fr_dataset(tmp_path / "d", demo_root, 4)
    manifest = build_manifest(spec_from_entry("tiny", _fr_entry(root), "test"), hash_cache=False)
    store = CellStore(tmp_path / "out")
    part = pd.DataFrame({"id": [0, 1], "score": [0.5, 0.25], "score_b": [None, None], "error": [None, None],
                         "seconds": [0.1, 0.1], "node_id": ["n", "n"], "started": [0.0, 0.0],
                         "finished": [1.0, 1.0]})
    store.append_part("k", part)
    frame = cell_frame(manifest.table, store.load_parts("k"))
    assert (frame["error"] == LOST_ERROR).sum() == 2
    with pytest.raises(IncompleteCellError, match="2 of 4 image"):
        store.commit("k", frame, {"n": 2})
    assert not store.is_committed("k")
    assert store.scored_ids("k") == {0, 1}
    assert not (store.cell_dir("k") / "scores.parquet").exists()
