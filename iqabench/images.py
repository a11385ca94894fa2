"""Whatever a user hands the API (paths, Pillow images, numpy arrays, tensors, or lists of them) → the float32
N×3×H×W tensor in [0, 1] that a metric scores.

Files and Pillow images are decoded by the benchmark's own decoder (:func:`datasets_io.decode.read_image`,
:func:`datasets_io.decode.pixels_of`) and converted by the actors' own conversion
(:func:`metrics.base.images_to_tensor`), so that an image scores the same here as in ``iqabench score``.
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from pathlib import Path
from typing import Union

import numpy as np
import torch
from PIL import Image

from datasets_io.decode import pixels_of, read_image
from metrics.base import MetricInputError, images_to_tensor

#: One image, or a batch: a path, a Pillow image, a numpy array (H×W×3, H×W or N×H×W×3), a tensor (3×H×W or
#: N×3×H×W), or a list of any of these.
ImageInput = Union[str, os.PathLike, Image.Image, np.ndarray, torch.Tensor, Sequence["ImageInput"]]


def _pixels(image: str | os.PathLike | Image.Image | np.ndarray, what: str) -> np.ndarray:
    """One image as uint8 H×W×3 RGB (paths and Pillow images through the benchmark's decoder)."""
    if isinstance(image, (str, os.PathLike)):
        return read_image(Path(image))
    if isinstance(image, Image.Image):
        return pixels_of(image, f"{what} (Pillow image)")
    if image.dtype != np.uint8:
        raise MetricInputError(f"{what}: a numpy image must be uint8 to be decoded, got {image.dtype}")
    if image.ndim == 2:
        return np.repeat(image[..., None], 3, axis=2)
    if image.ndim == 3 and image.shape[2] == 3:
        return image
    raise MetricInputError(f"{what}: a uint8 numpy image must be H×W×3 or H×W, got shape {image.shape}")


def _from_tensor(tensor: torch.Tensor, what: str) -> torch.Tensor:
    """A 3×H×W or N×3×H×W tensor: uint8 is scaled to [0, 1], floating point is taken as [0, 1] float32."""
    if tensor.dim() == 3:
        tensor = tensor.unsqueeze(0)
    if tensor.dim() != 4:
        raise MetricInputError(f"{what}: a tensor must be 3×H×W or N×3×H×W, got shape {tuple(tensor.shape)}")
    if tensor.dtype == torch.uint8:
        return tensor.float().div_(255.0)
    if not tensor.is_floating_point():
        raise MetricInputError(f"{what}: a tensor must be uint8 or floating point, got {tensor.dtype}")
    return tensor.float()


def _from_array(array: np.ndarray, what: str) -> torch.Tensor:
    """uint8 arrays are decoded pixels; floating-point H×W×3 / N×H×W×3 arrays are taken as values in [0, 1]."""
    if array.dtype == np.uint8:
        if array.ndim == 4:
            return images_to_tensor(np.ascontiguousarray(array))
        return images_to_tensor([_pixels(array, what)])
    if np.issubdtype(array.dtype, np.floating) and array.ndim in (3, 4) and array.shape[-1] == 3:
        batch = array if array.ndim == 4 else array[None]
        return torch.from_numpy(np.ascontiguousarray(batch, dtype=np.float32)).permute(0, 3, 1, 2)
    raise MetricInputError(f"{what}: a numpy image must be uint8 (H×W, H×W×3, N×H×W×3) or floating point "
                           f"H×W×3 / N×H×W×3 in [0, 1], got {array.dtype} of shape {array.shape}")


def to_batch(images: ImageInput, device: str | torch.device = "cpu", what: str = "image") -> torch.Tensor:
    """``images`` as a float32 N×3×H×W tensor in [0, 1] on ``device``; a list makes a batch (one size)."""
    if isinstance(images, torch.Tensor):
        return _from_tensor(images, what).to(device)
    if isinstance(images, np.ndarray):
        return _from_array(images, what).to(device)
    if isinstance(images, (str, os.PathLike, Image.Image)):
        return images_to_tensor([_pixels(images, what)], device)
    if isinstance(images, Sequence) and len(images) > 0:
        parts = [to_batch(image, device, f"{what} {i}") for i, image in enumerate(images)]
        sizes = {tuple(part.shape[1:]) for part in parts}
        if len(sizes) > 1:
            raise MetricInputError(f"{what}: the images of one batch must have one size, got "
                                   f"{', '.join('×'.join(map(str, s[1:])) for s in sorted(sizes))}")
        return torch.cat(parts)
    raise MetricInputError(f"{what}: expected a path, a Pillow image, a numpy array, a tensor or a non-empty list "
                           f"of them, got {type(images).__name__}")
