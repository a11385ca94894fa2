"""Calibration evidence beyond the five TID2013 pairs: every classical metric on odd sizes, tiny images,
greyscale inputs and very low contrast, checked against what its definition implies (no official values exist
for these images).

The images are made up (seeded, quantised to 8-bit levels as decoded images are). Each case checks invariants
that follow from the definitions and can fail:

- the score is finite and inside the spec's range; scoring a batch gives each image's own score (no
  cross-talk between batch items, also when they differ);
- full-reference: identical images give the spec's ideal score, and a distorted image scores no better;
- ``odd``: sizes that are odd (so not multiples of 2, 8 or 16), at least the metric's minimum size;
- ``tiny``: the metric's minimum size is accepted, one pixel less is refused with ``MetricInputError``;
- ``greyscale``: for the metrics that see only a luma (MATLAB ``rgb2gray`` of the uint8 image, or BT.601 Y),
  an image equals its luma written as a greyscale RGB image (R = G = B); ``psnr`` of greyscale images equals
  the one-channel definition; ``ssimc`` equals ``ssim`` and FSIMc equals FSIM without its chroma term
  (I = Q = 0);
- ``low contrast``: images of a few grey levels around mid-grey (flat neighbourhoods, near-zero variances).

:data:`CONVENTIONS` states, per metric, the luma it works on and its border and padding conventions; the
calibration job (``iqabench calibrate``) runs :func:`run_cases` and writes both into ``docs/calibration.md``.
Independent reference computations on odd sizes (psnr, ssim, gmsd, piqe) live in the tests.
"""

from __future__ import annotations

import math
import time
from dataclasses import dataclass
from typing import Callable, Iterable

import torch
import torch.nn.functional as F

import metrics
from metrics.base import MetricInputError
from metrics.functional.color import rgb2gray_uint8, rgb2y

