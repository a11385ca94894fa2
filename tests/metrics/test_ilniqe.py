"""IL-NIQE equals pyiqa 0.1.16's ``ilniqe`` on a template of the published layout made here (nothing downloaded),
and its Weibull fit solves the likelihood equations.

pyiqa's port differs from the authors' ``computequality.m`` where these comparisons do not reach:

- it does not round the 524×524 resize of the image (MATLAB's ``imresize`` of a uint8 image returns uint8):
  the resize is compared on its own (:func:`test_normalise_is_matlab_imresize_of_the_uint8_image`), the
  features and the score on small images given at their own size (``resize=False`` on both sides; pyiqa at
  524×524 takes over a minute here). One 524×524 image (where ``imresize`` is the identity) was compared end
  to end by hand: 81.1220 both;
- it transposes its log-Gabor filters "to match MATLAB", which is right only for square images: square images;
- it sets features above 10000 to 10000 (MATLAB: infinite ones) and does not set NaN means / covariances to
  2000: neither happens on textured images;
- its gradient magnitudes are ``sqrt(Ix² + Iy² + 1e-8)`` (MATLAB: ``sqrt(Ix² + Iy²) + eps``) and its Weibull
  fit stops when the largest Newton step of the batch is below 1e-2 (ours converges, as ``wblfit``); it also
  rounds its Gaussian windows and log-Gabor grid to float32: observed 1.8e-6 relative on the scores.

Runtime: about 20 s CPU for the whole file (68 s wall at a load average of ~20 on the shared 2-core machine);
pyiqa's float64 11×11 convolutions dominate.
"""

from __future__ import annotations

import numpy as np
import pytest
import torch

import metrics
from metrics.calibration_cases import textured
from metrics.functional.color import round_half_away
from metrics.functional.imresize import imresize
from metrics.functional.weibull import fit_weibull
from tests._helpers.equivalence import max_relative_difference
from tests._helpers.random_weights_classical import ilniqe_template

MODEL_FILE = "ILNIQE_templateModel.mat"
#: float64 scores; observed 1.8e-6: pyiqa rounds its Gaussian windows (MSCN 5×5, down-sampling 6×6) and its
#: log-Gabor frequency grid to float32, offsets its gradient magnitudes and stops its Weibull fits early.
RTOL = 1e-5
#: pyiqa's imresize weights carry float32 rounding (5e-7 relative): up to 4e-4 grey levels on 0..255.
RESIZE_ATOL = 1e-3


def levels_of(x: torch.Tensor) -> torch.Tensor:
    return torch.round(x.double() * 255.0)


def pyiqa_quality(levels: torch.Tensor) -> torch.Tensor:
    """pyiqa 0.1.16's ``ilniqe`` of RGB levels 0..255 without its resize, with the template its metric loaded."""
    pyiqa = pytest.importorskip("pyiqa")
    from pyiqa.archs.niqe_arch import ilniqe

    net = pyiqa.create_metric("ilniqe", device="cpu").net
    n = levels.shape[0]
    return ilniqe(levels, net.mu_pris_param.double().repeat(n, 1), net.cov_pris_param.double().repeat(n, 1, 1),
                  net.principleVectors.double().repeat(n, 1, 1), net.meanOfSampleData.double().repeat(n, 1),
                  resize=False)


def test_ilniqe_equals_pyiqa_without_the_resize(put_param_file):
    levels = levels_of(textured(2, 168, 168, 41))  # 2×2 patches of 84 (of 42 at the second scale)
    put_param_file(MODEL_FILE, ilniqe_template(1))  # a first template, to compute the features
    features = metrics.create("ilniqe").features(levels, resize=False).flatten(0, 1).numpy()
    put_param_file(MODEL_FILE, ilniqe_template(2, sample_mean=features.mean(axis=0), feature_std=features.std(axis=0)))
    with torch.inference_mode():
        ours = metrics.create("ilniqe").quality(levels, resize=False)
        theirs = pyiqa_quality(levels)
    assert torch.isfinite(ours).all() and ours.std() > 0, f"degenerate scores {ours.tolist()}"
    diff = max_relative_difference(ours, theirs)
    print(f"\nilniqe: max relative difference vs pyiqa 0.1.16 = {diff:.2e} (tolerance {RTOL:g})")
    assert diff <= RTOL, f"ours {ours.tolist()} vs pyiqa {theirs.tolist()}"


def test_normalise_is_matlab_imresize_of_the_uint8_image(put_param_file):
    """Our resize (MATLAB's definition, tests/metrics/test_matlab_imresize.py) is pyiqa's up to its float32
    weights, and its result is rounded and saturated as MATLAB writes a uint8 image."""
    pyiqa_imresize = pytest.importorskip("pyiqa.matlab_utils").imresize
    put_param_file(MODEL_FILE, ilniqe_template(3))
    levels = levels_of(textured(1, 97, 131, 42))
    ours = metrics.create("ilniqe").normalise(levels)
    unrounded = imresize(levels, size=(524, 524))
    assert (unrounded - pyiqa_imresize(levels, sizes=(524, 524))).abs().max() <= RESIZE_ATOL
    assert not torch.equal(unrounded, torch.round(unrounded)), "the resize gave whole levels: nothing was checked"
    assert ours.shape == (1, 3, 524, 524) and (unrounded < 0).any(), "no level to saturate: nothing was checked"
    assert torch.equal(ours, round_half_away(unrounded.clamp(0, 255)))


def test_ilniqe_refuses_a_template_of_another_layout(put_param_file):
    template = ilniqe_template(4)
    template["templateModel"][0, 3] = template["templateModel"][0, 3][:234]
    put_param_file(MODEL_FILE, template)
    with pytest.raises(ValueError, match="principleVectors 468×K"):
        metrics.create("ilniqe")


def test_weibull_fit_solves_the_likelihood_equations():
    rng = np.random.default_rng(5)
    shapes, scales = np.array([0.7, 1.5, 3.0]), np.array([2.0, 40.0, 900.0])
    samples = torch.from_numpy(scales[:, None] * rng.weibull(shapes[:, None], size=(3, 4000)))
    scale, shape = fit_weibull(samples)
    # the likelihood equation of the shape, and the scale that goes with it
    power = samples ** shape[:, None]
    residual = (power * samples.log()).sum(1) / power.sum(1) - samples.log().mean(1) - 1 / shape
    assert residual.abs().max() < 1e-10
    torch.testing.assert_close(scale, power.mean(1) ** (1 / shape), rtol=1e-12, atol=0)
    stats = pytest.importorskip("scipy.stats")
    for row in range(3):
        fitted_shape, _, fitted_scale = stats.weibull_min.fit(samples[row].numpy(), floc=0)
        # scipy's optimiser stops earlier than the Newton iteration: close, not equal
        assert shape[row].item() == pytest.approx(fitted_shape, rel=1e-4)
        assert scale[row].item() == pytest.approx(fitted_scale, rel=1e-4)
    assert np.allclose(shape.numpy(), shapes, rtol=0.1) and np.allclose(scale.numpy(), scales, rtol=0.1)


def test_weibull_fit_of_a_row_with_a_zero_is_undefined():
    samples = torch.tensor([[0.0, 1.0, 2.0, 3.0], [1.0, 2.0, 3.0, 5.0]], dtype=torch.float64)
    scale, shape = fit_weibull(samples)
    assert torch.isnan(shape[0]) and torch.isfinite(shape[1]) and torch.isfinite(scale[1])
