"""What each distribution metric is: its paper, range, direction, feature extractor, default resize mode, weight
files and how far it is verified. Plain data: importing it imports neither torch nor numpy."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Literal

from metrics.spec import Calibration, Resources

#: pyiqa's (and clean-fid's) resize modes: PIL bicubic on float pixels, PyTorch bilinear, TensorFlow-1 bilinear.
RESIZE_MODES: tuple[str, ...] = ("clean", "legacy_pytorch", "legacy_tensorflow")
#: What a set is compared with: the Fréchet distance of Gaussians, or an MMD on the features.
DISTANCES: tuple[str, ...] = ("frechet", "mmd")
#: MMD kernels: KID's cubic polynomial, or the Gaussian (RBF) kernel of CMMD.
KERNELS: tuple[str, ...] = ("polynomial", "rbf")

Backbone = Literal["inception", "dinov2"]
#: The FID Inception's outputs: 2048-d final pool, sFID's first 7 channels of ``Mixed_6a`` (7·17·17 = 2023 values),
#: the 1008 logits without the classifier's bias; DINOv2's normalised class token.
Feature = Literal["pool", "mixed_6a", "logits_unbiased", "cls_token"]
Reduction = Literal["distance", "inception_score"]

INCEPTION_FILE = "pt_inception-2015-12-05-6726825d.pth"
DINOV2_FILE = "dinov2_vitl14_pretrain.pth"
#: The official DINOv2 ViT-L/14 checkpoint (what ``torch.hub.load('facebookresearch/dinov2', 'dinov2_vitl14')``
#: downloads into ``$TORCH_HOME/hub/checkpoints``).
DINOV2_URL = "https://dl.fbaipublicfiles.com/dinov2/dinov2_vitl14/dinov2_vitl14_pretrain.pth"

_FID_PAPER = ("Heusel et al., GANs Trained by a Two Time-Scale Update Rule Converge to a Local Nash Equilibrium, "
              "NeurIPS 2017; resize modes: Parmar et al., On Aliased Resizing and Surprising Subtleties in GAN "
              "Evaluation, CVPR 2022")
_EQUIVALENT = "pyiqa 0.1.16 on identical random weights and made-up folders (tests/distribution)"


@dataclass(frozen=True)
class DistributionSpec:
    """One distribution metric."""

    name: str
    paper: str
    lower_better: bool
    score_range: tuple[float, float]
    backbone: Backbone
    feature: Feature
    reduction: Reduction
    #: pyiqa's default resize mode for this metric.
    default_mode: str
    #: Side of the square the images are resized to.
    input_size: int
    weight_files: tuple[str, ...]
    calibration: Calibration
    calibration_detail: str
    resources: Resources = field(default_factory=Resources)

    @property
    def feature_dim(self) -> int:
        return {"pool": 2048, "mixed_6a": 7 * 17 * 17, "logits_unbiased": 1008, "cls_token": 1024}[self.feature]


DISTRIBUTION_SPECS: dict[str, DistributionSpec] = {spec.name: spec for spec in (
    DistributionSpec(
        name="fid", paper=_FID_PAPER, lower_better=True, score_range=(0.0, float("inf")), backbone="inception",
        feature="pool", reduction="distance", default_mode="clean", input_size=299,
        weight_files=(INCEPTION_FILE,), calibration=Calibration.EQUIVALENT, calibration_detail=_EQUIVALENT,
        resources=Resources(num_cpus=1, num_gpus=0.1, memory_mb=800),
    ),
    DistributionSpec(
        name="sfid",
        paper="Nash et al., Generating Images with Sparse Representations, ICML 2021 (sFID: the first 7 channels of "
              "Inception-V3's Mixed_6a as features); Fréchet distance as in " + _FID_PAPER,
        lower_better=True, score_range=(0.0, float("inf")), backbone="inception", feature="mixed_6a",
        reduction="distance", default_mode="clean", input_size=299, weight_files=(INCEPTION_FILE,),
        calibration=Calibration.EQUIVALENT, calibration_detail=_EQUIVALENT,
        resources=Resources(num_cpus=1, num_gpus=0.1, memory_mb=800),
    ),
    DistributionSpec(
        name="fid_dinov2",
        paper="Stein et al., Exposing Flaws of Generative Model Evaluation Metrics and Their Unfair Treatment of "
              "Diffusion Models, NeurIPS 2023 (Fréchet distance on DINOv2 ViT-L/14 features); Oquab et al., "
              "DINOv2: Learning Robust Visual Features without Supervision, TMLR 2024",
        lower_better=True, score_range=(0.0, float("inf")), backbone="dinov2", feature="cls_token",
        reduction="distance", default_mode="clean", input_size=224, weight_files=(DINOV2_FILE,),
        calibration=Calibration.EQUIVALENT,
        calibration_detail="pyiqa 0.1.16's pipeline with a reduced DINOv2 of the official layout (timm's ViT as "
                           "the network) on identical random weights (tests/distribution)",
        resources=Resources(num_cpus=1, num_gpus=0.25, memory_mb=2500),
    ),
    DistributionSpec(
        name="inception_score",
        paper="Salimans et al., Improved Techniques for Training GANs, NeurIPS 2016",
        lower_better=False, score_range=(1.0, 1008.0), backbone="inception", feature="logits_unbiased",
        reduction="inception_score", default_mode="legacy_tensorflow", input_size=299,
        weight_files=(INCEPTION_FILE,), calibration=Calibration.EQUIVALENT, calibration_detail=_EQUIVALENT,
        resources=Resources(num_cpus=1, num_gpus=0.1, memory_mb=800),
    ),
)}


def is_distribution_metric(name: str) -> bool:
    return name in DISTRIBUTION_SPECS


def get_distribution_spec(name: str) -> DistributionSpec:
    if name not in DISTRIBUTION_SPECS:
        known = ", ".join(sorted(DISTRIBUTION_SPECS))
        raise KeyError(f"unknown distribution metric {name!r} (known: {known})")
    return DISTRIBUTION_SPECS[name]


def refusal(name: str) -> str:
    """The one line that says a distribution metric is not a per-image metric and where to run it."""
    return (f"{name!r} is a distribution metric: it scores a set of images against another set (or dataset "
            f"statistics), not each image against MOS; run it with `iqabench score {name} -t DIR -r DIR` "
            f"(or `--dataset_stats NAME` instead of -r)")
