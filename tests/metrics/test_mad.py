"""MAD: ideal score, monotonicity, sizes, and its helpers against the MEX / MATLAB definitions.

The registered default (``variant="port", channel="rgb"``) is checked against the official row by
``test_calibration.py``; here every variant is built directly.
"""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch
from scipy import stats

from metrics import MetricInputError
from metrics.fr import mad as mad_module


def _noisy(ref: torch.Tensor, sigma: float, seed: int = 0) -> torch.Tensor:
    g = torch.Generator().manual_seed(seed)
    return (ref + sigma * torch.randn(ref.shape, generator=g)).clamp(0, 1)


VARIANTS = [("port", "rgb"), ("matlab", "gray"), ("port", "gray")]


@pytest.mark.parametrize(("variant", "channel"), VARIANTS)
def test_identical_inputs_give_zero(tid_pairs, variant, channel):
    _, ref = tid_pairs
    assert mad_module.MAD(variant, channel)(ref[:1], ref[:1]).item() == 0.0


@pytest.mark.parametrize(("variant", "channel"), VARIANTS)
def test_more_noise_raises_mad(tid_pairs, variant, channel):
    _, ref = tid_pairs
    model = mad_module.MAD(variant, channel)
    scores = [model(_noisy(ref[:1], s), ref[:1]).item() for s in (0.03, 0.08, 0.2)]
    assert all(a < b for a, b in zip(scores, scores[1:])), scores
    assert scores[0] > 0


def test_port_reproduces_its_published_values(tid_pairs):
    # pyiqa's calibration page for its port (Y of YIQ, rounded): I03 194.9324, I08 91.6206, I19 181.9651.
    dist, ref = tid_pairs
    got = mad_module.MAD("port", "yiq_round")(dist[[0, 3, 4]], ref[[0, 3, 4]]).tolist()
    assert got == pytest.approx([194.9324, 91.6206, 181.9651], rel=1e-4)


def _smooth_pair(h: int = 53, w: int = 71, sigma: float = 0.1) -> tuple[torch.Tensor, torch.Tensor]:
    """Two smooth 3-channel references with distinct channels, and noisy copies of them."""
    # A smooth reference: white noise would mask the added noise entirely (d_detect = 0).
    yy, xx = torch.meshgrid(torch.linspace(0, 3, h), torch.linspace(0, 4, w), indexing="ij")
    base = 0.5 + 0.3 * torch.sin(yy + xx) * torch.cos(xx)
    ref = torch.stack([base, base.flip(0), base.flip(1)])[None].repeat(2, 1, 1, 1)
    ref[1] = 1 - ref[1]
    return _noisy(ref, sigma), ref


@pytest.mark.parametrize(("variant", "channel"), VARIANTS)
def test_odd_sizes_and_batch(variant, channel):
    model = mad_module.MAD(variant, channel)
    dist, ref = _smooth_pair()
    together = model(dist, ref)
    assert torch.isfinite(together).all() and (together > 0).all()
    for i in range(2):
        assert model(dist[i : i + 1], ref[i : i + 1]).item() == pytest.approx(together[i].item(), rel=1e-5)


def test_default_is_the_port_on_rgb():
    model = mad_module.MAD()
    assert (model.variant, model.channel) == ("port", "rgb")
    assert mad_module.MAD("matlab").channel == "gray"
    with pytest.raises(ValueError, match="grey"):
        mad_module.MAD("matlab", "rgb")


def test_block_major_reshape():
    n, c, r, q = 2, 3, 4, 5
    grid = torch.arange(n * c * r * q, dtype=torch.float64).reshape(n, c, r, q)
    got = mad_module._block_major(grid)
    for i in range(n):
        # The port's list: blocks in row-major order, the channels of each block together; read as c×r×q.
        listed = [grid[i, ch, a, b].item() for a in range(r) for b in range(q) for ch in range(c)]
        assert got[i].flatten().tolist() == listed
    assert torch.equal(mad_module._block_major(grid[:, :1]), grid[:, :1])


