"""AHIQ: attention-based hybrid full-reference IQA (ViT-B/8 and ResNet-50 features fused by a deformable
convolution), the PIPAL checkpoint (NTIRE 2022 FR-IQA winner).

Lao, Gong, Shi, Yang, Wu, Wang, Xia & Yang, "Attentions Help CNNs See Better: Attention-based Hybrid Image
Quality Assessment Network", CVPR Workshops (NTIRE) 2022.

Both images are standardised with the ImageNet mean and std and cut into ``crops`` (20) 224×224 crops at the same
grid positions (:func:`metrics.deep.nets.uniform_crops`; images whose shorter side is at most 224 are first
enlarged). Per crop pair:

* ViT-B/8 (:mod:`metrics.deep.vit`): the patch tokens of blocks 1–5 concatenated → a 3840-channel 28×28 map per
  image (later blocks, the final norm and the classifier are not used and not built).
* ResNet-50 stem and first stage (:func:`metrics.deep.nets.bottleneck_stage`): the outputs of its three bottlenecks
  concatenated → a 768-channel 56×56 map per image.
* Deformable fusion (shared by both images): the REFERENCE's ViT map, enlarged to 56×56 (nearest), gives through a
  3×3 convolution the offsets (2·3·3 channels) of a 3×3 deformable convolution (Dai et al., ICCV 2017; torchvision's
  ``deform_conv2d``) 768 → 768 over each image's ResNet map; then a 3×3 convolution of stride 2 to 512, ReLU, a 3×3
  convolution to 768 (28×28).
* Regression: per image [ViT map, fused map] (4608 channels) → 1×1 convolution to 256; [dist − ref, dist, ref]
  (768) → 3×3 convolution to 1024, ReLU, 3×3 to 512, 3×3 to 256, ReLU; a 1×1 convolution gives a score map and
  another, with a sigmoid, a weight map; the crop's score is Σ score·weight / Σ weight.

The image's score is the mean over its crops (higher is better; about 0…1 for the PIPAL checkpoint).

Weights: pyiqa's ``AHIQ_vit_p8_epoch33-da3ea303.pth`` (``deform_net_model_state_dict``,
``regressor_model_state_dict``); the backbones are timm's ImageNet files that pyiqa's AHIQ loads through
``timm.create_model(..., pretrained=True)``: ``model.safetensors`` of the Hugging Face repos
``timm/resnet50.a1_in1k`` and ``timm/vit_base_patch8_224.augreg2_in21k_ft_in1k`` (timm 1.0's default tags).

Calibration: equal to pyiqa 0.1.16 with identical random weights (tests/deep/test_equivalence_ahiq.py); no
official values in the calibration table.
"""

from __future__ import annotations

import dataclasses

import torch
import torch.nn.functional as F
from torch import nn

from metrics.deep.common import DeepMetric
from metrics.deep.nets import bottleneck_stage, build_meta, fill, uniform_crops, unwrap
from metrics.deep.vit import VisionTransformer, ViTShape
from metrics.deep.weights import WeightFile
from metrics.registry import Calibration, MetricSpec, Resources

CHECKPOINT = WeightFile("AHIQ_vit_p8_epoch33-da3ea303.pth")
RESNET = WeightFile("model.safetensors", repo_id="timm/resnet50.a1_in1k")
VIT = WeightFile("model.safetensors", repo_id="timm/vit_base_patch8_224.augreg2_in21k_ft_in1k")
WEIGHT_FILES = {"ahiq": (CHECKPOINT, RESNET, VIT)}

MEAN = (0.485, 0.456, 0.406)
STD = (0.229, 0.224, 0.225)
CROP = 224
TEST_CROPS = 20
VIT_BLOCKS = 5  # the first five blocks' patch tokens
GRID = 28
VIT_CHANNELS, CNN_CHANNELS = 768 * VIT_BLOCKS, 256 * 3


class ResNetStage1(nn.Module):
    """ResNet-50's stem and first stage, under torchvision/timm names; ``forward`` concatenates the outputs of the
    stage's three bottlenecks (3·256 channels, stride 4)."""

    def __init__(self) -> None:
        super().__init__()
        self.conv1 = nn.Conv2d(3, 64, 7, stride=2, padding=3, bias=False)
        self.bn1 = nn.BatchNorm2d(64)
        self.layer1 = bottleneck_stage(64, 64, 3)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = F.max_pool2d(F.relu(self.bn1(self.conv1(x))), 3, stride=2, padding=1)
        outputs = []
        for block in self.layer1:
            x = block(x)
            outputs.append(x)
        return torch.cat(outputs, dim=1)


class DeformFusion(nn.Module):
    """Offsets from the ViT map, a deformable 3×3 convolution of the ResNet map, then two convolutions."""

    def __init__(self) -> None:
        super().__init__()
        self.conv_offset = nn.Conv2d(VIT_CHANNELS, 2 * 3 * 3, 3, padding=1)
        self.deform = nn.Module()
        self.deform.weight = nn.Parameter(torch.empty(CNN_CHANNELS, CNN_CHANNELS, 3, 3))
        self.deform.bias = nn.Parameter(torch.empty(CNN_CHANNELS))
        self.conv1 = nn.Sequential(nn.Conv2d(CNN_CHANNELS, 512, 3, stride=2, padding=1), nn.ReLU(),
                                   nn.Conv2d(512, CNN_CHANNELS, 3, padding=1))

    def forward(self, cnn: torch.Tensor, vit: torch.Tensor) -> torch.Tensor:
        from torchvision.ops import deform_conv2d

        offset = self.conv_offset(F.interpolate(vit, size=cnn.shape[-2:], mode="nearest"))
        deformed = deform_conv2d(cnn, offset, self.deform.weight, self.deform.bias, padding=(1, 1))
        return self.conv1(deformed)


