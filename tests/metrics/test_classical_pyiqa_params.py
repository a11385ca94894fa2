"""The classical NR metrics whose parameter files only pyiqa publishes equal pyiqa 0.1.16 on parameter files of
the published layout made here (random, written into both implementations' caches; nothing is downloaded).

Images: made-up textured images without flat 7×7 neighbourhoods (where our MSCN is exactly 0 and pyiqa keeps a
rounding residue, see ``metrics.functional.nss.mscn``), written as greyscale RGB (R = G = B), because pyiqa takes
the luma as YIQ's Y (0.299, 0.587, 0.114) where MATLAB's ``niqe``/``brisque`` use ``rgb2gray``: on grey images
both give the grey level itself.

pyiqa rounds its MSCN Gaussian window to float32 (``fspecial(...).float()``; MATLAB's is double), which moves its
MSCN coefficients by ~1e-6 and now and then an AGGD shape fit by one grid step (scores by up to 1.4e-4 relative
here).
So each metric is compared twice: with pyiqa as it is (:data:`RTOL_AS_IS`), and with pyiqa's window in float64
(:data:`RTOL_EXACT_WINDOW`: our float32 scores' rounding).
"""

from __future__ import annotations

import numpy as np
import pytest
import torch

import metrics
from metrics.calibration_cases import gray_as_rgb, textured
from metrics.functional.matlab_filter2 import fspecial_gaussian
from tests._helpers.equivalence import max_relative_difference
from tests._helpers.random_weights_classical import brisque_svr, niqe_model

RTOL_AS_IS = 1e-3  # observed 1.4e-4 (niqe_matlab, one AGGD grid step)
RTOL_EXACT_WINDOW = 1e-6


def grey_images(n: int, h: int, w: int, seed: int) -> torch.Tensor:
    """Textured images with fine noise (no flat 7×7 neighbourhoods), as greyscale RGB on 8-bit levels."""
    noise = torch.rand(n, 3, h, w, generator=torch.Generator().manual_seed(seed + 1))
    return gray_as_rgb(0.5 * textured(n, h, w, seed) + 0.5 * noise)


def exact_fspecial(size: int, sigma: float, channels: int = 1) -> torch.Tensor:
    """pyiqa's ``fspecial`` signature with MATLAB's double-precision window."""
    window = torch.tensor(fspecial_gaussian(size, sigma), dtype=torch.float64)
    return window.repeat(channels, 1, 1, 1)


def compare(name: str, images: list[torch.Tensor], rtol: float) -> float:
    pyiqa = pytest.importorskip("pyiqa")
    ours_model, theirs_model = metrics.create(name), pyiqa.create_metric(name, device="cpu")
    worst = 0.0
    for x in images:
        with torch.inference_mode():
            ours = ours_model(x).double()
            theirs = theirs_model(x.double()).reshape(-1)
        assert torch.isfinite(ours).all() and (ours.numel() == 1 or ours.std() > 0), f"degenerate scores {ours.tolist()}"
        worst = max(worst, max_relative_difference(ours, theirs))
        assert worst <= rtol, f"{name}: ours {ours.tolist()} vs pyiqa {theirs.tolist()}"
    print(f"\n{name}: max relative difference vs pyiqa 0.1.16 = {worst:.2e} (tolerance {rtol:g})")
    return worst


def compare_both_ways(name: str, images: list[torch.Tensor], monkeypatch: pytest.MonkeyPatch) -> None:
    func_util = pytest.importorskip("pyiqa.archs.func_util")
    with monkeypatch.context() as patch:
        patch.setattr(func_util, "fspecial", exact_fspecial)
        compare(name, images, RTOL_EXACT_WINDOW)
    compare(name, images, RTOL_AS_IS)


def test_niqe_matlab_equals_pyiqa(put_param_file, monkeypatch):
    put_param_file("niqe_matlab_params.mat", niqe_model(7))
    compare_both_ways("niqe_matlab", [grey_images(3, 200, 300, 1), grey_images(1, 193, 291, 2)], monkeypatch)


def test_niqe_matlab_is_niqe_with_another_model(put_param_file):
    """With the authors' release model in the file, niqe_matlab is niqe (only the model differs)."""
    from metrics.nr.niqe import MODEL_PATH

    with np.load(MODEL_PATH, allow_pickle=False) as model:
        put_param_file("niqe_matlab_params.mat", {"mu_prisparam": model["mu_pris_param"],
                                                  "cov_prisparam": model["cov_pris_param"]})
    x = textured(2, 200, 300, 3)
    assert torch.equal(metrics.create("niqe_matlab")(x), metrics.create("niqe")(x))


def test_brisque_matlab_equals_pyiqa(put_param_file, monkeypatch):
    images = [grey_images(3, 200, 300, 4), grey_images(1, 97, 131, 5)]
    put_param_file("brisque_matlab.mat", brisque_svr(8))  # a first file, to compute the features
    features = torch.cat([metrics.create("brisque_matlab").features(x) for x in images]).numpy()
    put_param_file("brisque_matlab.mat", brisque_svr(8, centres=features))
    compare_both_ways("brisque_matlab", images, monkeypatch)


def test_brisque_matlab_rejects_a_file_of_another_layout(put_param_file):
    put_param_file("brisque_matlab.mat", {"sv": np.zeros((5, 18)), "sv_coef": np.zeros((5, 1))})
    with pytest.raises(ValueError, match="S×36"):
        metrics.create("brisque_matlab")
