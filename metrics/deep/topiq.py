"""TOPIQ: top-down IQA from semantics to distortions (CFANet on a ResNet-50 or a Swin-B; FR on KADID/PIPAL, NR on
KonIQ/SPAQ/FLIVE, aesthetics on AVA, face IQA on GFIQA/CGFIQA).

Chen, Mo, Hou, Wu, Liao, Sun, Yan & Lin, "TOPIQ: A Top-down Approach from Semantics to Distortions for Image
Quality Assessment", IEEE TIP 33, 2024.

The ImageNet-standardised image (and, FR, its reference) goes through a ResNet-50; five feature levels are kept:
the stem after conv1/BatchNorm/ReLU (64 channels, stride 2, before the max-pool) and stages 1–4 (256…2048
channels, strides 4…32). With a Swin-B (``topiq_iaa``, ``topiq_nr_swin-face``; :mod:`metrics.deep.swin`, the
``swin_base_patch4_window12_384`` variant) the image is first resized to 384×384 (bilinear, antialiased, whatever
its aspect ratio, as the reference does) and the four stage outputs are kept (each after its patch merging, no
final norm): 256, 512, 1024 and 1024 channels at 48², 24², 12² and 12². Per level, from the deepest to the
shallowest:

* FR: ``diff = sqrt((d − r)² + 1e-12)``; the concatenation [d, r, diff] is multiplied by a spatial gate computed
  from ``diff`` (1×1 conv → 64, GELU, 3×3 conv 64, GELU, 3×3 conv → 1, sigmoid).
* NR (gated convolution): a 1×1 conv doubles the channels into (a, b); the output is GELU(a) times the gate of b
  (same gate layout as FR).
* When the map is larger than the stage-4 map in both height and width, it is adaptive-average-pooled to the
  stage-4 size (a level that is larger in one direction only stays as it is).
* A 1×1 conv to D channels + GELU gives one token per position; a learnt 32×32 positional embedding (D/2
  channels varying along height, D/2 along width), resized bicubically (corners not aligned) to the map, is added.
* One pre-norm transformer encoder layer (feed-forward min(4·D, 2048), GELU). D = 256 with 4 heads for the
  quality checkpoints, D = 512 with 8 heads for the aesthetic one.

Top-down cross-scale attention: the stage-4 tokens are the query; four pre-norm decoder layers (cross-attention
only: query LayerNorm, memory LayerNorm, attention, residual; LayerNorm + feed-forward, residual) attend to the
tokens of stage 3, 2, 1 and the stem in turn. A final encoder layer, the mean over tokens and an MLP (LayerNorm,
linear, GELU, LayerNorm, linear, GELU, linear D→C) give the score (higher is better): C = 1 for quality; for
aesthetics (``topiq_iaa_res50``) C = 10, a softmax over the ratings 1…10, and the score is their expectation.

Some ResNet-50 checkpoints are tested on resized images, as the reference does at test time: ``topiq_nr-flive`` and
``topiq_iaa_res50`` first resize the image so that its shorter side is 384 px, the face checkpoints to 512 px
(bilinear, antialiased; torchvision's ``resize``). Swin checkpoints take 384×384 (above).

The reference implementation's test-time path is deterministic (one full-image pass, no crops; dropout off), so
this one is too. Its decoder layers also hold a self-attention block that their forward pass never uses; those
tensors are in the checkpoint and are skipped here.

Weights: pyiqa's ``cfanet_fr_kadid_res50-2c4cc61d.pth`` (``topiq_fr``), ``cfanet_fr_pipal_res50-69bbe5ba.pth``
(``topiq_fr-pipal``), ``cfanet_nr_koniq_res50-9a73138b.pth`` (``topiq_nr``), ``cfanet_nr_spaq_res50-a7f799ac.pth``
(``topiq_nr-spaq``), ``cfanet_nr_flive_res50-ded1c74e.pth`` (``topiq_nr-flive``),
``cfanet_iaa_ava_res50-3cd62bb3.pth`` (``topiq_iaa_res50``), ``cfanet_iaa_ava_swin-393b41b4.pth`` (``topiq_iaa``),
``topiq_nr_cgfiqa_res50-0a8b8e4f.pth`` (``topiq_nr-face``), ``topiq_nr_gfiqa_res50-d76bf1ae.pth``
(``topiq_nr-face-v1``) and ``topiq_nr_gfiqa_swin-7bb80a60.pth`` (``topiq_nr_swin-face``); tensors under ``params``:
``semantic_model.*`` (the whole ResNet-50 in torchvision/timm names, no ``fc``; or the whole Swin-B in timm's
original layout, with its unused 1000-class ``head`` and the geometry buffers, which are recomputed here),
``weight_pool``, ``dim_reduce``, ``sa_attn_blks``, ``attn_blks``, ``attn_pool``, ``score_linear``, ``h_emb``,
``w_emb``. The checkpoints hold the backbone, so the ImageNet backbone the reference creates first (and
overwrites) is not loaded.

Face IQA (``topiq_nr-face``: CGFIQA-40k, ``topiq_nr-face-v1``: GFIQA-20k, both ResNet-50 with the shorter side
resized to 512; ``topiq_nr_swin-face``: Swin-B, named ``cgfiqa`` in pyiqa's configuration and ``gfiqa`` in its file
name) is trained on aligned, cropped faces. With ``align_crop_face=True`` (the default, as in pyiqa 0.1.16) each
image is first aligned as pyiqa does it with facexlib (:mod:`metrics.deep.face_align`): RetinaFace (ResNet-50,
:mod:`metrics.deep.retinaface`, facexlib's ``detection_Resnet50_Final.pth``) finds the faces, the one nearest the
image centre is warped by its five landmarks onto the FFHQ 512×512 template, and that crop is scored. An image in
which no face is found is an error (:class:`metrics.deep.face_align.NoFaceError`; pyiqa stops with an assertion).
pyiqa aligns one image per call (batch size 1); here each image of a batch is aligned on its own, which for one
image is the same. With ``align_crop_face=False`` the image is scored as given (it should already be an aligned face
crop, as the GFIQA-20k and CGFIQA-40k images are). The detector's file is among the metric's weight files (its
sha256 in the cell key) whichever the option; a custom checkpoint (``pretrained_model_path``) replaces the TOPIQ
checkpoint only. The other checkpoints ignore ``align_crop_face``, as pyiqa does.

Any input size is accepted (down to 1×1, like the reference: every stride-2 layer pads; a Swin input is resized
first).

Calibration: equal to pyiqa 0.1.16 with identical random weights (tests/deep/test_equivalence_topiq.py; max
relative difference 2.8e-7 for ``topiq_nr-flive``, 2.3e-7 for ``topiq_iaa_res50``;
tests/deep/test_equivalence_topiq_swin_face.py for the Swin and face checkpoints, differences in ``_MEASURED``;
tests/deep/test_equivalence_face_align.py for the aligned face pipeline: landmarks, transform, crop and score);
no official values in the calibration table.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
import torch.nn.functional as F
from torch import nn

from metrics.deep.common import DeepMetric
from metrics.deep.face_align import FaceAligner
from metrics.deep.nets import Attention, build_meta, fill, resnet_trunk, unwrap
from metrics.deep.retinaface import DETECTOR_WEIGHTS, RetinaFace
from metrics.deep.swin import VARIANTS as SWIN_VARIANTS
from metrics.deep.swin import SwinConfig, SwinTransformer
from metrics.deep.weights import LoadedWeights, WeightFile
from metrics.registry import Calibration, MetricSpec, Resources


@dataclass(frozen=True)
class Checkpoint:
    """One published CFANet checkpoint: its backbone and the head it holds."""

    weights: WeightFile
    full_reference: bool = False
    #: Token width D and attention heads.
    dim: int = 256
    heads: int = 4
    #: 1: a quality score; 10: a distribution over the ratings 1…10 (aesthetics), scored by its expectation.
    classes: int = 1
    #: Shorter side the image is resized to before scoring (bilinear, antialiased), or None (scored as given).
    #: A Swin backbone instead always takes its square input size (see ``backbone``).
    test_size: int | None = None
    #: "resnet50", or a Swin variant of :data:`metrics.deep.swin.VARIANTS` (the image is resized to its square
    #: input, bilinear, antialiased, whatever its aspect ratio).
    backbone: str = "resnet50"

    @property
    def feed_forward(self) -> int:
        return min(4 * self.dim, 2048)

    @property
    def swin(self) -> SwinConfig | None:
        return None if self.backbone == "resnet50" else SWIN_VARIANTS[self.backbone]

    @property
    def levels(self) -> tuple[int, ...]:
        """Channels of the backbone levels the heads read, shallowest first."""
        swin = self.swin
        return RESNET_LEVELS if swin is None else swin.stage_channels()


SWIN_BASE_384 = "swin_base_patch4_window12_384"
CHECKPOINTS = {
    "topiq_fr": Checkpoint(WeightFile("cfanet_fr_kadid_res50-2c4cc61d.pth"), full_reference=True),
    "topiq_fr-pipal": Checkpoint(WeightFile("cfanet_fr_pipal_res50-69bbe5ba.pth"), full_reference=True),
    "topiq_nr": Checkpoint(WeightFile("cfanet_nr_koniq_res50-9a73138b.pth")),
    "topiq_nr-spaq": Checkpoint(WeightFile("cfanet_nr_spaq_res50-a7f799ac.pth")),
    "topiq_nr-flive": Checkpoint(WeightFile("cfanet_nr_flive_res50-ded1c74e.pth"), test_size=384),
    "topiq_iaa_res50": Checkpoint(WeightFile("cfanet_iaa_ava_res50-3cd62bb3.pth"), dim=512, heads=8, classes=10,
                                  test_size=384),
    "topiq_iaa": Checkpoint(WeightFile("cfanet_iaa_ava_swin-393b41b4.pth"), dim=512, heads=8, classes=10,
                            backbone=SWIN_BASE_384),
    # face IQA: the face is detected, aligned and cropped first (option align_crop_face); see the module docstring
    "topiq_nr-face": Checkpoint(WeightFile("topiq_nr_cgfiqa_res50-0a8b8e4f.pth"), test_size=512),
    "topiq_nr_swin-face": Checkpoint(WeightFile("topiq_nr_gfiqa_swin-7bb80a60.pth"), backbone=SWIN_BASE_384),
    "topiq_nr-face-v1": Checkpoint(WeightFile("topiq_nr_gfiqa_res50-d76bf1ae.pth"), test_size=512),
}
FACE_CHECKPOINTS = ("topiq_nr-face", "topiq_nr_swin-face", "topiq_nr-face-v1")
WEIGHT_FILES = {name: (checkpoint.weights,) + ((DETECTOR_WEIGHTS,) if name in FACE_CHECKPOINTS else ())
                for name, checkpoint in CHECKPOINTS.items()}

MEAN = (0.485, 0.456, 0.406)
STD = (0.229, 0.224, 0.225)
RESNET_LEVELS = (64, 256, 512, 1024, 2048)  # stem, stages 1-4
POS_GRID = 32
DIFF_EPS = 1e-12


class _FeedForward(nn.Module):
    def __init__(self, layout: Checkpoint) -> None:
        super().__init__()
        self.linear1 = nn.Linear(layout.dim, layout.feed_forward)
        self.linear2 = nn.Linear(layout.feed_forward, layout.dim)

    def feed_forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.linear2(F.gelu(self.linear1(x)))


class EncoderLayer(_FeedForward):
    """Pre-norm self-attention + feed-forward, both residual."""

    def __init__(self, layout: Checkpoint) -> None:
        super().__init__(layout)
        self.self_attn = Attention(layout.dim, layout.heads)
        self.norm1, self.norm2 = nn.LayerNorm(layout.dim), nn.LayerNorm(layout.dim)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        y = self.norm1(x)
        x = x + self.self_attn(y, y)
        return x + self.feed_forward(self.norm2(x))


class DecoderLayer(_FeedForward):
    """Pre-norm cross-attention of the query tokens to the (normalised) memory tokens + feed-forward."""

    def __init__(self, layout: Checkpoint) -> None:
        super().__init__(layout)
        self.multihead_attn = Attention(layout.dim, layout.heads)
        self.norm1, self.norm2, self.norm3 = (nn.LayerNorm(layout.dim) for _ in range(3))

    def forward(self, query: torch.Tensor, memory: torch.Tensor) -> torch.Tensor:
        query = query + self.multihead_attn(self.norm1(query), self.norm2(memory))
        return query + self.feed_forward(self.norm3(query))


class _OneLayer(nn.Module):
    """A stack of one layer, named ``layers.0`` as in the checkpoints."""

    def __init__(self, layer: nn.Module) -> None:
        super().__init__()
        self.layers = nn.ModuleList([layer])

    def forward(self, *tokens: torch.Tensor) -> torch.Tensor:
        return self.layers[0](*tokens)


def _gate(channels: int) -> nn.Sequential:
    return nn.Sequential(nn.Conv2d(channels, 64, 1), nn.GELU(), nn.Conv2d(64, 64, 3, padding=1), nn.GELU(),
                         nn.Conv2d(64, 1, 3, padding=1), nn.Sigmoid())


class GatedConv(nn.Module):
    """NR local pooling: GELU of one half of a 1×1 conv, times a spatial gate computed from the other half."""

    def __init__(self, channels: int) -> None:
        super().__init__()
        self.splitconv = nn.Conv2d(channels, 2 * channels, 1)
        self.weight_blk = _gate(channels)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        value, gate = self.splitconv(x).chunk(2, dim=1)
        return F.gelu(value) * self.weight_blk(gate)


class TopiqHeads(nn.Module):
    """Everything after the backbone, named as in the published checkpoints: ``forward`` gives the pooled tokens
    (N×L×D, after ``attn_pool``), ``predict`` their mean through the score MLP (run in float32 by TOPIQ.score)."""

    def __init__(self, layout: Checkpoint) -> None:
        super().__init__()
        self.full_reference = full_reference = layout.full_reference
        dim, fusion = layout.dim, 3 if full_reference else 1
        levels = layout.levels
        pools = [_gate(c) if full_reference else GatedConv(c) for c in levels]
        self.weight_pool = nn.ModuleList(pools)
        self.dim_reduce = nn.ModuleList([nn.Sequential(nn.Conv2d(c * fusion, dim, 1), nn.GELU()) for c in levels])
        self.sa_attn_blks = nn.ModuleList([_OneLayer(EncoderLayer(layout)) for _ in levels])
        self.attn_blks = nn.ModuleList([_OneLayer(DecoderLayer(layout)) for _ in levels[1:]])
        self.attn_pool = EncoderLayer(layout)
        self.score_linear = nn.Sequential(nn.LayerNorm(dim), nn.Linear(dim, dim), nn.GELU(), nn.LayerNorm(dim),
                                          nn.Linear(dim, dim), nn.GELU(), nn.Linear(dim, layout.classes))
        self.h_emb = nn.Parameter(torch.empty(1, dim // 2, POS_GRID, 1))
        self.w_emb = nn.Parameter(torch.empty(1, dim // 2, 1, POS_GRID))

    def _level(self, i: int, dist: torch.Tensor, ref: torch.Tensor | None, size: tuple[int, int]) -> torch.Tensor:
        if self.full_reference:
            assert ref is not None
            diff = ((dist - ref) ** 2 + DIFF_EPS).sqrt()
            feat = torch.cat([dist, ref, diff], dim=1) * self.weight_pool[i](diff)
        else:
            feat = self.weight_pool[i](dist)
        if feat.shape[-2] > size[0] and feat.shape[-1] > size[1]:
            feat = F.adaptive_avg_pool2d(feat, size)
        pos = torch.cat([self.h_emb.expand(-1, -1, -1, POS_GRID), self.w_emb.expand(-1, -1, POS_GRID, -1)], dim=1)
        pos = F.interpolate(pos, size=feat.shape[-2:], mode="bicubic", align_corners=False)
        tokens = self.dim_reduce[i](feat).flatten(2) + pos.flatten(2)  # N×D×L
        return self.sa_attn_blks[i](tokens.transpose(1, 2))

    def forward(self, dist: list[torch.Tensor], ref: list[torch.Tensor] | None) -> torch.Tensor:
        size = tuple(dist[-1].shape[-2:])
        tokens = [self._level(i, dist[i], ref[i] if ref else None, size) for i in reversed(range(len(dist)))]
        query = tokens[0]
        for block, memory in zip(self.attn_blks, tokens[1:]):
            query = block(query, memory)
        return self.attn_pool(query)

    def predict(self, tokens: torch.Tensor) -> torch.Tensor:
        """The score of each image: the MLP's output, or the expected rating of its softmax over 1…C."""
        out = self.score_linear(tokens.mean(dim=1))
        if out.shape[-1] == 1:
            return out.flatten()
        ratings = torch.arange(1, out.shape[-1] + 1, dtype=out.dtype, device=out.device)
        return out.softmax(dim=-1) @ ratings


