"""Group scores and unit selection at a target density.

Scores (higher = kept), one ``(size,)`` vector per group, from the weights the
current mask keeps:

* ``"l1"``: the L1 norm of the unit's filter (its ``out`` kernel slices), Li et
  al. 2017, "Pruning Filters for Efficient ConvNets".
* ``"l2"``: the L2 norm of the same slices.
* ``"bn_gamma"``: the BatchNorm scale ``|gamma|`` of the channel (summed over
  the BatchNorm layers of a residual stream), Liu et al. 2017, "Learning
  Efficient Convolutional Networks through Network Slimming".
* ``group_scores(..., weight_scores=tree)``: any unstructured score (magnitude,
  SNIP, ...) summed over every kernel entry the unit owns, on both sides (its
  filter and the consumers' input slices: what removing the unit removes).

Counts: ``keep_counts`` chooses how many units each group keeps so that the
density of the prunable weights (kernels by default) comes as close as possible
to a target. Each group keeps ``round(min(1, a * preference) * size)`` units (at
least one, never more than are alive; with ``relative``, a fraction of the alive
units instead of the size), with one scalar ``a`` found by bisection:
``preference`` 1 everywhere is the uniform per-layer fraction of Li et al.;
IMP-Refill passes, per layer, the fraction of its filters' live weights that the
unstructured magnitude step kept. Densities
count exactly, from the coupling: a kernel keeps the product over its covered
axes of the kept positions.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import jax
import jax.numpy as jnp
import numpy as np

from lottery import masks as masks_lib
from lottery.errors import LotteryError
from lottery.prune import _rank_keep
from lottery.structured.groups import Group, flat, unit_sums

PyTree = Any
SCORES = ("l1", "l2", "bn_gamma")


def _kernels(leaves: Mapping[str, Any]) -> dict[str, Any]:
    return {p: v for p, v in leaves.items() if p.endswith("kernel")}


def group_scores(
    groups: tuple[Group, ...],
    params: PyTree,
    method: str = "l1",
    mask: PyTree | None = None,
    weight_scores: PyTree | None = None,
) -> dict[str, jax.Array]:
    """Returns ``{group: (size,) scores}``: ``method`` (``"l1"``, ``"l2"``,
    ``"bn_gamma"``) of the masked ``params``, or, if ``weight_scores`` is given,
    those per-weight scores summed over each unit's kernel entries."""
    values = flat(params if mask is None else masks_lib.apply(params, mask))
    if weight_scores is not None:
        scores = flat(weight_scores)
        if mask is not None:
            scores = {p: jnp.where(m, scores[p], 0.0) for p, m in flat(mask).items()}
        return {g.name: unit_sums(g, _kernels(scores), role=None) for g in groups}
    if method == "l1":
        kernels = {p: jnp.abs(v) for p, v in _kernels(values).items()}
        return {g.name: unit_sums(g, kernels) for g in groups}
    if method == "l2":
        kernels = {p: jnp.square(v) for p, v in _kernels(values).items()}
        return {g.name: jnp.sqrt(unit_sums(g, kernels)) for g in groups}
    if method == "bn_gamma":
        gammas = {p: jnp.abs(v) for p, v in values.items() if p.endswith("/scale")}
        out = {}
        for g in groups:
            if not any(m.path in gammas for m in g.params_members("out")):
                raise LotteryError(
                    "group_score", f"'bn_gamma' needs BatchNorm; group '{g.name}' has none"
                )
            out[g.name] = unit_sums(g, gammas)
        return out
    allowed = ", ".join(SCORES)
    raise LotteryError("group_score", f"unknown group score '{method}'; allowed: {allowed}")


def density_of_counts(
    groups: tuple[Group, ...],
    counts: Mapping[str, int],
    shapes: Mapping[str, tuple[int, ...]],
    prunable: Mapping[str, bool],
) -> float:
    """Returns the fraction of prunable weights kept when group ``g`` keeps
    ``counts[g]`` units (``shapes``/``prunable``: flat ``{path: ...}`` of params)."""
    removed: dict[tuple[str, int], int] = {}
    for g in groups:
        for m in g.params_members():
            key = (m.path, m.axis)
            removed[key] = removed.get(key, 0) + (g.size - counts[g.name]) * m.per_unit
    kept = total = 0
    for path, shape in shapes.items():
        if not prunable.get(path, False):
            continue
        size = int(np.prod(shape))
        total += size
        fraction = 1.0
        for axis, length in enumerate(shape):
            fraction *= (length - removed.get((path, axis), 0)) / length
        kept += size * fraction
    return kept / max(total, 1)


def keep_counts(
    groups: tuple[Group, ...],
    shapes: Mapping[str, tuple[int, ...]],
    prunable: Mapping[str, bool],
    density: float,
    preference: Mapping[str, float] | None = None,
    alive: Mapping[str, int] | None = None,
    relative: bool = False,
) -> dict[str, int]:
    """Returns ``{group: units kept}`` whose prunable density is nearest to
    ``density`` (see the module docstring; ties go to the denser choice). No group
    keeps more than its ``alive`` units; with ``relative`` the fractions apply to
    the alive units instead of the group's size."""
    pref = {g.name: float((preference or {}).get(g.name, 1.0)) for g in groups}
    cap = {g.name: int((alive or {}).get(g.name, g.size)) for g in groups}
    base = {g.name: cap[g.name] if relative else g.size for g in groups}

    def counts_at(a: float) -> dict[str, int]:
        return {
            g.name: int(max(1, min(cap[g.name], round(min(1.0, a * pref[g.name]) * base[g.name]))))
            for g in groups
        }

    def dens(a: float) -> float:
        return density_of_counts(groups, counts_at(a), shapes, prunable)

    lo, hi = 0.0, 1.0 / max(min(v for v in pref.values() if v > 0), 1e-6) if pref else 1.0
    for _ in range(60):
        mid = (lo + hi) / 2
        if dens(mid) < density:
            lo = mid
        else:
            hi = mid
    best = min((hi, lo), key=lambda a: (abs(dens(a) - density), -dens(a)))
    return counts_at(best)


def select_units(
    scores: Mapping[str, jax.Array],
    counts: Mapping[str, int],
    alive: Mapping[str, jax.Array],
) -> dict[str, jax.Array]:
    """Returns ``{group: bool (size,)}`` keeping the ``counts[g]`` live units with
    the highest scores (ties to the lower index; a dead unit is never revived)."""
    return {
        name: _rank_keep(jnp.asarray(s, jnp.float32), jnp.asarray(alive[name]), counts[name])
        for name, s in scores.items()
    }
