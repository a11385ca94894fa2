"""analyse() on synthetic per-image frames: summary columns, pairing with failed images, files written."""

from __future__ import annotations

import json
import math

import numpy as np
import pandas as pd
import pytest
import scipy
from PIL import Image
from scipy import stats

from orchestrator.stats.analysis import ANALYSIS_COLUMNS, ANALYSIS_METRICS, analyse, cell_plot_path, run_artifacts
from tests.stats.conftest import RESAMPLES, make_frame, summary_for, synthetic_frames


def row(summary: pd.DataFrame, dataset: str, metric: str) -> pd.Series:
    return summary[(summary["dataset"] == dataset) & (summary["metric"] == metric)].iloc[0]


def test_summary_keeps_its_columns_and_gains_the_analysis(analysed):
    _, _, summary, result = analysed
    assert list(result.summary.columns) == list(summary.columns) + ANALYSIS_COLUMNS
    pd.testing.assert_frame_equal(result.summary[summary.columns], summary)
    assert set(ANALYSIS_METRICS) <= set(ANALYSIS_COLUMNS)


def test_exact_logistic_metric_fits_perfectly(analysed):
    exact = row(analysed[3].summary, "alpha", "exact")
    assert exact["plcc_4pl"] == pytest.approx(1.0, abs=1e-9) and exact["rmse_4pl"] == pytest.approx(0.0, abs=1e-6)
    assert exact["plcc_5pl"] > 0.99 and exact["fit_error"] == ""
    assert exact["plcc"] < 0.99  # the raw PLCC is not 1: the relation is not linear


def test_intervals_bracket_the_reported_correlations(analysed):
    s = analysed[3].summary.dropna(subset=["srcc"])
    assert len(s) == 5
    assert (s["srcc_ci_low"] <= s["srcc"]).all() and (s["srcc"] <= s["srcc_ci_high"]).all()
    assert (s["plcc_ci_low"] <= s["plcc"]).all() and (s["plcc"] <= s["plcc_ci_high"]).all()
    assert (s["ci_n"] == s["n"]).all()


def test_failed_images_are_excluded_from_the_paired_comparisons(analysed):
    _, frames, _, result = analysed
    sig = result.significance[result.significance["dataset"] == "alpha"]
    # exact, near, noisy compare (flat has no correlation); images 3 and 11 failed in "noisy"
    assert len(sig) == 3 and (sig["n_paired"] == 58).all() and (sig["n_excluded"] == 2).all()
    assert any("2 image(s) not scored by every metric" in n for n in result.notes)
    exact = row(result.summary, "alpha", "exact")
    assert exact["n_paired"] == 58 and exact["ci_n"] == 60
    assert "own 60 scored images" in exact["analysis_note"]
    # the paired SRCC of "exact" is over the 58 common images, recomputed here with scipy
    keep = frames[("alpha", "noisy")]["error"].isna().to_numpy()
    f = frames[("alpha", "exact")][keep]
    a = sig[sig["metric_a"] == "exact"].iloc[0]
    assert a["srcc_a"] == pytest.approx(abs(stats.spearmanr(f["score"], f["mos"]).statistic), abs=1e-12)


def test_constant_metric_is_reported_not_compared(analysed):
    result = analysed[3]
    flat = row(result.summary, "alpha", "flat")
    assert "4PL: constant score" in flat["fit_error"] and "5PL: constant score" in flat["fit_error"]
    assert math.isnan(flat["srcc_ci_low"]) and pd.isna(flat["tied_with_best"]) and math.isnan(flat["srcc_rank"])
    assert "not compared" in flat["analysis_note"]
    assert "flat" not in set(result.significance["metric_a"]) | set(result.significance["metric_b"])


def test_ranks_and_best_group(analysed):
    s = analysed[3].summary
    alpha = s[s["dataset"] == "alpha"].set_index("metric")
    assert alpha.loc["exact", "srcc_rank"] == 1 and alpha.loc["exact", "tied_with_best"]
    assert alpha.loc["near", "tied_with_best"]  # 0.02 noise on a 6-wide range: not separable on 58 images
    assert alpha.loc["noisy", "srcc_rank"] == 3 and not alpha.loc["noisy", "tied_with_best"]
    sig = analysed[3].significance
    assert set(sig.loc[sig["vs_best"], "metric_a"]) == {"exact"}


def test_files_written(analysed):
    out, _, _, result = analysed
    read = pd.read_csv(out / "significance.csv")
    assert len(read) == len(result.significance) == 4
    pd.testing.assert_series_equal(read["srcc_diff"], result.significance["srcc_diff"].astype(float), rtol=1e-9)
    versions = json.loads((out / "versions.json").read_text())
    assert versions["versions"]["scipy"] == scipy.__version__
    assert versions["git_commit"]
    settings = json.loads((out / "analysis.json").read_text())
    assert settings["resamples"] == RESAMPLES and settings["seed"] == 3 and settings["notes"] == result.notes


def test_plots_are_pngs_tied_to_their_runs(analysed):
    _, frames, _, result = analysed
    scatters = [p for p in result.plots if p.kind == "scatter"]
    assert {p.cell for p in scatters} == set(frames)
    assert [p.kind for p in result.plots if p.cell is None] == ["heatmap", "ranking", "ranking"]
    for plot in result.plots:
        with Image.open(plot.path) as image:
            assert image.format == "PNG" and image.width > 200 and image.height > 150
            assert len(np.unique(np.asarray(image.convert("L")))) > 10  # drawn, not blank
    assert result.cell_plots("alpha", "exact") == [p.path for p in scatters if p.cell == ("alpha", "exact")]
    assert len(result.run_plots()) == 3


