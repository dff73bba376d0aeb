"""The pruning steps of structured IMP and IMP-Refill, and their control branches.

* ``channel_step`` (channel-wise IMP, the "structured IMP" of Chen et al. 2022,
  "Coarsening the Granularity"): rank the live units of the previous level's
  trained network by a group score (L1 of the filter by default, Li et al.
  2017) and keep, in every group, the same fraction of units, chosen so that
  the prunable density is nearest the level's target.
* ``refill_step`` (IMP-Refill, Chen et al. 2022): prune the trained weights by
  magnitude as unstructured IMP does (``imp.fraction`` of the remaining, same
  scope and rates), then rank each group's units by the L1 norm of their
  *surviving* weights and keep whole units, refilled dense. Each group keeps a
  share of its live units proportional to the share of its filters' live
  weights that the magnitude step kept (so the layers IMP thins most lose the
  most channels), scaled by one factor to reach the level's target density.
  (Measuring the share against the full layer instead compounds over levels:
  the thinnest layer collapses to one channel within a few levels.)

Both return a mask that is a pure union of whole units (``groups.expand``), so
the ticket compacts into a smaller dense network. They work on one replicate
(the IMP driver loops over replicates; the counts are plain integers).

Controls: ``reinit`` keeps the ticket's units with a fresh initialization;
``random_prune`` keeps random units with the ticket's number of units per group
(a random channel-pruned network) and a fresh initialization.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import jax
import jax.numpy as jnp

from lottery import controls
from lottery.models.base import Model
from lottery.prune import Target, prune
from lottery.scores.magnitude import magnitude
from lottery.structured import select
from lottery.structured.groups import (
    Group,
    alive,
    alive_counts,
    expand,
    flat,
    groups_of,
    unit_sums,
)

PyTree = Any
STRUCTURES = ("weights", "channels", "refill")


def _shapes(params: PyTree) -> dict[str, tuple[int, ...]]:
    return {p: tuple(v.shape) for p, v in flat(params).items()}


def _flat_flags(prunable: PyTree) -> dict[str, bool]:
    return {p: bool(v) for p, v in flat(prunable).items()}


def channel_step(
    model: Model,
    trained: PyTree,
    mask: PyTree,
    density: float,
    prunable: PyTree,
    score: str = "l1",
) -> PyTree:
    """Returns the next channel-IMP mask: whole units kept by ``score`` of the
    masked ``trained`` params, at the density nearest ``density``."""
    groups = groups_of(model)
    live = alive(groups, mask)
    counts = select.keep_counts(
        groups,
        _shapes(trained),
        _flat_flags(prunable),
        density,
        alive=alive_counts(groups, mask),
    )
    scores = select.group_scores(groups, trained, score, mask=mask)
    keep = select.select_units(scores, counts, live)
    return jax.tree.map(jnp.logical_and, expand(groups, keep, trained), mask)


def _layer_share(groups: tuple[Group, ...], unstructured: PyTree, mask: PyTree) -> dict[str, float]:
    """Returns, per group, the fraction of its filters' live weights (its slices
    of the ``out`` kernels kept by ``mask``) that ``unstructured`` keeps."""

    def kernels(tree: PyTree) -> dict[str, jax.Array]:
        return {p: v for p, v in flat(tree).items() if p.endswith("kernel")}

    new, old = kernels(unstructured), kernels(mask)
    share = {}
    for g in groups:
        kept, live = float(jnp.sum(unit_sums(g, new))), float(jnp.sum(unit_sums(g, old)))
        share[g.name] = kept / max(live, 1.0)
    return share


def refill_step(
    model: Model,
    trained: PyTree,
    mask: PyTree,
    density: float,
    prunable: PyTree,
    fraction: float,
    scope: str,
    rates: Mapping[str, float],
) -> PyTree:
    """Returns the next IMP-Refill mask (see the module docstring)."""
    groups = groups_of(model)
    unstructured = prune(magnitude(trained), mask, Target.remove(fraction), scope, rates, prunable)
    live = alive(groups, mask)
    counts = select.keep_counts(
        groups,
        _shapes(trained),
        _flat_flags(prunable),
        density,
        preference=_layer_share(groups, unstructured, mask),
        alive=alive_counts(groups, mask),
        relative=True,
    )
    scores = select.group_scores(groups, trained, "l1", mask=unstructured)
    keep = select.select_units(scores, counts, live)
    return expand(groups, keep, trained)


def random_prune(ctx: controls.Context, model: Model, prunable: PyTree) -> tuple[PyTree, PyTree]:
    """Returns random whole units with the ticket's per-group unit counts, and a
    fresh initialization (one replicate; jit- and vmap-safe)."""
    groups = groups_of(model)
    mask_key, init_key = jax.random.split(ctx.key)
    live = alive(groups, ctx.ticket_mask)
    scores = {
        g.name: jax.random.uniform(jax.random.fold_in(mask_key, i), (g.size,))
        for i, g in enumerate(groups)
    }
    counts = {g.name: jnp.sum(live[g.name]) for g in groups}
    everything = {g.name: jnp.ones(g.size, bool) for g in groups}
    keep = select.select_units(scores, counts, everything)
    params, model_state = model.init(init_key)
    return expand(groups, keep, ctx.ticket_mask), {"params": params, "model_state": model_state}


CONTROLS: dict[str, controls.Control] = {
    "reinit": controls.reinit,
    "random_prune": random_prune,
}
