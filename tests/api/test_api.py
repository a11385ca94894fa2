"""The Python API (``iqabench.create_metric``, ``iqabench.list_models``): every input form scores the same
pixels the benchmark's decoder reads, the metric's direction and range, pyiqa's wildcard filters."""

from __future__ import annotations

import fnmatch

import numpy as np
import pytest
import torch
from PIL import Image

import iqabench
import metrics
from datasets_io.decode import im2uint8, read_image
from metrics.base import MetricInputError
from metrics.distribution.specs import DISTRIBUTION_SPECS


@pytest.fixture()
def pair(tmp_path):
    rng = np.random.default_rng(7)
    ref = rng.integers(0, 256, (40, 48, 3), dtype=np.uint8)
    dist = np.clip(ref.astype(int) + rng.integers(-30, 31, ref.shape), 0, 255).astype(np.uint8)
    paths = tmp_path / "dist.png", tmp_path / "ref.png"
    Image.fromarray(dist).save(paths[0])
    Image.fromarray(ref).save(paths[1])
    return dist, ref, paths


def test_paths_pil_numpy_and_tensors_score_alike(pair):
    dist, ref, (dist_path, ref_path) = pair
    metric = iqabench.create_metric("ssim", device="cpu")
    from_paths = metric(dist_path, str(ref_path))
    forms = [
        (Image.open(dist_path), Image.open(ref_path)),
        (dist, ref),
        (torch.from_numpy(dist).permute(2, 0, 1), torch.from_numpy(ref).permute(2, 0, 1)),  # uint8 C×H×W
        (torch.from_numpy(dist).permute(2, 0, 1).float() / 255, torch.from_numpy(ref).permute(2, 0, 1).float() / 255),
        (dist.astype(np.float64) / 255, ref.astype(np.float64) / 255),
    ]
    assert from_paths.shape == (1,)
    for target, reference in forms:
        assert torch.equal(metric(target, reference), from_paths)
    direct = metrics.create("ssim")(torch.from_numpy(dist).permute(2, 0, 1)[None].float() / 255,
                                    torch.from_numpy(ref).permute(2, 0, 1)[None].float() / 255)
    assert torch.equal(direct, from_paths)


def test_a_list_is_a_batch_and_sizes_must_agree(pair, tmp_path):
    _, ref, (dist_path, ref_path) = pair
    metric = iqabench.create_metric("psnr", device="cpu")
    batch = metric([dist_path, ref_path], [ref_path, ref_path])
    assert batch.shape == (2,)
    assert batch[0] == metric(dist_path, ref_path)[0] and torch.isinf(batch[1])
    small = tmp_path / "small.png"
    Image.fromarray(ref[:20, :20]).save(small)
    with pytest.raises(MetricInputError, match="one size"):
        metric([dist_path, small], [ref_path, ref_path])


def test_sixteen_bit_files_are_decoded_as_the_benchmark_does(tmp_path):
    y, x = np.mgrid[0:200, 0:232]
    noise = np.random.default_rng(3).integers(0, 2000, (200, 232))
    values = (30000 + 20000 * np.sin(x / 7.0) * np.cos(y / 11.0) + noise).astype(np.uint16)
    path = tmp_path / "grey16.png"
    Image.fromarray(values).save(path)
    assert np.array_equal(read_image(path)[..., 0], im2uint8(values))
    metric = iqabench.create_metric("niqe", device="cpu")
    assert torch.equal(metric(path), metric(read_image(path)))
    # Pillow's own convert("RGB") would clip to 255 instead: a different image, a different score
    clipped = np.asarray(Image.open(path).convert("RGB"))
    assert not np.array_equal(clipped, read_image(path))


def test_direction_range_and_mode_come_from_the_registry():
    for name in ("psnr", "niqe", "gmsd", "brisque"):
        metric = iqabench.create_metric(name, device="cpu")
        spec = metrics.get_spec(name)
        assert (metric.lower_better, metric.score_range, metric.metric_mode, metric.metric_name) == \
            (spec.lower_better, spec.score_range, spec.mode, name)
    assert iqabench.create_metric("niqe", device="cpu").lower_better is True


def test_wrong_calls_say_what_is_expected(pair):
    dist, _, (dist_path, ref_path) = pair
    with pytest.raises(MetricInputError, match="full-reference"):
        iqabench.create_metric("psnr", device="cpu")(dist_path)
    with pytest.raises(MetricInputError, match="no-reference"):
        iqabench.create_metric("niqe", device="cpu")(dist_path, ref_path)
    with pytest.raises(MetricInputError, match="uint8"):
        iqabench.create_metric("niqe", device="cpu")(dist.astype(np.int32))
    with pytest.raises(metrics.UnknownMetricError):
        iqabench.create_metric("no_such_metric")


def test_options_reach_the_metric_in_our_terms_or_pyiqas(pair):
    dist, ref, _ = pair
    luma = iqabench.create_metric("psnr", device="cpu", channel="y")
    assert luma.options["channel"] == "y"
    assert not torch.equal(luma(dist, ref), iqabench.create_metric("psnr", device="cpu")(dist, ref))
    as_pyiqa = iqabench.create_metric("psnr", device="cpu", test_y_channel=True)  # pyiqa's option name
    channel = as_pyiqa.options["channel"]
    assert channel != "rgb"
    assert torch.equal(as_pyiqa(dist, ref), iqabench.create_metric("psnr", device="cpu", channel=channel)(dist, ref))
    with pytest.raises(ValueError, match=r"create_metric\(.psnr.\): PSNR has no option .not_an_option."):
        iqabench.create_metric("psnr", device="cpu", not_an_option=1)


def test_list_models_filters_like_pyiqa():
    every = metrics.available()
    assert iqabench.list_models() == sorted([*every, *DISTRIBUTION_SPECS])  # and pyiqa's set metrics
    every = iqabench.list_models()
    assert iqabench.list_models("FR") == metrics.available("FR")
    assert set(iqabench.list_models("NR")).isdisjoint(iqabench.list_models("FR"))
    ssim = iqabench.list_models(filter="*ssim*")
    assert ssim == [name for name in every if "ssim" in name] and "ssim" in ssim
    assert iqabench.list_models(filter=["psnr*", "ssim"]) == sorted(fnmatch.filter(every, "psnr*") + ["ssim"])
    assert "ssim" not in iqabench.list_models(filter="*ssim*", exclude_filters="ssim")
    with pytest.raises(ValueError, match="metric_mode"):
        iqabench.list_models("IAA")