def test_block_major_reshape_is_what_scores_i04(tid_pairs):
    # I04 (official 80.8379): the port on R, G, B with the reshape matches; the mean of the three planes each
    # run alone (no reshape) gives 69.85, as the module docstring says.
    dist, ref = tid_pairs
    dist, ref = dist[1:2].double() * 255, ref[1:2].double() * 255
    csf, gabors = mad_module.port_csf(384, 512), mad_module.port_gabor_bank(384, 512)
    alone = []
    for c in range(3):
        d_detect = mad_module._port_detection(ref[:, c : c + 1], dist[:, c : c + 1], csf).item()
        d_appear = mad_module._port_appearance(ref[:, c : c + 1], dist[:, c : c + 1], gabors).item()
        alpha = 1 / (1 + mad_module.BETA1 * d_detect**mad_module.BETA2)
        alone.append(d_detect**alpha * d_appear ** (1 - alpha))
    d_detect = mad_module._port_detection(ref, dist, csf)
    d_appear = mad_module._port_appearance(ref, dist, gabors)
    alpha = 1 / (1 + mad_module.BETA1 * d_detect**mad_module.BETA2)
    together = (d_detect**alpha * d_appear ** (1 - alpha)).mean().item()
    assert sum(alone) / 3 == pytest.approx(69.85, abs=0.01)
    assert together == pytest.approx(80.8379, rel=1e-5)


def test_default_matches_pyiqa_on_odd_sizes():
    # The reference port itself (test-only dependency); both run in float32.
    pyiqa = pytest.importorskip("pyiqa")
    reference = pyiqa.create_metric("mad", device="cpu")
    model = mad_module.MAD()
    for h, w in [(53, 71), (48, 67)]:
        dist, ref = _smooth_pair(h, w, sigma=0.05)
        want = reference(dist, ref).flatten().tolist()
        assert model(dist, ref).tolist() == pytest.approx(want, rel=1e-5)


def test_too_small_raises():
    model = mad_module.MAD()
    x = torch.rand(1, 3, 33, 64)
    with pytest.raises(MetricInputError, match="smaller than"):
        model(x, x)


def test_block_stats_match_scipy(rng):
    x = rng.random((24, 28)) * 50
    std, skew, kurt = (t[0, 0].numpy() for t in mad_module._block_stats(torch.from_numpy(x)[None, None]))
    assert std.shape == (3, 4)
    for a in range(3):
        for b in range(4):
            block = x[4 * a : 4 * a + 16, 4 * b : 4 * b + 16].ravel()
            assert std[a, b] == pytest.approx(block.std(ddof=1), rel=1e-10)
            assert skew[a, b] == pytest.approx(stats.skew(block), rel=1e-8, abs=1e-10)
            assert kurt[a, b] == pytest.approx(stats.kurtosis(block, fisher=False), rel=1e-8)


def _two_pass_block_moments(x: torch.Tensor) -> tuple[torch.Tensor, ...]:
    """Mean and central moments (1/256 Σ d^k, k = 2, 3, 4) of the 16×16 blocks at stride 4, block by block."""
    blocks = x.unfold(-2, 16, 4).unfold(-2, 16, 4).flatten(-2)
    mean = blocks.mean(-1, keepdim=True)
    d = blocks - mean
    return mean[..., 0], d.pow(2).mean(-1), d.pow(3).mean(-1), d.pow(4).mean(-1)