def test_deterministic_for_a_seed(tmp_path):
    frames = {k: v for k, v in synthetic_frames().items() if k[0] == "alpha"}
    summary = summary_for(frames)
    first = analyse(tmp_path / "a", summary, frames, resamples=100, seed=9)
    again = analyse(tmp_path / "b", summary, frames, resamples=100, seed=9)
    other = analyse(tmp_path / "c", summary, frames, resamples=100, seed=10)
    pd.testing.assert_frame_equal(first.summary, again.summary)
    assert (tmp_path / "a" / "significance.csv").read_text() == (tmp_path / "b" / "significance.csv").read_text()
    assert not first.summary["srcc_ci_low"].equals(other.summary["srcc_ci_low"])


def test_inconsistent_inputs_are_refused(tmp_path):
    mos = np.linspace(1, 5, 10)
    frames = {("d", "a"): make_frame(mos, mos**2), ("d", "b"): make_frame(mos[::-1], mos),
              ("e", "a"): make_frame(mos, mos**2)}
    result = analyse(tmp_path, summary_for(frames), frames, resamples=10)  # one dataset's failure costs no other
    for metric in ("a", "b"):
        note = row(result.summary, "d", metric)["analysis_note"]
        assert note.startswith("statistics failed: ValueError: d: MOS differs")
        assert math.isnan(row(result.summary, "d", metric)["srcc_ci_low"])
    assert not math.isnan(row(result.summary, "e", "a")["srcc_ci_low"])
    assert any(note.startswith("d: statistics failed") for note in result.notes)
    frames.pop(("d", "b"))
    with pytest.raises(KeyError, match="no per-image frame"):
        analyse(tmp_path, summary_for({**frames, ("d", "b"): make_frame(mos, mos)}), frames, resamples=10)


def test_a_cell_that_was_not_computed(tmp_path):
    """The driver passes ``None`` for a cell it gave up on: no fit, interval, comparison or scatter plot."""
    frames = {k: v for k, v in synthetic_frames().items() if k[0] == "beta"}
    summary = summary_for(frames)
    frames[("beta", "lost")] = None
    summary = pd.concat([summary, pd.DataFrame([{"metric": "lost", "dataset": "beta", "split": "all", "n": 0,
                                                 "n_failed": 40, "plcc": math.nan, "srcc": math.nan,
                                                 "krcc": math.nan, "sign_ok": True}])], ignore_index=True)  # fmt: skip
    result = analyse(tmp_path, summary, frames, resamples=50, seed=0)
    lost = row(result.summary, "beta", "lost")
    assert "not computed" in lost["fit_error"] and math.isnan(lost["srcc_ci_low"]) and pd.isna(lost["tied_with_best"])
    assert result.cell_plots("beta", "lost") == [] and not cell_plot_path(tmp_path, "beta", "lost").exists()
    assert len(result.significance) == 1 and (result.significance["n_paired"] == 40).all()
    assert result.significance["n_excluded"].iloc[0] == 0


def test_artifact_paths_for_tracking(analysed):
    out, _, _, result = analysed
    for plot in result.plots:
        if plot.cell is not None:
            assert plot.path == cell_plot_path(out, *plot.cell)
    artifacts = run_artifacts(out)
    assert {p.name for p, folder in artifacts if folder == "analysis"} == {
        "significance.csv", "analysis.json", "versions.json"}
    assert sorted(p for p, folder in artifacts if folder == "plots") == sorted(result.run_plots())


def test_a_dataset_compared_earlier_is_taken_as_made_unless_its_metrics_differ(tmp_path):
    """analyse() takes a dataset's comparisons made while scoring (analyse_dataset, as its last cell ended) as they
    are, and makes them again when they do not cover the summary's metrics in its order."""
    from orchestrator.stats.dataset import analyse_dataset

    frames = synthetic_frames()
    summary = summary_for(frames)
    reference = analyse(tmp_path / "driver", summary, frames, resamples=100, seed=9)
    beta = ["exact", "noisy"]
    srcc = {m: row(summary, "beta", m)["srcc"] for m in beta}
    made = analyse_dataset("beta", beta, srcc, {m: frames[("beta", m)] for m in beta}, 100, 9, "percentile")
    taken = analyse(tmp_path / "taken", summary, frames, resamples=100, seed=9, precomputed_datasets={"beta": made})
    pd.testing.assert_frame_equal(taken.summary, reference.summary)
    assert taken.significance.equals(reference.significance)
    assert (tmp_path / "taken" / "plots" / "ranking_beta.png").read_bytes() == made.ranking_png
    # A stand-in that is not what the driver would make shows which one was used: taken when its metrics match ...
    made.columns["exact"]["srcc_rank"] = 99
    taken = analyse(tmp_path / "stand-in", summary, frames, resamples=100, seed=9, precomputed_datasets={"beta": made})
    assert row(taken.summary, "beta", "exact")["srcc_rank"] == 99
    # ... and made again when they do not (another order).
    made.metrics = beta[::-1]
    again = analyse(tmp_path / "again", summary, frames, resamples=100, seed=9, precomputed_datasets={"beta": made})
    pd.testing.assert_frame_equal(again.summary, reference.summary)
