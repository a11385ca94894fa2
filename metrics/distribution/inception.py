"""The Inception-V3 of FID: the TensorFlow 2015-12-05 graph ported to PyTorch (``pt_inception-2015-12-05``).

It is torchvision's Inception-V3 (1008 classes, no auxiliary head) with three differences that the TensorFlow
graph has: the average-pool branch of the A, C and first E blocks does not count the zero padding
(``count_include_pad=False``), and the last E block (``Mixed_7c``) pools its pool branch with a 3×3 *max* pool.
torchvision's block modules are used for their layers (and state-dict names); only their pooling differs here.

Outputs (what the distribution metrics take):

* ``pool`` — the 2048-d global average pool after ``Mixed_7c`` (FID);
* ``mixed_6a`` — the first 7 of the 768 channels of ``Mixed_6a`` (17×17), flattened channel by channel into 2023
  values (sFID, as in OpenAI's guided-diffusion evaluator);
* ``logits_unbiased`` — the pool times the classifier's weight, without its bias: 1008 logits (Inception Score).

Input: N×3×299×299 already scaled to about [-1, 1] (see :mod:`metrics.distribution.resize`).
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn
from torchvision.models import inception as tv_inception

from metrics.deep.weights import LoadedWeights, WeightIntegrityError

NUM_CLASSES = 1008
SFID_CHANNELS = 7


def _pool_without_padding(x: torch.Tensor) -> torch.Tensor:
    """3×3 average pool, stride 1, whose border windows average only the pixels inside the image (TensorFlow)."""
    return F.avg_pool2d(x, kernel_size=3, stride=1, padding=1, count_include_pad=False)


def _max_pool(x: torch.Tensor) -> torch.Tensor:
    return F.max_pool2d(x, kernel_size=3, stride=1, padding=1)


class _BlockA(tv_inception.InceptionA):
    def _forward(self, x: torch.Tensor) -> list[torch.Tensor]:
        five = self.branch5x5_2(self.branch5x5_1(x))
        double = self.branch3x3dbl_3(self.branch3x3dbl_2(self.branch3x3dbl_1(x)))
        return [self.branch1x1(x), five, double, self.branch_pool(_pool_without_padding(x))]


class _BlockC(tv_inception.InceptionC):
    def _forward(self, x: torch.Tensor) -> list[torch.Tensor]:
        seven = self.branch7x7_3(self.branch7x7_2(self.branch7x7_1(x)))
        double = x
        for layer in (self.branch7x7dbl_1, self.branch7x7dbl_2, self.branch7x7dbl_3, self.branch7x7dbl_4,
                      self.branch7x7dbl_5):
            double = layer(double)
        return [self.branch1x1(x), seven, double, self.branch_pool(_pool_without_padding(x))]


class _BlockE(tv_inception.InceptionE):
    #: The pool of the fourth branch: TensorFlow's average pool (``Mixed_7b``) or a max pool (``Mixed_7c``).
    pool = staticmethod(_pool_without_padding)

    def _forward(self, x: torch.Tensor) -> list[torch.Tensor]:
        mid = self.branch3x3_1(x)
        wide = torch.cat([self.branch3x3_2a(mid), self.branch3x3_2b(mid)], 1)
        mid = self.branch3x3dbl_2(self.branch3x3dbl_1(x))
        double = torch.cat([self.branch3x3dbl_3a(mid), self.branch3x3dbl_3b(mid)], 1)
        return [self.branch1x1(x), wide, double, self.branch_pool(self.pool(x))]


class _BlockEMaxPool(_BlockE):
    pool = staticmethod(_max_pool)


def _graph() -> nn.Module:
    """torchvision's Inception-V3 skeleton (1008 classes) with the FID blocks in place (random, or meta)."""
    net = tv_inception.Inception3(num_classes=NUM_CLASSES, aux_logits=False, init_weights=False)
    net.Mixed_5b, net.Mixed_5c, net.Mixed_5d = _BlockA(192, 32), _BlockA(256, 64), _BlockA(288, 64)
    net.Mixed_6b, net.Mixed_6c = _BlockC(768, 128), _BlockC(768, 160)
    net.Mixed_6d, net.Mixed_6e = _BlockC(768, 160), _BlockC(768, 192)
    net.Mixed_7b, net.Mixed_7c = _BlockE(1280), _BlockEMaxPool(2048)
    return net


class FIDInception(nn.Module):
    """The FID Inception-V3 up to the block that ``feature`` needs; ``forward`` returns N×D features."""

    def __init__(self, feature: str) -> None:
        super().__init__()
        if feature not in ("pool", "mixed_6a", "logits_unbiased"):
            raise ValueError(f"FID Inception: unknown feature {feature!r}")
        self.feature = feature
        with torch.device("meta"):
            self.net = _graph()

    def load(self, loaded: LoadedWeights) -> FIDInception:
        """Adopt every tensor of the file (BatchNorm counters, which the published file lacks, are not needed)."""
        state = {k.removeprefix("module."): v for k, v in loaded.state_dict.items()}
        missing, unexpected = self.net.load_state_dict(state, strict=False, assign=True)
        missing = [k for k in missing if not k.endswith("num_batches_tracked")]
        if missing or unexpected:
            raise WeightIntegrityError(
                f"weight file {loaded.file.filename} ({loaded.path}) is not the FID Inception: missing "
                f"{sorted(missing)[:5]}, unexpected {sorted(unexpected)[:5]}")
        for module in self.net.modules():  # counters left on the meta device: give them a value (never read)
            if isinstance(module, nn.BatchNorm2d) and module.num_batches_tracked.is_meta:
                module.num_batches_tracked = torch.zeros((), dtype=torch.long)
        self.net.float().requires_grad_(False).eval()
        return self

    def _stem(self, x: torch.Tensor) -> torch.Tensor:
        n = self.net
        x = n.Conv2d_2b_3x3(n.Conv2d_2a_3x3(n.Conv2d_1a_3x3(x)))
        x = F.max_pool2d(x, kernel_size=3, stride=2)
        x = n.Conv2d_4a_3x3(n.Conv2d_3b_1x1(x))
        x = F.max_pool2d(x, kernel_size=3, stride=2)
        return n.Mixed_6a(n.Mixed_5d(n.Mixed_5c(n.Mixed_5b(x))))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        n = self.net
        x = self._stem(x)
        if self.feature == "mixed_6a":
            return x[:, :SFID_CHANNELS].reshape(x.shape[0], -1)
        for block in (n.Mixed_6b, n.Mixed_6c, n.Mixed_6d, n.Mixed_6e, n.Mixed_7a, n.Mixed_7b, n.Mixed_7c):
            x = block(x)
        pooled = x.mean(dim=(2, 3))
        if self.feature == "pool":
            return pooled
        return pooled @ n.fc.weight.T