#: Per classical metric: (input it works on, border and padding conventions, minimum size rule).
CONVENTIONS: dict[str, tuple[str, str, str]] = {
    "psnr": ("RGB", "none (pixelwise mean squared error)", "1"),
    "psnry": ("NTSC (YIQ) Y, unrounded (pyiqa's psnry)", "none (pixelwise)", "1"),
    "ssim": ("rgb2gray luma (uint8)", "11×11 Gaussian over the 'valid' part: no padding, the map is (H-10)×(W-10)",
             "11 (window)"),
    "ssimc": ("R, G, B separately", "as ssim ('valid', no padding)", "11 (window)"),
    "ms_ssim": ("rgb2gray luma (uint8)", "'valid' 11×11 SSIM windows at every scale; 2×2 average down-sampling "
                "with 'symmetric' borders (an odd edge repeats its last row/column)", "176 (11·2⁴)"),
    "cw_ssim": ("rgb2gray luma (uint8)", "steerable pyramid in the frequency domain (periodic borders); 7×7 box "
                "windows over the 'valid' part of the coarsest bands", "64 (2^(levels+2))"),
    "fsim": ("YIQ (Y, I, Q)", "F×F average down-sampling, conv2 'same' with zero padding, every F-th pixel; phase "
             "congruency by FFT (periodic borders); Scharr gradients conv2 'same' (zero padding)", "8"),
    "vif": ("rgb2gray luma (uint8)", "steerable pyramid (sp5Filters) with 'reflect1' borders (mirror without the "
            "edge pixel); sub-bands cropped to multiples of 3, border blocks dropped", "32"),
    "gmsd": ("rgb2gray luma (uint8)", "2×2 average conv2 'same' (zero past the last row/column), every 2nd pixel; "
             "Prewitt conv2 'same' (zero padding)", "3"),
    "nlpd": ("rgb2gray luma (uint8) / 255", "Laplacian pyramid: low-pass with 'symmetric' borders; expansion after "
             "a 1-pixel replicated border, zero borders; divisive normalisation conv2 'same' (zero padding)",
             "17 (2^(levels-2)+1)"),
    "vsi": ("RGB → Lab (saliency), LMN", "SDSP band-pass by FFT at full size (periodic borders); down-sampling and "
            "Scharr gradients as FSIM (zero padding)", "8"),
    "mad": ("R, G, B ×255 separately (pyiqa port)", "CSF and log-Gabor filtering by FFT (periodic borders); "
            "16×16 blocks at stride 4 over the 'valid' part; local MSE 'valid' 16×16, stride 4", "34 (2·16+2)"),
    "niqe": ("rgb2gray luma (uint8)", "cropped to whole 96×96 patches (the remainder is dropped); MSCN 7×7 Gaussian "
             "with 'replicate' borders; second scale imresize 0.5 (bicubic, antialiased); circular shifts "
             "within a patch", "96 (patch)"),
    "brisque": ("rgb2gray luma (uint8)", "MSCN filter2 of the 7×7 Gaussian with zero borders; circshift "
                "neighbours (circular); second scale imresize 0.5 (bicubic, antialiased)", "16"),
    "niqe_matlab": ("rgb2gray luma (uint8)", "as niqe (MATLAB's pristine model)", "96 (patch)"),
    "brisque_matlab": ("rgb2gray luma (uint8)", "MSCN 7×7 Gaussian with 'replicate' borders (imfilter); circshift "
                       "neighbours (circular); second scale imresize 0.5 (bicubic, antialiased)", "16"),
    "nrqm": ("rgb2gray luma (uint8)", "Gaussian pyramid 3×3 with zero borders; 7×7 DCT blocks at stride 3, zero padding "
             "split around the image; steerable pyramid by FFT (periodic borders); 3×3 neighbourhoods and SSIM "
             "windows over the 'valid' part, guard bands of 16/8 pixels dropped; distinct 5×5 blocks zero-padded "
             "right and bottom", "84 (25 blocks at the coarsest level)"),
    "ilniqe": ("RGB (uint8) resized to 524×524 (imresize bicubic, antialiased, rounded), opponent colours O1-O3 "
               "and log-RGB", "cropped to whole 84×84 patches (504×504); MSCN 5×5 Gaussian with 'replicate' borders; "
               "Gaussian derivatives conv2 'same' (zero padding); log-Gabor filtering by FFT (periodic borders); "
               "second scale: 6×6 Gaussian 'replicate', every 2nd pixel", "2 (resized to 524×524 first)"),
    "pi": ("rgb2ycbcr luma (uint8)", "4 pixels shaved off every side, then as niqe and nrqm", "104 (96 + 2·4)"),
    "piqe": ("rgb2gray luma (uint8)", "padded 'replicate' after the image to whole 16×16 blocks (the padded blocks "
             "are scored); MSCN 7×7 Gaussian with 'replicate' borders", "1"),
    "entropy": ("rgb2gray luma (uint8)", "none (histogram of all pixels)", "1"),
}

#: Metrics that see only MATLAB's ``rgb2gray`` luma of the uint8 image: an image and its luma as a greyscale RGB
#: image must score the same.
GRAY_LUMA = frozenset({"ssim", "ms_ssim", "cw_ssim", "vif", "gmsd", "nlpd", "niqe", "brisque", "piqe", "entropy",
                       "niqe_matlab", "brisque_matlab", "nrqm"})
#: Metrics whose statistics need at least two patches of their minimum size (a covariance over patches).
TWO_PATCHES = frozenset({"niqe", "niqe_matlab", "pi"})
#: Metrics that see only the BT.601 luma, rounded to uint8.
Y_LUMA = frozenset({"pi"})

#: Agreement between two computations of our own code (float32 scores).
RTOL, ATOL = 1e-5, 1e-6
#: Identical images against the ideal score.
IDEAL_ATOL = 1e-5


@dataclass
class CaseResult:
    metric: str
    case: str
    size: str
    passed: bool
    detail: str


