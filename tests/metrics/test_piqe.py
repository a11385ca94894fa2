"""PIQE: block rules checked on constructed images, monotonicity, odd sizes, batch errors."""

from __future__ import annotations

import numpy as np
import pytest
import torch

import metrics
from metrics.calibration import CALIBRATION_IMAGES


def _score(x: torch.Tensor) -> list[float]:
    return metrics.create("piqe")(x).tolist()


def test_flat_image_has_no_active_block_and_scores_100():
    # no block is active → (0 + 1) / (0 + 1) · 100
    assert _score(torch.full((1, 3, 32, 48), 0.4)) == [pytest.approx(100.0)]


def test_odd_sizes_pad_by_replication(tid_pairs):
    dist, _ = tid_pairs
    odd = dist[:2, :, :101, :77]
    got = _score(odd)
    assert all(0.0 <= s <= 100.0 for s in got)
    assert got[0] == pytest.approx(_score(odd[:1])[0], abs=1e-4)


def test_tiny_image_works():
    assert 0.0 <= _score(torch.rand(1, 3, 5, 7))[0] <= 100.0


# --- Issue 17: the official MATLAB ``piqe`` (replicate MSCN borders, its centre-surround columns) -------------------

#: MATLAB rgb2gray weights (first row of the inverse NTSC matrix).
_GRAY = (0.298936021293775, 0.587043074451121, 0.114020904255103)


def _piqe_numpy(rgb_levels: np.ndarray, border: str = "edge", surround: str = "official") -> float:
    """PIQE of one H×W×3 uint8-level image, block by block, written from the definition (float64 NumPy).

    ``border``: np.pad mode of the 7×7 Gaussian filter ('edge' is MATLAB's 'replicate'). ``surround``:
    'official' deletes column 8, then column 9 of the shrunk block (1-based), as the official centerSurDev;
    'other14' is every column but the centre's two (used only to show that the test can tell them apart).
    """
    h, w, _ = rgb_levels.shape
    x = np.pad(rgb_levels.astype(np.float64), ((0, -h % 16), (0, -w % 16), (0, 0)), mode="edge")
    weighted = x[..., 0] * _GRAY[0] + x[..., 1] * _GRAY[1] + x[..., 2] * _GRAY[2]
    gray = np.floor(weighted + 0.5)  # rgb2gray of uint8 (non-negative: half away from zero), then round(255*im2double)
    t = np.arange(7) - 3.0
    g = np.exp(-(t**2) / (2 * (7 / 6) ** 2))
    window = np.outer(g, g) / np.outer(g, g).sum()

    def gauss(img: np.ndarray) -> np.ndarray:
        p = np.pad(img, 3, mode=border)
        out = np.zeros_like(img)
        for i in range(7):
            for j in range(7):
                out += window[i, j] * p[i : i + img.shape[0], j : j + img.shape[1]]
        return out

    mu = gauss(gray)
    sigma = np.sqrt(np.abs(gauss(gray * gray) - mu * mu))
    norm = (gray - mu) / (sigma + 1)
    total, active = 0.0, 0
    for r in range(0, norm.shape[0], 16):
        for c in range(0, norm.shape[1], 16):
            block = norm[r : r + 16, c : c + 16]
            v = np.var(block, ddof=1)
            if not v > 0.1:
                continue
            active += 1
            edges = [block[0, :], block[:, 15], block[15, :], block[:, 0]]
            impaired = any(np.std(e[k : k + 6], ddof=1) < 0.1 for e in edges for k in range(11))
            centre = np.concatenate([block[:, 7], block[:, 8]])
            if surround == "official":
                rest = np.delete(np.delete(block, 7, axis=1), 8, axis=1)
            else:
                rest = np.delete(block, [7, 8], axis=1)
            with np.errstate(divide="ignore", invalid="ignore"):
                ratio = np.std(centre, ddof=1) / np.std(rest, ddof=1)
            ratio = 0.0 if np.isnan(ratio) else ratio
            s = np.sqrt(v)
            with np.errstate(invalid="ignore"):
                beta = abs(s - ratio) / max(s, ratio)
            total += impaired * (1 - v) + (s > 2 * beta) * v
    return 100 * (total + 1) / (active + 1)


def _made_up(shape: tuple[int, int], seed: int, contrast: float, noise: float) -> np.ndarray:
    """H×W×3 uint8 levels: a low-contrast ramp and blob around mid-grey plus seeded Gaussian noise."""
    rng = np.random.default_rng(seed)
    h, w = shape
    yy, xx = np.mgrid[0:h, 0:w]
    base = 128 + contrast * (np.sin(xx / 5.0) + (yy / h - 0.5) + np.exp(-((xx - w / 3) ** 2 + (yy - h / 2) ** 2) / 60))
    rgb = base[..., None] + np.array([3.0, 0.0, -3.0]) + noise * rng.standard_normal((h, w, 3))
    return np.clip(np.round(rgb), 0, 255)


#: (height, width) not multiples of 16 (nor of 2 where possible), the made-up image's contrast and noise.
_CASES = [((37, 53), 1, 4.0, 2.0), ((50, 71), 2, 2.0, 1.0), ((23, 90), 3, 8.0, 6.0), ((61, 45), 4, 1.0, 0.7),
          ((33, 47), 5, 0.0, 3.0)]


@pytest.mark.parametrize("shape, seed, contrast, noise", _CASES)
def test_odd_size_low_contrast_matches_the_definition(shape, seed, contrast, noise):
    levels = _made_up(shape, seed, contrast, noise)
    x = torch.from_numpy(levels / 255.0).permute(2, 0, 1)[None].float()
    assert _score(x)[0] == pytest.approx(_piqe_numpy(levels), rel=1e-5, abs=1e-4)


def test_definition_cases_tell_replicate_borders_and_the_surround_apart():
    """The cases above pin both official facts: symmetric borders move PIQE on every case, the plain 14-column
    surround on at least one, by at least ten times the comparison's tolerance (rel 1e-5)."""
    border_moves, surround_moves = [], []
    for shape, seed, contrast, noise in _CASES:
        levels = _made_up(shape, seed, contrast, noise)
        official = _piqe_numpy(levels)
        border_moves.append(abs(_piqe_numpy(levels, border="symmetric") - official) / official)
        surround_moves.append(abs(_piqe_numpy(levels, surround="other14") - official) / official)
    assert min(border_moves) > 1e-4, border_moves
    assert max(surround_moves) > 1e-2, surround_moves


def test_tid2013_at_the_official_rows_printed_precision(tid_pairs, official_scores):
    dist, _ = tid_pairs
    got = _score(dist)
    official = official_scores.loc["piqe", list(CALIBRATION_IMAGES)].to_numpy(dtype=float)
    for image, ours, want in zip(CALIBRATION_IMAGES, got, official):
        # The row is printed to 2 decimals: ours must round to it (|diff| <= half a unit of the last digit).
        assert abs(ours - want) <= 0.005 + 1e-6, (image, ours, want)
        assert abs(ours - want) <= 2.5e-3 * abs(want), (image, ours, want)
    assert round(got[1], 2) == 21.62  # I04, 21.45 with symmetric borders and the plain surround
