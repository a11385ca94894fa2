"""MATLAB imresize (bicubic, scale form) and rgb2gray of uint8, checked against values derived by hand."""

from __future__ import annotations

import pytest
import torch

from metrics.functional.color import rgb2gray_uint8
from metrics.functional.imresize import _cubic as cubic
from metrics.functional.imresize import imresize, resize_matrix


def test_cubic_kernel_values():
    x = torch.tensor([0.0, 0.25, 0.5, 0.75, 1.0, 1.25, 1.5, 1.75, 2.0, 2.5], dtype=torch.float64)
    # 1.5|x|³ - 2.5|x|² + 1 inside 1, -0.5|x|³ + 2.5|x|² - 4|x| + 2 up to 2.
    want = [1.0, 0.8671875, 0.5625, 0.2265625, 0.0, -0.0703125, -0.0625, -0.0234375, 0.0, 0.0]
    assert cubic(x).tolist() == pytest.approx(want, abs=1e-15)
    assert cubic(-x).tolist() == pytest.approx(want, abs=1e-15)


def test_halving_weights_are_the_widened_kernel():
    # scale 1/2 with anti-aliasing: h(x) = k(x/2)/2, width 8; u = 2j - 1/2, so the taps sit at distances
    # ±0.5, ±1.5, ±2.5, ±3.5 (the two zero taps at ±4.5 are dropped).
    m = resize_matrix(16, 8, scale=0.5)
    half = [-0.01171875, -0.03515625, 0.11328125, 0.43359375]
    w = half + half[::-1]
    assert m.shape == (8, 16)
    # output 4: u = 7.5, 1-based taps 4..11
    assert m[3].tolist() == pytest.approx([0.0] * 3 + w + [0.0] * 5, abs=1e-15)
    # first output: taps 1-based -2..5 mirror to 3, 2, 1, 1, 2, 3, 4, 5 ('symmetric'), their weights add up
    assert m[0, :5].tolist() == pytest.approx([w[2] + w[3], w[1] + w[4], w[0] + w[5], w[6], w[7]], abs=1e-15)


def test_doubling_weights():
    # scale 2, no widening: u = j/2 + 1/4; output 2 (u = 1.25) has taps at distances 2.25, 1.25, 0.25, -0.75, -1.75
    # (the tap at 1-based 0 mirrors onto 1, so its weight joins the 0.8671875 of position 1)
    row = resize_matrix(4, 8, scale=2.0)[1].tolist()
    assert row == pytest.approx([-0.0703125 + 0.8671875, 0.2265625, -0.0234375, 0.0], abs=1e-15)


def test_halving_a_vector_by_hand():
    x = torch.arange(1.0, 9.0, dtype=torch.float64)  # 1..8
    got = imresize(x.view(1, 1, 1, 8).expand(1, 1, 2, 8).contiguous(), (2, 4))[0, 0, 0]
    half = torch.tensor([-0.01171875, -0.03515625, 0.11328125, 0.43359375], dtype=torch.float64)
    w = torch.cat([half, half.flip(0)])
    padded = torch.tensor([3, 2, 1, 1, 2, 3, 4, 5, 6, 7, 8, 8, 7, 6], dtype=torch.float64)
    want = torch.stack([(w * padded[2 * j : 2 * j + 8]).sum() for j in range(4)])
    assert got.tolist() == pytest.approx(want.tolist(), abs=1e-12)
    # away from the borders a ramp is reproduced at u = 2j - 1/2 (the kernel is symmetric)
    ramp = torch.arange(1.0, 41.0, dtype=torch.float64).view(1, 1, 1, 40)
    assert imresize(ramp, (1, 20))[0, 0, 0, 5].item() == pytest.approx(11.5, abs=1e-12)


def test_constant_and_shape():
    x = torch.full((2, 1, 37, 50), 7.0, dtype=torch.float64)
    y = imresize(x, scale=0.5)
    assert y.shape == (2, 1, 19, 25)  # ceil(37/2), ceil(50/2)
    assert torch.allclose(y, torch.full_like(y, 7.0), atol=1e-12)
    m = resize_matrix(37, 19, scale=0.5)
    assert torch.allclose(m.sum(dim=1), torch.ones(19, dtype=torch.float64), atol=1e-14)


def test_separable_order_matches_two_passes():
    x = torch.rand(1, 1, 20, 30, dtype=torch.float64)
    rows, cols = resize_matrix(20, 10, scale=0.5), resize_matrix(30, 15, scale=0.5)
    assert torch.allclose(imresize(x, scale=0.5)[0, 0], rows @ x[0, 0] @ cols.T, atol=1e-13)


def test_rejects_bad_arguments():
    with pytest.raises(ValueError):
        imresize(torch.zeros(1, 1, 4, 4), (2, 2), scale=0.5)
    with pytest.raises(ValueError):
        imresize(torch.zeros(1, 1, 4, 4), scale=-1.0)


def test_rgb2gray_uint8_rounds_half_away_and_keeps_extremes():
    levels = torch.tensor([[0, 0, 0], [255, 255, 255], [255, 0, 0], [0, 255, 0], [0, 0, 255], [10, 20, 30]])
    x = (levels.T.reshape(1, 3, 1, 6).double() / 255).float()
    got = rgb2gray_uint8(x).flatten().tolist()
    w = (0.298936021293775, 0.587043074451121, 0.114020904255103)
    want = [int(w[0] * r + w[1] * g + w[2] * b + 0.5) for r, g, b in levels.tolist()]
    assert got == want == [0, 255, 76, 150, 29, 18]
