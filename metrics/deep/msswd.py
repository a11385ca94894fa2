"""MS-SWD: the multiscale sliced Wasserstein distance between two images' colour distributions, with learned
projections (a perceptual colour difference).

He, Wang, Wang, Liu, Fang, Sun & Ma, "Multiscale Sliced Wasserstein Distances as Perceptual Color Difference
Measures", ECCV 2024.

Each image (sRGB in [0, 1]) whose shorter side exceeds 256 is first resized (bilinear, antialiased) so that its
shorter side is 256. It is converted to CIELab (sRGB linearised, the exact-fraction sRGB → XYZ matrix for a D65
white, XYZ divided by the D65 white, the CIE cube root with its linear toe below (6/29)³) and projected: a learned
11×11 convolution (128 filters, reflect padding, no bias), a leaky ReLU (slope 0.01) and a learned 1×1 convolution
to 64 channels (no bias) — the multiscale projections of the paper, trained on colour-difference judgements. Each
of the 64 projected channels is a one-dimensional distribution over pixels; its Wasserstein-1 distance between the
two images is the mean absolute difference of the sorted values. The score is the mean over the 64 projections
(0 for identical images, lower is better; about 0 … 10). The projections are the trained ones: nothing is drawn at
random when scoring.

Weights: pyiqa's ``msswd_weights.pth`` (the two convolutions under ``net_dict``: ``conv11x11.weight`` 128×3×11×11,
``conv_m1.weight`` 64×128×1×1); a checkpoint given with ``pretrained_model_path`` holds them under ``params``, as
pyiqa reads it.

Calibration: equal to pyiqa 0.1.16 with identical random weights (tests/deep/test_equivalence_msswd.py, max relative
difference measured 6.1e-8); no official values in the calibration table.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F

from metrics.deep.common import DeepMetric
from metrics.deep.nets import unwrap
from metrics.deep.weights import LoadedWeights, WeightFile, tensor
from metrics.registry import Calibration, MetricSpec, Resources

CHECKPOINT = WeightFile("msswd_weights.pth")
WEIGHT_FILES = {"msswd": (CHECKPOINT,)}
MAX_SHORT_SIDE = 256
KERNEL = 11
FILTERS, PROJECTIONS = 128, 64
LEAKY_SLOPE = 0.01

#: linear sRGB → XYZ for a D65 white (exact fractions of the sRGB primaries), and the D65 white itself.
_RGB_TO_XYZ = (
    (10135552 / 24577794, 8788810 / 24577794, 4435075 / 24577794),
    (2613072 / 12288897, 8788810 / 12288897, 887015 / 12288897),
    (1425312 / 73733382, 8788810 / 73733382, 70074185 / 73733382),
)
_D65_INVERSE = (1.052156925, 1.0, 0.918357670)
_DELTA = 6 / 29


def srgb_to_cielab(rgb: torch.Tensor) -> torch.Tensor:
    """N×3×H×W sRGB in [0, 1] → CIELab (D65 white), in the input's dtype."""
    linear = torch.where(rgb > 0.04045, ((rgb.clamp(min=0.04045) + 0.055) / 1.055) ** 2.4, rgb / 12.92)
    matrix = torch.tensor(_RGB_TO_XYZ, dtype=rgb.dtype, device=rgb.device)
    xyz = torch.einsum("oc,nchw->nohw", matrix, linear)
    xyz = xyz * torch.tensor(_D65_INVERSE, dtype=rgb.dtype, device=rgb.device).view(1, 3, 1, 1)
    toe = xyz / (3 * _DELTA**2) + 4 / 29
    f = torch.where(xyz > _DELTA**3, xyz.clamp(min=_DELTA**3) ** (1 / 3), toe)
    fx, fy, fz = f.unbind(dim=1)
    return torch.stack([116 * fy - 16, 500 * (fx - fy), 200 * (fy - fz)], dim=1)


def _projection_weights(loaded: LoadedWeights) -> LoadedWeights:
    """The published file keeps the two convolutions under ``net_dict``; a pyiqa-trained checkpoint under ``params``."""
    return unwrap(loaded, "net_dict" if "net_dict" in loaded.state_dict else "params")


class MSSWD(DeepMetric):
    """MS-SWD with the published learned projections (full-reference; a distance, lower is better)."""

    min_size = KERNEL // 2 + 1  # reflect padding by 5 needs more than 5 pixels per side

    def __init__(self, precision: str = "float32") -> None:
        super().__init__(precision)
        loaded = _projection_weights(self.load_weights(CHECKPOINT))
        spatial = tensor(loaded, "conv11x11.weight", (FILTERS, 3, KERNEL, KERNEL))
        self.register_buffer("spatial_filters", spatial.detach().float().clone())
        mixing = tensor(loaded, "conv_m1.weight", (PROJECTIONS, FILTERS, 1, 1))
        self.register_buffer("projections", mixing.detach().float().clone())

    def _projected(self, x: torch.Tensor) -> torch.Tensor:
        """N×64×(H·W): the image's 64 learned projections per pixel, each sorted over the pixels."""
        if min(x.shape[-2:]) > MAX_SHORT_SIDE:
            from torchvision.transforms import InterpolationMode
            from torchvision.transforms import functional as TF

            x = TF.resize(x, MAX_SHORT_SIDE, interpolation=InterpolationMode.BILINEAR, antialias=True)
        lab = F.pad(srgb_to_cielab(x), (KERNEL // 2,) * 4, mode="reflect")
        with self.autocast(lab):
            hidden = F.leaky_relu(F.conv2d(lab, self.spatial_filters), LEAKY_SLOPE)
            projected = F.conv2d(hidden, self.projections).float()
        return projected.flatten(2).sort(dim=2).values

    def score(self, dist: torch.Tensor, ref: torch.Tensor | None = None) -> torch.Tensor:
        return (self._projected(dist) - self._projected(ref)).abs().mean(dim=(1, 2))


SPECS = (
    MetricSpec(
        name="msswd",
        mode="FR",
        lower_better=True,
        score_range=(0.0, 10.0),
        paper="He, Wang, Wang, Liu, Fang, Sun & Ma, Multiscale Sliced Wasserstein Distances as Perceptual Color "
              "Difference Measures, ECCV 2024",
        calibration=Calibration.EQUIVALENT,
        calibration_detail="pyiqa 0.1.16 on identical random weights (max rel. diff 6.1e-8); no official values",
        factory=MSSWD,
        options={"precision": "float32"},
        resources=Resources(num_cpus=1, num_gpus=0.1, memory_mb=1000),
    ),
)