class TOPIQ(DeepMetric):
    """TOPIQ (CFANet, ResNet-50 or Swin-B) with one of the published checkpoints (``checkpoint`` = a key of
    ``CHECKPOINTS``); ``align_crop_face``: a face checkpoint scores the aligned crop of the central face (ignored by
    the other checkpoints)."""

    def __init__(self, checkpoint: str = "topiq_nr", precision: str = "float32", align_crop_face: bool = True) -> None:
        super().__init__(precision)
        if checkpoint not in CHECKPOINTS:
            raise ValueError(f"checkpoint must be one of {sorted(CHECKPOINTS)}, got {checkpoint!r}")
        layout = CHECKPOINTS[checkpoint]
        self.aligner = self._build_aligner(checkpoint, align_crop_face)
        self.full_reference, self.test_size, self.swin = layout.full_reference, layout.test_size, layout.swin
        loaded = unwrap(self.load_weights(layout.weights), "params")
        self.backbone = self._build_backbone(layout, loaded)
        unused = tuple(f"attn_blks.{i}.layers.0.self_attn." for i in range(len(layout.levels) - 1))
        self.heads = fill(build_meta(lambda: TopiqHeads(layout)), loaded, ignore=("semantic_model.",) + unused)
        self.register_buffer("mean", torch.tensor(MEAN).view(1, 3, 1, 1), persistent=False)
        self.register_buffer("std", torch.tensor(STD).view(1, 3, 1, 1), persistent=False)

    def _build_aligner(self, checkpoint: str, align_crop_face: bool) -> FaceAligner | None:
        """The face detector and aligner of a face checkpoint when aligning; without alignment the detector's file
        is only verified (its sha256 recorded: it stays a weight file of the metric whichever the option)."""
        if checkpoint not in FACE_CHECKPOINTS:
            return None
        if not align_crop_face:
            self.weight_path(DETECTOR_WEIGHTS)
            return None
        return FaceAligner(RetinaFace.from_weights(self.load_weights(DETECTOR_WEIGHTS)))

    @staticmethod
    def _build_backbone(layout: Checkpoint, loaded: LoadedWeights) -> nn.Module:
        """The checkpoint's ``semantic_model``: a ResNet-50, or a Swin whose classifier and geometry buffers (which
        it recomputes) the file also holds."""
        if layout.swin is None:
            return fill(build_meta(resnet_trunk), loaded, prefix="semantic_model.")
        swin = build_meta(lambda: SwinTransformer(layout.swin))
        return fill(swin, loaded, prefix="semantic_model.", ignore=("head.",) + swin.geometry_buffer_keys())

    def _levels(self, x: torch.Tensor) -> list[torch.Tensor]:
        x = (x - self.mean) / self.std
        b = self.backbone
        if isinstance(b, SwinTransformer):
            return b.stage_maps(x)
        x = b.relu(b.bn1(b.conv1(x)))
        levels = [x]
        x = b.maxpool(x)
        for stage in (b.layer1, b.layer2, b.layer3, b.layer4):
            x = stage(x)
            levels.append(x)
        return levels

    def _resize(self, x: torch.Tensor) -> torch.Tensor:
        """The reference's test-time resize (bilinear, antialiased): a Swin's square input, else the shorter side
        to ``test_size`` where the checkpoint has one."""
        from torchvision.transforms import functional as TF

        if self.swin is not None:
            return TF.resize(x, [self.swin.img_size] * 2, antialias=True)
        return x if self.test_size is None else TF.resize(x, self.test_size, antialias=True)

    def score(self, dist: torch.Tensor, ref: torch.Tensor | None = None) -> torch.Tensor:
        if self.aligner is not None:
            dist = self.aligner(dist)  # float32, outside autocast: the detector's boxes decide the crop
        dist = self._resize(dist)  # NR checkpoints only: the reference resizes the distorted image alone
        with self.autocast(dist):
            ref_levels = self._levels(ref) if self.full_reference and ref is not None else None
            tokens = self.heads(self._levels(dist), ref_levels)
        return self.heads.predict(tokens.float())  # float32: a reduced-precision MLP would round the scores


