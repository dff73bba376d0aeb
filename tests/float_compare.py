"""Comparisons for results that are bit-exact on some CPUs and equal to float32
rounding on others (a vmapped network against the same network in a narrower
program: XLA's CPU dot and convolution kernels may sum in another order at
another batch width; see docs/decisions.md, "Scale")."""

from __future__ import annotations

import jax
import numpy as np

RTOL = 1e-5
ATOL = 1e-6


def assert_close(a, b, where: object = "") -> None:
    """Asserts that two JSON-like values (dicts, lists, numbers, strings, None)
    are equal, numbers to ``RTOL``/``ATOL`` and everything else exactly."""
    if isinstance(a, dict):
        assert isinstance(b, dict) and a.keys() == b.keys(), (where, a.keys(), b)
        for k in a:
            assert_close(a[k], b[k], f"{where}/{k}")
    elif isinstance(a, list | tuple):
        assert isinstance(b, list | tuple) and len(a) == len(b), (where, a, b)
        for i, (x, y) in enumerate(zip(a, b, strict=True)):
            assert_close(x, y, f"{where}[{i}]")
    elif isinstance(a, float) or isinstance(b, float):
        np.testing.assert_allclose(a, b, rtol=RTOL, atol=ATOL, err_msg=str(where))
    else:
        assert a == b, (where, a, b)


def trees_close(a, b) -> bool:
    """Returns whether two pytrees of arrays agree to ``RTOL``/``ATOL`` (booleans
    and integers exactly)."""

    def one(x, y):
        x, y = np.asarray(x), np.asarray(y)
        if x.dtype.kind in "biu":
            return bool(np.array_equal(x, y))
        return bool(np.allclose(x, y, rtol=RTOL, atol=ATOL))

    return jax.tree.all(jax.tree.map(one, a, b))
