"""GraSP: gradient signal preservation (Wang et al. 2020, "Picking Winning
Tickets Before Training by Preserving Gradient Flow")."""

from __future__ import annotations

import dataclasses
from collections.abc import Callable
from typing import Any, ClassVar

import jax
import jax.numpy as jnp

from lottery.errors import LotteryError
from lottery.scores.base import Scorer, apply_mask, batch_loss

PyTree = Any


def hessian_vector_product(
    loss_fn: Callable[[PyTree], jax.Array], params: PyTree, vector: PyTree
) -> PyTree:
    """Returns ``H v``, the Hessian of ``loss_fn`` at ``params`` times ``vector``
    (a tree like ``params``), by forward-over-reverse differentiation:
    ``jax.jvp`` of ``jax.grad(loss_fn)``. The Hessian is never formed; the cost
    is about that of two gradients."""
    return jax.jvp(jax.grad(loss_fn), (params,), (vector,))[1]


@dataclasses.dataclass(frozen=True)
class Grasp(Scorer):
    """GraSP scores ``S = -w * (H g)``; GraSP **removes the highest** ``S``
    (``keep_highest = False``), i.e. keeps the lowest.

    ``L(w)`` is the sum over the scoring batches of each batch's mean
    cross-entropy of ``logits / temperature`` (T = 200 in the paper), evaluated
    at the masked weights; ``g = grad L`` is held fixed (``stop_gradient``) and
    ``H g`` is ``hessian_vector_product(L, w, g)``: the gradient of ``g . grad L``,
    as the reference code computes it. Summing (rather than averaging) the
    batches scales ``g`` by ``B`` and ``H g`` by ``B**2``, a positive constant,
    so no ranking changes.

    Sign convention: removing the weights with the largest ``-w * Hg`` is the
    paper's rule (and Wang et al.'s released code, which keeps the scores below
    a threshold); other implementations disagreed, some keeping the highest
    ``-w * Hg`` or ranking ``|w * Hg|``. Here ``__call__`` returns ``S`` itself and
    ``prune_at_init`` negates it before calling ``prune`` (which keeps the highest).
    """

    temperature: float = 200.0
    keep_highest: ClassVar[bool] = False

    def __post_init__(self):
        t = self.temperature
        if isinstance(t, bool) or not isinstance(t, int | float) or not t > 0:
            raise LotteryError("pai.temperature", f"must be a positive number, got {t!r}")

    def __call__(self, model, params, model_state, mask, x, y, key):
        """Returns float32 ``S = -w * (H g)`` at the masked weights ``w``."""
        loss = batch_loss(model, model_state, x, y, temperature=self.temperature)
        w = apply_mask(params, mask)
        g = jax.lax.stop_gradient(jax.grad(loss)(w))
        hg = hessian_vector_product(loss, w, g)
        return jax.tree.map(lambda p, h: (-p * h).astype(jnp.float32), w, hg)
