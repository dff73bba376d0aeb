"""Pruning at initialization: score, prune, and optionally repeat.

One-shot rules (SNIP, GraSP, magnitude, random) score once and prune to the
target density; SynFlow is iterated (Tanaka et al. 2020) with the exponential
schedule: at iteration ``e`` (0-based) of ``E`` the mask is pruned to density
``density ** ((e + 1) / E)``, re-scoring with the current mask each time, so the
last iteration reaches ``density`` exactly.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import jax
import jax.numpy as jnp

from lottery import masks, select
from lottery.errors import LotteryError
from lottery.models.base import Model
from lottery.prune import Target, prune
from lottery.scores.base import Scorer

PyTree = Any


def prune_at_init(
    scorer: Scorer,
    model: Model,
    params: PyTree,
    model_state: PyTree,
    x: jax.Array | None,
    y: jax.Array | None,
    key: jax.Array,
    density,
    *,
    iterations: int = 1,
    scope: str = "global",
    prunable: PyTree | None = None,
    rates: Mapping[str, float] | None = None,
    invert: bool = False,
) -> PyTree:
    """Returns the boolean mask (structure of ``params``) that ``scorer`` keeps at
    ``density`` of the prunable weights, starting from the all-True mask.

    Args:
      scorer: a ``Scorer`` (``lottery.scores.get(name)``).
      model, params, model_state: the network to score (usually at init).
      x, y: scoring data ``(num_batches, batch_size, *input_shape)`` and
        ``(num_batches, batch_size)``; ``None`` for data-free scorers.
      key: PRNG key; iteration ``e`` passes ``jax.random.fold_in(key, e)``.
      density: final fraction of prunable weights kept, in (0, 1]; may be a
        traced scalar (a sweep can ``vmap`` over densities).
      iterations: static number of prune rounds ``E`` (1: one-shot). At round
        ``e`` the target is ``Target.density(density ** ((e + 1) / E))``; each
        round re-scores with the current mask and prunes from it (never
        reviving). SynFlow's 100 rounds are the caller's (config's) default,
        not this function's.
      scope, prunable, rates: passed to ``lottery.prune.prune``.
      invert: rank inverted (Frankle et al. 2021, "Pruning neural networks at
        initialization: why are we missing the mark?"): the scores passed to
        ``prune`` are negated once more (never a reciprocal), so the rule keeps
        what it would have removed.

    ``prune`` keeps the highest scores, so the scorer's scores ``s`` are passed as
    ``s`` if ``scorer.keep_highest`` else ``-s`` (GraSP), times ``-1`` if
    ``invert``. Works under ``jax.jit`` (scorer, model, iterations, scope,
    prunable, rates and invert static) with a ``lax.fori_loop`` over rounds.
    """
    if isinstance(iterations, bool) or not isinstance(iterations, int) or iterations < 1:
        raise LotteryError("pai.iterations", f"must be a positive integer, got {iterations!r}")
    if scorer.needs_data and (x is None or y is None):
        raise LotteryError(
            "pai.num_samples", f"method {type(scorer).__name__} needs scoring data (x, y)"
        )
    Target.density(density)  # validates a concrete density; a traced one passes
    if prunable is None:
        prunable = select.prunable(params)
    negate = (not scorer.keep_highest) != invert
    final = jnp.asarray(density, jnp.float32)

    def round_(e, mask):
        scores = scorer(model, params, model_state, mask, x, y, jax.random.fold_in(key, e))
        if negate:
            scores = jax.tree.map(jnp.negative, scores)
        exponent = (e + 1).astype(jnp.float32) / iterations
        # the last round uses ``density`` itself: pow(d, 1.0) need not be exact
        target = jnp.where(e == iterations - 1, final, final**exponent)
        return prune(scores, mask, Target.density(target), scope, rates, prunable)

    mask = masks.ones(params)
    if iterations == 1:
        return round_(jnp.int32(0), mask)
    return jax.lax.fori_loop(0, iterations, round_, mask)
