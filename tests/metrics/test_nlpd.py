"""NLPD: ideal score, monotonicity, sizes, and its pyramid steps against literal NumPy/SciPy transcriptions."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from scipy import ndimage, signal

import metrics
from metrics import MetricInputError
from metrics.fr import nlpd as nlpd_module

_F = np.outer([0.05, 0.25, 0.4, 0.25, 0.05], [0.05, 0.25, 0.4, 0.25, 0.05])


def test_identical_inputs_give_zero(tid_pairs):
    _, ref = tid_pairs
    assert metrics.create("nlpd")(ref[:2], ref[:2]).tolist() == [0.0, 0.0]


@pytest.mark.parametrize("shape", [(37, 51), (17, 17), (64, 45)])
def test_reduce_and_expand_match_literal_matlab_steps(rng, shape):
    model = nlpd_module.NLPD()
    img = rng.random(shape)
    x = torch.from_numpy(img)[None, None]
    # downsample: imfilter(I, f'f, 'symmetric'), then I(1:2:end, 1:2:end)
    want_low = ndimage.correlate(img, _F, mode="reflect")[::2, ::2]  # scipy 'reflect' repeats the edge sample
    low = model._reduce(x)
    np.testing.assert_allclose(low[0, 0].numpy(), want_low, atol=1e-12)
    # upsample: replicate border, zeros with 4·I at odd positions, imfilter (zero border), crop
    lp = np.pad(want_low, 1, mode="edge")
    up = np.zeros((2 * lp.shape[0], 2 * lp.shape[1]))
    up[::2, ::2] = 4 * lp
    up = ndimage.correlate(up, _F, mode="constant")
    odd = (2 * want_low.shape[0] - shape[0], 2 * want_low.shape[1] - shape[1])
    want_up = up[2 : up.shape[0] - 2 - odd[0], 2 : up.shape[1] - 2 - odd[1]]
    np.testing.assert_allclose(model._expand(low, x.shape)[0, 0].numpy(), want_up, atol=1e-12)


def test_sparse_conv2_same_matches_scipy(rng):
    x = rng.random((23, 30))
    for level, taps in enumerate(nlpd_module._DN_TAPS):
        got = nlpd_module.conv2_same_sparse(torch.from_numpy(x)[None, None], taps)[0, 0].numpy()
        want = signal.convolve2d(x, nlpd_module.dn_filters()[level].numpy(), mode="same")  # = MATLAB for odd sizes
        np.testing.assert_allclose(got, want, atol=1e-12)


def test_too_small_raises():
    tiny = torch.rand(1, 3, 16, 40)
    with pytest.raises(MetricInputError, match="minimum"):
        metrics.create("nlpd")(tiny, tiny)
