"""The shared Swin Transformer builder (metrics/deep/swin.py): its geometry, and equality with pyiqa 0.1.16's
timm-layout Swin on small made-up configurations under identical random weights."""

from __future__ import annotations

import pytest
import torch

from metrics.deep.nets import build_meta
from metrics.deep.swin import SwinConfig, SwinTransformer, relative_position_index, shifted_window_mask, swin
from tests._helpers.equivalence import RTOL


def _scaled_difference(ours: torch.Tensor, theirs: torch.Tensor) -> float:
    """Largest difference relative to the largest magnitude (features and logits cross zero)."""
    return float((ours - theirs).abs().max() / theirs.abs().max())


def test_relative_position_index_covers_the_table():
    window = 3
    index = relative_position_index(window)
    assert index.shape == (9, 9)
    assert (index.diagonal() == (window - 1) * (2 * window - 1) + window - 1).all()  # zero offset: the centre row
    assert sorted(index.unique().tolist()) == list(range((2 * window - 1) ** 2))
    assert torch.equal(index + index.T, torch.full_like(index, 2 * int(index[0, 0])))  # opposite offsets


def test_shift_mask_separates_regions_only_in_boundary_windows():
    mask = shifted_window_mask((8, 8), 4, 2)  # 2×2 windows of 16 tokens
    assert mask.shape == (4, 16, 16)
    assert (mask[0] == 0).all()  # the top-left window lies in one region
    assert set(mask.unique().tolist()) == {0.0, -100.0}
    assert torch.equal(mask, mask.transpose(1, 2))
    assert int((mask[3] == 0).sum()) == 4 * 4 * 4  # the last window: four regions of four tokens each (4² pairs)


def test_wrong_input_size_is_refused():
    model = build_meta(lambda: swin("swin_base_patch4_window12_384"))
    with pytest.raises(ValueError, match="384×384"):
        model.stage_maps(torch.empty(1, 3, 224, 224, device="meta"))


def _random_state(model: torch.nn.Module, seed: int) -> dict[str, torch.Tensor]:
    gen = torch.Generator().manual_seed(seed)
    state = {}
    for key, value in model.state_dict().items():
        if not value.is_floating_point() or key.endswith("attn_mask"):
            state[key] = value
        elif value.dim() >= 2:
            state[key] = torch.randn(value.shape, generator=gen) * (2 / value[0].numel()) ** 0.5
        else:
            state[key] = (0.1 if key.endswith("bias") else 1.0) * torch.randn(value.shape, generator=gen) + (
                0.0 if key.endswith("bias") else 1.0)
    return state


@pytest.mark.parametrize("config", [
    SwinConfig(64, 4, 16, (2, 2, 2), (1, 2, 4), 4),  # stages of 16, 8, 4 tokens a side: two shifted stages
    SwinConfig(48, 2, 8, (2, 4), (2, 2), 6, mlp_ratio=2.0),  # 24, 12: window 6 shifted by 3 in both
])
def test_builder_equals_reference_swin(config):
    pytest.importorskip("timm")
    topiq_swin = pytest.importorskip("pyiqa.archs.topiq_swin")
    theirs = topiq_swin.SwinTransformer(img_size=config.img_size, patch_size=config.patch_size,
                                        embed_dim=config.embed_dim, depths=config.depths, num_heads=config.heads,
                                        window_size=config.window, mlp_ratio=config.mlp_ratio, num_classes=5,
                                        drop_path_rate=0.0).eval()
    state = _random_state(theirs, seed=5)
    theirs.load_state_dict(state)
    ours = build_meta(lambda: SwinTransformer(config, classes=5))
    geometry = set(ours.geometry_buffer_keys())
    assert geometry <= set(state) and not geometry & set(ours.state_dict())
    ours.load_state_dict({k: v for k, v in state.items() if k not in geometry}, strict=True, assign=True)
    for key in geometry:  # the reference's buffers equal ours, computed from the geometry
        i, j = int(key.split(".")[1]), int(key.split(".")[3])
        block = ours.layers[i].blocks[j]
        want = (relative_position_index(block.window) if key.endswith("index")
                else shifted_window_mask(block.resolution, block.window, block.shift))
        assert torch.equal(state[key], want), key
    x = torch.rand(2, 3, config.img_size, config.img_size, generator=torch.Generator().manual_seed(1))
    with torch.inference_mode():
        maps = ours.stage_maps(x)
        tokens = theirs.patch_embed(x)
        for stage, ours_map in zip(theirs.layers, maps):
            tokens = stage(tokens)
            assert _scaled_difference(ours_map, tokens.transpose(1, 2).reshape(ours_map.shape)) <= RTOL
        assert _scaled_difference(ours(x), theirs(x)) <= RTOL
    assert [m.shape[1] for m in maps] == list(config.stage_channels())
