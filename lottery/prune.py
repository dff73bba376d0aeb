"""The one pruning primitive: scores + mask + target -> new mask.

Every pruning rule in the library (magnitude for IMP, SNIP, GraSP, SynFlow,
random, structured scores) produces a scores pytree and calls ``prune``. The
convention is fixed here once: **higher score = more important = kept**. A rule
that removes its highest scores (GraSP) negates them before calling ``prune``.

Counting (exact, deterministic, static shapes, works under ``jit``/``vmap``):

* Weights are ranked within a *group*: with ``scope="global"`` all prunable
  leaves at the base rate form one group and every leaf with its own rate
  (``rates={"out": 0.5}``) is ranked alone; with ``scope="layerwise"`` every
  prunable leaf is its own group. A leaf with rate 0 is left as it is.
* ``Target.remove(f)``: a group with ``remaining`` live weights and rate ``r``
  keeps ``remaining - round(min(1, r * f) * remaining)`` (float32 arithmetic,
  round half to even). This is IMP's "prune 20% of what is left".
* ``Target.density(d)``: a group of ``size`` weights keeps
  ``min(remaining, round(d_g * size))`` with ``d_g = 1 - r * (1 - d)``; with no
  rates the density over the prunable weights is exactly ``round(d * size) / size``.
* Within a group, live weights come first, then higher score, then lower flat
  index (tree order, row-major): ties are broken by index, so the result is
  deterministic. NaN scores rank lowest. A pruned weight is never revived.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping
from typing import Any

import jax
import jax.numpy as jnp

from lottery import select
from lottery.errors import LotteryError

PyTree = Any
SCOPES = ("global", "layerwise")


@dataclasses.dataclass(frozen=True)
class Target:
    """How much to prune: ``kind`` is ``"remove"`` (a fraction of the remaining
    prunable weights to remove) or ``"density"`` (the final fraction kept).
    ``value`` may be a traced scalar (e.g. densities vmapped in a sweep)."""

    kind: str
    value: Any

    @classmethod
    def remove(cls, fraction) -> Target:
        """Returns a target that removes ``fraction`` of the remaining weights."""
        _check_unit("prune.fraction", fraction, allow_zero=True)
        return cls("remove", fraction)

    @classmethod
    def density(cls, density) -> Target:
        """Returns a target that keeps ``density`` of the prunable weights."""
        _check_unit("prune.density", density, allow_zero=False)
        return cls("density", density)


jax.tree_util.register_dataclass(Target, data_fields=["value"], meta_fields=["kind"])


def _check_unit(field: str, value, allow_zero: bool) -> None:
    if isinstance(value, jax.core.Tracer):
        return
    try:
        v = float(value)
    except (TypeError, ValueError):
        raise LotteryError(field, f"must be a number in (0, 1], got {value!r}") from None
    low_ok = v >= 0 if allow_zero else v > 0
    if not (low_ok and v <= 1):
        interval = "[0, 1]" if allow_zero else "(0, 1]"
        raise LotteryError(field, f"must be in {interval}, got {v}")


def _groups(flags: list[bool], rates: list[float], scope: str) -> list[tuple[float, list[int]]]:
    """Returns ``[(rate, leaf indices)]``: the sets of leaves ranked together."""
    groups: list[tuple[float, list[int]]] = []
    base = [i for i, (f, r) in enumerate(zip(flags, rates, strict=True)) if f and r == 1.0]
    if scope == "global" and base:
        groups.append((1.0, base))
    for i, (f, r) in enumerate(zip(flags, rates, strict=True)):
        if not f or r == 0.0 or (scope == "global" and r == 1.0):
            continue
        groups.append((r, [i]))
    return groups


def _keep_count(target: Target, rate: float, remaining: jax.Array, size: int) -> jax.Array:
    value = jnp.asarray(target.value, jnp.float32)
    remaining_f = remaining.astype(jnp.float32)
    if target.kind == "remove":
        frac = jnp.minimum(jnp.float32(rate) * value, 1.0)
        keep = remaining_f - jnp.round(frac * remaining_f)
    elif target.kind == "density":
        group_density = 1.0 - jnp.float32(rate) * (1.0 - value)
        keep = jnp.minimum(remaining_f, jnp.round(jnp.clip(group_density, 0.0, 1.0) * size))
    else:
        raise LotteryError(
            "prune.target", f"unknown kind '{target.kind}'; allowed: remove, density"
        )
    return keep.astype(jnp.int32)


def _rank_keep(scores: jax.Array, alive: jax.Array, keep: jax.Array) -> jax.Array:
    """Returns a bool vector keeping the ``keep`` best live entries."""
    n = scores.shape[0]
    scores = jnp.where(jnp.isnan(scores), -jnp.inf, scores)
    index = jnp.arange(n, dtype=jnp.int32)
    # lexsort: last key is primary. Live first, then high score, then low index.
    order = jnp.lexsort((index, -scores, (~alive).astype(jnp.int32)))
    kept_sorted = index < keep
    return jnp.zeros(n, bool).at[order].set(kept_sorted) & alive


def prune(
    scores: PyTree,
    mask: PyTree,
    target: Target,
    scope: str = "global",
    rates: Mapping[str, float] | None = None,
    prunable: PyTree | None = None,
) -> PyTree:
    """Returns a new mask that keeps exactly the requested number of weights.

    Args:
      scores: a pytree like the params; higher means keep.
      mask: the current mask (boolean, same structure); never revived.
      target: ``Target.remove(fraction)`` or ``Target.density(d)``.
      scope: ``"global"`` (rank across layers) or ``"layerwise"``.
      rates: per-layer multipliers of the fraction, by leaf path or module
        name, e.g. ``{"out": 0.5}``; 0 freezes a layer.
      prunable: tree of Python bools (``select.prunable``); default: kernels.

    See the module docstring for the exact counting rule.
    """
    if scope not in SCOPES:
        raise LotteryError("prune.scope", f"unknown scope '{scope}'; allowed: {', '.join(SCOPES)}")
    if not isinstance(target, Target):
        raise LotteryError("prune.target", "must be Target.remove(fraction) or Target.density(d)")
    if prunable is None:
        prunable = select.prunable(scores)
    flags = jax.tree.leaves(prunable)
    rate_list = jax.tree.leaves(select.layer_rates(scores, rates, prunable))
    score_leaves = jax.tree.leaves(scores)
    mask_leaves = jax.tree.leaves(mask)
    if not (len(flags) == len(score_leaves) == len(mask_leaves)):
        raise LotteryError("mask", "scores, mask and prunable trees have different leaf counts")
    new_leaves = list(mask_leaves)
    for rate, idx in _groups(flags, rate_list, scope):
        flat_scores = jnp.concatenate(
            [score_leaves[i].reshape(-1).astype(jnp.float32) for i in idx]
        )
        flat_alive = jnp.concatenate([mask_leaves[i].reshape(-1) for i in idx])
        size = int(flat_alive.shape[0])
        remaining = jnp.sum(flat_alive, dtype=jnp.int32)
        keep = _keep_count(target, rate, remaining, size)
        flat_keep = _rank_keep(flat_scores, flat_alive, keep)
        offset = 0
        for i in idx:
            n = mask_leaves[i].size
            new_leaves[i] = flat_keep[offset : offset + n].reshape(mask_leaves[i].shape)
            offset += n
    return jax.tree.unflatten(jax.tree.structure(mask), new_leaves)


def layer_counts(mask: PyTree, prunable: PyTree | None = None) -> PyTree:
    """Returns a tree like ``mask`` of int32 scalars: each prunable leaf's number of
    kept weights, and -1 for leaves that are not prunable."""
    if prunable is None:
        prunable = select.prunable(mask)
    return jax.tree.map(
        lambda m, f: jnp.sum(m, dtype=jnp.int32) if f else jnp.int32(-1), mask, prunable
    )


def prune_to_counts(
    scores: PyTree, mask: PyTree, counts: PyTree, prunable: PyTree | None = None
) -> PyTree:
    """Returns a mask keeping, in each prunable leaf, the ``counts`` leaf's number of
    live weights with the highest scores (ties by lower index; never reviving a
    pruned weight, so a count above the leaf's live weights keeps them all).
    Non-prunable leaves are returned unchanged.

    Control branches use it to match a ticket's per-layer counts exactly
    (``counts = layer_counts(ticket_mask)``) whatever the scores are.
    """
    if prunable is None:
        prunable = select.prunable(mask)

    def one(s, m, c, f):
        if not f:
            return m
        flat = _rank_keep(s.reshape(-1).astype(jnp.float32), m.reshape(-1), c)
        return flat.reshape(m.shape)

    return jax.tree.map(one, scores, mask, counts, prunable)
