"""NIQE: model provenance, NSS fits checked against their definition, monotonicity and input errors."""

from __future__ import annotations

import hashlib
import math

import numpy as np
import pytest
import torch

import metrics
from metrics import MetricInputError
from metrics.functional.nss import fit_aggd, fit_ggd, shape_grid
from metrics.nr.niqe import MODEL_PATH

NIQE_SHA256 = "2a7c182a68c9e7f1b2e2e5ec723279d6f65d912b6fcaf37eb2bf03d7367c4296"


def test_model_file_is_the_provenanced_one():
    assert hashlib.sha256(MODEL_PATH.read_bytes()).hexdigest() == NIQE_SHA256
    with np.load(MODEL_PATH, allow_pickle=False) as model:
        assert model["mu_pris_param"].shape == (1, 36)
        cov = model["cov_pris_param"]
        assert cov.shape == (36, 36) and np.allclose(cov, cov.T)


def test_ggd_fit_picks_grid_value_of_the_moment_ratio():
    # A ±1 sequence has E[x²]/E|x|² = 1; Γ(1/a)Γ(3/a)/Γ(2/a)² → 1 only as a → ∞, so the fit is the grid's end.
    shape, var = fit_ggd(torch.tensor([[1.0, -1.0, 1.0, -1.0]], dtype=torch.float64))
    assert shape.item() == pytest.approx(10.0) and var.item() == 1.0
    # Laplacian-like samples (shape 1): ratio Γ(1)Γ(3)/Γ(2)² = 2 exactly.
    x = torch.tensor([[0.0, 2.0, -2.0, 0.0, 0.0, 0.0]], dtype=torch.float64)  # E[x²] = 4/3, E|x| = 2/3 → ρ = 3
    grid = shape_grid()
    r = torch.exp(torch.lgamma(1 / grid) + torch.lgamma(3 / grid) - 2 * torch.lgamma(2 / grid))
    want = grid[torch.argmin((r - 3.0).abs())].item()
    assert fit_ggd(x)[0].item() == pytest.approx(want)
    assert 0.5 < want < 0.7  # ρ = 3 lies between the Laplacian (2) and shape 0.5 (~ 5.6)


def test_aggd_fit_left_right_std():
    x = torch.tensor([[-2.0, -2.0, 1.0, 1.0, 1.0, 1.0]], dtype=torch.float64)
    alpha, left, right = fit_aggd(x)
    assert left.item() == pytest.approx(2.0) and right.item() == pytest.approx(1.0)
    assert 0.2 <= alpha.item() <= 10.0
    alpha, left, right = fit_aggd(torch.tensor([[1.0, 2.0, 3.0]], dtype=torch.float64))
    assert math.isnan(left.item()) and alpha.item() == pytest.approx(0.2)  # MATLAB: mean([]) = NaN


def test_odd_size_and_crop(tid_pairs):
    dist, _ = tid_pairs
    model = metrics.create("niqe")
    odd = dist[:1, :, :199, :297]
    assert torch.isfinite(model(odd)).all()
    # everything past the last whole 96×96 patch is cropped away, so it cannot change the score
    assert model(dist[:1, :, :192, :288]).item() == pytest.approx(model(odd).item(), rel=1e-6)


def test_errors_name_the_image():
    model = metrics.create("niqe")
    with pytest.raises(MetricInputError, match="smaller than"):
        model(torch.rand(1, 3, 95, 200))
    batch = torch.rand(3, 3, 100, 100)
    batch[2] = 0.5
    with pytest.raises(MetricInputError, match="image\\(s\\) 2 .*constant"):
        model(batch)
    batch = torch.rand(3, 3, 100, 100)
    batch[1, 0, 5, 5] = float("nan")
    with pytest.raises(MetricInputError, match="image\\(s\\) 1 .*NaN"):
        model(batch)
    with pytest.raises(MetricInputError, match="NaN"):  # NaN is reported even for a too-small image
        model(torch.full((1, 3, 10, 10), float("nan")))


def test_cuda_matches_cpu(tid_pairs):
    if not torch.cuda.is_available():
        pytest.skip("no CUDA device")
    dist, _ = tid_pairs
    cpu = metrics.create("niqe")(dist[:2])
    gpu = metrics.create("niqe", device="cuda")(dist[:2].cuda()).cpu()
    assert torch.allclose(cpu, gpu, rtol=1e-5)
