"""NIQE with MATLAB's Image Processing Toolbox model (pyiqa's ``niqe_matlab``).

Mittal, Soundararajan & Bovik, "Making a completely blind image quality analyzer", IEEE Signal Processing
Letters 20(3), 2013.

The computation is NIQE's (``metrics/nr/niqe.py``: MATLAB ``rgb2gray`` of the uint8 image, whole 96×96 patches,
two scales, 36 AGGD features per patch, distance to the pristine MVG model); only the pristine model differs:
the one MATLAB's ``niqe`` function uses by default, which pyiqa 0.1.16 publishes as ``niqe_matlab_params.mat``
(variables ``mu_prisparam``, 1×36, and ``cov_prisparam``, 36×36) in its weight repository. That file belongs to
MathWorks' toolbox and cannot be redistributed here, so it is loaded through the weight store
(``metrics/deep/weights.py``: pyiqa's Hugging Face repo, sha256 recorded at first use).

Calibration: equal to pyiqa 0.1.16's ``niqe_matlab`` on a parameter file of the published layout made by the
test (tests/metrics/test_classical_pyiqa_params.py); against the official row ``niqe_matlab`` (MATLAB's
``niqe``, rtol 0.06) only where the published file is cached (tests/metrics/test_calibration.py skips it
otherwise, and ``iqabench calibrate`` reports it as unverified there).
"""

from __future__ import annotations

import torch

from metrics.deep.weights import WeightFile, load_mat
from metrics.nr.niqe import NIQE, PATCH
from metrics.registry import Calibration, MetricSpec, Resources
from metrics.spec import at_least

_FILE = WeightFile("niqe_matlab_params.mat")
WEIGHT_FILES = {"niqe_matlab": (_FILE,)}


class NIQEMatlab(NIQE):
    def pristine_model(self) -> tuple[torch.Tensor, torch.Tensor]:
        """MATLAB's default NIQE model, from pyiqa's published ``niqe_matlab_params.mat``."""
        params = load_mat(_FILE)
        return torch.from_numpy(params["mu_prisparam"]).double(), torch.from_numpy(params["cov_prisparam"]).double()


SPECS = (
    MetricSpec(
        name="niqe_matlab",
        mode="NR",
        lower_better=True,
        score_range=(0.0, float("inf")),
        paper=(
            "Mittal, Soundararajan & Bovik, Making a completely blind image quality analyzer, "
            "IEEE Signal Processing Letters 20(3), 2013 (MATLAB Image Processing Toolbox model)"
        ),
        calibration=Calibration.EQUIVALENT,
        calibration_detail="= pyiqa 0.1.16 on a test-made niqe_matlab_params.mat; official row niqe_matlab "
        "where the published file is cached",
        factory=NIQEMatlab,
        option_ranges={"patch_size": at_least(8)},
        options={"patch_size": PATCH},
        resources=Resources(num_cpus=1, num_gpus=0.05, memory_mb=600),
        calibration_key="niqe_matlab",
    ),
)
