"""The faster formulations of the shared helpers give what the plain formulations they replace give."""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch
import torch.nn.functional as F

from metrics.fr import ms_ssim as ms_ssim_module
from metrics.fr import vsi as vsi_module
from metrics.functional import nss
from metrics.functional.color import _GRAY_WEIGHTS, rgb2gray_uint8, round_half_away
from metrics.functional.filters import correlate_1d, filter2, gaussian_kernel_1d, gaussian_window, pad, separable_filter2
from metrics.functional.input_checks import check_per_image
from metrics.functional.phase_congruency import _matlab_median
from metrics.functional.similarity_maps import auto_downsample
from metrics.functional.steerable_pyramid import _centred_spectrum_crop, _crop_box, build_scf_pyramid
from metrics import MetricInputError


def _plain_gray(x: torch.Tensor) -> torch.Tensor:
    levels = round_half_away(x.double() * 255.0).clamp(0, 255)
    weights = torch.tensor(_GRAY_WEIGHTS, dtype=torch.float64)
    return round_half_away(torch.einsum("c,nchw->nhw", weights, levels)[:, None]).clamp(0, 255)


def test_rgb2gray_uint8_is_bit_exact_on_every_colour():
    v = torch.arange(256)
    g, b = torch.meshgrid(v, v, indexing="ij")
    for r in range(0, 256, 1):
        x = torch.stack([torch.full_like(g, r), g, b]).float()[None] / 255.0
        assert torch.equal(rgb2gray_uint8(x), _plain_gray(x)), r
    # channels-last layout and values off the 8-bit levels (rounded as the plain formula rounds them)
    x = torch.rand(2, 40, 50, 3, generator=torch.Generator().manual_seed(0)).permute(0, 3, 1, 2) * 1.2 - 0.1
    assert torch.equal(rgb2gray_uint8(x), _plain_gray(x))


@pytest.mark.parametrize("dtype", [torch.float64, torch.float32])
@pytest.mark.parametrize("stride", [1, 2])
def test_correlate_1d_matches_conv2d(dtype, stride):
    x = torch.rand(2, 3, 23, 30, generator=torch.Generator().manual_seed(1), dtype=torch.float64)
    taps = gaussian_kernel_1d(7, 1.3, dtype=torch.float64)
    tol = 1e-12 if dtype == torch.float64 else 1e-6
    for dim, shape in ((-2, (1, 1, 7, 1)), (-1, (1, 1, 1, 7))):
        want = F.conv2d(x.flatten(0, 1)[:, None], taps.view(shape), stride=(stride, 1) if dim == -2 else (1, stride))
        got = correlate_1d(x.to(dtype), taps, dim, stride=stride)
        assert torch.allclose(got.double(), want.view(2, 3, *want.shape[-2:]), atol=tol)


@pytest.mark.parametrize("border", ["valid", "zeros", "replicate", "symmetric"])
def test_separable_filter2_matches_2d_window(border):
    x = torch.rand(2, 1, 19, 26, generator=torch.Generator().manual_seed(2), dtype=torch.float64)
    want = filter2(x, gaussian_window(7, 7 / 6, dtype=torch.float64), border)
    got = separable_filter2(x, gaussian_kernel_1d(7, 7 / 6, dtype=torch.float64), border)
    assert torch.allclose(got, want, atol=1e-12)


def test_symmetric_pad_matches_numpy():
    x = torch.rand(1, 2, 6, 9, generator=torch.Generator().manual_seed(3), dtype=torch.float64)
    got = pad(x, 3, 2, 0, 4, "symmetric")
    want = np.pad(x.numpy(), ((0, 0), (0, 0), (3, 2), (0, 4)), mode="symmetric")
    assert np.array_equal(got.numpy(), want)


def test_grid_search_equals_full_argmin():
    grid, ggd, aggd = nss._ratio_tables()
    g = torch.Generator().manual_seed(4)
    values = torch.cat([torch.rand(2000, generator=g, dtype=torch.float64) * 0.8,
                        aggd[::97], (aggd[:-1:89] + aggd[1::89]) / 2, torch.tensor([-1.0, 0.0, 5.0, math.nan])])
    want = torch.argmin((aggd[None, :] - values[:, None]) ** 2, dim=1)
    assert torch.equal(nss._closest(aggd, values), want)
    rho = torch.cat([1 + torch.rand(2000, generator=g, dtype=torch.float64) * 20, ggd[::97], torch.tensor([math.nan])])
    want = torch.argmin((rho[:, None] - ggd[None, :]).abs(), dim=1)
    assert torch.equal(nss._closest(-ggd, -rho), want)


