"""ST-LPIPS: shift-tolerant LPIPS (AlexNet and VGG-16 trunks with anti-aliased, blur-pooled downsampling).

Ghildyal & Liu, "Shift-tolerant Perceptual Similarity Metric", ECCV 2022.

The distance is LPIPS's (:mod:`metrics.deep.lpips`: inputs mapped to [-1, 1] and standardised with the v0.1
shift/scale, five feature maps unit-normalised along channels, squared differences weighted per channel by the
learned linear layers, averaged over space and summed); what differs is the trunk, trained for the metric rather
than taken from ImageNet. Every stride-2 step becomes a stride-1 step followed by a blur-pool: reflection padding
of 2 on each side, the binomial filter [1, 2, 1]⊗[1, 2, 1]/16 per channel, stride 2 (Zhang, "Making Convolutional
Networks Shift-Invariant Again", ICML 2019).

* AlexNet: conv1 (11×11, stride 1, padding 2) → blur-pool → ReLU [tap 1] → 3×3 max-pool (stride 1) → blur-pool →
  conv2 (5×5) → ReLU [tap 2] → 3×3 max-pool (stride 1) → blur-pool → conv3, conv4, conv5 (3×3), each with its ReLU
  [taps 3–5].
* VGG-16: each 2×2 max-pool of stride 2 becomes a 2×2 max-pool of stride 1 and a blur-pool; taps at relu1_2,
  relu2_2, relu3_3, relu4_3, relu5_3.

Weights: pyiqa's ``alex_shift_tolerant.pth`` / ``vgg_shift_tolerant.pth``, the whole model's state dict: the trunk
under ``net.slice{1..5}.<index>`` (indices of the layer lists above: AlexNet's convolutions at 0, 5, 9, 11, 13;
VGG's at 0, 2, 6, 8, 12, …), the linear layers ``lin{k}.model.1.weight`` (also under ``lins.{k}``), and
constants that are not read: the blur filters (``….filt``) and the scaling layer's shift/scale.

Calibration: equal to pyiqa 0.1.16 with identical random weights (tests/deep/test_equivalence_stlpips.py); no
official values in the calibration table.
"""

from __future__ import annotations

import dataclasses

import torch
import torch.nn.functional as F
from torch import nn

from metrics.deep.lpips import LPIPS, TappedTrunk
from metrics.deep.nets import VGG16_TO_RELU5_3, conv_stack, fill
from metrics.deep.weights import LoadedWeights, WeightFile
from metrics.registry import Calibration, MetricSpec, Resources

CHECKPOINTS = {"alex": WeightFile("alex_shift_tolerant.pth"), "vgg": WeightFile("vgg_shift_tolerant.pth")}
WEIGHT_FILES = {"stlpips": (CHECKPOINTS["alex"],), "stlpips-vgg": (CHECKPOINTS["vgg"],)}
#: Indices of the tapped ReLUs in each shift-tolerant layer list.
TAPS = {"alex": (2, 6, 10, 12, 14), "vgg": (3, 9, 17, 25, 33)}
#: The suffix of the blur filters' keys in the published files (constants, not read).
_BLUR_FILTER_KEY = ".filt"
BLUR_PAD = 2
#: The smallest image side each trunk accepts (its deepest blur-pool's reflection padding needs 3 px).
MIN_SIZE = {"alex": 21, "vgg": 18}


class BlurPool(nn.Module):
    """Reflection padding of 2, the normalised binomial filter [1, 2, 1]⊗[1, 2, 1] per channel, stride 2."""

    def __init__(self) -> None:
        super().__init__()
        taps = torch.tensor([1.0, 2.0, 1.0])
        window = torch.outer(taps, taps)
        self.register_buffer("window", (window / window.sum()).view(1, 1, 3, 3), persistent=False)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        c = x.shape[1]
        padded = F.pad(x, (BLUR_PAD,) * 4, mode="reflect")
        return F.conv2d(padded, self.window.to(x.dtype).expand(c, 1, 3, 3), stride=2, groups=c)


def shift_tolerant_alexnet() -> nn.Sequential:
    return nn.Sequential(
        nn.Conv2d(3, 64, 11, stride=1, padding=2), BlurPool(), nn.ReLU(),
        nn.MaxPool2d(3, stride=1), BlurPool(), nn.Conv2d(64, 192, 5, padding=2), nn.ReLU(),
        nn.MaxPool2d(3, stride=1), BlurPool(), nn.Conv2d(192, 384, 3, padding=1), nn.ReLU(),
        nn.Conv2d(384, 256, 3, padding=1), nn.ReLU(),
        nn.Conv2d(256, 256, 3, padding=1), nn.ReLU(),
    )


def shift_tolerant_vgg16() -> nn.Sequential:
    return conv_stack(VGG16_TO_RELU5_3, pool=lambda channels: [nn.MaxPool2d(2, stride=1), BlurPool()])


_BUILDERS = {"alex": shift_tolerant_alexnet, "vgg": shift_tolerant_vgg16}


def trunk_state(loaded: LoadedWeights) -> LoadedWeights:
    """The file's trunk tensors renamed from ``net.slice<s>.<index>.…`` to ``layers.<index>.…`` (constants left
    out), for a :class:`~metrics.deep.lpips.TappedTrunk`."""
    state = {}
    for key, value in loaded.state_dict.items():
        key = key.removeprefix("module.")
        if key.startswith("net.slice") and not key.endswith(_BLUR_FILTER_KEY):
            state["layers." + key.split(".", 2)[2]] = value
    return dataclasses.replace(loaded, state_dict=state)


class STLPIPS(LPIPS):
    """ST-LPIPS with the shift-tolerant AlexNet (``net='alex'``) or VGG-16 (``net='vgg'``) trunk."""

    def __init__(self, net: str = "alex", precision: str = "float32") -> None:
        super().__init__(net=net, precision=precision)

    def _trunk_and_linear(self, net: str) -> tuple[TappedTrunk, LoadedWeights]:
        loaded = self.load_weights(CHECKPOINTS[net])
        taps = TAPS[net]
        # reflection padding of 2 needs maps of at least 3 px at the deepest blur-pool: 21 px (AlexNet), 18 (VGG)
        self.min_size = MIN_SIZE[net]
        # built off the meta device: the blur filters are constants the file does not set
        return fill(TappedTrunk(_BUILDERS[net](), taps), trunk_state(loaded)), loaded


_PAPER = "Ghildyal & Liu, Shift-tolerant Perceptual Similarity Metric, ECCV 2022"
#: Largest relative difference to pyiqa 0.1.16 measured by tests/deep/test_equivalence_stlpips.py.
_MEASURED = {"stlpips": "7.6e-8", "stlpips-vgg": "8.0e-8"}

SPECS = tuple(
    MetricSpec(
        name=name,
        mode="FR",
        lower_better=True,
        score_range=(0.0, 1.0),
        paper=_PAPER,
        calibration=Calibration.EQUIVALENT,
        calibration_detail=f"pyiqa 0.1.16 on identical random weights (max rel. diff {_MEASURED[name]}); "
                           "no official values",
        factory=STLPIPS,
        options={"net": net, "precision": "float32"},
        resources=Resources(num_cpus=1, num_gpus=0.1 if net == "alex" else 0.25,
                            memory_mb=2000 if net == "alex" else 5000),
        ideal_score=0.0,
    )
    for name, net in (("stlpips", "alex"), ("stlpips-vgg", "vgg"))
)
