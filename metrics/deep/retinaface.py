"""RetinaFace (ResNet-50): the face detector whose five landmarks align faces for the face IQA metrics.

Deng, Guo, Ververas, Kotsia & Zafeiriou, "RetinaFace: Single-shot Multi-level Face Localisation in the Wild",
CVPR 2020 (the published PyTorch re-implementation of biubug6 and its weights, as distributed by facexlib).

Network: a torchvision ResNet-50 (``body``, :func:`metrics.deep.nets.resnet_trunk`) whose stages 2, 3 and 4
(512, 1024, 2048 channels, strides 8, 16, 32) feed a feature pyramid (``fpn``: a 1×1 conv + BatchNorm + ReLU to
256 channels per level; the deeper level, nearest-upsampled to the shallower one's size, is added to it and the sum
goes through a 3×3 conv + BatchNorm + ReLU, from stride 32 down to stride 8). Each level then goes through its own
SSH context module (``ssh1``…``ssh3``: 3×3 conv + BatchNorm to 128 channels; a 3×3 conv + BatchNorm + ReLU to 64
channels, then a 3×3 conv + BatchNorm to 64 (the "5×5" branch) and, from the same 64, a 3×3 conv + BatchNorm +
ReLU and a 3×3 conv + BatchNorm (the "7×7" branch); the three concatenated and ReLU'd) and three 1×1 heads with two
anchors per position: ``ClassHead`` (2 logits, softmax: background / face), ``BboxHead`` (4 box offsets) and
``LandmarkHead`` (10 landmark offsets: left eye, right eye, nose, left and right mouth corner, as (x, y)).

Anchors (priors): per level (stride 8, 16, 32) two square anchors of side 16 and 32, 64 and 128, 256 and 512 px,
centred at ((column + 0.5)·stride, (row + 0.5)·stride) on a ceil(H/stride)×ceil(W/stride) grid, row-major and
anchor-minor, as fractions of the image size. Decoding with the variances 0.1 (centres, landmarks) and 0.2
(sizes): centre = anchor centre + 0.1·offset·anchor size, size = anchor size·exp(0.2·offset), the box's corners
(x1, y1) = centre − size/2 and (x2, y2) = (x1, y1) + size; landmark = anchor centre + 0.1·offset·anchor size; all
scaled to pixels.

Input, as the published model was trained: the image at its own size (no resizing), channels in BGR order, 0…255,
minus the mean (104, 117, 123) (B, G, R). Detections: face probability above ``conf_threshold`` (0.97 in facexlib's
face restoration helper, which pyiqa uses), sorted by it, then non-maximum suppression at IoU 0.4
(``torchvision.ops.nms``).

Weights: facexlib's ``detection_Resnet50_Final.pth`` (published at :data:`DETECTOR_URL`), a flat state dict whose
keys are the module names above (``body.conv1.weight`` … ``LandmarkHead.2.conv1x1.bias``), possibly under a
``module.`` prefix.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
import torch.nn.functional as F
from torch import nn

from metrics.deep.nets import build_meta, fill, resnet_trunk
from metrics.deep.weights import LoadedWeights, WeightFile

DETECTOR_URL = "https://github.com/xinntao/facexlib/releases/download/v0.1.0/detection_Resnet50_Final.pth"
#: Kept where pyiqa 0.1.16 has facexlib keep it (``$TORCH_HOME/hub/pyiqa``), so a pyiqa user's copy is used.
DETECTOR_WEIGHTS = WeightFile.from_url(DETECTOR_URL, folder="pyiqa", fixed=True)

#: BGR mean the network's input is centred by (0…255 scale).
BGR_MEAN = (104.0, 117.0, 123.0)
STRIDES = (8, 16, 32)
ANCHOR_SIZES = ((16, 32), (64, 128), (256, 512))
CENTRE_VARIANCE, SIZE_VARIANCE = 0.1, 0.2
PYRAMID_CHANNELS = 256
BODY_LEVEL_CHANNELS = (512, 1024, 2048)  # ResNet-50 stages 2, 3, 4
LANDMARKS = 5
NMS_IOU = 0.4


def _conv_bn(cin: int, cout: int, kernel: int, relu: bool) -> nn.Sequential:
    """Conv (no bias, 'same' padding, stride 1) + BatchNorm [+ ReLU], indices 0, 1 as in the checkpoint."""
    layers: list[nn.Module] = [nn.Conv2d(cin, cout, kernel, padding=kernel // 2, bias=False), nn.BatchNorm2d(cout)]
    if relu:
        layers.append(nn.ReLU())
    return nn.Sequential(*layers)


class FeaturePyramid(nn.Module):
    """Three levels of :data:`PYRAMID_CHANNELS` channels, top-down (nearest upsampling, addition, 3×3 merge)."""

    def __init__(self) -> None:
        super().__init__()
        c = PYRAMID_CHANNELS
        self.output1, self.output2, self.output3 = (_conv_bn(cin, c, 1, relu=True) for cin in BODY_LEVEL_CHANNELS)
        self.merge1, self.merge2 = _conv_bn(c, c, 3, relu=True), _conv_bn(c, c, 3, relu=True)

    def forward(self, levels: list[torch.Tensor]) -> list[torch.Tensor]:
        fine, middle, coarse = self.output1(levels[0]), self.output2(levels[1]), self.output3(levels[2])
        middle = self.merge2(middle + F.interpolate(coarse, size=middle.shape[-2:], mode="nearest"))
        fine = self.merge1(fine + F.interpolate(middle, size=fine.shape[-2:], mode="nearest"))
        return [fine, middle, coarse]


class ContextModule(nn.Module):
    """SSH: a 3×3 branch (half the channels) and stacked 3×3 branches of 5×5 and 7×7 receptive field (a quarter
    each), concatenated and ReLU'd."""

    def __init__(self, channels: int = PYRAMID_CHANNELS) -> None:
        super().__init__()
        half, quarter = channels // 2, channels // 4
        self.conv3X3 = _conv_bn(channels, half, 3, relu=False)
        self.conv5X5_1 = _conv_bn(channels, quarter, 3, relu=True)
        self.conv5X5_2 = _conv_bn(quarter, quarter, 3, relu=False)
        self.conv7X7_2 = _conv_bn(quarter, quarter, 3, relu=True)
        self.conv7x7_3 = _conv_bn(quarter, quarter, 3, relu=False)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        shared = self.conv5X5_1(x)
        wide = self.conv7x7_3(self.conv7X7_2(shared))
        return F.relu(torch.cat([self.conv3X3(x), self.conv5X5_2(shared), wide], dim=1))


