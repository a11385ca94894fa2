"""Phase congruency (Kovesi's phasecong2 as in FSIM): filter bank properties and responses to known features."""

from __future__ import annotations

import math

import pytest
import torch

from metrics.functional.phase_congruency import _matlab_median, log_gabor_bank, lowpass_filter, phase_congruency


def _step(rows: int = 96, cols: int = 256, noise: float = 0.0, seed: int = 0) -> torch.Tensor:
    """A vertical step edge (50 → 200) at column cols/2, plus Gaussian noise of std ``noise`` (0..255 scale)."""
    x = torch.full((1, 1, rows, cols), 50.0, dtype=torch.float64)
    x[..., cols // 2 :] = 200.0
    g = torch.Generator().manual_seed(seed)
    return x + noise * torch.randn(x.shape, generator=g, dtype=torch.float64)


def test_bank_shape_dc_and_range():
    bank = log_gabor_bank(60, 80)
    assert bank.shape == (4, 4, 60, 80)
    assert torch.all(bank[:, :, 0, 0] == 0)  # no response to the mean
    assert bank.min() >= 0 and bank.max() <= 1


@pytest.mark.parametrize("scale", range(4))
def test_radial_peak_at_centre_frequency(scale):
    # Along the horizontal frequency axis (orientation 0, theta = 0) the response peaks at f0 = 1 / (6 · 2^s).
    cols = 1024
    bank = log_gabor_bank(8, cols)
    row = bank[0, scale, 0, : cols // 2]
    peak_freq = int(row.argmax()) / cols
    f0 = 1.0 / (6.0 * 2**scale)
    assert peak_freq == pytest.approx(f0, abs=1.0 / cols)
    # log-Gabor value at one octave from f0: exp(-log(2)^2 / (2 log(0.55)^2)), times the low-pass (~1 there).
    octave = round(2 * f0 * cols) if scale else round(f0 / 2 * cols)
    expected = math.exp(-(math.log(2) ** 2) / (2 * math.log(0.55) ** 2))
    assert float(row[octave]) == pytest.approx(expected, rel=0.03)


def test_angular_spread_peaks_at_filter_orientation():
    n = 128
    bank = log_gabor_bank(n, n)
    r = 16  # a frequency radius well inside the pass band
    for o in range(4):
        angle = o * math.pi / 4
        # theta = atan2(-y, x): positive angles go up, i.e. to negative row offsets.
        col, row = round(r * math.cos(angle)) % n, round(-r * math.sin(angle)) % n
        responses = bank[:, 1, row, col]
        assert int(responses.argmax()) == o


def test_lowpass_is_half_at_cutoff():
    f = torch.fft.fftshift(lowpass_filter(1, 1000, cutoff=0.45, order=15))[0]
    # x = (col - 501) / 1000, so column 501 + 450 (1-based) sits at radius 0.45.
    assert float(f[500 + 450]) == pytest.approx(0.5, abs=1e-9)
    assert float(f[500]) == 1.0


def test_matlab_median_even_and_odd():
    assert _matlab_median(torch.tensor([[4.0, 1.0, 3.0, 2.0]])).item() == 2.5
    assert _matlab_median(torch.tensor([[5.0, 1.0, 3.0]])).item() == 3.0


def test_step_edge_high_at_edge_low_in_noisy_flat_regions():
    pc = phase_congruency(_step(noise=5.0))[0, 0]
    assert pc.min() >= 0 and pc.max() <= 1
    edge = pc[:, 127:129].mean()
    assert edge > 0.7
    assert pc[:, 40:90].mean() < 0.1 and pc[:, 170:220].mean() < 0.1


def test_noise_free_step_is_a_local_maximum_at_the_edge():
    pc = phase_congruency(_step())[0, 0].mean(dim=0)
    # The two pixels either side of the step are a ridge of high congruency. (Far from edges a noise-free
    # image keeps sizeable PC: the ratio of tiny responses is scale-free and the noise threshold is ~0.)
    assert pc[127] > 0.8 and pc[128] > 0.8
    assert pc[127] > pc[126] > pc[125] and pc[128] > pc[129] > pc[130]


def test_line_feature_is_near_one():
    x = torch.zeros(1, 1, 64, 128, dtype=torch.float64)
    x[..., 64] = 255.0
    pc = phase_congruency(x)[0, 0]
    assert pc[:, 64].min() > 0.99


def test_contrast_and_offset_invariance():
    x = _step(noise=3.0)
    a, b = phase_congruency(x), phase_congruency(3.0 * x + 7.0)
    assert torch.allclose(a, b, atol=1e-4)


def test_circular_shift_equivariance_and_batching():
    g = torch.Generator().manual_seed(1)
    x = torch.rand(3, 1, 40, 52, generator=g, dtype=torch.float64) * 255
    pc = phase_congruency(x)
    shifted = phase_congruency(torch.roll(x, shifts=(5, -9), dims=(-2, -1)))
    assert torch.allclose(torch.roll(pc, shifts=(5, -9), dims=(-2, -1)), shifted, atol=1e-10)
    alone = torch.cat([phase_congruency(x[i : i + 1]) for i in range(3)])
    assert torch.allclose(pc, alone, atol=1e-12)


def test_odd_sizes_and_shape_check():
    assert phase_congruency(torch.rand(2, 1, 31, 45, dtype=torch.float64)).shape == (2, 1, 31, 45)
    with pytest.raises(ValueError, match="N×1×H×W"):
        phase_congruency(torch.rand(1, 3, 8, 8))
