"""``iqabench score`` runs the distribution metrics: set vs set into ``<out>/<name>_sets.csv`` and one MLflow run;
a request that lacks its reference is refused in one line."""

from __future__ import annotations

import csv

from jobs.cli import main
from orchestrator.sets.score import score_sets


def test_score_fid_set_vs_set_writes_the_value(image_sets, tmp_path, capsys):
    folder_a, folder_b = image_sets
    out = tmp_path / "out"
    assert main(["score", "fid", "-t", str(folder_a), "-r", str(folder_b), "--num_workers", "0",
                 "--out", str(out), "--name", "generated"]) == 0
    rows = list(csv.DictReader((out / "generated_sets.csv").open()))
    assert [row["metric"] for row in rows] == ["fid"]
    expected = score_sets("fid", folder_a, folder_b)
    assert float(rows[0]["value"]) == expected.value
    assert rows[0]["images"] == "4" and rows[0]["reference_images"] == "3" and rows[0]["mode"] == "clean"
    printed = capsys.readouterr().out
    assert f"fid: {expected.value:.6g}" in printed and "Logged to MLflow" in printed

    from mlflow.tracking import MlflowClient

    client = MlflowClient(f"sqlite:///{out / 'mlflow.db'}")
    (run,) = client.search_runs([e.experiment_id for e in client.search_experiments()])
    assert run.data.tags["iqabench.role"] == "score-sets"
    assert run.data.metrics["fid/value"] == expected.value and run.data.metrics["fid/images"] == 4
    assert run.data.params["fid.mode"] == "clean" and run.data.params["target"] == str(folder_a)
    assert [a.path for a in client.list_artifacts(run.info.run_id)] == ["generated_sets.csv"]


def test_score_refuses_a_set_metric_without_its_reference(image_sets, tmp_path, capsys):
    assert main(["score", "-m", "sfid", "-t", str(image_sets[0]), "--out", str(tmp_path)]) == 2
    err = capsys.readouterr().err.strip()
    assert err.count("\n") == 0 and "either a reference set or dataset statistics" in err
    assert not any(tmp_path.iterdir())
