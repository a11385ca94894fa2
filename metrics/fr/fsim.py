"""Feature similarity index, chromatic version (FSIMc).

Zhang, Zhang, Mou & Zhang, "FSIM: a feature similarity index for image quality assessment", IEEE Trans. Image
Processing 20(8), 2011.

As in the authors' ``FeatureSIM.m``: RGB on the 0..255 scale to NTSC YIQ (0.299/0.587/0.114, 0.596/-0.274/
-0.322, 0.211/-0.523/0.312, no rounding), automatic down-sampling by ``F = max(1, round(min(H, W)/256))``
(F×F average, zero-padded 'same' convolution, every F-th pixel), phase congruency of Y (Kovesi's
``phasecong2``: 4 scales, 4 orientations, minimum wavelength 6, mult 2, sigmaOnf 0.55, dThetaOnSigma 1.2,
k = 2, see ``metrics.functional.phase_congruency``), Scharr gradient magnitude of Y, and

    FSIMc = sum(S_PC · S_G · real((S_I · S_Q)^0.03) · PC_m) / sum(PC_m)

with S_X = (2 x y + T) / (x^2 + y^2 + T), T1 = 0.85 (PC), T2 = 160 (gradient), T3 = T4 = 200 (I, Q),
PC_m = max(PC_ref, PC_dist), and MATLAB's complex power for negative S_I·S_Q. Computed in float32 (the final
sums in float64): against float64 the scores move by at most 9e-8 relative on the calibration pairs.
When neither image has any phase congruency (flat images) the weights are taken as uniform instead of 0/0.

Calibration (5 TID2013 pairs, ``official_scores.csv``, 4 published decimals): largest relative error 4.7e-5
(I03 0.689033 vs 0.6890, I04 0.970190 vs 0.9702, I06 0.992677 vs 0.9927, I08 0.957496 vs 0.9575, I19 0.822028
vs 0.8220), i.e. within the rounding of the published values on every image.
"""

from __future__ import annotations

import torch

from metrics.base import IQAMetric
from metrics.functional.color import rgb2yiq
from metrics.functional.phase_congruency import phase_congruency
from metrics.functional.similarity_maps import auto_downsample, real_power, scharr_magnitude, similarity
from metrics.registry import Calibration, MetricSpec, Resources

T1, T2, T3, T4 = 0.85, 160.0, 200.0, 200.0
LAMBDA = 0.03


class FSIM(IQAMetric):
    #: Phase congruency needs a few pixels per orientation after down-sampling.
    min_size = 8

    def __init__(self, chromatic: bool = True) -> None:
        super().__init__()
        self.chromatic = chromatic

    #: Precision of the computation (float32 keeps the calibration margin, see the module docstring; float64 is
    #: kept selectable for checks).
    compute_dtype: torch.dtype = torch.float32

    def score(self, dist: torch.Tensor, ref: torch.Tensor | None = None) -> torch.Tensor:
        assert ref is not None
        # YIQ is linear per pixel and the down-sampling linear per channel: they commute, so the (9× smaller)
        # down-sampled RGB is converted.
        small = [auto_downsample(x.to(self.compute_dtype)) for x in (ref, dist)]
        yiq_ref, yiq_dist = rgb2yiq(torch.cat(small).contiguous() * 255.0).chunk(2)
        y_ref, y_dist = yiq_ref[:, :1], yiq_dist[:, :1]
        pc_ref, pc_dist = phase_congruency(torch.cat([y_ref, y_dist])).chunk(2)
        g_ref, g_dist = scharr_magnitude(y_ref), scharr_magnitude(y_dist)
        pc_max = torch.maximum(pc_ref, pc_dist)
        sim = similarity(pc_ref, pc_dist, T1) * similarity(g_ref, g_dist, T2)
        if self.chromatic:
            s_i = similarity(yiq_ref[:, 1:2], yiq_dist[:, 1:2], T3)
            s_q = similarity(yiq_ref[:, 2:3], yiq_dist[:, 2:3], T4)
            sim = sim * real_power(s_i * s_q, LAMBDA)
        weight_sum = pc_max.flatten(1).sum(dim=1, dtype=torch.float64)
        weighted = (sim * pc_max).flatten(1).sum(dim=1, dtype=torch.float64) / weight_sum
        uniform = sim.flatten(1).mean(dim=1, dtype=torch.float64)
        return torch.where(weight_sum > 0, weighted, uniform).float()


_PAPER = (
    "Zhang, Zhang, Mou & Zhang, FSIM: a feature similarity index for image quality assessment, "
    "IEEE TIP 20(8), 2011"
)

SPECS = (
    MetricSpec(
        version="2",  # faster paths: scores moved by <= 2.3e-6 relative (niqe 5.1e-4) on 1080x800 images
        name="fsim",
        mode="FR",
        lower_better=False,
        score_range=(0.0, 1.0),
        paper=_PAPER,
        calibration=Calibration.CALIBRATED,
        calibration_detail="authors' FeatureSIM.m, FSIMc; max rel. error 4.7e-5",
        ideal_score=1.0,
        factory=FSIM,
        options={"chromatic": True},
        resources=Resources(num_cpus=1.0, num_gpus=0.1, memory_mb=500),
        calibration_key="fsim",
    ),
)
