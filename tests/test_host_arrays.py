"""The NumPy hot spots of the 4K path, done strip by strip, against the plain formulas: the input
add and pixel shuffle, quantisation, and the integer-factor bicubic resize."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from vsr.backends.openvino import add_shuffle
from vsr.upscale import arrays
from vsr.upscale.resample import bicubic_taps, resize


@pytest.mark.parametrize("n, r, h, w", [(1, 2, 37, 53), (2, 3, 300, 41), (1, 4, 9, 700)])
def test_add_shuffle_is_pixel_shuffle_of_the_sum(n, r, h, w):
    rng = np.random.default_rng(0)
    res = rng.standard_normal((n, r * r, h, w), dtype=np.float32)
    y = rng.random((n, 1, h, w), dtype=np.float32)
    want = torch.nn.functional.pixel_shuffle(torch.from_numpy(res + y), r).numpy()
    assert np.array_equal(add_shuffle(res, y, r), want)


@pytest.mark.parametrize("dtype, maxv", [(np.uint8, 255.0), (np.uint16, 1023.0)])
@pytest.mark.parametrize("shape", [(1, 2160, 3840), (3, 7, 5), (2, 900, 1000)])
def test_quantise_in_strips_equals_the_formula(shape, dtype, maxv):
    x = np.random.default_rng(1).uniform(-0.1, 1.1, shape).astype(np.float32)
    x[..., 0] = 0.5 / maxv  # a tie: rounds half to even
    want = np.clip(np.rint(x * np.float32(maxv)), 0, maxv).astype(dtype)
    got = arrays.quantise(x, maxv, dtype)
    assert got.dtype == dtype and np.array_equal(got, want)
    view = np.stack([x, x], 1)[:, 1]  # a strided view, as the chroma planes are
    assert np.array_equal(arrays.quantise(view, maxv, dtype), want)


def _gather(x: np.ndarray, n_out: int, offset: float) -> np.ndarray:
    idx, w = bicubic_taps(x.shape[-1], n_out, offset)
    return np.einsum("...jk,jk->...j", x[..., idx], w)


@pytest.mark.parametrize("h, w, r, oy, ox", [(540, 960, 2, 0.0, -0.25), (7, 11, 3, 0.25, 0.0), (30, 40, 4, -0.375, 0.125)])
def test_integer_factor_resize_equals_the_generic_bicubic(h, w, r, oy, ox):
    x = np.random.default_rng(2).random((1, 2, h, w), dtype=np.float32)
    got = resize(x, h * r, w * r, oy, ox)
    want = np.swapaxes(_gather(np.swapaxes(_gather(x, w * r, ox), -1, -2), h * r, oy), -1, -2)
    assert got.shape == (1, 2, h * r, w * r) and got.flags.c_contiguous
    np.testing.assert_allclose(got, want, atol=2e-6)
