"""The CLIP trunk equals pyiqa 0.1.16's CLIP (``pyiqa.archs.clip_model.build_model``) on identical random weights.

Reduced configurations of the published architectures (same layer types and key names, few layers, narrow):
a ViT with 16-px patches (as ViT-B/16) and a modified ResNet (as RN50), image and text encoders, with and without
positional embeddings, at the trained size and at sizes whose token counts differ (embeddings resized). The
full-size trunks are compared through the metrics in test_equivalence_clip.py (RN50, ViT-B/32, ViT-L/14).
"""

from __future__ import annotations

import pytest
import torch

from metrics.deep.clip_trunk import CLIP, ClipConfig, tokenize
from metrics.deep.nets import build_meta
from tests._helpers.equivalence import RTOL
from tests._helpers.random_weights_b import _random_state
from tests._helpers.random_weights_clip import import_openai_clip

#: (embed_dim, image_resolution, vision_layers, vision_width, patch, context, vocab, text width, heads, layers)
REDUCED = {
    "ViT/16": (96, 64, 2, 128, 16, 77, 49408, 128, 2, 2),
    "ResNet": (96, 64, (1, 2, 1, 1), 32, None, 77, 49408, 128, 2, 2),
}


def _difference(got: torch.Tensor, want: torch.Tensor) -> float:
    """Largest absolute difference relative to the largest feature magnitude (features cross zero)."""
    return float((got - want).abs().max() / want.abs().max())


def _state(config: tuple, seed: int) -> dict[str, torch.Tensor]:
    clip = import_openai_clip()
    with torch.device("meta"):
        layout = clip.model.CLIP(*config).state_dict()
    state = _random_state({key: tuple(value.shape) for key, value in layout.items()}, seed)
    state["logit_scale"] = torch.tensor(4.6)
    # float16-representable values: the reference rounds its layers to float16 on loading, as OpenAI's files are
    return {key: value.half().float() for key, value in state.items()}


@pytest.mark.parametrize("kind", sorted(REDUCED))
def test_trunk_same_function_as_reference(kind):
    reference_module = pytest.importorskip("pyiqa.archs.clip_model")
    state = _state(REDUCED[kind], seed=11)
    theirs = reference_module.build_model(dict(state)).float()
    ours = build_meta(lambda: CLIP(ClipConfig.of(state)))
    ours.load_state_dict(state, assign=True)
    ours.eval()
    assert ours.config.input_resolution == 64
    gen = torch.Generator().manual_seed(5)
    worst = 0.0
    with torch.inference_mode():
        for h, w in ((64, 64), (80, 112), (67, 93)):
            x = torch.randn(2, 3, h, w, generator=gen)
            for positional in (True, False):
                got = ours.encode_image(x, positional)
                want = theirs.encode_image(x, pos_embedding=positional)
                worst = max(worst, _difference(got, want))
                assert _difference(got, want) <= RTOL, (kind, h, w, positional)
        tokens = tokenize(["a photo with good quality", "Noise-free image", ""])
        import clip

        assert torch.equal(tokens, clip.tokenize(["a photo with good quality", "Noise-free image", ""]).long())
        got, want = ours.encode_text(tokens), theirs.encode_text(tokens)
        assert _difference(got, want) <= RTOL
        worst = max(worst, _difference(got, want))
    print(f"\n{kind} trunk: max relative difference vs pyiqa 0.1.16 = {worst:.2e}")


def test_block_outputs_lead_to_the_image_feature():
    """The per-block tokens (A-FINE's features): one per block, class token first, and the last one's class token
    gives the encoder's feature (their values are compared with pyiqa's through A-FINE, test_equivalence_afine)."""
    state = _state(REDUCED["ViT/16"], seed=12)
    ours = build_meta(lambda: CLIP(ClipConfig.of(state)))
    ours.load_state_dict(state, assign=True)
    visual = ours.visual.eval()
    x = torch.randn(2, 3, 80, 112, generator=torch.Generator().manual_seed(6))
    with torch.inference_mode():
        blocks = visual.block_outputs(x, positional=True)
        assert len(blocks) == 2 and blocks[0].shape == (2, 1 + 5 * 7, 128)
        assert not torch.equal(blocks[0], blocks[1])
        assert torch.allclose(visual.ln_post(blocks[-1][:, 0]) @ visual.proj, visual(x, positional=True),
                              rtol=0.0, atol=1e-6)
