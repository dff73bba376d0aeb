"""Theoretical compute of a model: multiply-accumulates (MACs), FLOPs, parameters.

What is counted: the Dense and Conv kernels only (every module that owns a
``kernel`` param). A kernel applied at ``positions`` output positions of one
example costs ``kernel_weights * positions`` MACs, and a MAC is two FLOPs (a
multiply and an add). Biases, BatchNorm, ReLU, pooling, residual adds and the
softmax are not counted: they are O(activations), small next to the kernels.

Dense and masked counts: with no mask, ``kernel_weights`` is ``kernel.size``;
with a mask it is the number of kept (True) entries of the kernel's mask leaf,
i.e. a sparse kernel is assumed to do work only for its kept weights. That is a
theoretical count (what an ideal sparse kernel would do), not a latency: dense
hardware multiplies the zeros too.

All counts are per example (batch size 1) and are plain Python ints. Layers are
named by their module path, the kernel's leaf path without ``/kernel``
(``"fc1"``, ``"stage1_block0/conv1"``, ``"out"``), as in ``lottery.select``.
Output shapes come from ``jax.eval_shape`` of the module's ``init`` with
``capture_intermediates``, so no real compute runs.
"""

from __future__ import annotations

import math
from typing import Any

import jax
import jax.numpy as jnp
import numpy as np

from lottery import select
from lottery.errors import LotteryError
from lottery.models.base import Model

PyTree = Any

_KERNEL = "kernel"
_CALL = "__call__"


def _kernel_leaves(tree: PyTree) -> dict[str, Any]:
    """Returns ``{module_path: leaf}`` for the leaves named ``kernel``, in tree order."""
    names = select.path_list(tree)
    leaves = jax.tree.leaves(tree)
    return {
        n.rsplit("/", 1)[0] if "/" in n else "": leaf
        for n, leaf in zip(names, leaves, strict=True)
        if n.split("/")[-1] == _KERNEL
    }


def _call_outputs(intermediates: PyTree) -> dict[str, list[Any]]:
    """Returns ``{module_path: [output, ...]}`` from a captured ``intermediates`` tree:
    every ``__call__`` output of each submodule, one entry per call."""
    calls: dict[tuple[str, str], Any] = {}
    for path, leaf in jax.tree_util.tree_flatten_with_path(intermediates)[0]:
        parts = [select.path_name((k,)) for k in path]
        if _CALL not in parts:
            continue
        at = parts.index(_CALL)
        call = parts[at + 1] if at + 1 < len(parts) else ""
        # A call returning a tuple or dict has several leaves; keep its first.
        calls.setdefault(("/".join(parts[:at]), call), leaf)
    found: dict[str, list[Any]] = {}
    for (module, _), leaf in calls.items():
        found.setdefault(module, []).append(leaf)
    return found


def layer_positions(model: Model) -> dict[str, int]:
    """Returns ``{module_path: positions}`` for every module that owns a ``kernel``.

    ``positions`` is the number of output positions per example at which the
    kernel is applied: the product of the output's axes between the batch axis
    and the last (features) axis, i.e. 1 for a Dense on a flat input and
    ``prod(spatial output dims)`` for a convolution. A module called more than
    once (shared weights) sums its positions over the calls. Shapes are traced
    with ``jax.eval_shape`` on a ``(1, *model.input_shape)`` input, so nothing is
    computed. Raises ``LotteryError`` if a kernel-owning module's ``__call__``
    output cannot be found (e.g. the kernel is used through another method).
    """
    x = jax.ShapeDtypeStruct((1, *model.input_shape), jnp.float32)

    def init(x: jax.Array) -> tuple[Any, PyTree]:
        key = jax.random.key(0)
        return model.module.init_with_output(
            {"params": key, "dropout": key}, x, train=False, capture_intermediates=True
        )

    _, variables = jax.eval_shape(init, x)
    outputs = _call_outputs(variables.get("intermediates", {}))
    positions: dict[str, int] = {}
    for module in _kernel_leaves(variables.get("params", {})):
        calls = [o for o in outputs.get(module, []) if hasattr(o, "shape")]
        if not calls:
            raise LotteryError(
                f"{module}/{_KERNEL}" if module else _KERNEL,
                "no __call__ output was captured for this kernel's module, so its "
                "output positions are unknown",
            )
        positions[module] = sum(math.prod(o.shape[1:-1]) for o in calls)
    return positions


