"""SynFlow: iterative synaptic flow pruning (Tanaka et al. 2020, "Pruning neural
networks without any data by iteratively conserving synaptic flow")."""

from __future__ import annotations

import dataclasses
from typing import Any, ClassVar

import jax
import jax.numpy as jnp

from lottery.errors import LotteryError
from lottery.scores.base import Scorer

PyTree = Any


@dataclasses.dataclass(frozen=True)
class Synflow(Scorer):
    """SynFlow scores ``|w * dR/dw|``, the highest kept; data-free.

    Every params leaf is replaced by ``w = |w| * mask`` (non-prunable leaves have
    an all-True mask, so they are just ``|w|``), and every float leaf of
    ``model_state`` (BatchNorm statistics) by its absolute value, as the
    reference code takes ``abs`` of the whole ``state_dict``. The network runs
    in eval mode (BatchNorm uses its running statistics) on one all-ones input
    of shape ``(1, *model.input_shape)``; ``R = sum(logits)``. Pruned weights
    score exactly 0.

    The paper's 100 pruning iterations are not a property of the scorer: the
    caller passes ``iterations`` to ``prune_at_init`` (the config's default).

    ``float64=True`` computes ``R`` and its gradient in float64 inside a
    ``jax.enable_x64`` context scoped to this call, for deep networks where
    ``R`` over- or underflows float32. The scores are then divided by their
    maximum over all leaves (a positive constant: no ranking changes) and
    returned as float32, so values beyond float32's range survive ``prune``'s
    float32 ranking. With ``float64=False`` scores are unscaled float32.
    """

    float64: bool = False
    needs_data: ClassVar[bool] = False

    def __post_init__(self):
        if not isinstance(self.float64, bool):
            raise LotteryError("pai.float64", f"must be true or false, got {self.float64!r}")

    def __call__(self, model, params, model_state, mask, x, y, key):
        """Returns float32 ``|w * dR/dw|`` (see the class docstring for ``float64``)."""
        if not self.float64:
            return _synflow(model, params, model_state, mask, jnp.float32)
        with jax.enable_x64(True):
            scores = _synflow(model, params, model_state, mask, jnp.float64)
            top = jnp.max(jnp.stack([jnp.max(s) for s in jax.tree.leaves(scores)]))
            top = jnp.where(top > 0, top, 1.0)
            return jax.tree.map(lambda s: (s / top).astype(jnp.float32), scores)


def _synflow(model, params, model_state, mask, dtype) -> PyTree:
    """Returns ``|w * dR/dw|`` in ``dtype`` at ``w = |params| * mask``."""

    def linear(a):
        return jnp.abs(a).astype(dtype) if jnp.issubdtype(a.dtype, jnp.floating) else a

    w = jax.tree.map(lambda p, m: jnp.abs(p).astype(dtype) * m.astype(dtype), params, mask)
    state = jax.tree.map(linear, model_state)
    ones = jnp.ones((1, *model.input_shape), dtype)

    def flow(w):
        logits, _ = model.apply(w, state, ones, train=False)
        return jnp.sum(logits)

    grads = jax.grad(flow)(w)
    return jax.tree.map(lambda p, g: jnp.abs(p * g), w, grads)