class AnchorHead(nn.Module):
    """A 1×1 conv giving ``values`` numbers per anchor, as N×(H·W·anchors)×values (position-major)."""

    def __init__(self, values: int, anchors: int = 2, channels: int = PYRAMID_CHANNELS) -> None:
        super().__init__()
        self.values = values
        self.conv1x1 = nn.Conv2d(channels, anchors * values, 1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        out = self.conv1x1(x).permute(0, 2, 3, 1)
        return out.reshape(out.shape[0], -1, self.values)


@dataclass(frozen=True)
class Faces:
    """Detected faces of one image, most confident first: boxes (F×4, x1 y1 x2 y2 px), scores (F),
    landmarks (F×5×2, x y px)."""

    boxes: torch.Tensor
    scores: torch.Tensor
    landmarks: torch.Tensor

    def __len__(self) -> int:
        return self.scores.shape[0]


def anchors(height: int, width: int) -> torch.Tensor:
    """The anchors of an image of this size: A×4 (centre x, centre y, width, height), as fractions of the image."""
    rows = []
    for stride, sizes in zip(STRIDES, ANCHOR_SIZES):
        grid_h, grid_w = -(-height // stride), -(-width // stride)
        cy = (torch.arange(grid_h, dtype=torch.float64) + 0.5) * stride / height
        cx = (torch.arange(grid_w, dtype=torch.float64) + 0.5) * stride / width
        cy, cx = torch.meshgrid(cy, cx, indexing="ij")
        per_size = [torch.stack([cx, cy, torch.full_like(cx, s / width), torch.full_like(cy, s / height)], dim=-1)
                    for s in sizes]
        rows.append(torch.stack(per_size, dim=2).reshape(-1, 4))  # row, column, anchor
    return torch.cat(rows).float()


def decode_boxes(offsets: torch.Tensor, priors: torch.Tensor) -> torch.Tensor:
    """Box offsets (A×4) → corners (x1, y1, x2, y2) as fractions of the image."""
    centre = priors[:, :2] + offsets[:, :2] * CENTRE_VARIANCE * priors[:, 2:]
    size = priors[:, 2:] * torch.exp(offsets[:, 2:] * SIZE_VARIANCE)
    corner = centre - size / 2
    return torch.cat([corner, corner + size], dim=1)


def decode_landmarks(offsets: torch.Tensor, priors: torch.Tensor) -> torch.Tensor:
    """Landmark offsets (A×10) → points (A×5×2) as fractions of the image."""
    points = offsets.reshape(-1, LANDMARKS, 2)
    return priors[:, None, :2] + points * CENTRE_VARIANCE * priors[:, None, 2:]


class RetinaFace(nn.Module):
    """The detector, named as in ``detection_Resnet50_Final.pth``; build it with :meth:`from_weights`."""

    def __init__(self) -> None:
        super().__init__()
        self.body = resnet_trunk(50)
        self.fpn = FeaturePyramid()
        self.ssh1, self.ssh2, self.ssh3 = ContextModule(), ContextModule(), ContextModule()
        self.ClassHead = nn.ModuleList([AnchorHead(2) for _ in STRIDES])
        self.BboxHead = nn.ModuleList([AnchorHead(4) for _ in STRIDES])
        self.LandmarkHead = nn.ModuleList([AnchorHead(2 * LANDMARKS) for _ in STRIDES])

    @classmethod
    def from_weights(cls, loaded: LoadedWeights) -> "RetinaFace":
        return fill(build_meta(cls), loaded).eval()

    def forward(self, bgr: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        """Mean-centred BGR 0…255 (N×3×H×W) → box offsets (N×A×4), face probabilities (N×A), landmark offsets
        (N×A×10), A anchors in :func:`anchors` order."""
        b = self.body
        x = b.layer1(b.maxpool(b.relu(b.bn1(b.conv1(bgr)))))
        levels = []
        for stage in (b.layer2, b.layer3, b.layer4):
            x = stage(x)
            levels.append(x)
        features = [ssh(level) for ssh, level in zip((self.ssh1, self.ssh2, self.ssh3), self.fpn(levels))]
        boxes = torch.cat([head(f) for head, f in zip(self.BboxHead, features)], dim=1)
        logits = torch.cat([head(f) for head, f in zip(self.ClassHead, features)], dim=1)
        points = torch.cat([head(f) for head, f in zip(self.LandmarkHead, features)], dim=1)
        return boxes, logits.softmax(dim=-1)[..., 1], points

    @torch.no_grad()
    def detect(self, rgb: torch.Tensor, conf_threshold: float = 0.97, nms_iou: float = NMS_IOU) -> Faces:
        """The faces of one RGB image (3×H×W, 0…1) at its own size, most confident first, after NMS."""
        from torchvision.ops import nms

        height, width = rgb.shape[-2:]
        bgr = rgb.flip(0)[None].float() * 255 - torch.tensor(BGR_MEAN, device=rgb.device).view(1, 3, 1, 1)
        box_offsets, scores, point_offsets = (t[0] for t in self(bgr))
        priors = anchors(height, width).to(rgb.device)
        scale = torch.tensor([width, height], dtype=torch.float32, device=rgb.device)
        boxes = decode_boxes(box_offsets, priors) * scale.repeat(2)
        points = decode_landmarks(point_offsets, priors) * scale
        keep = scores > conf_threshold
        boxes, scores, points = boxes[keep], scores[keep], points[keep]
        order = scores.argsort(descending=True)
        boxes, scores, points = boxes[order], scores[order], points[order]
        kept = nms(boxes, scores, nms_iou)
        return Faces(boxes[kept], scores[kept], points[kept])
