"""The per-image half of a distribution metric: decoded 8-bit images in, one feature vector per image out."""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import torch

from metrics.deep import weights
from metrics.deep.weights import WeightFile
from metrics.distribution.resize import (
    resize_image,
    scale_for_dinov2,
    scale_for_inception,
)
from metrics.distribution.specs import (
    DINOV2_FILE,
    DINOV2_URL,
    INCEPTION_FILE,
    RESIZE_MODES,
    DistributionSpec,
    get_distribution_spec,
)

#: The weight files, as the weight store fetches them: the FID Inception from pyiqa's Hugging Face repo, DINOv2
#: from the official URL into torch hub's checkpoint folder (where ``torch.hub.load`` keeps it).
WEIGHT_FILES: dict[str, WeightFile] = {
    INCEPTION_FILE: WeightFile(INCEPTION_FILE),
    DINOV2_FILE: WeightFile(DINOV2_FILE, source="torchvision", url=DINOV2_URL),
}


class FeatureExtractor:
    """The network of one distribution metric with its resize mode; :meth:`extract` gives N×D float32 features.

    ``weight_sha256`` maps each loaded file to its sha256 (for provenance in the output).
    """

    def __init__(self, metric: str, mode: str | None = None, device: str = "cpu", batch_size: int = 8) -> None:
        self.spec: DistributionSpec = get_distribution_spec(metric)
        self.mode = mode or self.spec.default_mode
        if self.mode not in RESIZE_MODES:
            raise ValueError(f"{metric}: resize mode must be one of {', '.join(RESIZE_MODES)}, got {self.mode!r}")
        if batch_size < 1:
            raise ValueError(f"batch_size must be >= 1, got {batch_size}")
        self.device = device
        self.batch_size = batch_size
        self.weight_sha256: dict[str, str] = {}
        loaded = weights.load(WEIGHT_FILES[self.spec.weight_files[0]])
        self.weight_sha256[loaded.file.name] = loaded.sha256
        if self.spec.backbone == "inception":
            from metrics.distribution.inception import FIDInception

            self.network: torch.nn.Module = FIDInception(self.spec.feature).load(loaded)
        else:
            from metrics.distribution.dinov2 import DINOv2

            self.network = DINOv2.from_weights(loaded)
        self.network.to(device)

    def preprocess(self, images: Sequence[np.ndarray]) -> torch.Tensor:
        """Resized and scaled network input, N×3×S×S."""
        batch = torch.stack([resize_image(image, self.spec.input_size, self.mode) for image in images])
        if self.spec.backbone == "inception":
            return scale_for_inception(batch, self.mode)
        return scale_for_dinov2(batch)

    def extract(self, images: Sequence[np.ndarray]) -> np.ndarray:
        """N×D float32 features of H×W×3 uint8 images (in batches of ``batch_size``)."""
        chunks: list[np.ndarray] = []
        with torch.inference_mode():
            for start in range(0, len(images), self.batch_size):
                x = self.preprocess(images[start:start + self.batch_size]).to(self.device)
                chunks.append(self.network(x).float().cpu().numpy())
        return np.concatenate(chunks) if chunks else np.zeros((0, self.spec.feature_dim), dtype=np.float32)
