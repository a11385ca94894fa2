"""MATLAB imresize (bilinear/bicubic, antialiased): values worked out by hand and cross-checks with torch."""

from __future__ import annotations

import pytest
import torch
import torch.nn.functional as F

from metrics.functional.imresize import imresize, resize_matrix


def test_rows_sum_to_one_and_sizes():
    for method in ("bilinear", "bicubic"):
        for n_in, n_out in ((384, 256), (256, 384), (7, 3), (5, 5), (1, 4)):
            m = resize_matrix(n_in, n_out, method)
            assert m.shape == (n_out, n_in)
            assert torch.allclose(m.sum(dim=1), torch.ones(n_out, dtype=torch.float64))


def test_halving_a_ramp_by_hand():
    # scale 0.5, antialiased triangle of half-width 2: output 1 samples x = 1.5 with weights 1/8, 3/8, 3/8, 1/8
    # on positions 0, 1, 2, 3, where position 0 mirrors to 1: 1/8·1 + 3/8·1 + 3/8·2 + 1/8·3 = 1.625.
    x = torch.tensor([1.0, 2.0, 3.0, 4.0], dtype=torch.float64).view(1, 1, 1, 4)
    out = imresize(x, (1, 2), "bilinear")
    assert out.flatten().tolist() == pytest.approx([1.625, 3.375], abs=1e-12)


def test_bicubic_identity_and_constant():
    g = torch.Generator().manual_seed(0)
    x = torch.rand(2, 3, 9, 13, generator=g, dtype=torch.float64)
    assert torch.allclose(imresize(x, (9, 13)), x, atol=1e-12)
    c = torch.full((1, 1, 17, 11), 0.3, dtype=torch.float64)
    assert torch.allclose(imresize(c, (6, 20)), torch.full((1, 1, 6, 20), 0.3, dtype=torch.float64))


def test_bilinear_upsampling_matches_half_pixel_interpolation():
    # Without shrinking there is no antialiasing: MATLAB's bilinear equals align_corners=False interpolation
    # (mirroring the edge pixel = clamping for a 2-tap kernel).
    g = torch.Generator().manual_seed(1)
    x = torch.rand(2, 1, 10, 14, generator=g, dtype=torch.float64)
    ours = imresize(x, (23, 31), "bilinear")
    theirs = F.interpolate(x, size=(23, 31), mode="bilinear", align_corners=False)
    assert torch.allclose(ours, theirs, atol=1e-12)


def test_antialiased_shrink_matches_torch_antialias_away_from_borders():
    # Same stretched triangle and normalisation; torch truncates at borders where MATLAB mirrors.
    g = torch.Generator().manual_seed(2)
    x = torch.rand(1, 1, 60, 90, generator=g, dtype=torch.float64)
    ours = imresize(x, (20, 30), "bilinear")
    theirs = F.interpolate(x, size=(20, 30), mode="bilinear", align_corners=False, antialias=True)
    assert torch.allclose(ours[..., 2:-2, 2:-2], theirs[..., 2:-2, 2:-2], atol=1e-12)


def test_bad_arguments():
    with pytest.raises(ValueError, match="method"):
        resize_matrix(4, 2, "lanczos")  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="lengths"):
        resize_matrix(0, 2)