class Regressor(nn.Module):
    """The published ``Pixel_Prediction`` head under its names."""

    def __init__(self) -> None:
        super().__init__()
        self.down_channel = nn.Conv2d(VIT_CHANNELS + CNN_CHANNELS, 256, 1)
        self.feat_smoothing = nn.Sequential(nn.Conv2d(3 * 256, 1024, 3, padding=1), nn.ReLU(),
                                            nn.Conv2d(1024, 512, 3, padding=1))
        self.conv1 = nn.Sequential(nn.Conv2d(512, 256, 3, padding=1), nn.ReLU())
        self.conv_attent = nn.Sequential(nn.Conv2d(256, 1, 1), nn.Sigmoid())
        self.conv = nn.Sequential(nn.Conv2d(256, 1, 1))

    def forward(self, vit_dist: torch.Tensor, vit_ref: torch.Tensor, cnn_dist: torch.Tensor,
                cnn_ref: torch.Tensor) -> torch.Tensor:
        dist = self.down_channel(torch.cat([vit_dist, cnn_dist], dim=1))
        ref = self.down_channel(torch.cat([vit_ref, cnn_ref], dim=1))
        features = self.conv1(self.feat_smoothing(torch.cat([dist - ref, dist, ref], dim=1)))
        scores, weights = self.conv(features), self.conv_attent(features)
        return (scores * weights).sum(dim=(1, 2, 3)) / weights.sum(dim=(1, 2, 3))


class AHIQ(DeepMetric):
    """AHIQ with the published PIPAL checkpoint, scored on ``crops`` test crops (pyiqa's ``num_crop``, 20)."""

    def __init__(self, crops: int = TEST_CROPS, precision: str = "float32") -> None:
        super().__init__(precision)
        if crops < 1:
            raise ValueError(f"crops must be at least 1, got {crops}")
        self.crops = crops
        vit_file = self.load_weights(VIT)
        shape = ViTShape.of(vit_file.state_dict, VIT.name).first(VIT_BLOCKS)
        unused = tuple(f"blocks.{i}." for i in range(VIT_BLOCKS, 64)) + ("norm.", "head.", "fc_norm.")
        self.vit = fill(build_meta(lambda: VisionTransformer(shape, final_norm=False)), vit_file, ignore=unused)
        resnet_file = self.load_weights(RESNET)
        resnet = build_meta(ResNetStage1)
        # BatchNorm counters (used in training only) are 0 where the file holds none
        counters = {f"{name}.num_batches_tracked": torch.tensor(0) for name, module in resnet.named_modules()
                    if isinstance(module, nn.BatchNorm2d)}
        resnet_file = dataclasses.replace(resnet_file, state_dict={**counters, **resnet_file.state_dict})
        self.resnet = fill(resnet, resnet_file, ignore=("layer2.", "layer3.", "layer4.", "fc."))
        checkpoint = self.load_weights(CHECKPOINT)
        self.deform_net = fill(build_meta(DeformFusion), unwrap(checkpoint, "deform_net_model_state_dict"))
        self.regressor = fill(build_meta(Regressor), unwrap(checkpoint, "regressor_model_state_dict"))
        self.register_buffer("mean", torch.tensor(MEAN).view(1, 3, 1, 1), persistent=False)
        self.register_buffer("std", torch.tensor(STD).view(1, 3, 1, 1), persistent=False)
        self.eval()

    def _vit_map(self, x: torch.Tensor) -> torch.Tensor:
        tokens = torch.cat([out[:, 1:] for out in self.vit.block_outputs(x)], dim=2)  # N×784×3840
        return tokens.transpose(1, 2).reshape(x.shape[0], VIT_CHANNELS, GRID, GRID)

    def score(self, dist: torch.Tensor, ref: torch.Tensor | None = None) -> torch.Tensor:
        assert ref is not None
        # same shape, so the same crop positions in both
        dist_crops = uniform_crops((dist - self.mean) / self.std, CROP, self.crops)
        ref_crops = uniform_crops((ref - self.mean) / self.std, CROP, self.crops)
        with self.autocast(dist_crops):
            vit_dist, vit_ref = self._vit_map(dist_crops), self._vit_map(ref_crops)
            cnn_dist = self.deform_net(self.resnet(dist_crops), vit_ref)
            cnn_ref = self.deform_net(self.resnet(ref_crops), vit_ref)
            scores = self.regressor(vit_dist, vit_ref, cnn_dist, cnn_ref)
        return scores.float().view(dist.shape[0], self.crops).mean(dim=1)


_MEASURED = "1.1e-7"

SPECS = (
    MetricSpec(
        name="ahiq",
        mode="FR",
        lower_better=False,
        score_range=(0.0, 1.0),
        paper="Lao, Gong, Shi, Yang, Wu, Wang, Xia & Yang, Attentions Help CNNs See Better: Attention-based Hybrid "
              "Image Quality Assessment Network, CVPR Workshops 2022; checkpoint trained on PIPAL",
        calibration=Calibration.EQUIVALENT,
        calibration_detail="pyiqa 0.1.16 under identical random weights"
                           + (f" (max rel. diff {_MEASURED})" if _MEASURED else "") + "; no official values",
        factory=AHIQ,
        options={"crops": TEST_CROPS, "precision": "float32"},
        resources=Resources(num_cpus=1, num_gpus=0.5, memory_mb=5000),
    ),
)
