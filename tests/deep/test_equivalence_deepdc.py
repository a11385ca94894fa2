"""DeepDC (distance correlation of VGG-19 features) equals pyiqa 0.1.16 on identical random weights.

Nothing is sampled at random. pyiqa's in-place ReLUs make four of its five "conv" maps rectified ones: equality
here shows our taps (relu1_2, relu2_2, relu3_4, relu4_4, conv5_4) are the maps it scores.

Both sides compute the score as 1 − (mean distance correlation) in float32: near 0 (nearly identical images, e.g.
a mild TID2013 distortion, scores ~4e-4) its resolution is a float32 rounding step of 1 (2⁻²⁴ ≈ 6e-8), not 1e-4
of the score, so a score may differ by up to :data:`ATOL` (four such steps) where 1e-4 relative is below that.
"""

from __future__ import annotations

import torch

from metrics.deep.deepdc import centred_distances, distance_correlation
from tests._helpers.equivalence import calibration_case, check_equivalence, random_cases

ATOL = 4 * 2.0**-24


def test_same_function_as_reference(deep_env, tid_pairs):
    cases = random_cases([(2, 48, 64), (1, 37, 53), (1, 16, 17)], seed=47) + [calibration_case(tid_pairs, 0.25)]
    check_equivalence("deepdc", deep_env, cases, atol=ATOL)


def test_centred_distances_match_their_definition():
    features = torch.randn(2, 5, 3, 4, generator=torch.Generator().manual_seed(3), dtype=torch.float64)
    points = features.reshape(2, 5, 12)
    distances = ((torch.cdist(points, points) ** 2) / 25 + 1e-5).sqrt()
    centred = centred_distances(features)
    expected = distances - distances.mean(2, keepdim=True) - distances.mean(1, keepdim=True) \
        + distances.mean((1, 2), keepdim=True)
    assert torch.allclose(centred, expected, atol=1e-10)
    assert torch.allclose(centred.sum(dim=1), torch.zeros(2, 5, dtype=torch.float64), atol=1e-10)


def test_a_matrix_correlates_fully_with_itself_and_its_multiples():
    a = centred_distances(torch.randn(1, 6, 5, 5, generator=torch.Generator().manual_seed(4)))
    assert torch.allclose(distance_correlation(a, a), torch.ones(1))
    assert torch.allclose(distance_correlation(a, 3 * a), torch.ones(1), atol=1e-6)
    assert distance_correlation(a, -a).item() < -0.99
