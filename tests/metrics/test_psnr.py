"""PSNR: ``psnr`` on RGB, ``psnry`` on the unrounded NTSC luma (pyiqa's ``psnry``), ``channel="y"`` on MATLAB's
rounded ``rgb2ycbcr`` luma; each against its definition written out here, and ``psnry`` against pyiqa 0.1.16."""

from __future__ import annotations

import numpy as np
import pytest
import torch

import metrics


def _pair(seed: int, shape: tuple[int, int] = (37, 53)) -> tuple[torch.Tensor, torch.Tensor]:
    rng = np.random.default_rng(seed)
    ref = rng.integers(0, 256, (1, 3, *shape)).astype(np.float64) / 255.0
    dist = np.clip(ref + rng.normal(0, 0.05, ref.shape), 0, 1)
    dist = np.round(dist * 255) / 255.0
    return torch.from_numpy(dist).float(), torch.from_numpy(ref).float()


def _psnr(a: np.ndarray, b: np.ndarray) -> float:
    return float(10 * np.log10(1.0 / np.mean((a - b) ** 2)))


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_each_channel_against_its_definition(seed: int) -> None:
    dist, ref = _pair(seed)
    d, r = dist.double().numpy()[0], ref.double().numpy()[0]
    ntsc = np.array([0.299, 0.587, 0.114])
    ycbcr = np.array([65.481, 128.553, 24.966])
    y_of = lambda x: np.floor(np.tensordot(ycbcr, x, 1) + 16 + 0.5) / 255.0  # noqa: E731 (MATLAB uint8 rounding)
    expected = {"psnr": _psnr(d, r), "psnry": _psnr(np.tensordot(ntsc, d, 1), np.tensordot(ntsc, r, 1))}
    for name, value in expected.items():
        assert float(metrics.create(name)(dist, ref)) == pytest.approx(value, rel=1e-5)
    assert float(metrics.create("psnr", channel="y")(dist, ref)) == pytest.approx(_psnr(y_of(d), y_of(r)), rel=1e-5)


def test_psnry_equals_pyiqa() -> None:
    pyiqa = pytest.importorskip("pyiqa")
    reference = pyiqa.create_metric("psnry", device="cpu", as_loss=False)
    for seed in range(3):
        dist, ref = _pair(seed, (41 + seed, 29))
        ours = float(metrics.create("psnry")(dist, ref))
        theirs = float(reference(dist, ref))
        assert ours == pytest.approx(theirs, rel=1e-5)
