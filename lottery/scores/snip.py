"""SNIP: connection sensitivity (Lee et al. 2019, "SNIP: Single-shot Network
Pruning based on Connection Sensitivity")."""

from __future__ import annotations

import dataclasses

import jax
import jax.numpy as jnp

from lottery.scores.base import Scorer, apply_mask, batch_loss


@dataclasses.dataclass(frozen=True)
class Snip(Scorer):
    """SNIP scores ``|dL/dc|``: the network uses weights ``w * c`` and ``c`` is the
    current mask as floats (all ones for one-shot), so the score is ``|g * w|``
    with ``g = dL/dw'`` the loss gradient at the masked weights ``w' = w * c``.
    The highest scores are kept.

    ``L`` is the *sum* over the scoring batches of each batch's mean
    cross-entropy, and the absolute value is taken once, of the total
    derivative: ``|sum_b dL_b/dc|``, not ``sum_b |dL_b/dc|``. This is the
    reference code's convention (gradients accumulated over the batches of a
    single scoring pass, then ``abs``). SNIP's normalization by the sum of all
    scores is a positive constant and is omitted (it changes no ranking).
    """

    def __call__(self, model, params, model_state, mask, x, y, key):
        """Returns float32 ``|dL/dc|`` at ``c = mask``, structure of ``params``."""
        loss = batch_loss(model, model_state, x, y)
        c = jax.tree.map(lambda p, m: m.astype(p.dtype), params, mask)
        grads = jax.grad(lambda c: loss(apply_mask(params, c)))(c)
        return jax.tree.map(lambda g: jnp.abs(g).astype(jnp.float32), grads)
