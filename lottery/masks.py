"""Masks: pytrees of booleans with exactly the structure and shapes of the params.

A mask has no ``None`` leaves: a leaf that is not prunable is all-True, and
``select.prunable`` says which leaves may be pruned. Masks are data, kept outside
the model and the optimizer state. Every function here is pure and works under
``jit`` and ``vmap`` (counts and densities come back as JAX scalars).
"""

from __future__ import annotations

from typing import Any

import jax
import jax.numpy as jnp

from lottery import select
from lottery.errors import LotteryError

PyTree = Any


def ones(params: PyTree) -> PyTree:
    """Returns the all-True mask for ``params`` (nothing pruned)."""
    return jax.tree.map(lambda p: jnp.ones(p.shape, bool), params)


def apply(params: PyTree, mask: PyTree) -> PyTree:
    """Returns ``params`` with masked-out entries set to exactly zero."""
    return jax.tree.map(lambda p, m: jnp.where(m, p, jnp.zeros_like(p)), params, mask)


def intersect(mask_a: PyTree, mask_b: PyTree) -> PyTree:
    """Returns the mask kept by both ``mask_a`` and ``mask_b``."""
    return jax.tree.map(jnp.logical_and, mask_a, mask_b)


def _flags(mask: PyTree, prunable: PyTree | None) -> list[bool]:
    leaves = jax.tree.leaves(mask)
    if prunable is None:
        return [True] * len(leaves)
    return jax.tree.leaves(prunable)


def count(mask: PyTree, prunable: PyTree | None = None) -> tuple[jax.Array, int]:
    """Returns ``(kept, total)`` over the prunable leaves (all leaves if None)."""
    leaves = jax.tree.leaves(mask)
    flags = _flags(mask, prunable)
    kept = sum(jnp.sum(m, dtype=jnp.int32) for m, f in zip(leaves, flags, strict=True) if f)
    total = sum(m.size for m, f in zip(leaves, flags, strict=True) if f)
    return jnp.asarray(kept, jnp.int32), int(total)


def density(mask: PyTree, prunable: PyTree | None = None) -> jax.Array:
    """Returns the fraction of prunable weights kept (a float32 scalar)."""
    kept, total = count(mask, prunable)
    return kept.astype(jnp.float32) / max(total, 1)


def layer_density(mask: PyTree, prunable: PyTree | None = None) -> dict[str, jax.Array]:
    """Returns ``{path: density}`` for each prunable leaf, in tree order."""
    names = select.path_list(mask)
    leaves = jax.tree.leaves(mask)
    flags = _flags(mask, prunable)
    return {
        n: jnp.mean(m.astype(jnp.float32))
        for n, m, f in zip(names, leaves, flags, strict=True)
        if f
    }


def jaccard(mask_a: PyTree, mask_b: PyTree, prunable: PyTree | None = None) -> jax.Array:
    """Returns |a AND b| / |a OR b| over the prunable leaves (1.0 if both empty)."""
    flags = _flags(mask_a, prunable)
    pairs = [
        (a, b)
        for a, b, f in zip(jax.tree.leaves(mask_a), jax.tree.leaves(mask_b), flags, strict=True)
        if f
    ]
    inter = sum(jnp.sum(a & b, dtype=jnp.int32) for a, b in pairs)
    union = sum(jnp.sum(a | b, dtype=jnp.int32) for a, b in pairs)
    return jnp.where(union > 0, inter / jnp.maximum(union, 1), 1.0).astype(jnp.float32)


def validate(mask: PyTree, params: PyTree) -> None:
    """Returns None if ``mask`` matches ``params``; raises ``LotteryError`` otherwise.

    The error names the first mismatching path: a missing or extra leaf, a shape
    that differs, or a leaf that is not boolean. A leading replicate axis is not
    allowed here; validate one replicate's mask against one replicate's params.
    """
    mask_paths = dict(zip(select.path_list(mask), jax.tree.leaves(mask), strict=True))
    param_paths = dict(zip(select.path_list(params), jax.tree.leaves(params), strict=True))
    for name in param_paths:
        if name not in mask_paths:
            raise LotteryError(f"mask/{name}", "missing: the params have this leaf")
    for name in mask_paths:
        if name not in param_paths:
            raise LotteryError(f"mask/{name}", "unexpected: the params have no such leaf")
    if jax.tree.structure(mask) != jax.tree.structure(params):
        raise LotteryError("mask", "tree structure differs from the params' structure")
    for name, p in param_paths.items():
        m = mask_paths[name]
        if tuple(m.shape) != tuple(p.shape):
            raise LotteryError(
                f"mask/{name}", f"shape {tuple(m.shape)} differs from the param's {tuple(p.shape)}"
            )
        if m.dtype != jnp.bool_:
            raise LotteryError(f"mask/{name}", f"dtype {m.dtype}; masks are boolean")
