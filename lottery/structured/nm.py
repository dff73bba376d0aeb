"""Semi-structured N:M sparsity and block sparsity: scores -> mask.

Both rules take a scores pytree like the params (higher score = kept, as in
``lottery.prune``) and return a boolean mask with exactly the params' structure
and shapes. They are pure, deterministic (ties go to the lower index) and work
under ``jit`` and ``vmap``.

Layouts are Flax's: a Dense kernel is ``(in, out)`` and a Conv kernel is
``(*spatial, in, out)``. The **input (reduction) axis is axis -2**; axis -1 is the
output axis.

* ``nm_mask``: N:M fine-grained structured sparsity (Zhou et al. 2021, "Learning
  N:M fine-grained structured sparse neural networks from scratch"; NVIDIA
  Ampere sparse tensor cores run 2:4). Every run of ``m`` consecutive weights
  along the input axis (for each output unit and spatial tap) keeps its ``n``
  highest-scoring weights.
* ``block_mask``: block (tile) sparsity. Tiles of ``block[0]`` inputs x
  ``block[1]`` outputs (spanning all spatial taps of a conv kernel) are kept or
  removed whole, ranked by the sum of ``|score|`` inside the tile.
* ``satisfies_nm``: checks that a mask has at most ``n`` kept weights per group.
"""

from __future__ import annotations

import operator
from typing import Any

import jax
import jax.numpy as jnp

from lottery import select
from lottery.errors import LotteryError
from lottery.prune import _check_unit, _rank_keep

PyTree = Any
SCOPES = ("layerwise", "global")


def _static_int(field: str, value: Any, what: str) -> int:
    """Returns ``value`` as a Python int, or raises ``LotteryError``."""
    if isinstance(value, bool):
        raise LotteryError(field, f"must be {what}, got {value!r}")
    try:
        return operator.index(value)
    except TypeError:
        raise LotteryError(field, f"must be {what}, got {value!r}") from None


def _check_nm(n: Any, m: Any) -> tuple[int, int]:
    m = _static_int("nm.m", m, "a static Python integer >= 1")
    if m < 1:
        raise LotteryError("nm.m", f"must be a static Python integer >= 1, got {m}")
    n = _static_int("nm.n", n, f"a static Python integer in [1, m={m}]")
    if not 1 <= n <= m:
        raise LotteryError("nm.n", f"must be an integer in [1, m={m}], got {n}")
    return n, m


def _flags_and_names(scores: PyTree, prunable: PyTree | None) -> tuple[PyTree, list[str]]:
    if prunable is None:
        prunable = select.prunable(scores)
    return prunable, select.path_list(scores)


def _check_nm_leaf(name: str, shape: tuple[int, ...], m: int) -> None:
    if len(shape) < 2:
        raise LotteryError(
            f"nm/{name}",
            f"shape {shape} has no input axis (N:M needs ndim >= 2, layout (..., in, out)); "
            "exclude the leaf",
        )
    if shape[-2] % m:
        raise LotteryError(
            f"nm/{name}",
            f"axis -2 (input) has length {shape[-2]}, not divisible by M={m}; exclude the leaf",
        )


