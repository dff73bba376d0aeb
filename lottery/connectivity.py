"""Linear mode connectivity: the error along the straight line between two
trained networks, and its barrier (Frankle, Dziugaite, Roy & Carbin 2020,
"Linear Mode Connectivity and the Lottery Ticket Hypothesis").

Conventions (the paper's):

* The path is ``w(a) = (1 - a) w_A + a w_B`` at ``points`` evenly spaced values of
  ``a`` in [0, 1], both ends included; the mask is applied at every point.
* The **error barrier** is the largest error on the path minus the mean of the
  two endpoints' errors: ``max_a E(w(a)) - (E(w_A) + E(w_B)) / 2``. It is 0 for
  two identical networks and never negative (the ends are on the path).
* BatchNorm: the running statistics of an interpolated network are not the
  interpolation of the endpoints' statistics, so for a model with state they
  are recomputed at every point from training batches (``bn_stats``); a model
  without state is evaluated as it is.

Everything here works on one pair; the caller vmaps over replicates.
"""

from __future__ import annotations

from typing import Any

import jax
import jax.numpy as jnp

from lottery import masks as masks_lib
from lottery import train as train_lib
from lottery.models.base import Model

PyTree = Any


def alphas(points: int) -> jax.Array:
    """Returns the ``points`` interpolation coefficients ``linspace(0, 1, points)``."""
    return jnp.linspace(0.0, 1.0, points)


def interpolate(a: PyTree, b: PyTree, alpha: jax.Array) -> PyTree:
    """Returns ``(1 - alpha) a + alpha b`` leaf by leaf (floating leaves only;
    others are taken from ``a``)."""

    def one(x, y):
        if not jnp.issubdtype(x.dtype, jnp.floating):
            return x
        return ((1.0 - alpha) * x + alpha * y).astype(x.dtype)

    return jax.tree.map(one, a, b)


def barrier(errors: jax.Array) -> jax.Array:
    """Returns the error barrier of errors along a path (last axis: the points):
    ``max(errors) - (errors[0] + errors[-1]) / 2`` (Frankle et al. 2020)."""
    return jnp.max(errors, axis=-1) - 0.5 * (errors[..., 0] + errors[..., -1])


def bn_stats(model: Model, params: PyTree, state: PyTree, batches: jax.Array) -> PyTree:
    """Returns ``state`` with every floating leaf replaced by the mean over
    ``batches`` (shape ``(n, batch, *input)``) of the per-batch statistics that a
    training-mode pass computes: what an infinitely long running average over
    these batches converges to (the convention of PyTorch's ``update_bn`` with a
    cumulative average). The model's momentum ``m`` is read off exactly from two
    passes on the first batch (running statistics 0 and 1: the updates differ by
    ``m``), so any BatchNorm momentum works. ``state`` of a model without one is
    returned unchanged."""
    if not jax.tree.leaves(state):
        return state
    floating = jax.tree.map(lambda s: jnp.issubdtype(s.dtype, jnp.floating), state)

    def update(fill, xb):
        start = jax.tree.map(lambda s, f: jnp.full_like(s, fill) if f else s, state, floating)
        return model.apply(params, start, xb, train=True)[1]

    from_zero = jax.lax.map(lambda xb: update(0.0, xb), batches)  # (1 - m) * batch stat
    from_one = update(1.0, batches[0])  # m + (1 - m) * batch stat

    def mean_stat(zero, one, s, f):
        if not f:
            return s
        momentum = one - zero[0]
        return (jnp.mean(zero, axis=0) / jnp.maximum(1.0 - momentum, 1e-12)).astype(s.dtype)

    return jax.tree.map(mean_stat, from_zero, from_one, state, floating)


def path_errors(
    model: Model,
    a: PyTree,
    b: PyTree,
    mask: PyTree,
    x: jax.Array,
    y: jax.Array,
    points: int = 30,
    bn_batches: jax.Array | None = None,
    batch_size: int = 1000,
    dtype: str = "float32",
) -> jax.Array:
    """Returns the classification error (1 - accuracy, in [0, 1]) on ``(x, y)`` at
    each of ``points`` evenly spaced points of the line from weights ``a`` to
    weights ``b`` (each ``{"params", "model_state"}``), shape ``(points,)``.
    ``mask`` is applied at every point. With ``bn_batches`` (training inputs,
    ``(n, batch, *input)``) a model's state is recomputed at each point
    (``bn_stats``); without, it is interpolated like the params."""

    def at(alpha):
        params = masks_lib.apply(interpolate(a["params"], b["params"], alpha), mask)
        state = interpolate(a["model_state"], b["model_state"], alpha)
        if bn_batches is not None:
            state = bn_stats(model, params, state, bn_batches)
        scores = train_lib.evaluate(model, params, state, x, y, batch_size, dtype)
        return 1.0 - scores["accuracy"]

    return jax.lax.map(at, alphas(points))