def _check_mask(params: PyTree, mask: PyTree) -> None:
    """Raises ``LotteryError`` unless ``mask`` has the structure and shapes of ``params``."""
    if jax.tree.structure(params) != jax.tree.structure(mask):
        raise LotteryError("mask", "mask tree structure does not match the params")
    for name, p, m in zip(
        select.path_list(params), jax.tree.leaves(params), jax.tree.leaves(mask), strict=True
    ):
        if tuple(p.shape) != tuple(np.shape(m)):
            raise LotteryError(name, f"mask shape {np.shape(m)} != param shape {p.shape}")


def _kept(leaf: Any) -> int:
    """Returns the number of True entries of a concrete mask leaf."""
    return int(np.count_nonzero(np.asarray(leaf)))


def macs(model: Model, params: PyTree = None, mask: PyTree = None) -> dict[str, Any]:
    """Returns the multiply-accumulates per example of ``model``'s kernels.

    The result is ``{"total": int, "layers": {module_path: int}}`` where each
    layer's count is ``kernel_weights * positions`` (see :func:`layer_positions`)
    and ``total`` is their sum. ``kernel_weights`` is ``kernel.size`` (``params``
    may hold arrays or ``jax.ShapeDtypeStruct`` leaves; if ``params`` is None the
    shapes come from ``jax.eval_shape(model.init, ...)``), or, given a ``mask``
    (a concrete boolean tree with the params' structure), the number of kept
    entries of the kernel's mask leaf. Only Dense and Conv kernels are counted
    (see the module docstring for what is left out).
    """
    if params is None:
        params, _ = jax.eval_shape(model.init, jax.random.key(0))
    if mask is not None:
        _check_mask(params, mask)
    positions = layer_positions(model)
    kernels = _kernel_leaves(params if mask is None else mask)
    missing = sorted(set(kernels) ^ set(positions))
    if missing:
        raise LotteryError(
            "params", f"kernels do not match the model's layers: {', '.join(missing)}"
        )
    layers = {
        module: (math.prod(leaf.shape) if mask is None else _kept(leaf)) * positions[module]
        for module, leaf in kernels.items()
    }
    return {"total": sum(layers.values()), "layers": layers}


def flops(model: Model, params: PyTree = None, mask: PyTree = None) -> int:
    """Returns the FLOPs per example of ``model``'s kernels: ``2 * macs(...)["total"]``.

    One MAC is a multiply and an add. Counts Dense and Conv kernels only: biases,
    BatchNorm, ReLU, pooling, residual adds and the softmax are not counted (they
    are O(activations), small next to the kernels). With a ``mask`` the count is
    the "masked FLOPs": a sparse kernel is assumed to do work only for its kept
    weights, a theoretical count rather than a latency.
    """
    return 2 * macs(model, params, mask)["total"]


def param_count(params: PyTree, mask: PyTree = None) -> int:
    """Returns the number of scalars in ``params``, or with a ``mask`` the number
    of kept scalars (True mask entries) over all leaves: non-kernel leaves, whose
    mask leaves are all-True, count fully unless masked False. ``params`` may hold
    ``jax.ShapeDtypeStruct`` leaves."""
    if mask is None:
        return int(sum(math.prod(p.shape) for p in jax.tree.leaves(params)))
    _check_mask(params, mask)
    return sum(_kept(m) for m in jax.tree.leaves(mask))
