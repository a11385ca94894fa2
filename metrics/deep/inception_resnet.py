"""Inception-ResNet-v2, the convolutional trunk (through ``conv2d_7b``: 1536 channels at stride 32).

Szegedy, Ioffe, Vanhoucke & Alemi, "Inception-v4, Inception-ResNet and the Impact of Residual Connections on
Learning", AAAI 2017 (figures 3, 5, 7 and 9–18 give the stem, the three Inception-ResNet block kinds with their
residual scalings 0.17 / 0.10 / 0.20 and the two reduction blocks).

Every convolution is unpadded unless stated, bias-free, followed by BatchNorm (eps 1e-3) and ReLU; module names
are those of the published checkpoints (timm's): ``conv2d_1a`` … ``conv2d_7b``, ``mixed_5b``, ``repeat`` (10 ×
block A), ``mixed_6a``, ``repeat_1`` (20 × block B), ``mixed_7a``, ``repeat_2`` (9 × block C), ``block8`` (the last
block C, without ReLU); each convolution unit holds ``conv`` and ``bn``.
"""

from __future__ import annotations

import torch
from torch import nn

Size = int | tuple[int, int]


class ConvUnit(nn.Module):
    """Convolution (no bias) → BatchNorm (eps 1e-3) → ReLU."""

    def __init__(self, cin: int, cout: int, kernel: Size, stride: int = 1, padding: Size = 0) -> None:
        super().__init__()
        self.conv = nn.Conv2d(cin, cout, kernel, stride=stride, padding=padding, bias=False)
        self.bn = nn.BatchNorm2d(cout, eps=1e-3)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return torch.relu(self.bn(self.conv(x)))


def _chain(*units: nn.Module) -> nn.Sequential:
    return nn.Sequential(*units)


class _Branches(nn.Module):
    """Parallel branches ``branch0`` … concatenated along channels."""

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return torch.cat([branch(x) for name, branch in self.named_children() if name.startswith("branch")], 1)


class Mixed5b(_Branches):
    """After the stem: 192 → 96 + 64 + 96 + 64 = 320 channels."""

    def __init__(self) -> None:
        super().__init__()
        self.branch0 = ConvUnit(192, 96, 1)
        self.branch1 = _chain(ConvUnit(192, 48, 1), ConvUnit(48, 64, 5, padding=2))
        self.branch2 = _chain(ConvUnit(192, 64, 1), ConvUnit(64, 96, 3, padding=1), ConvUnit(96, 96, 3, padding=1))
        self.branch3 = _chain(nn.AvgPool2d(3, stride=1, padding=1, count_include_pad=False), ConvUnit(192, 64, 1))


class _Residual(_Branches):
    """An Inception-ResNet block: the branches, a linear 1×1 projection back to the input width, scaled and added."""

    def __init__(self, scale: float, relu: bool = True) -> None:
        super().__init__()
        self.scale, self.relu = scale, relu

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        out = self.conv2d(super().forward(x)) * self.scale + x
        return torch.relu(out) if self.relu else out


class Block35(_Residual):
    """Inception-ResNet-A (35×35 grid in the paper), 320 channels."""

    def __init__(self) -> None:
        super().__init__(0.17)
        self.branch0 = ConvUnit(320, 32, 1)
        self.branch1 = _chain(ConvUnit(320, 32, 1), ConvUnit(32, 32, 3, padding=1))
        self.branch2 = _chain(ConvUnit(320, 32, 1), ConvUnit(32, 48, 3, padding=1), ConvUnit(48, 64, 3, padding=1))
        self.conv2d = nn.Conv2d(128, 320, 1)


class Block17(_Residual):
    """Inception-ResNet-B (17×17), 1088 channels, factorised 1×7 / 7×1 convolutions."""

    def __init__(self) -> None:
        super().__init__(0.10)
        self.branch0 = ConvUnit(1088, 192, 1)
        self.branch1 = _chain(ConvUnit(1088, 128, 1), ConvUnit(128, 160, (1, 7), padding=(0, 3)),
                              ConvUnit(160, 192, (7, 1), padding=(3, 0)))
        self.conv2d = nn.Conv2d(384, 1088, 1)


class Block8(_Residual):
    """Inception-ResNet-C (8×8), 2080 channels, factorised 1×3 / 3×1 convolutions."""

    def __init__(self, scale: float = 0.20, relu: bool = True) -> None:
        super().__init__(scale, relu)
        self.branch0 = ConvUnit(2080, 192, 1)
        self.branch1 = _chain(ConvUnit(2080, 192, 1), ConvUnit(192, 224, (1, 3), padding=(0, 1)),
                              ConvUnit(224, 256, (3, 1), padding=(1, 0)))
        self.conv2d = nn.Conv2d(448, 2080, 1)


class Mixed6a(_Branches):
    """Reduction-A: 320 → 384 + 384 + 320 = 1088 channels, stride 2."""

    def __init__(self) -> None:
        super().__init__()
        self.branch0 = ConvUnit(320, 384, 3, stride=2)
        self.branch1 = _chain(ConvUnit(320, 256, 1), ConvUnit(256, 256, 3, padding=1), ConvUnit(256, 384, 3, stride=2))
        self.branch2 = nn.MaxPool2d(3, stride=2)


class Mixed7a(_Branches):
    """Reduction-B: 1088 → 384 + 288 + 320 + 1088 = 2080 channels, stride 2."""

    def __init__(self) -> None:
        super().__init__()
        self.branch0 = _chain(ConvUnit(1088, 256, 1), ConvUnit(256, 384, 3, stride=2))
        self.branch1 = _chain(ConvUnit(1088, 256, 1), ConvUnit(256, 288, 3, stride=2))
        self.branch2 = _chain(ConvUnit(1088, 256, 1), ConvUnit(256, 288, 3, padding=1), ConvUnit(288, 320, 3, stride=2))
        self.branch3 = nn.MaxPool2d(3, stride=2)


class InceptionResNetV2Trunk(nn.Module):
    """The trunk up to ``conv2d_7b`` (no pooling, no classifier); ``forward`` gives N×1536×h×w."""

    channels = 1536

    def __init__(self) -> None:
        super().__init__()
        self.conv2d_1a = ConvUnit(3, 32, 3, stride=2)
        self.conv2d_2a = ConvUnit(32, 32, 3)
        self.conv2d_2b = ConvUnit(32, 64, 3, padding=1)
        self.maxpool_3a = nn.MaxPool2d(3, stride=2)
        self.conv2d_3b = ConvUnit(64, 80, 1)
        self.conv2d_4a = ConvUnit(80, 192, 3)
        self.maxpool_5a = nn.MaxPool2d(3, stride=2)
        self.mixed_5b = Mixed5b()
        self.repeat = nn.Sequential(*[Block35() for _ in range(10)])
        self.mixed_6a = Mixed6a()
        self.repeat_1 = nn.Sequential(*[Block17() for _ in range(20)])
        self.mixed_7a = Mixed7a()
        self.repeat_2 = nn.Sequential(*[Block8() for _ in range(9)])
        self.block8 = Block8(scale=1.0, relu=False)  # the last block C: unscaled, no ReLU
        self.conv2d_7b = ConvUnit(2080, self.channels, 1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        for layer in self.children():
            x = layer(x)
        return x
