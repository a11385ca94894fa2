"""Perceptual Index (PI) of the PIRM 2018 super-resolution challenge.

Blau, Mechrez, Timofte, Michaeli & Zelnik-Manor, "The 2018 PIRM challenge on perceptual image
super-resolution", ECCV Workshops 2018 (MATLAB release ``roimehrez/PIRM2018``).

``PI = ((10 - NRQM) + NIQE) / 2`` (lower is better), both computed as the challenge's code does: on the luma of
MATLAB ``rgb2ycbcr`` of the uint8 image (16..235, rounded), with 4 pixels shaved off every side. NIQE is
``metrics/nr/niqe.py`` with the authors' release model (shipped, ``niqe_pris_params.npz``), NRQM is
``metrics/nr/nrqm.py`` with pyiqa's ``NRQM_model.mat`` (weight store). Minimum size 104×104 (NIQE's 96×96 patch
after the shave).

Calibration: equal to pyiqa 0.1.16's ``pi`` (``PI(crop_border=4, color_space='ycbcr')``) on a test-made
``NRQM_model.mat`` and pyiqa's NIQE file filled with our shipped model (tests/metrics/test_nrqm_pi.py);
against the official row ``pi`` (rtol 0.03) only where the published NRQM file is cached.
"""

from __future__ import annotations

import torch

from metrics.base import IQAMetric
from metrics.functional.color import rgb2y
from metrics.functional.input_checks import check_per_image
from metrics.nr.niqe import NIQE, PATCH
from metrics.nr.nrqm import MODEL_FILE, NRQM
from metrics.registry import Calibration, MetricSpec, Resources

SHAVE = 4
NIQE_FILE = "niqe_pris_params.npz"
WEIGHT_FILES = {"pi": (MODEL_FILE,)}


class PerceptualIndex(IQAMetric):
    min_size = PATCH + 2 * SHAVE

    def __init__(self) -> None:
        super().__init__()
        self.niqe = NIQE()
        self.nrqm = NRQM()

    def _check(self, x: torch.Tensor, what: str) -> None:
        check_per_image(x, self._name(), what)
        super()._check(x, what)

    def score(self, dist: torch.Tensor, ref: torch.Tensor | None = None) -> torch.Tensor:
        luma = torch.round(rgb2y(dist.double(), round_uint8=True) * 255.0)  # the exact 8-bit levels
        luma = luma[..., SHAVE:-SHAVE, SHAVE:-SHAVE]
        return ((10.0 - self.nrqm.quality(luma) + self.niqe.quality(luma)) / 2).float()


SPECS = (
    MetricSpec(
        name="pi",
        mode="NR",
        lower_better=True,
        score_range=(-float("inf"), float("inf")),  # about 0..15; NRQM's linear combination is not bounded
        paper=(
            "Blau, Mechrez, Timofte, Michaeli & Zelnik-Manor, The 2018 PIRM challenge on perceptual image "
            "super-resolution, ECCV Workshops 2018"
        ),
        calibration=Calibration.EQUIVALENT,
        calibration_detail="= pyiqa 0.1.16 on a test-made NRQM_model.mat (NIQE: shipped authors' model); official "
        "row pi where the published NRQM file is cached",
        factory=PerceptualIndex,
        resources=Resources(num_cpus=1, num_gpus=0.05, memory_mb=1500),
        calibration_key="pi",
        parameter_files=(NIQE_FILE,),
    ),
)
