"""Which leaves of a params tree may be pruned, and at what relative rate.

Leaves are named by their path, ``"fc1/kernel"`` or ``"stage1_block0/conv1/kernel"``.
By default the prunable leaves are the Dense and Conv kernels (leaves named
``kernel``); biases and normalization parameters are never pruned. A model
declares its output layer (``Model.output_layer``), so a config can prune it at a
different rate (Frankle & Carbin 2019 prune it at half the rate) or not at all.
All results here are static Python values (they depend on tree structure, never
on array values), so they can be closed over by ``jit``.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any

import jax

from lottery.errors import LotteryError

PyTree = Any


def _key_name(key: Any) -> str:
    for attr in ("key", "name", "idx"):
        if hasattr(key, attr):
            return str(getattr(key, attr))
    return str(key)


def path_name(path: tuple) -> str:
    """Returns the ``"a/b/kernel"`` name of a ``jax.tree_util`` key path."""
    return "/".join(_key_name(k) for k in path)


def leaf_paths(tree: PyTree) -> PyTree:
    """Returns a tree of the same structure whose leaves are the path names."""
    return jax.tree.map_with_path(lambda p, _: path_name(p), tree)


def path_list(tree: PyTree) -> list[str]:
    """Returns the path names of the leaves, in tree-flattening order."""
    return jax.tree.leaves(leaf_paths(tree))


def _matches(path: str, pattern: str) -> bool:
    """A pattern names a leaf (``out/kernel``) or a module and all below it (``out``)."""
    return path == pattern or path.startswith(pattern.rstrip("/") + "/")


def prunable(
    params: PyTree,
    *,
    leaf_names: Iterable[str] = ("kernel",),
    exclude: Iterable[str] = (),
) -> PyTree:
    """Returns a tree of Python bools: True where a leaf may be pruned.

    Args:
      params: the params tree (arrays or ``ShapeDtypeStruct`` leaves).
      leaf_names: last path components that are prunable (default Dense and
        Conv kernels).
      exclude: leaf paths or module names never to prune (e.g. the model's
        ``output_layer``); an entry matching nothing raises ``LotteryError``.
    """
    exclude = tuple(exclude)
    names = path_list(params)
    for pattern in exclude:
        if not any(_matches(n, pattern) for n in names):
            raise LotteryError(
                "prune.exclude", f"'{pattern}' matches no parameter; have: {', '.join(names)}"
            )
    leaf_names = tuple(leaf_names)

    def decide(path, _):
        name = path_name(path)
        return name.split("/")[-1] in leaf_names and not any(_matches(name, e) for e in exclude)

    return jax.tree.map_with_path(decide, params)


def layer_rates(params: PyTree, rates: Mapping[str, float] | None, prunable_tree: PyTree) -> PyTree:
    """Returns a tree of Python floats: each prunable leaf's rate multiplier.

    ``rates`` maps a leaf path or module name to a multiplier of the pruning
    fraction (``{"out": 0.5}``: the output layer loses half the fraction the
    others lose). Unlisted prunable leaves get 1.0; non-prunable leaves get 0.0.
    A pattern matching no prunable leaf, or a negative rate, raises ``LotteryError``.
    """
    rates = dict(rates or {})
    names = path_list(params)
    flags = jax.tree.leaves(prunable_tree)
    live = [n for n, f in zip(names, flags, strict=True) if f]
    for pattern, rate in rates.items():
        if not any(_matches(n, pattern) for n in live):
            raise LotteryError(
                f"prune.rates.{pattern}",
                f"matches no prunable parameter; prunable: {', '.join(live)}",
            )
        if not 0.0 <= float(rate):
            raise LotteryError(f"prune.rates.{pattern}", f"rate must be >= 0, got {rate}")

    def rate_of(name: str, flag: bool) -> float:
        if not flag:
            return 0.0
        hits = [float(r) for p, r in rates.items() if _matches(name, p)]
        return hits[-1] if hits else 1.0

    out = [rate_of(n, f) for n, f in zip(names, flags, strict=True)]
    return jax.tree.unflatten(jax.tree.structure(params), out)
