"""The frequency-domain complex steerable pyramid: reconstruction, filter partition of unity, look-ups, bands."""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch

from metrics.functional import steerable_pyramid as sp


@pytest.mark.parametrize("shape", [(64, 64), (97, 131), (100, 67)])
def test_exact_profiles_reconstruct_perfectly(shape):
    x = torch.rand(2, 1, *shape, dtype=torch.float64, generator=torch.Generator().manual_seed(0))
    pyr = sp.build_scf_pyramid(x, height=3, order=7, lut=False)
    assert (sp.reconstruct_scf_pyramid(pyr) - x).abs().max().item() < 1e-10


def test_lookup_profiles_reconstruct_to_table_precision():
    x = torch.rand(1, 1, 96, 128, dtype=torch.float64, generator=torch.Generator().manual_seed(1))
    pyr = sp.build_scf_pyramid(x, height=4, order=3)
    err = (sp.reconstruct_scf_pyramid(pyr) - x).abs().max().item()
    assert 0 < err < 1e-4  # linear interpolation of the tables, as matlabPyrTools does


def test_band_shapes_halve_with_ceiling():
    x = torch.zeros(3, 2, 97, 131, dtype=torch.float64)
    pyr = sp.build_scf_pyramid(x, height=3, order=3)
    assert [tuple(b.shape) for b in pyr.bands] == [(3, 2, 4, 97, 131), (3, 2, 4, 49, 66), (3, 2, 4, 25, 33)]
    assert tuple(pyr.highpass.shape) == (3, 2, 97, 131) and tuple(pyr.lowpass.shape) == (3, 2, 13, 17)
    assert all(b.is_complex() for b in pyr.bands) and not pyr.lowpass.is_complex()


def test_masks_partition_unity():
    lo0, hi0, levels = sp._masks(64, 96, 3, 7, 1.0, False, torch.float64, "cpu")
    assert torch.allclose(lo0**2 + hi0**2, torch.ones_like(lo0), atol=1e-12)
    log_rad, angle = sp._polar_grid(64, 96, torch.float64, "cpu")
    prof = sp._Profiles(7, 1.0, False, torch.float64, "cpu")
    for level, (bandmask, _, _) in enumerate(levels, start=1):
        high = prof.radial(log_rad, float(level), high=True)
        low = prof.radial(log_rad, float(level), high=False)
        assert torch.allclose(high**2 + low**2, torch.ones_like(high), atol=1e-12)
        log_rad = log_rad[sp._crop_box(*log_rad.shape)]
    # One-sided angular masks: for every direction, sum_b A_b(θ)² + A_b(θ+π)² = 4 (two-sided filters: 1).
    theta = torch.linspace(-math.pi, math.pi, 1001, dtype=torch.float64)
    opposite = torch.remainder(theta + 2 * math.pi, 2 * math.pi) - math.pi
    total = sum(prof.angular(theta, b) ** 2 + prof.angular(opposite, b) ** 2 for b in range(8))
    assert torch.allclose(total, torch.full_like(total, 4.0), atol=1e-12)
    # The tables agree with the exact profiles to interpolation accuracy.
    table = sp._Profiles(7, 1.0, True, torch.float64, "cpu")
    for b in range(8):
        assert torch.allclose(table.angular(theta, b), prof.angular(theta, b), atol=1e-4)


def test_point_op_interpolates_and_extrapolates_linearly():
    lut = torch.tensor([0.0, 1.0, 4.0, 9.0], dtype=torch.float64)
    x = torch.tensor([-1.0, 0.0, 0.25, 1.5, 2.0, 2.75, 4.0], dtype=torch.float64) * 0.5 + 1.0
    got = sp.point_op(x, lut, origin=1.0, increment=0.5)
    positions = (x.numpy() - 1.0) / 0.5
    inside = np.interp(positions, np.arange(4), lut.numpy())
    expect = np.where(positions < 0, positions * 1.0, np.where(positions > 3, 9 + (positions - 3) * 5, inside))
    np.testing.assert_allclose(got.numpy(), expect, atol=1e-12)


def test_grating_lands_in_its_orientation_and_level_with_smooth_envelope():
    h = w = 128
    yy, xx = torch.meshgrid(torch.arange(h), torch.arange(w), indexing="ij")
    # Horizontal frequency 0.3 of Nyquist (log2 ≈ -1.7): angle 0 → orientation 0, in the second level's octave.
    x = torch.cos(2 * math.pi * (0.3 / 2) * xx.double()).view(1, 1, h, w)
    pyr = sp.build_scf_pyramid(x, height=3, order=3, lut=False)
    energy = torch.stack([b.abs().square().sum(dim=(-2, -1))[0, 0] / b[0, 0, 0].numel() for b in pyr.bands])
    level, orientation = divmod(int(energy.argmax()), 4)
    assert (level, orientation) == (1, 0), energy
    band = pyr.bands[level][0, 0, orientation]
    # Analytic (quadrature) band: the magnitude of a pure grating is nearly constant away from the borders.
    mag = band.abs()[8:-8, 8:-8]
    assert (mag.std() / mag.mean()).item() < 0.05


def test_keep_levels_and_limits():
    x = torch.rand(1, 1, 64, 64, dtype=torch.float64)
    full = sp.build_scf_pyramid(x, height=4, order=7)
    part = sp.build_scf_pyramid(x, height=4, order=7, keep_levels={3})
    assert part.bands[:3] == [None, None, None]
    assert torch.equal(part.bands[3], full.bands[3])
    with pytest.raises(ValueError, match="reconstruct"):
        sp.reconstruct_scf_pyramid(part)
    with pytest.raises(ValueError, match="levels"):
        sp.build_scf_pyramid(x, height=5, order=7)
