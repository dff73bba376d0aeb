"""Mask analysis: overlap between masks, effective versus direct density, and
sign flips during training.

* **Jaccard overlap** ``|a AND b| / |a OR b|`` over the prunable leaves, as a
  matrix between any labelled masks (seeds, methods, levels, rewinding points).
* **Effective density** (Vysogorets & Kempe 2023, "Connectivity Matters: Neural
  Network Pruning Through the Lens of Effective Sparsity"): the fraction of
  prunable weights that lie on at least one path from the input to the output.
  A kept weight whose input unit receives nothing, or whose output unit feeds
  nothing, is pruned in effect. It is computed for any architecture by one
  gradient: the network with every kept weight set to a positive constant
  (``1 / fan-in``), biases 0, other leaves 1, BatchNorm statistics 0 and 1, on an
  all-ones input is a positive linear map, and a weight is on a path exactly
  when the gradient of the summed logits with respect to it is nonzero. Exact
  for networks without max pooling; with max pooling only the argmax entry of a
  tied window gets the gradient, so the result is a lower bound.
* **Sign flips**: the fraction of surviving weights whose sign at the end of
  training differs from their sign at the start (Zhou et al. 2019 study how the
  initial signs matter).
"""

from __future__ import annotations

import itertools
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import jax
import jax.numpy as jnp
import numpy as np

from lottery import masks as masks_lib
from lottery import select
from lottery.errors import LotteryError
from lottery.models.base import Model

PyTree = Any


def jaccard_matrix(masks: Sequence[PyTree], prunable: PyTree | None = None) -> np.ndarray:
    """Returns the symmetric ``(n, n)`` matrix of pairwise Jaccard overlaps of
    ``masks`` over the prunable leaves (ones on the diagonal)."""
    n = len(masks)
    out = np.ones((n, n))
    for i, j in itertools.combinations(range(n), 2):
        out[i, j] = out[j, i] = float(masks_lib.jaccard(masks[i], masks[j], prunable))
    return out


def mean_pairwise(matrix: np.ndarray) -> float:
    """Returns the mean of the off-diagonal entries of a square matrix (1.0 for 1x1)."""
    n = matrix.shape[0]
    if n < 2:
        return 1.0
    return float((matrix.sum() - np.trace(matrix)) / (n * (n - 1)))


def _path_params(mask: PyTree, prunable: PyTree) -> PyTree:
    """Returns float params: kept prunable weights 1 / fan-in, biases 0, others 1."""
    names = select.path_list(mask)
    leaves, treedef = jax.tree.flatten(mask)

    def one(name, m, f):
        if f:
            return m.astype(jnp.float32) / max(1, int(np.prod(m.shape[:-1])))
        fill = 0.0 if name.split("/")[-1] in ("bias", "beta") else 1.0
        return jnp.full(m.shape, fill, jnp.float32)

    flat = [one(n, m, f) for n, m, f in zip(names, leaves, jax.tree.leaves(prunable), strict=True)]
    return jax.tree.unflatten(treedef, flat)


def _neutral_state(state: PyTree) -> PyTree:
    """Returns ``state`` with running variances 1 and every other leaf 0."""
    names = select.path_list(state)
    leaves, treedef = jax.tree.flatten(state)
    flat = [
        jnp.ones(s.shape, s.dtype) if n.endswith("var") else jnp.zeros(s.shape, s.dtype)
        for n, s in zip(names, leaves, strict=True)
    ]
    return jax.tree.unflatten(treedef, flat)


def effective_mask(model: Model, mask: PyTree, prunable: PyTree, state: PyTree) -> PyTree:
    """Returns the mask of weights on at least one input-to-output path (see the
    module docstring), a boolean tree like ``mask`` (non-prunable leaves kept as
    they are). ``state`` is the model's state template (``model.init``'s second
    value, any values). Raises ``LotteryError`` if no path is left at all."""
    params = _path_params(mask, prunable)
    neutral = _neutral_state(state)
    x = jnp.ones((1, *model.input_shape), jnp.float32)

    def total(p):
        logits, _ = model.apply(p, neutral, x, train=False)
        return jnp.sum(logits)

    value, grads = jax.value_and_grad(total)(params)
    if not np.isfinite(float(value)):
        raise LotteryError("mask", "path count overflowed; effective density needs a shallower net")
    return jax.tree.map(lambda m, g, f: (m & (g != 0)) if f else m, mask, grads, prunable)


def effective_density(model: Model, mask: PyTree, prunable: PyTree, state: PyTree) -> float:
    """Returns the fraction of prunable weights that are effective (on an
    input-to-output path), over all prunable weights."""
    return float(masks_lib.density(effective_mask(model, mask, prunable, state), prunable))


def sign_flips(start: PyTree, final: PyTree, mask: PyTree, prunable: PyTree) -> float:
    """Returns the fraction of kept prunable weights whose sign at ``final``
    differs from their sign at ``start`` (params trees); 0.0 with none kept."""
    flipped, kept = 0, 0
    for s, f, m, p in zip(
        jax.tree.leaves(start),
        jax.tree.leaves(final),
        jax.tree.leaves(mask),
        jax.tree.leaves(prunable),
        strict=True,
    ):
        if p:
            flipped += int(jnp.sum(m & (jnp.sign(s) != jnp.sign(f))))
            kept += int(jnp.sum(m))
    return flipped / kept if kept else 0.0


def plot_jaccard(labels: Sequence[str], matrix: np.ndarray, path: str | Path, title: str) -> Path:
    """Writes a PNG heat map of a Jaccard matrix (0..1, values printed in the
    cells when there are at most 16 rows); returns ``path``."""
    from lottery import report

    fig, ax = report._figure()
    n = len(labels)
    fig.set_size_inches(max(5.0, 0.5 * n + 2.5), max(4.0, 0.45 * n + 2.0))
    image = ax.imshow(matrix, vmin=0.0, vmax=1.0, cmap="viridis")
    fig.colorbar(image, ax=ax, label="Jaccard overlap")
    ax.set_xticks(range(n), labels, rotation=60, ha="right", fontsize=8)
    ax.set_yticks(range(n), labels, fontsize=8)
    if n <= 16:
        for i, j in itertools.product(range(n), range(n)):
            color = "black" if matrix[i, j] > 0.6 else "white"
            ax.text(j, i, f"{matrix[i, j]:.2f}", ha="center", va="center", fontsize=7, color=color)
    ax.set_title(title)
    return report._save(fig, Path(path))
