"""The CPU-friendly Conv: same parameters as nn.Conv, same outputs both ways."""

import flax.linen as nn
import jax
import numpy as np
import pytest

from lottery.models.conv import Conv

CASES = [
    # (input shape, kernel, strides, padding)
    ((3, 40, 2), (5,), (2,), [(1, 1)]),
    ((3, 19, 4), (3,), (2,), "SAME"),
    ((2, 9, 9, 3), (3, 3), (1, 1), "SAME"),
    ((2, 9, 9, 3), (3, 3), (2, 2), [(1, 1), (1, 1)]),
    ((2, 10, 10, 3), (5, 5), (1, 1), "VALID"),
    ((2, 8, 8, 4), (1, 1), (2, 2), "SAME"),
    ((2, 7, 7, 3), (3, 3), (2, 2), "SAME"),
]


@pytest.mark.parametrize("shape,kernel,strides,padding", CASES)
def test_matches_flax_conv(shape, kernel, strides, padding):
    x = jax.random.normal(jax.random.key(0), shape)
    ref = nn.Conv(6, kernel, strides, padding=padding)
    ref_params = ref.init(jax.random.key(1), x)
    want = ref.apply(ref_params, x)
    for impl in ("im2col", "xla", "auto"):
        mine = Conv(6, kernel, strides, padding=padding, impl=impl)
        params = mine.init(jax.random.key(1), x)
        # same tree, shapes and initial values as nn.Conv
        jax.tree.map(np.testing.assert_array_equal, params, ref_params)
        got = mine.apply(params, x)
        assert got.shape == want.shape
        np.testing.assert_allclose(np.asarray(got), np.asarray(want), rtol=1e-5, atol=1e-5)


def test_gradients_match():
    x = jax.random.normal(jax.random.key(0), (2, 9, 9, 3))
    params = nn.Conv(4, (3, 3), (2, 2)).init(jax.random.key(1), x)
    grads = [
        jax.grad(lambda p, m=m: (m.apply(p, x) ** 2).sum())(params)
        for m in (nn.Conv(4, (3, 3), (2, 2)), Conv(4, (3, 3), (2, 2), impl="im2col"))
    ]
    jax.tree.map(lambda a, b: np.testing.assert_allclose(a, b, rtol=1e-4, atol=1e-4), *grads)
