"""The pixel pipelines of the distribution metrics: an 8-bit RGB image to the network's square input.

Three resize modes, as pyiqa 0.1.16 and clean-fid define them (Parmar et al., CVPR 2022), all on 0…255 values:

* ``clean`` — each channel as a 32-bit float image resized by Pillow's bicubic filter (antialiased), clipped to
  [0, 255]; no rounding to 8 bits.
* ``legacy_pytorch`` — PyTorch's bilinear interpolation (``align_corners=False``, no antialiasing).
* ``legacy_tensorflow`` — TensorFlow 1's ``resize_bilinear`` (``align_corners=False``, no half-pixel centres):
  output pixel *i* samples the input at ``i · in/out`` (float32), linearly between the two pixels around it, the
  last pixel repeated at the border.

Then the network's scaling: the Inception takes ``(x − 128) / 128`` after ``clean`` and ``legacy_tensorflow`` and
``2 · x/255 − 1`` after ``legacy_pytorch``; DINOv2 takes ``x/255`` standardised with the ImageNet mean and std.
"""

from __future__ import annotations

import numpy as np
import torch
import torch.nn.functional as F
from PIL import Image

from metrics.distribution.specs import RESIZE_MODES

IMAGENET_MEAN = (0.485, 0.456, 0.406)
IMAGENET_STD = (0.229, 0.224, 0.225)


def _resize_clean(image: np.ndarray, size: int) -> torch.Tensor:
    channels = []
    for c in range(3):
        plane = Image.fromarray(np.ascontiguousarray(image[:, :, c], dtype=np.float32))  # mode "F"
        channels.append(np.asarray(plane.resize((size, size), resample=Image.Resampling.BICUBIC)).clip(0, 255))
    return torch.from_numpy(np.stack(channels).astype(np.float32))


def _tf1_axis(length_in: int, length_out: int) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """(lower index, upper index, weight of the upper one) per output position along one axis, as TensorFlow 1."""
    where = torch.arange(length_out, dtype=torch.float32) * torch.tensor(length_in / length_out, dtype=torch.float32)
    lower = where.long()  # floor: positions are >= 0
    return lower, (lower + 1).clamp_max(length_in - 1), where - lower.float()


def resize_bilinear_tf1(x: torch.Tensor, size: int) -> torch.Tensor:
    """TensorFlow 1's bilinear resize (``align_corners=False``) of a C×H×W float tensor to C×size×size."""
    y0, y1, wy = _tf1_axis(x.shape[-2], size)
    x0, x1, wx = _tf1_axis(x.shape[-1], size)
    top, bottom = x[:, y0], x[:, y1]
    top = top[:, :, x0] + (top[:, :, x1] - top[:, :, x0]) * wx
    bottom = bottom[:, :, x0] + (bottom[:, :, x1] - bottom[:, :, x0]) * wx
    return top + (bottom - top) * wy[:, None]


def resize_image(image: np.ndarray, size: int, mode: str) -> torch.Tensor:
    """An H×W×3 uint8 image as a 3×size×size float32 tensor of 0…255 values, resized by ``mode``."""
    if mode not in RESIZE_MODES:
        raise ValueError(f"resize mode must be one of {', '.join(RESIZE_MODES)}, got {mode!r}")
    if image.dtype != np.uint8 or image.ndim != 3 or image.shape[2] != 3:
        raise ValueError(f"expected an H×W×3 uint8 image, got {image.dtype} {image.shape}")
    if mode == "clean":
        return _resize_clean(image, size)
    x = torch.from_numpy(np.ascontiguousarray(image)).permute(2, 0, 1).float()
    if mode == "legacy_tensorflow":
        return resize_bilinear_tf1(x, size)
    return F.interpolate(x[None], size=(size, size), mode="bilinear", align_corners=False)[0]


def scale_for_inception(batch: torch.Tensor, mode: str) -> torch.Tensor:
    """0…255 values to the FID Inception's input range, as each mode's pipeline scales them."""
    if mode == "legacy_pytorch":
        return 2 * (batch / 255) - 1
    return (batch - 128) / 128


def scale_for_dinov2(batch: torch.Tensor) -> torch.Tensor:
    """0…255 values to DINOv2's input: [0, 1], then standardised with the ImageNet mean and std."""
    mean = torch.tensor(IMAGENET_MEAN, dtype=batch.dtype, device=batch.device).view(1, 3, 1, 1)
    std = torch.tensor(IMAGENET_STD, dtype=batch.dtype, device=batch.device).view(1, 3, 1, 1)
    return (batch / 255 - mean) / std
