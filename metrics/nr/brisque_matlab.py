"""BRISQUE as MATLAB's Image Processing Toolbox computes it (pyiqa's ``brisque_matlab``).

Mittal, Moorthy & Bovik, "No-reference image quality assessment in the spatial domain", IEEE Trans. Image
Processing 21(12), 2012.

Differences from the LIVE release (``metrics/nr/brisque.py``), as pyiqa 0.1.16's ``version='matlab'`` states
them: MSCN coefficients with 'replicate' borders (``imfilter``) instead of ``filter2``'s zero borders; per scale
18 features that are all AGGD fits — the MSCN coefficients (shape, mean of the left and right scales ``beta``)
and their products with the four ``circshift`` neighbours [0 1; 1 0; 1 1; -1 1] (shape, mean, ``beta_l``,
``beta_r``), the parametrisation of NIQE (``metrics.functional.nss.aggd_features``) — instead of a GGD fit and
variances; no ``svm-scale`` and no text round trips: the 36 features are divided by the kernel scale 0.3210 and
fed to MATLAB's model, an RBF support-vector regression with gamma 1 and bias ``-rho`` = 43.4582 (constants as
pyiqa states them). Grey levels: MATLAB ``rgb2gray`` of the uint8 image; second scale MATLAB ``imresize(·, 0.5)``
(bicubic, antialiased); flat 7×7 neighbourhoods get MSCN exactly 0 (as ``niqe``).

The support vectors and their coefficients (``brisque_matlab.mat``: ``sv`` S×36, ``sv_coef`` S×1) belong to
MathWorks' toolbox and cannot be redistributed here: they are loaded through the weight store (pyiqa's Hugging
Face repo, sha256 recorded at first use).

Calibration: equal to pyiqa 0.1.16's ``brisque_matlab`` on a parameter file of the published layout made by
the test (tests/metrics/test_classical_pyiqa_params.py); against the official row ``brisque_matlab`` (MATLAB's
``brisque``, rtol 0.01) only where the published file is cached.
"""

from __future__ import annotations

import torch

from metrics.base import IQAMetric
from metrics.deep.weights import WeightFile, load_mat
from metrics.functional.color import rgb2gray_uint8
from metrics.functional.imresize import imresize
from metrics.functional.input_checks import check_per_image, raise_if_constant
from metrics.functional.nss import aggd_features, mscn
from metrics.nr.brisque import SHIFTS, rbf_svr
from metrics.registry import Calibration, MetricSpec, Resources

_FILE = WeightFile("brisque_matlab.mat")
WEIGHT_FILES = {"brisque_matlab": (_FILE,)}
#: MATLAB's model constants (pyiqa 0.1.16, ``BRISQUE(version='matlab')``).
GAMMA, RHO, KERNEL_SCALE = 1.0, -43.4582, 0.3210


class BRISQUEMatlab(IQAMetric):
    min_size = 16

    def __init__(self) -> None:
        super().__init__()
        params = load_mat(_FILE)
        support = torch.from_numpy(params["sv"]).double()
        coefs = torch.from_numpy(params["sv_coef"]).double().reshape(-1)
        if support.ndim != 2 or support.shape[1] != 36 or coefs.numel() != support.shape[0]:
            raise ValueError(f"brisque_matlab: expected sv S×36 and sv_coef S, got {tuple(support.shape)} and "
                             f"{tuple(coefs.shape)}")
        self.register_buffer("support", support / KERNEL_SCALE, persistent=False)
        self.register_buffer("coefs", coefs, persistent=False)

    def _check(self, x: torch.Tensor, what: str) -> None:
        check_per_image(x, self._name(), what)
        super()._check(x, what)

    def features(self, dist: torch.Tensor) -> torch.Tensor:
        """The 36 features (N×36, float64): 18 per scale."""
        image = rgb2gray_uint8(dist)
        raise_if_constant(image, self._name())
        per_scale = []
        for scale in (1, 2):
            structdis, _ = mscn(image, "replicate")
            per_scale.append(aggd_features(structdis[:, 0], SHIFTS))
            if scale == 1:
                image = imresize(image, scale=0.5)
        return torch.cat(per_scale, dim=1)

    def score(self, dist: torch.Tensor, ref: torch.Tensor | None = None) -> torch.Tensor:
        scaled = self.features(dist) / KERNEL_SCALE
        return rbf_svr(scaled, self.support, self.coefs, GAMMA, RHO).float()


SPECS = (
    MetricSpec(
        name="brisque_matlab",
        mode="NR",
        lower_better=True,
        score_range=(-float("inf"), float("inf")),
        paper=(
            "Mittal, Moorthy & Bovik, No-reference image quality assessment in the spatial domain, "
            "IEEE Trans. Image Processing 21(12), 2012 (MATLAB Image Processing Toolbox model)"
        ),
        calibration=Calibration.EQUIVALENT,
        calibration_detail="= pyiqa 0.1.16 on a test-made brisque_matlab.mat; official row brisque_matlab where "
        "the published file is cached",
        factory=BRISQUEMatlab,
        resources=Resources(num_cpus=1, num_gpus=0.05, memory_mb=400),
        calibration_key="brisque_matlab",
    ),
)
