"""Control branches of a lottery-ticket experiment, in a registry by name.

At every pruned level, each control trains a network with exactly the ticket's
number of kept weights in every prunable layer, so that any gap in accuracy
comes from *which* weights are kept or *what values* they start from:

* ``reinit``: the ticket's mask, a fresh random initialization (Frankle &
  Carbin 2019, "random reinitialization").
* ``random_prune``: random positions with the ticket's per-layer counts and a
  fresh initialization: a random sparse network with the ticket's layer-wise
  densities (Frankle & Carbin 2019, "random pruning").
* ``shuffle``: the ticket's mask permuted within each layer, applied to the
  ticket's own starting weights (Frankle et al. 2021, "layerwise shuffling").
* ``invert``: the same number of weights per layer as the ticket, but the
  *lowest*-magnitude trained weights of the previous level (the scores negated,
  never a reciprocal), on the ticket's starting weights.

Every function works on one replicate (the caller vmaps over replicates) and
returns ``(mask, weights)`` with ``weights = {"params", "model_state"}``. A fork
adds its own with ``register_control(name, fn)``: it is appended to ``CONTROLS``,
and a control's PRNG stream is keyed by its position there, so appending leaves
the keys (and results) of the existing controls unchanged; inserting would not.
"""

from __future__ import annotations

import dataclasses
import functools
from collections.abc import Callable
from typing import Any

import jax
import jax.numpy as jnp

from lottery.errors import LotteryError
from lottery.models.base import Model
from lottery.prune import layer_counts, prune_to_counts

PyTree = Any


@functools.partial(
    jax.tree_util.register_dataclass,
    data_fields=["ticket_mask", "previous_mask", "trained_params", "start", "key"],
    meta_fields=[],
)
@dataclasses.dataclass
class Context:
    """What a control may use at one level of one replicate: the ticket's new
    mask, the previous level's mask and trained params (the ticket was pruned
    from them), the ticket's starting weights (``{"params", "model_state"}``:
    the rewind point, or the trained weights for learning-rate rewinding and
    fine-tuning) and a PRNG key private to this level and control."""

    ticket_mask: PyTree
    previous_mask: PyTree
    trained_params: PyTree
    start: PyTree
    key: jax.Array


def _fresh(model: Model, key: jax.Array) -> PyTree:
    params, model_state = model.init(key)
    return {"params": params, "model_state": model_state}


def reinit(ctx: Context, model: Model, prunable: PyTree) -> tuple[PyTree, PyTree]:
    """Returns the ticket's mask and a fresh initialization."""
    return ctx.ticket_mask, _fresh(model, ctx.key)


def random_prune(ctx: Context, model: Model, prunable: PyTree) -> tuple[PyTree, PyTree]:
    """Returns a uniformly random mask with the ticket's per-layer counts and a
    fresh initialization."""
    mask_key, init_key = jax.random.split(ctx.key)
    leaves, treedef = jax.tree.flatten(ctx.ticket_mask)
    keys = jax.tree.unflatten(treedef, list(jax.random.split(mask_key, len(leaves))))
    scores = jax.tree.map(lambda m, k: jax.random.uniform(k, m.shape), ctx.ticket_mask, keys)
    everything = jax.tree.map(jnp.ones_like, ctx.ticket_mask)
    counts = layer_counts(ctx.ticket_mask, prunable)
    return prune_to_counts(scores, everything, counts, prunable), _fresh(model, init_key)


def shuffle(ctx: Context, model: Model, prunable: PyTree) -> tuple[PyTree, PyTree]:
    """Returns the ticket's mask permuted within each prunable layer, and the
    ticket's starting weights."""
    leaves, treedef = jax.tree.flatten(ctx.ticket_mask)
    keys = jax.tree.unflatten(treedef, list(jax.random.split(ctx.key, len(leaves))))

    def one(m, k, f):
        return jax.random.permutation(k, m.reshape(-1)).reshape(m.shape) if f else m

    return jax.tree.map(one, ctx.ticket_mask, keys, prunable), ctx.start


def invert(ctx: Context, model: Model, prunable: PyTree) -> tuple[PyTree, PyTree]:
    """Returns a mask keeping, per layer, the ticket's count of the previous level's
    lowest-magnitude live weights, and the ticket's starting weights."""
    scores = jax.tree.map(lambda w: -jnp.abs(w), ctx.trained_params)
    counts = layer_counts(ctx.ticket_mask, prunable)
    return prune_to_counts(scores, ctx.previous_mask, counts, prunable), ctx.start


Control = Callable[[Context, Model, PyTree], tuple[PyTree, PyTree]]
CONTROLS: dict[str, Control] = {
    "reinit": reinit,
    "random_prune": random_prune,
    "shuffle": shuffle,
    "invert": invert,
}


def register_control(name: str, fn: Control) -> Control:
    """Appends ``fn(ctx, model, prunable) -> (mask, weights)`` to ``CONTROLS`` as
    ``name`` (usable in ``imp.controls``) and returns it; raises
    ``LotteryError("imp.controls", ...)`` if ``name`` is taken."""
    if name in CONTROLS:
        raise LotteryError("imp.controls", f"control '{name}' is already registered")
    CONTROLS[name] = fn
    return fn