_PAPER = (
    "Chen, Mo, Hou, Wu, Liao, Sun, Yan & Lin, TOPIQ: A Top-down Approach from Semantics to Distortions for Image "
    "Quality Assessment, IEEE TIP 33, 2024"
)
_CAL = "pyiqa 0.1.16 under random weights; no official values"
#: Largest relative difference to pyiqa 0.1.16 measured by tests/deep/test_equivalence_topiq*.py, where recorded
#: (face checkpoints: both with align_crop_face=False).
_MEASURED = {"topiq_nr-flive": "2.8e-7", "topiq_iaa_res50": "2.3e-7", "topiq_iaa": "6.3e-8",
             "topiq_nr_swin-face": "1.8e-7", "topiq_nr-face": "9.8e-8", "topiq_nr-face-v1": "6.0e-8"}
#: The same for the face checkpoints' default pipeline (detection, alignment, score) by
#: tests/deep/test_equivalence_face_align.py (landmarks, transform and crop equal exactly).
_MEASURED_ALIGNED = {"topiq_nr-face": "7.3e-8", "topiq_nr_swin-face": "0", "topiq_nr-face-v1": "1.0e-7"}


_AESTHETICS_PAPER = _PAPER + "; aesthetics on AVA: Murray, Marchesotti & Perronnin, AVA, CVPR 2012"
_SWIN_PAPER = ("; backbone: Liu, Lin, Cao, Hu, Wei, Zhang, Lin & Guo, Swin Transformer: Hierarchical Vision "
               "Transformer using Shifted Windows, ICCV 2021")
