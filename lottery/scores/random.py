"""Random pruning: iid uniform scores, and Erdős–Rényi-Kernel layer densities.

Random scores ranked globally give every prunable weight the same chance of
being kept (uniform density across layers); ranked layerwise, or with per-layer
counts from ``erk_densities``, they give a random sparse network with chosen
layer densities (Evci et al. 2020, "Rigging the Lottery", the ERK distribution).
"""

from __future__ import annotations

import dataclasses
import itertools
import math
from typing import Any, ClassVar

import jax
import jax.numpy as jnp

from lottery import select
from lottery.errors import LotteryError
from lottery.scores.base import Scorer

PyTree = Any
DISTRIBUTIONS = ("uniform",)


@dataclasses.dataclass(frozen=True)
class Random(Scorer):
    """Random scores: iid ``Uniform[0, 1)`` per weight, drawn from ``key``.

    One draw of all the params' entries (tree order, each leaf row-major) is
    split into the leaves, so every weight gets its own independent value. A
    single draw rather than one ``fold_in`` stream per leaf: on the CPU each
    ``jax.random`` call compiles in about half a second, so a per-leaf draw
    costs seconds of compile time per network. Data-free. ``distribution`` is
    ``"uniform"`` (the only one: any iid continuous distribution ranks alike).
    """

    distribution: str = "uniform"
    needs_data: ClassVar[bool] = False

    def __post_init__(self):
        if self.distribution not in DISTRIBUTIONS:
            raise LotteryError(
                "pai.distribution",
                f"unknown distribution '{self.distribution}'; allowed: {', '.join(DISTRIBUTIONS)}",
            )

    def __call__(self, model, params, model_state, mask, x, y, key):
        """Returns float32 uniform scores with the structure of ``params``."""
        leaves, treedef = jax.tree.flatten(params)
        sizes = [math.prod(p.shape) for p in leaves]
        flat = jax.random.uniform(key, (sum(sizes),), jnp.float32)
        ends = list(itertools.accumulate(sizes))
        scores = [
            flat[end - n : end].reshape(p.shape)
            for p, n, end in zip(leaves, sizes, ends, strict=True)
        ]
        return jax.tree.unflatten(treedef, scores)


def erk_densities(
    params: PyTree,
    prunable: PyTree,
    density: float,
    erk_power_scale: float = 1.0,
) -> dict[str, float]:
    """Returns ``{path: density}`` for each prunable leaf (``"fc1/kernel"``, tree
    order): the Erdős–Rényi-Kernel layer densities of Evci et al. 2020 (RigL).

    A layer's density is ``eps * (sum(shape) / prod(shape)) ** erk_power_scale``
    (for a Conv kernel ``(h, w, in, out)`` the sum runs over all four dims: ERK;
    for a Dense kernel it is Erdős–Rényi), with ``eps`` chosen so that the kept
    count ``sum(density_l * size_l)`` equals ``density * total``. If a layer's
    density would exceed 1 it is made dense and ``eps`` recomputed over the
    others, repeatedly (RigL's ``get_sparsities_erdos_renyi``). Exact integer
    counts are left to the caller (``round(density_l * size_l)`` is within one
    of the layer's share).

    ``params`` may hold arrays or ``ShapeDtypeStruct``; ``density`` is a Python
    number in (0, 1] (this is a host-side computation, not traced).
    """
    density = float(density)
    if not 0.0 < density <= 1.0:
        raise LotteryError("pai.density", f"must be in (0, 1], got {density}")
    if erk_power_scale < 0:
        raise LotteryError("pai.erk_power_scale", f"must be >= 0, got {erk_power_scale}")
    names = select.path_list(params)
    flags = jax.tree.leaves(prunable)
    shapes = {
        n: tuple(p.shape)
        for n, p, f in zip(names, jax.tree.leaves(params), flags, strict=True)
        if f
    }
    sizes = {n: math.prod(s) for n, s in shapes.items()}
    raw = {n: (sum(s) / sizes[n]) ** erk_power_scale for n, s in shapes.items()}
    dense: set[str] = set()
    eps = 0.0
    while len(dense) < len(shapes):
        # kept weights the sparse layers must provide, and their raw-density weight
        rhs = sum(
            density * sizes[n] if n not in dense else -(1 - density) * sizes[n] for n in shapes
        )
        divisor = sum(raw[n] * sizes[n] for n in shapes if n not in dense)
        eps = rhs / divisor
        max_raw = max(raw[n] for n in shapes if n not in dense)
        if max_raw * eps <= 1.0:
            break
        dense.update(n for n in shapes if n not in dense and raw[n] == max_raw)
    return {n: 1.0 if n in dense else eps * raw[n] for n in shapes}
