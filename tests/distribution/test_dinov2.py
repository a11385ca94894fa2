"""``fid_dinov2`` equals pyiqa 0.1.16's pipeline with a reduced DINOv2 of the official layout.

pyiqa loads DINOv2 with ``torch.hub.load('facebookresearch/dinov2', ...)`` from GitHub, which the tests cannot
reach. Its hub call is replaced by an independent implementation of the same network: timm's
``VisionTransformer`` configured as DINOv2 (14-px patches, class token, LayerScale blocks, LayerNorm ε 1e-6, GELU
MLP, final norm, class-token output), loaded from the same random file of the official layout
(``tests/_helpers/random_weights_distribution.py``: width 128, 2 heads, 2 blocks, the 37×37 position grid). timm
resamples position embeddings differently from the official hub model, so the reference's 16×16 table for
224-px inputs is made here as the official code makes it (bicubic, scale factor (16 + 0.1) / 37, no antialias).

Compared: pyiqa's resize (``clean``, 224×224), its /255 and ImageNet standardisation, the network and its
Fréchet distance, against ours — the per-image features and the final ``fid_dinov2`` of folder a vs folder b.
"""

from __future__ import annotations

import numpy as np
import pytest
import torch
import torch.nn.functional as F

from datasets_io.decode import read_image
from metrics.deep import weights
from metrics.distribution.extractor import WEIGHT_FILES, FeatureExtractor
from metrics.distribution.specs import DINOV2_FILE
from orchestrator.sets.images import list_images
from orchestrator.sets.score import score_sets
from tests._helpers.random_weights_distribution import REDUCED_DINOV2

GRID_224 = 224 // REDUCED_DINOV2.patch


def reference_dinov2() -> torch.nn.Module:
    timm = pytest.importorskip("timm")
    shape = REDUCED_DINOV2
    model = timm.models.vision_transformer.VisionTransformer(
        img_size=224, patch_size=shape.patch, num_classes=0, global_pool="token", embed_dim=shape.width,
        depth=shape.depth, num_heads=shape.width // 64, mlp_ratio=shape.mlp_width / shape.width, init_values=1.0)
    state = dict(weights.load(WEIGHT_FILES[DINOV2_FILE]).state_dict)
    state.pop("mask_token")
    table = state["pos_embed"][:, 1:].reshape(1, shape.grid, shape.grid, -1).permute(0, 3, 1, 2)
    scale = (GRID_224 + 0.1) / shape.grid
    table = F.interpolate(table, scale_factor=(scale, scale), mode="bicubic", antialias=False)
    state["pos_embed"] = torch.cat([state["pos_embed"][:, :1], table.permute(0, 2, 3, 1).reshape(1, -1, shape.width)], 1)
    model.load_state_dict(state, strict=True)
    return model.eval()


@pytest.fixture()
def pyiqa_with_reference_dinov2(distribution_env, monkeypatch):
    pyiqa = pytest.importorskip("pyiqa")
    monkeypatch.setattr(torch.hub, "load", lambda *args, **kwargs: reference_dinov2())
    return pyiqa


def test_dinov2_features_and_fid_equal_pyiqa(image_sets, pyiqa_with_reference_dinov2):
    from pyiqa.archs import fid_arch

    folder_a, folder_b = image_sets
    reference = pyiqa_with_reference_dinov2.create_metric("fid_dinov2", device="cpu")
    theirs = fid_arch.get_folder_features(str(folder_a), reference.net.model, num_workers=0, batch_size=8,
                                          test_img_size=(224, 224), device=torch.device("cpu"), mode="clean",
                                          verbose=False)
    ours = FeatureExtractor("fid_dinov2").extract([read_image(path) for path in list_images(folder_a)])
    assert ours.shape == theirs.shape == (4, REDUCED_DINOV2.width)
    assert (ours.std(axis=0) > 0).all()
    assert np.abs(ours - theirs).max() <= 1e-4 * np.abs(theirs).max()

    their_fid = float(reference(str(folder_a), str(folder_b), num_workers=0, verbose=False))
    our_fid = score_sets("fid_dinov2", folder_a, folder_b)
    assert their_fid > 1e-3
    assert abs(our_fid.value - their_fid) <= 1e-4 * their_fid, (our_fid.value, their_fid)


def test_position_embeddings_are_the_trained_ones_at_the_training_grid():
    """At the 37×37 training grid the table is used as stored (no resampling), elsewhere resampled to the grid."""
    from metrics.distribution.dinov2 import DINOv2

    model = DINOv2.from_weights(weights.load(WEIGHT_FILES[DINOV2_FILE]))
    grid = REDUCED_DINOV2.grid
    assert model.positions(grid, grid) is model.pos_embed
    assert model.positions(GRID_224, GRID_224).shape == (1, GRID_224 ** 2 + 1, REDUCED_DINOV2.width)
    assert model.positions(10, 12).shape == (1, 121, REDUCED_DINOV2.width)