_FACE_PAPER = (_PAPER + "; face IQA checkpoints trained on GFIQA-20k (Su, Zhang, Yang, Xing, Ma & Chen, Going the "
               "Extra Mile in Face Image Quality Assessment: A Novel Database and Model, IEEE TMM 2023) and CGFIQA-40k; "
               "faces aligned first (align_crop_face) with RetinaFace: Deng, Guo, Ververas, Kotsia & Zafeiriou, "
               "RetinaFace: Single-shot Multi-level Face Localisation in the Wild, CVPR 2020")


def _calibration_detail(name: str) -> str:
    if name in _MEASURED_ALIGNED:
        return (f"pyiqa 0.1.16 under random weights (max rel. diff {_MEASURED_ALIGNED[name]} with face alignment, "
                f"{_MEASURED[name]} without); no official values")
    return f"pyiqa 0.1.16 under random weights (max rel. diff {_MEASURED[name]}); no official values" \
        if name in _MEASURED else _CAL


def _paper(name: str, layout: Checkpoint) -> str:
    paper = _FACE_PAPER if name in FACE_CHECKPOINTS else _AESTHETICS_PAPER if layout.classes > 1 else _PAPER
    return paper + (_SWIN_PAPER if layout.swin is not None else "")


def _memory_mb(layout: Checkpoint) -> int:
    if layout.swin is not None:
        return 3500  # Swin-B (88 M parameters) and D = 512 heads
    return 3000 if layout.full_reference else 2500


def _spec(name: str) -> MetricSpec:
    layout = CHECKPOINTS[name]
    aesthetic = layout.classes > 1
    return MetricSpec(
        name=name,
        mode="FR" if layout.full_reference else "NR",
        lower_better=False,
        score_range=(1.0, 10.0) if aesthetic else (0.0, 1.0),
        paper=_paper(name, layout),
        calibration=Calibration.EQUIVALENT,
        calibration_detail=_calibration_detail(name),
        factory=TOPIQ,
        options={"checkpoint": name, "precision": "float32",
                 **({"align_crop_face": True} if name in FACE_CHECKPOINTS else {})},
        # 2: score head in float32 under reduced precision; 3 (face checkpoints): faces aligned first
        version="3" if name in FACE_CHECKPOINTS else "2",
        resources=Resources(num_cpus=1, num_gpus=0.25, memory_mb=_memory_mb(layout)),
    )


SPECS = tuple(_spec(name) for name in CHECKPOINTS)
