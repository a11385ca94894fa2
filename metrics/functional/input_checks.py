"""Per-image input checks that name the offending images of a batch (indices), for clearer errors.

``metrics.base.IQAMetric._check`` tests the image size before NaN and range; metrics with a large minimum
size call :func:`check_per_image` first so that a NaN or out-of-range image is reported as such, with its
batch index, whatever its size.
"""

from __future__ import annotations

import torch

from metrics.base import MetricInputError


def _indices(mask: torch.Tensor) -> str:
    return ", ".join(str(i) for i in torch.nonzero(mask).flatten().tolist())


def check_per_image(x: object, name: str, what: str) -> None:
    """Raise :class:`MetricInputError` naming the batch indices of images with NaN or values outside [0, 1].

    Anything that is not an N×3×H×W float tensor is left to the base class's checks.
    """
    if not isinstance(x, torch.Tensor) or x.dim() != 4 or x.shape[1] != 3 or x.shape[0] == 0 or not x.is_floating_point():
        return
    x = x.detach()
    # One pass per image, without a copy for contiguous or channels-last images; min and max propagate NaN.
    if x.is_contiguous(memory_format=torch.channels_last) and not x.is_contiguous():
        x = x.permute(0, 2, 3, 1)
    low, high = torch.aminmax(x.reshape(x.shape[0], -1), dim=1)
    has_nan = torch.isnan(low) | torch.isnan(high)
    if has_nan.any():
        raise MetricInputError(f"{name}: {what} image(s) {_indices(has_nan)} of the batch contain NaN")
    outside = (low < -1e-6) | (high > 1 + 1e-6)
    if outside.any():
        lo, hi = float(low.min()), float(high.max())
        raise MetricInputError(
            f"{name}: {what} image(s) {_indices(outside)} of the batch have values outside [0, 1] "
            f"(batch range [{lo:.4g}, {hi:.4g}])"
        )


def raise_if_constant(gray: torch.Tensor, name: str, what: str = "dist") -> None:
    """Raise for images (N×1×H×W) whose every pixel has the same value: their NSS features are undefined."""
    flat = gray.flatten(1)
    constant = flat.amax(dim=1) == flat.amin(dim=1)
    if constant.any():
        raise MetricInputError(
            f"{name}: {what} image(s) {_indices(constant)} of the batch are constant; the metric is undefined "
            "for an image without any variation"
        )