def test_separable_flat_detection_equals_2d_max_pool():
    g = torch.Generator().manual_seed(5)
    x = (torch.rand(2, 1, 40, 50, generator=g, dtype=torch.float64) * 3).floor()
    x[:, :, 5:25, 8:30] = 7.0
    for border in ("replicate", "symmetric"):
        padded = pad(x, 3, 3, 3, 3, border)
        want = F.max_pool2d(padded, 7, stride=1) == -F.max_pool2d(-padded, 7, stride=1)
        assert torch.equal(nss.flat_neighbourhoods(x, 7, border), want)


def test_matlab_median_with_ties():
    g = torch.Generator().manual_seed(6)
    for n in (4, 9, 10, 1000):
        x = torch.randint(0, 4, (5, n), generator=g).double()
        want = x.sort(dim=-1).values
        want = want[:, n // 2] if n % 2 else 0.5 * (want[:, n // 2 - 1] + want[:, n // 2])
        assert torch.equal(_matlab_median(x), want)


@pytest.mark.parametrize("shape", [(64, 96), (65, 99), (800 // 8, 1080 // 8)])
def test_cropped_spectrum_equals_the_full_one(shape):
    x = torch.rand(2, 1, *shape, generator=torch.Generator().manual_seed(7), dtype=torch.float64)
    rows, cols = _crop_box(*shape)
    want = torch.fft.fftshift(torch.fft.fft2(x), dim=(-2, -1))[..., rows, cols]
    assert torch.allclose(_centred_spectrum_crop(x, rows, cols), want, atol=1e-9)
    # and the coarsest band of the pyramid does not depend on the shortcut
    full = build_scf_pyramid(x, 3, 7, keep_levels={2})
    short = build_scf_pyramid(x, 3, 7, keep_levels={2}, highpass=False)
    assert short.highpass is None and torch.allclose(short.bands[2], full.bands[2], atol=1e-9)


def test_vsi_paired_saliency_equals_the_plain_one():
    g = torch.Generator().manual_seed(8)
    ref, dist = (torch.rand(2, 3, 48, 70, generator=g, dtype=torch.float64) for _ in range(2))
    for variant in ("reference", "matlab"):
        want = auto_downsample(vsi_module.sdsp(torch.cat([ref, dist]) * 255.0, variant), factor=3)
        paired = vsi_module._saliency(ref, variant, dist)
        assert torch.allclose(vsi_module._minmax(paired), vsi_module.sdsp(torch.cat([ref, dist]) * 255.0, variant),
                              atol=1e-9)
        lo, hi = paired.amin(dim=(-2, -1), keepdim=True), paired.amax(dim=(-2, -1), keepdim=True)
        inside = auto_downsample(torch.ones_like(paired[:1]), factor=3)
        got = (auto_downsample(paired, factor=3) - lo * inside) / (hi - lo)
        assert torch.allclose(got, want, atol=1e-9)


@pytest.mark.parametrize("shape", [(20, 30), (21, 31), (20, 31)])
def test_ms_ssim_halving_equals_filter_then_subsample(shape):
    x = torch.rand(2, 1, *shape, generator=torch.Generator().manual_seed(9), dtype=torch.float64)
    want = filter2(x, torch.full((2, 2), 0.25, dtype=torch.float64), "symmetric")[..., ::2, ::2]
    assert torch.allclose(ms_ssim_module._halve(x), want, atol=1e-12)


@pytest.mark.parametrize("factor", [2, 3, 4, 5])
def test_auto_downsample_equals_zero_padded_average(factor):
    x = torch.rand(1, 2, 23, 31, generator=torch.Generator().manual_seed(10), dtype=torch.float64)
    before, after = factor - 1 - factor // 2, factor // 2
    want = F.avg_pool2d(F.pad(x, (before, after, before, after)), factor, stride=factor)
    assert torch.allclose(auto_downsample(x, factor), want, atol=1e-12)


def test_per_image_checks_on_channels_last_input():
    x = torch.rand(3, 20, 30, 3).permute(0, 3, 1, 2)  # what the loaders hand over
    check_per_image(x, "m", "dist")
    x[2, 1, 4, 5] = math.nan
    with pytest.raises(MetricInputError, match=r"image\(s\) 2 of the batch contain NaN"):
        check_per_image(x, "m", "dist")
    x[2, 1, 4, 5] = 1.5
    with pytest.raises(MetricInputError, match=r"image\(s\) 2 of the batch have values outside"):
        check_per_image(x, "m", "dist")
