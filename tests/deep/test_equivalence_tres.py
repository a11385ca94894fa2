"""TReS (ResNet-50 + transformer encoder, KonIQ-10k and FLIVE checkpoints) equals pyiqa 0.1.16 on identical random
weights.

Crop sampling: pyiqa 0.1.16's TReS does not sample random crops at test time; it averages over a deterministic
grid of crops (``uniform_crop``, the same for every call). Both sides are nevertheless run under identically seeded
random generators (torch and NumPy), so a random component would be compared with the same draws. 50 crops of a
ResNet-50 and a 3840-wide encoder per image (twice in the reference, which also scores the flipped crops for a
training loss) are too slow for the suite: the equivalence runs with 4 and 2 crops on both sides (pyiqa's
``test_sample``), and the 50-crop grid itself is checked by index. The reference first builds torchvision's
ImageNet ResNet-50 (seeded at random, read by the reference only) before the checkpoint overwrites it.
"""

from __future__ import annotations

import numpy as np
import pytest
import torch

import metrics
from metrics.deep.nets import uniform_crops
from metrics.deep.tres import sine_positions
from tests._helpers.equivalence import calibration_case, check_equivalence, random_cases

REFERENCE_ONLY = ("resnet50-0676ba61.pth",)


class SeededReference(torch.nn.Module):
    """pyiqa's metric, called with torch's and NumPy's generators seeded as for our side."""

    def __init__(self, name: str, crops: int) -> None:
        super().__init__()
        pyiqa = pytest.importorskip("pyiqa")
        self.metric = pyiqa.create_metric(name, device="cpu", test_sample=crops)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        torch.manual_seed(0)
        np.random.seed(0)
        return self.metric(x)


@pytest.mark.parametrize(("name", "crops", "sizes", "calibration_scale"), [
    ("tres", 4, [(2, 67, 93)], 0.5),  # enlarged to 225×312; a TID2013 image at 256×192, enlarged too
    ("tres-flive", 2, [(1, 233, 262)], None),  # no enlargement: a 2-crop grid of steps (9, 38)
])
def test_same_function_as_reference(deep_env, tid_pairs, name, crops, sizes, calibration_scale):
    cases = random_cases(sizes, seed=41)
    if calibration_scale is not None:
        cases.append(calibration_case(tid_pairs, calibration_scale, count=1))
    torch.manual_seed(0)
    np.random.seed(0)
    check_equivalence(name, deep_env, cases, reference_only_files=REFERENCE_ONLY, options={"crops": crops},
                      make_reference=lambda: SeededReference(name, crops))


def test_fifty_crop_grid():
    """50 crops: steps ⌊(side − 224)/7⌋ on an 8×8 grid read row by row, the first 50 kept (six rows and two)."""
    x = torch.arange(300 * 400, dtype=torch.float32).view(1, 1, 300, 400).expand(2, 3, 300, 400)
    crops = uniform_crops(x, 224, 50)
    assert crops.shape == (100, 3, 224, 224)
    # steps (300-224)//7 = 10 and (400-224)//7 = 25; crop 49 (row 6, column 1) of image 1 starts at (60, 25)
    assert torch.equal(crops[50 + 49], x[1, :, 60:284, 25:249])
    assert torch.equal(crops[50 + 8 * 5 + 7], x[1, :, 50:274, 175:399])


def test_sine_positions_are_rows_then_columns():
    positions = sine_positions(7, 7, 8).view(7, 7, 8)
    # channel 0: sin of the row coordinate, the same along a row; channel 4: sin of the column coordinate
    assert torch.allclose(positions[2, :, 0], positions[2, 0, 0].expand(7))
    assert torch.allclose(positions[:, 3, 4], positions[0, 3, 4].expand(7))
    assert torch.isclose(positions[6, 0, 0], torch.sin(torch.tensor(7 / (7 + 1e-6) * 2 * np.pi)), atol=1e-6)
    assert torch.isclose(positions[6, 0, 1], torch.cos(torch.tensor(7 / (7 + 1e-6) * 2 * np.pi)), atol=1e-6)


def test_crops_option_is_checked(deep_env):
    deep_env.ensure("tres_koniq-f0502926.pth")
    with pytest.raises(ValueError, match="crops"):
        metrics.create("tres", crops=0)
