"""Distribution metrics are not per-image metrics: the registry and ``iqabench bench`` refuse them in one line that
points to ``iqabench score``."""

from __future__ import annotations

import pytest

import metrics
from metrics.distribution.specs import DISTRIBUTION_SPECS


@pytest.mark.parametrize("name", sorted(DISTRIBUTION_SPECS))
def test_registry_refuses_a_distribution_metric_with_a_pointer(name):
    assert name not in metrics.available()
    with pytest.raises(metrics.UnknownMetricError) as caught:
        metrics.get_spec(name)
    message = str(caught.value)
    assert "\n" not in message and "distribution metric" in message and f"iqabench score {name} -t DIR" in message


def test_bench_refuses_fid_before_any_work(tmp_path, capsys):
    from jobs.cli import main

    assert main(["bench", "-m", "fid", "psnr", "-d", "demo", "--out", str(tmp_path / "out")]) == 2
    err = capsys.readouterr().err
    assert "'fid' is a distribution metric" in err and "iqabench score fid -t DIR" in err
    assert not (tmp_path / "out" / "summary.csv").exists()


def test_metrics_command_lists_the_distribution_metrics_apart(capsys):
    from jobs.cli import main

    assert main(["metrics"]) == 0
    out = capsys.readouterr().out
    table, _, section = out.partition("Distribution metrics")
    assert "iqabench score" in section
    for name in DISTRIBUTION_SPECS:
        assert f"  {name} " in section and f"\n{name} " not in table


@pytest.mark.parametrize(("type_name", "name"), [("FID", "fid"), ("InceptionScore", "inception_score")])
def test_pyiqa_metric_options_of_a_distribution_type_are_refused_with_a_pointer(type_name, name):
    from metrics.pyiqa_types import PyiqaTypeError, translate

    with pytest.raises(PyiqaTypeError, match=rf"type {type_name}: '{name}' is a distribution metric.*iqabench score"):
        translate(type_name, {"backbone": "inceptionv3"})
