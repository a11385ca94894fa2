"""Calibration beyond the five TID2013 pairs (issue 17): every classical metric passes its cases (odd sizes, tiny
images, greyscale, low contrast), the case checks can fail, and psnr / ssim on odd sizes equal independent NumPy
computations written here from their definitions (gmsd: tests/metrics/test_gmsd.py; piqe: test_piqe.py)."""

from __future__ import annotations

import numpy as np
import pytest
import torch

import metrics
from metrics import calibration_cases as cases

CLASSICAL = [n for n in metrics.available() if cases.is_classical(n)]
_GRAY = (0.298936021293775, 0.587043074451121, 0.114020904255103)


@pytest.mark.parametrize("name", CLASSICAL)
def test_every_classical_metric_passes_its_cases(name):
    results = cases.run_metric_cases(name)
    assert {c.case for c in results} == {"odd size", "tiny", "greyscale", "low contrast"}
    failed = [f"{c.case} {c.size}: {c.detail}" for c in results if not c.passed]
    assert not failed, failed


def test_conventions_are_documented_for_every_classical_metric():
    assert set(cases.CONVENTIONS) == set(CLASSICAL)
    lines = cases.render_cases({"gmsd": cases.run_metric_cases("gmsd")})
    text = "\n".join(lines)
    assert "| gmsd | odd size | 67×93 | pass |" in text
    assert "## Conventions at borders and for padding" in text and "Prewitt" in text


def test_the_luma_check_fails_for_a_metric_that_sees_colour(monkeypatch):
    # psnr works on RGB: claiming it sees only the rgb2gray luma must be caught on the coloured test images.
    monkeypatch.setattr(cases, "GRAY_LUMA", cases.GRAY_LUMA | {"psnr"})
    greyscale = [c for c in cases.run_metric_cases("psnr") if c.case == "greyscale"][0]
    assert not greyscale.passed and "on its luma as greyscale RGB" in greyscale.detail


class _Wrong(torch.nn.Module):
    """A metric stand-in: ``gmsd`` plus ``offset``, or each image scored with the batch's first score."""

    def __init__(self, offset: float = 0.0, batch_leak: bool = False) -> None:
        super().__init__()
        self.inner, self.offset, self.batch_leak = metrics.create("gmsd"), offset, batch_leak
        self.min_size = self.inner.min_size

    def forward(self, dist, ref=None):
        out = self.inner(dist, ref) + self.offset
        return out[:1].expand_as(out) if self.batch_leak else out


def test_the_generic_checks_fail_when_an_invariant_is_broken():
    ref = cases.textured(2, 33, 35, 0)
    dist = cases.distorted(ref, 1)
    assert cases._generic("gmsd", _Wrong(), dist, ref) == []
    assert any("identical images" in p for p in cases._generic("gmsd", _Wrong(offset=1e-3), dist, ref))
    assert any("outside" in p for p in cases._generic("gmsd", _Wrong(offset=2.0), dist, ref))
    assert any("alone" in p for p in cases._generic("gmsd", _Wrong(batch_leak=True), dist, ref))


def test_made_up_images_are_8_bit_and_low_contrast_is_a_few_levels():
    x = cases.textured(1, 21, 23, 5)
    assert torch.equal(x * 255, torch.round(x * 255))
    lc = cases.low_contrast(x) * 255
    assert lc.max() - lc.min() <= 9 and lc.max() - lc.min() >= 2
    assert torch.equal(cases.gray_as_rgb(cases.gray_as_rgb(x)), cases.gray_as_rgb(x))


# --- independent references on odd sizes -----------------------------------------------------------------------------

def _levels(x: torch.Tensor) -> np.ndarray:
    """MATLAB rgb2gray of the uint8 image (N×H×W float64 levels), from the definition."""
    u8 = np.floor(x.double().numpy() * 255 + 0.5)
    return np.floor(_GRAY[0] * u8[:, 0] + _GRAY[1] * u8[:, 1] + _GRAY[2] * u8[:, 2] + 0.5)


def _ssim_numpy(a: np.ndarray, b: np.ndarray) -> float:
    """ssim_index.m: 11×11 Gaussian (sigma 1.5), K = (0.01, 0.03), L = 255, 'valid' filtering, mean of the map."""
    t = np.arange(11) - 5.0
    g = np.exp(-(t**2) / (2 * 1.5**2))
    win = np.outer(g, g) / np.outer(g, g).sum()
    h, w = a.shape[0] - 10, a.shape[1] - 10

    def filt(img):
        return sum(win[i, j] * img[i : i + h, j : j + w] for i in range(11) for j in range(11))

    c1, c2 = (0.01 * 255) ** 2, (0.03 * 255) ** 2
    mu1, mu2 = filt(a), filt(b)
    s11, s22, s12 = filt(a * a) - mu1**2, filt(b * b) - mu2**2, filt(a * b) - mu1 * mu2
    m = ((2 * mu1 * mu2 + c1) * (2 * s12 + c2)) / ((mu1**2 + mu2**2 + c1) * (s11 + s22 + c2))
    return float(m.mean())


@pytest.mark.parametrize("shape", [(67, 93), (11, 13), (45, 17)])
def test_ssim_on_odd_sizes_matches_the_definition(shape):
    ref = cases.textured(2, *shape, seed=3)
    dist = cases.distorted(ref, 4)
    got = metrics.create("ssim")(dist, ref).tolist()
    a, b = _levels(dist), _levels(ref)
    for i in range(2):
        assert got[i] == pytest.approx(_ssim_numpy(a[i], b[i]), rel=2e-5, abs=1e-6)


@pytest.mark.parametrize("shape", [(67, 93), (1, 1), (3, 5), (301, 401)])  # 301×401×3 spans several chunks
@pytest.mark.parametrize("channels_last", [False, True])
def test_psnr_on_odd_sizes_matches_the_definition(shape, channels_last):
    ref = cases.textured(2, *shape, seed=7)
    dist = cases.distorted(ref, 8)
    if channels_last:
        ref, dist = ref.to(memory_format=torch.channels_last), dist.to(memory_format=torch.channels_last)
    got = metrics.create("psnr")(dist, ref).tolist()
    mse = ((dist.double().numpy() - ref.double().numpy()) ** 2).reshape(2, -1).mean(axis=1)
    want = [float("inf") if m == 0 else 10 * np.log10(1.0 / m) for m in mse]
    assert got == pytest.approx(want, rel=1e-6)


def test_psnr_mixed_memory_layouts_match_the_definition():
    ref = cases.textured(1, 31, 29, seed=9)
    dist = cases.distorted(ref, 10).to(memory_format=torch.channels_last)
    mse = ((dist.double() - ref.double()) ** 2).mean().item()
    assert metrics.create("psnr")(dist, ref).item() == pytest.approx(10 * np.log10(1 / mse), rel=1e-6)