def _grouped(x: jax.Array, m: int) -> jax.Array:
    """Returns ``x`` of shape ``(..., in, out)`` viewed as ``(..., in // m, m, out)``."""
    *lead, fan_in, fan_out = x.shape
    return x.reshape(*lead, fan_in // m, m, fan_out)


def _nm_leaf(s: jax.Array, n: int, m: int) -> jax.Array:
    g = _grouped(s.astype(jnp.float32), m)
    g = jnp.where(jnp.isnan(g), -jnp.inf, g)  # NaN ranks lowest
    g = jnp.where(g == 0, 0.0, g)  # -0.0 ties with 0.0
    # Stable sort of -score: higher score first, ties by lower index in the group.
    order = jnp.argsort(-g, axis=-2, stable=True)
    rank = jnp.argsort(order, axis=-2, stable=True)
    return (rank < n).reshape(s.shape)


def nm_mask(
    scores: PyTree,
    n: int,
    m: int,
    prunable: PyTree | None = None,
    mask: PyTree | None = None,
) -> PyTree:
    """Returns an N:M mask: ``n`` of every ``m`` consecutive input weights kept.

    N:M semi-structured sparsity (Zhou et al. 2021, "Learning N:M fine-grained
    structured sparse neural networks from scratch"; 2:4 is NVIDIA Ampere's
    sparse tensor-core format). For every prunable leaf, in Flax layout
    ``(*spatial, in, out)``, the groups are ``m`` consecutive entries along the
    **input (reduction) axis, axis -2** -- not axis -1, which is the output axis
    in Flax -- one set of groups per output unit and spatial tap. Each group
    keeps its ``n`` highest scores; ties go to the lower index and NaN scores
    rank lowest, so the result is deterministic.

    Args:
      scores: a pytree like the params; higher means keep.
      n: weights kept per group, a static Python int with ``1 <= n <= m``.
      m: group length, a static Python int ``>= 1``.
      prunable: tree of Python bools (``select.prunable``); default: kernels.
      mask: optional current mask. The result is then ``new & mask``: weights
        already pruned stay pruned (never revived), so a group may end with
        fewer than ``n`` kept weights. Non-prunable leaves are returned as the
        given mask's leaves unchanged (all-True when ``mask`` is None).

    Raises ``LotteryError`` (fields ``nm.n``, ``nm.m``) for bad ``n``/``m``, and
    (field ``nm/<path>``) for a prunable leaf with ``ndim < 2`` or whose axis -2
    length is not divisible by ``m``; exclude such leaves via ``prunable``.

    Works under ``jit`` (``n`` and ``m`` static) and ``vmap``.
    """
    n, m = _check_nm(n, m)
    prunable, names = _flags_and_names(scores, prunable)
    flags = jax.tree.leaves(prunable)
    score_leaves = jax.tree.leaves(scores)
    if len(flags) != len(score_leaves):
        raise LotteryError("nm.prunable", "must have the same tree structure as the scores")
    if mask is not None and len(jax.tree.leaves(mask)) != len(score_leaves):
        raise LotteryError("nm.mask", "must have the same tree structure as the scores")
    for name, s, f in zip(names, score_leaves, flags, strict=True):
        if f:
            _check_nm_leaf(name, tuple(s.shape), m)

    def one(s, f):
        return _nm_leaf(s, n, m) if f else jnp.ones(s.shape, bool)

    new = jax.tree.map(one, scores, prunable)
    if mask is None:
        return new
    return jax.tree.map(lambda a, b, f: a & b if f else b, new, mask, prunable)


def satisfies_nm(mask: PyTree, n: int, m: int, prunable: PyTree | None = None) -> jax.Array:
    """Returns a bool scalar: True iff every group of ``m`` consecutive entries
    along axis -2 of every prunable leaf has at most ``n`` kept entries (what N:M
    hardware requires; ``nm_mask`` without a ``mask`` keeps exactly ``n``).

    A prunable leaf that cannot be grouped (``ndim < 2`` or axis -2 not divisible
    by ``m``) makes the result False. Works under ``jit`` and ``vmap``.
    """
    n, m = _check_nm(n, m)
    if prunable is None:
        prunable = select.prunable(mask)
    ok = jnp.bool_(True)
    for leaf, f in zip(jax.tree.leaves(mask), jax.tree.leaves(prunable), strict=True):
        if not f:
            continue
        if leaf.ndim < 2 or leaf.shape[-2] % m:
            return jnp.bool_(False)
        per_group = jnp.sum(_grouped(leaf, m), axis=-2, dtype=jnp.int32)
        ok = ok & jnp.all(per_group <= n)
    return ok


def _check_block(block: Any) -> tuple[int, int]:
    what = "a pair of positive integers (in, out), e.g. (4, 4)"
    try:
        pair = tuple(block)
    except TypeError:
        raise LotteryError("block.block", f"must be {what}, got {block!r}") from None
    if len(pair) != 2:
        raise LotteryError("block.block", f"must be {what}, got {block!r}")
    bi, bo = (_static_int("block.block", b, what) for b in pair)
    if bi < 1 or bo < 1:
        raise LotteryError("block.block", f"must be {what}, got {block!r}")
    return bi, bo


def _tile_scores(s: jax.Array, bi: int, bo: int) -> jax.Array:
    """Returns the ``(in // bi, out // bo)`` tile sums of ``|s|``."""
    *spatial, fan_in, fan_out = s.shape
    a = jnp.abs(s.astype(jnp.float32)).reshape(*spatial, fan_in // bi, bi, fan_out // bo, bo)
    k = len(spatial)
    return jnp.sum(a, axis=(*range(k), k + 1, k + 3))


def _expand_tiles(keep: jax.Array, shape: tuple[int, ...], bi: int, bo: int) -> jax.Array:
    """Returns the full-shape mask of a ``(in // bi, out // bo)`` tile mask."""
    full = jnp.repeat(jnp.repeat(keep, bi, axis=0), bo, axis=1)
    return jnp.broadcast_to(full, shape)


def _tile_count(density: Any, num_tiles: int) -> jax.Array:
    d = jnp.asarray(density, jnp.float32)
    return jnp.round(d * jnp.float32(num_tiles)).astype(jnp.int32)


def block_mask(
    scores: PyTree,
    density: Any,
    block: tuple[int, int] = (4, 4),
    prunable: PyTree | None = None,
    mask: PyTree | None = None,
    scope: str = "layerwise",
) -> PyTree:
    """Returns a block-sparse mask: whole tiles of each prunable kernel kept or removed.

    A Dense kernel ``(in, out)`` is split into tiles of ``block[0]`` inputs x
    ``block[1]`` outputs. A Conv kernel ``(*spatial, in, out)`` is tiled the same
    way over its last two axes, and each tile spans all spatial taps (so a tile
    holds ``prod(spatial) * block[0] * block[1]`` weights). A tile's score is the
    sum of ``|score|`` over its weights (higher = kept; a NaN tile ranks lowest).

    With ``scope="layerwise"`` each prunable leaf keeps ``round(density * tiles)``
    of its tiles; with ``scope="global"`` all prunable leaves' tiles are ranked
    together and ``round(density * total tiles)`` are kept (tile sums are compared
    as they are, so tiles spanning more spatial taps weigh more). Counts use
    float32 arithmetic and round half to even, as ``lottery.prune``; ties go to the
    lower flat tile index (tree order, then row-major). Each returned prunable leaf
    is tile-constant, then intersected with ``mask`` if given (already pruned
    weights stay pruned; tile scores do not look at ``mask``, so pass masked
    scores if pruned weights should not count). Non-prunable leaves are all-True,
    or the given mask's leaves unchanged.

    Args:
      scores: a pytree like the params; higher ``|score|`` means keep.
      density: fraction of tiles kept, in (0, 1]; may be traced under ``jit``.
      block: ``(inputs, outputs)`` tile size, static positive ints.
      prunable: tree of Python bools (``select.prunable``); default: kernels.
      mask: optional current mask to intersect with.
      scope: ``"layerwise"`` or ``"global"``.

    Raises ``LotteryError``: ``block.density`` outside (0, 1], ``block.block`` not
    a pair of positive ints, ``block.scope`` unknown, and ``block/<path>`` for a
    prunable leaf with ``ndim < 2`` or in/out dims not divisible by the block.
    """
    _check_unit("block.density", density, allow_zero=False)
    bi, bo = _check_block(block)
    if scope not in SCOPES:
        raise LotteryError("block.scope", f"unknown scope '{scope}'; allowed: {', '.join(SCOPES)}")
    prunable, names = _flags_and_names(scores, prunable)
    flags = jax.tree.leaves(prunable)
    score_leaves = jax.tree.leaves(scores)
    if len(flags) != len(score_leaves):
        raise LotteryError("block.prunable", "must have the same tree structure as the scores")
    if mask is not None and len(jax.tree.leaves(mask)) != len(score_leaves):
        raise LotteryError("block.mask", "must have the same tree structure as the scores")
    idx = [i for i, f in enumerate(flags) if f]
    for i in idx:
        shape = tuple(score_leaves[i].shape)
        if len(shape) < 2 or shape[-2] % bi or shape[-1] % bo:
            raise LotteryError(
                f"block/{names[i]}",
                f"shape {shape}: axes -2 (in) and -1 (out) must be divisible by block "
                f"({bi}, {bo}); exclude the leaf or change the block",
            )

    new_leaves = [jnp.ones(s.shape, bool) for s in score_leaves]
    tiles = {i: _tile_scores(score_leaves[i], bi, bo) for i in idx}
    groups = [idx] if scope == "global" and idx else [[i] for i in idx]
    for group in groups:
        flat = jnp.concatenate([tiles[i].reshape(-1) for i in group])
        total = int(flat.shape[0])
        keep = _tile_count(density, total)
        flat_keep = _rank_keep(flat, jnp.ones(total, bool), keep)
        offset = 0
        for i in group:
            t = tiles[i]
            k = flat_keep[offset : offset + t.size].reshape(t.shape)
            new_leaves[i] = _expand_tiles(k, tuple(score_leaves[i].shape), bi, bo)
            offset += t.size
    new = jax.tree.unflatten(jax.tree.structure(scores), new_leaves)
    if mask is None:
        return new
    return jax.tree.map(lambda a, b, f: a & b if f else b, new, mask, prunable)