@pytest.mark.parametrize("band", [mad_module._BAND, 64])  # one band, or bands of 4 rows
def test_merged_block_stats_match_the_port_definition(rng, monkeypatch, band):
    monkeypatch.setattr(mad_module, "_BAND", band)
    x = torch.from_numpy(rng.random((2, 3, 45, 50)) * 80 + 5)
    mean, std, skew, kurt = mad_module._port_moments(x, higher=True)
    mu, m2, m3, m4 = mad_module._block_moments_merged(mad_module._group_stats(x, higher=True))
    assert mu.shape == mean.shape == (2, 3, 8, 9)
    torch.testing.assert_close(mu, mean, rtol=1e-12, atol=0)
    torch.testing.assert_close((m2 + mad_module._EPS).sqrt(), std, rtol=1e-10, atol=0)
    torch.testing.assert_close(m3 / std**3, skew, rtol=1e-8, atol=1e-10)
    torch.testing.assert_close(m4 / std**4 - 3, kurt, rtol=1e-8, atol=1e-10)
    # A complex map stands for its magnitude sqrt(re² + im² + 1e-12).
    z = torch.complex(x, torch.from_numpy(rng.standard_normal(x.shape)))
    got = mad_module._block_moments_merged(mad_module._group_stats(z, higher=False))
    want = mad_module._port_moments((z.real**2 + z.imag**2 + mad_module._EPS).sqrt(), higher=False)
    torch.testing.assert_close(got[0], want[0], rtol=1e-12, atol=0)
    torch.testing.assert_close((got[1] + mad_module._EPS).sqrt(), want[1], rtol=1e-10, atol=0)


def test_merged_block_stats_are_stable_in_float32():
    # A bright ramp with faint texture: std/mean ~ 1e-4, where float32 raw power sums cancel catastrophically.
    g = torch.Generator().manual_seed(0)
    x = 300 + 5 * torch.linspace(0, 1, 44).expand(1, 1, 40, 44) + 0.1 * torch.rand(1, 1, 40, 44, generator=g)
    _, var, c3, c4 = _two_pass_block_moments(x.double())  # exact statistics of the float32 data
    _, m2, m3, m4 = (t.double() for t in mad_module._block_moments_merged(mad_module._group_stats(x, True)))
    assert ((m2 - var) / var).abs().max() < 1e-3
    assert (m3 / m2**1.5 - c3 / var**1.5).abs().max() < 1e-3
    assert ((m4 / m2**2) / (c4 / var**2) - 1).abs().max() < 1e-3
    _, raw_std, _, _ = mad_module._port_moments(x, higher=True)  # the raw-sum definition, run in float32
    assert ((raw_std.double() ** 2 - var) / var).abs().max() > 1e-2


def test_modified_std_follows_the_mex(rng):
    h, w = 36, 40  # block starts 0, 4, ..., 20 (rows) and 0, ..., 24 (cols)
    ref = rng.random((h, w))
    _, ssd8 = mad_module._block_moments(torch.from_numpy(ref)[None, None], 8)
    ours = mad_module._modified_std((ssd8 / 63).sqrt(), h, w)[0, 0].numpy()
    # Direct transcription of the MEX's loops (0-based): TMP tiles of 8×8 sample stds, then the {+0, +5} probe.
    tmp = np.zeros((h, w))
    for i in range(0, h - 15, 4):
        for j in range(0, w - 15, 4):
            tmp[i : i + 4, j : j + 4] = ref[i : i + 8, j : j + 8].std(ddof=1)
    for a, i in enumerate(range(0, h - 15, 4)):
        for b, j in enumerate(range(0, w - 15, 4)):
            best = tmp[i, j]
            for ib in range(i, i + 8, 5):
                for jb in range(j, j + 8, 5):
                    if ib < h - 15 and jb < w - 15:
                        best = min(best, tmp[ib, jb])
            assert ours[a, b] == pytest.approx(best, rel=1e-9)


def test_csf_by_definition():
    h, w = 6, 8
    csf = mad_module.make_csf(h, w).numpy()
    for r, c in [(0, 0), (2, 5), (5, 7)]:
        x, y = (r - h / 2 + 0.5) * 64 / w, (c - w / 2 + 0.5) * 64 / w
        f = math.hypot(x, y) / (0.15 * math.cos(4 * math.atan2(y, x)) + 0.85)
        want = 0.9809 if f < 7.8909 else 2.6 * (0.0192 + 0.114 * f) * math.exp(-((0.114 * f) ** 1.1))
        assert csf[r, c] == pytest.approx(want)


def test_combination_constants():
    assert mad_module.BETA1 == pytest.approx(0.467, abs=5e-4)
    assert mad_module.BETA2 == pytest.approx(0.130, abs=5e-4)