def is_classical(name: str) -> bool:
    return metrics.get_spec(name).factory.__module__.startswith(("metrics.fr.", "metrics.nr."))


def parameters_present(name: str) -> bool:
    """Whether the metric's published parameter files are here (always, for those shipped in ``metrics/data``)."""
    from metrics.deep.weights import real_weights_present, weight_files

    return not weight_files(name) or real_weights_present(name)[0]


# --- made-up images ----------------------------------------------------------------------------------------------

def quantise(x: torch.Tensor) -> torch.Tensor:
    """To 8-bit levels (as a decoded image), float32 in [0, 1]."""
    return torch.round(x.clamp(0, 1) * 255.0) / 255.0


def textured(n: int, h: int, w: int, seed: int) -> torch.Tensor:
    """N×3×H×W: a smooth random colour field (bicubic from a coarse grid) with fine noise, 8-bit levels."""
    g = torch.Generator().manual_seed(seed)
    coarse = torch.rand(n, 3, max(2, h // 8 + 2), max(2, w // 8 + 2), generator=g, dtype=torch.float64)
    smooth = F.interpolate(coarse, size=(h, w), mode="bicubic", align_corners=False)
    return quantise(smooth + 0.04 * torch.randn(n, 3, h, w, generator=g, dtype=torch.float64)).float()


def distorted(x: torch.Tensor, seed: int, sigma: float = 0.05) -> torch.Tensor:
    g = torch.Generator().manual_seed(seed)
    blurred = F.avg_pool2d(F.pad(x.double(), (1, 1, 1, 1), mode="replicate"), 3, stride=1)
    return quantise(blurred + sigma * torch.randn(x.shape, generator=g, dtype=torch.float64)).float()


def low_contrast(x: torch.Tensor, levels: float = 4.0) -> torch.Tensor:
    """The image squeezed to about ±``levels`` grey levels around mid-grey (8-bit levels)."""
    return quantise(0.5 + (x.double() - 0.5) * (2 * levels / 255.0)).float()


def gray_as_rgb(x: torch.Tensor) -> torch.Tensor:
    """MATLAB ``rgb2gray`` of the uint8 image, written as a greyscale RGB image (its rgb2gray is itself)."""
    return (rgb2gray_uint8(x) / 255.0).float().expand(-1, 3, -1, -1).contiguous()


def y_as_rgb(x: torch.Tensor) -> torch.Tensor:
    """A greyscale RGB image whose BT.601 Y (rounded) is that of ``x``: R = G = B = (Y - 16) / 219."""
    y255 = rgb2y(x.double(), round_uint8=True) * 255.0
    return ((y255 - 16.0) / 219.0).float().expand(-1, 3, -1, -1).contiguous()


def odd(n: int) -> int:
    return n if n % 2 else n + 1


# --- checks ------------------------------------------------------------------------------------------------------

def _close(a: float, b: float, rtol: float = RTOL, atol: float = ATOL) -> bool:
    if math.isinf(a) or math.isinf(b):
        return a == b
    return abs(a - b) <= atol + rtol * abs(b)


def _score(model, dist: torch.Tensor, ref: torch.Tensor | None) -> list[float]:
    with torch.inference_mode():
        out = model(dist, ref) if ref is not None else model(dist)
    return [float(v) for v in out.tolist()]


def _generic(name: str, model, dist: torch.Tensor, ref: torch.Tensor | None) -> list[str]:
    """Problems with the generic invariants (empty when all hold) on a batch of two different images."""
    spec = metrics.get_spec(name)
    fr = spec.mode == "FR"
    problems = []
    batch = _score(model, dist, ref if fr else None)
    lo, hi = spec.score_range
    for i, v in enumerate(batch):
        if not math.isfinite(v) and not (fr and v == spec.ideal_score):
            problems.append(f"image {i}: not finite ({v})")
        elif not lo - ATOL <= v <= hi + ATOL:
            problems.append(f"image {i}: {v:.6g} outside [{lo}, {hi}]")
    for i in range(dist.shape[0]):
        alone = _score(model, dist[i : i + 1], ref[i : i + 1] if fr else None)[0]
        if not (_close(alone, batch[i]) or (math.isnan(alone) and math.isnan(batch[i]))):
            problems.append(f"image {i}: {batch[i]:.8g} in a batch, {alone:.8g} alone")
    if fr and spec.ideal_score is not None:
        same = _score(model, ref, ref)
        for i, v in enumerate(same):
            if not _close(v, spec.ideal_score, 0.0, IDEAL_ATOL):
                problems.append(f"identical images {i}: {v:.8g}, ideal {spec.ideal_score}")
            better = batch[i] > v if not spec.lower_better else batch[i] < v
            if better and not _close(batch[i], v, 0.0, IDEAL_ATOL):
                problems.append(f"image {i}: distorted {batch[i]:.8g} better than identical {v:.8g}")
    return problems


def _greyscale(name: str, model, dist: torch.Tensor, ref: torch.Tensor | None) -> tuple[list[str], str]:
    """Problems with the metric's greyscale invariant, and what was checked."""
    fr = metrics.get_spec(name).mode == "FR"
    problems: list[str] = []

    def compare(what: str, ours: list[float], expected: list[float]) -> None:
        for i, (a, b) in enumerate(zip(ours, expected)):
            if not _close(a, b):
                problems.append(f"image {i}: {a:.8g}, {what} {b:.8g}")

    if name in GRAY_LUMA or name in Y_LUMA:
        luma = gray_as_rgb if name in GRAY_LUMA else y_as_rgb
        colour = _score(model, dist, ref if fr else None)
        grey = _score(model, luma(dist), luma(ref) if fr else None)
        compare("on its luma as greyscale RGB", colour, grey)
        return problems, "image = its luma as greyscale RGB"
    g_dist = gray_as_rgb(dist)
    g_ref = gray_as_rgb(ref) if fr else None
    ours = _score(model, g_dist, g_ref)
    if name == "psnr":
        mse = (g_dist[:, 0].double() - g_ref[:, 0].double()).square().flatten(1).mean(dim=1)
        compare("one-channel definition", ours, (10 * torch.log10(1.0 / mse)).tolist())
        return problems, "= 10·log10(1/MSE) of one grey channel"
    if name == "ssimc":
        compare("ssim", ours, _score(metrics.create("ssim"), g_dist, g_ref))
        return problems, "= ssim (R = G = B)"
    if name == "fsim":
        compare("FSIM without chroma", ours, _score(metrics.create("fsim", chromatic=False), g_dist, g_ref))
        return problems, "FSIMc = FSIM (I = Q = 0)"
    return _generic(name, model, g_dist, g_ref), "generic invariants on greyscale RGB (colour metric)"


def run_metric_cases(name: str) -> list[CaseResult]:
    spec = metrics.get_spec(name)
    model = metrics.create(name)
    fr = spec.mode == "FR"
    m = int(getattr(model, "min_size", 1))
    results = []

    def record(case: str, size: tuple[int, int], check: Callable[[], tuple[list[str], str]]) -> None:
        try:
            problems, what = check()
        except Exception as exc:  # a crash is a failed case, reported in the table
            problems, what = [f"{type(exc).__name__}: {exc}"], ""
        detail = "; ".join(problems[:3]) if problems else what
        results.append(CaseResult(name, case, f"{size[0]}×{size[1]}", not problems, detail))

    def images(h: int, w: int, seed: int) -> tuple[torch.Tensor, torch.Tensor | None]:
        ref = textured(2, h, w, seed)
        return (distorted(ref, seed + 1), ref) if fr else (ref, None)

    # odd sizes: odd (not multiples of 2, 8, 16), at least the minimum size; NIQE needs two patches
    h, w = odd(max(67, m + 1)), odd(max(93, 2 * m + 1 if name in TWO_PATCHES else m + 3))
    d, r = images(h, w, 11)
    record("odd size", (h, w), lambda: (_generic(name, model, d, r), "generic invariants"))

    # tiny: the minimum size is accepted, one pixel less is refused
    th, tw = m, (2 * m if name in TWO_PATCHES else m) + 1
    td, tr = images(th, tw, 21)

    def tiny() -> tuple[list[str], str]:
        problems = _generic(name, model, td, tr)
        if m > 1:
            try:
                _score(model, td[..., : m - 1, :], tr[..., : m - 1, :] if fr else None)
                problems.append(f"{m - 1} rows accepted below the minimum size {m}")
            except MetricInputError:
                pass
        return problems, f"generic invariants; {m - 1} rows refused" if m > 1 else "generic invariants"

    record("tiny", (th, tw), tiny)

    # greyscale, on the odd-size images
    record("greyscale", (h, w), lambda: _greyscale(name, model, d, r))

    # very low contrast: a few grey levels around mid-grey, distorted by one-level noise
    lc_ref = low_contrast(textured(2, h, w, 31))
    lc_dist = quantise(lc_ref.double() + torch.randn(lc_ref.shape, generator=torch.Generator().manual_seed(32),
                                                     dtype=torch.float64) / 255.0).float()
    lc = (lc_dist, lc_ref) if fr else (lc_ref, None)
    record("low contrast", (h, w), lambda: (_generic(name, model, *lc), "generic invariants, ±4 grey levels"))
    return results


def run_cases(names: Iterable[str] | None = None, echo: Callable[[str], None] = print) -> dict[str, list[CaseResult]]:
    """The cases of every classical metric among ``names`` (default: all registered) whose parameter files are
    here."""
    names = [n for n in (names or metrics.available()) if is_classical(n) and parameters_present(n)]
    out = {}
    for name in names:
        start = time.perf_counter()
        out[name] = run_metric_cases(name)
        failed = [c.case for c in out[name] if not c.passed]
        echo(f"  cases {name}: {'pass' if not failed else 'FAIL ' + ', '.join(failed)} "
             f"({time.perf_counter() - start:.1f} s)")
    return out


def render_cases(cases: dict[str, list[CaseResult]]) -> list[str]:
    """Markdown lines of the cases and conventions sections (empty when no classical metric was run)."""
    if not cases:
        return []
    lines = [
        "## Beyond the five pairs: odd sizes, tiny images, greyscale, low contrast",
        "",
        "Generated by `metrics/calibration_cases.py` on made-up, seeded 8-bit images (no official values exist "
        "for them): each case checks what the metric's definition implies — finite and in range, batch = one by "
        "one, identical images give the ideal score and a distorted image scores no better (full-reference), the "
        "minimum size accepted and one pixel less refused, and on greyscale images the metric's luma invariant. "
        f"Agreement between two computations: rtol {RTOL:g}, atol {ATOL:g}; ideal score: atol {IDEAL_ATOL:g}. "
        "Odd-size results equal independent reference computations for psnr, ssim, gmsd and piqe "
        "(`tests/metrics/test_calibration_cases.py`, `tests/metrics/test_gmsd.py`, `tests/metrics/test_piqe.py`).",
        "",
        "| metric | case | size | result | checked |",
        "| --- | --- | --- | --- | --- |",
    ]
    for name, results in cases.items():
        for c in results:
            lines.append(f"| {name} | {c.case} | {c.size} | {'pass' if c.passed else 'FAIL'} | {c.detail} |")
    lines += ["", "## Conventions at borders and for padding", "",
              "| metric | works on | borders and padding | minimum size |", "| --- | --- | --- | --- |"]
    for name in cases:
        luma, borders, minimum = CONVENTIONS.get(name, ("–", "not documented", "–"))
        lines.append(f"| {name} | {luma} | {borders} | {minimum} |")
    return lines + [""]
