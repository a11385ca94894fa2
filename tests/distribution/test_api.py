"""The Python API's distribution metrics: ``iqabench.create_metric("fid")`` is called on folders as pyiqa's is, and
gives what ``score_sets`` (``iqabench score``) gives; ``list_models`` names them as pyiqa does (NR)."""

from __future__ import annotations

import pytest

import iqabench
from metrics.distribution.specs import DISTRIBUTION_SPECS
from orchestrator.sets.score import score_sets


def test_list_models_names_the_distribution_metrics_as_pyiqa_does():
    assert set(DISTRIBUTION_SPECS) <= set(iqabench.list_models())
    assert set(DISTRIBUTION_SPECS) <= set(iqabench.list_models("NR"))
    assert set(DISTRIBUTION_SPECS).isdisjoint(iqabench.list_models("FR"))
    assert iqabench.list_models(filter="*fid*") == ["fid", "fid_dinov2", "sfid"]


def test_a_set_metric_scores_folders_as_score_sets_does(image_sets):
    folder_a, folder_b = image_sets
    fid = iqabench.create_metric("fid", device="cpu")
    assert isinstance(fid, iqabench.SetMetric)
    assert (fid.metric_name, fid.metric_mode, fid.lower_better) == ("fid", "NR", True)
    value = fid(str(folder_a), str(folder_b))
    assert value == score_sets("fid", folder_a, folder_b).value > 0
    assert fid.last.images == 4 and fid.last.reference_images == 3 and not fid.last.failures

    kid = iqabench.create_metric("fid", device="cpu", distance_type="mmd", seed=3)  # pyiqa's option name
    assert kid(str(folder_a), str(folder_b)) == score_sets("fid", folder_a, folder_b, distance="mmd", seed=3).value

    inception = iqabench.create_metric("inception_score", device="cpu", splits=2)
    assert inception(str(folder_a)) == score_sets("inception_score", folder_a, splits=2).value > 1.0
    assert inception.last.extra["inception_score_std"] >= 0


def test_bad_set_metric_requests_are_refused(image_sets):
    folder_a, _ = image_sets
    with pytest.raises(ValueError, match=r"create_metric\('fid'\): fid has no option 'not_an_option'"):
        iqabench.create_metric("fid", not_an_option=1)
    with pytest.raises(ValueError, match="either a reference set or dataset statistics"):
        iqabench.create_metric("fid", device="cpu")(str(folder_a))
    with pytest.raises(ValueError, match="scores one set alone"):
        iqabench.create_metric("inception_score", device="cpu")(str(folder_a), str(folder_a))
