"""Compaction: a neuron/channel ticket becomes a physically smaller dense network.

``compact(model, params, state, mask)`` finds the units the mask removes (every
``out`` entry of the unit masked, so it emits exactly zero), slices them out of
every member of their group, in ``params`` (kernels on both sides, biases,
BatchNorm scale and bias) and in ``batch_stats`` (running mean and variance), and
rebuilds the module with the kept widths (``Architecture.rebuild``). Weights the
mask removes inside kept units stay in place as zeros (the result is dense; an
unstructured remainder is not compacted). The compacted network computes the
masked network's function, in train- and eval-mode BatchNorm alike (tested to
1e-5 for every model with groups).
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import jax
import numpy as np

from lottery import masks as masks_lib
from lottery.errors import LotteryError
from lottery.models.base import Model
from lottery.structured.groups import (
    Group,
    alive,
    alive_counts,
    architecture,
    flat,
    groups_of,
    unflat,
)

PyTree = Any


def _kept_positions(groups: tuple[Group, ...], keep: Mapping[str, np.ndarray], shapes) -> dict:
    """Returns ``{(collection, path, axis): sorted kept positions}`` for every
    leaf axis that some group covers."""
    dropped: dict[tuple[str, str, int], set[int]] = {}
    for g in groups:
        for m in g.members:
            key = (m.collection, m.path, m.axis)
            gone = dropped.setdefault(key, set())
            for unit in np.flatnonzero(~np.asarray(keep[g.name])):
                gone.update(int(i) for i in m.index[unit])
    out = {}
    for (collection, path, axis), gone in dropped.items():
        length = shapes[collection][path].shape[axis]
        out[(collection, path, axis)] = np.array([i for i in range(length) if i not in gone])
    return out


def _slice(leaves: Mapping[str, Any], collection: str, positions: Mapping) -> dict[str, Any]:
    out = {}
    for path, leaf in leaves.items():
        value = np.asarray(leaf)
        for (c, p, axis), kept in positions.items():
            if c == collection and p == path:
                value = np.take(value, kept, axis=axis)
        out[path] = value
    return out


def compact(
    model: Model, params: PyTree, state: PyTree, mask: PyTree
) -> tuple[Model, PyTree, PyTree]:
    """Returns ``(smaller_model, params, state)``: the dense network without the
    units that ``mask`` removes, with ``params`` masked then sliced and the
    BatchNorm statistics in ``state`` sliced to match. One replicate (no leading
    replicate axis). Raises ``LotteryError`` for a model without declared groups,
    a mask that does not match the params, or a group left with no unit."""
    arch = architecture(model)
    masks_lib.validate(mask, params)
    groups = groups_of(model)
    keep = {name: np.asarray(v) for name, v in alive(groups, mask).items()}
    small = arch.rebuild(model, groups, keep)
    stats = flat(state.get("batch_stats", {}))
    shapes = {"params": flat(params), "batch_stats": stats}
    positions = _kept_positions(groups, keep, shapes)
    new_params = _slice(flat(masks_lib.apply(params, mask)), "params", positions)
    new_stats = _slice(stats, "batch_stats", positions)
    want_params, want_state = jax.eval_shape(small.init, jax.random.key(0))
    for path, leaf in flat(want_params).items():
        if new_params[path].shape != leaf.shape:
            raise LotteryError(
                f"compact/{path}",
                f"sliced shape {new_params[path].shape} differs from the rebuilt "
                f"model's {leaf.shape} (the architecture's groups and rebuild disagree)",
            )
    new_state = dict(state)
    if stats:
        new_state["batch_stats"] = unflat(new_stats)
    return (
        small,
        jax.tree.map(jax.numpy.asarray, unflat(new_params)),
        jax.tree.map(jax.numpy.asarray, new_state),
    )


def kept_units(model: Model, mask: PyTree) -> dict[str, int]:
    """Returns ``{group: number of units alive}`` under ``mask`` (see ``alive``)."""
    return alive_counts(groups_of(model), mask)
