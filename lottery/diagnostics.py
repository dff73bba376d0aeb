"""Diagnostics of a mask: layer collapse and effective sparsity.

A mask can keep weights that do no work. When every weight of a layer is pruned
the network is disconnected (layer collapse, Tanaka et al. 2020, "Pruning neural
networks without any data by iteratively conserving synaptic flow"). More subtly,
a kept weight whose every input-to-output path is cut, for instance one leaving a
unit whose incoming weights are all pruned, cannot affect the output through the
input; Vysogorets & Kempe 2021 ("Connectivity matters: neural network pruning
through the lens of effective sparsity") call the weights still on some path
*effective* and show that the effective density of pruning-at-init masks can be
far below their direct density.

Nothing here is meant to run under ``jit`` or ``vmap``: ``effective_mask`` traces
the model itself, and every function takes one replicate's mask (no leading
replicate axis) and returns concrete values.
"""

from __future__ import annotations

import contextlib
import math
from collections.abc import Callable
from typing import Any

import jax
import jax.numpy as jnp
import numpy as np
from jax import lax
from jax.extend import core as jex_core

from lottery import masks, select
from lottery.errors import LotteryError
from lottery.models.base import Model

PyTree = Any


def _flags(mask: PyTree, prunable: PyTree | None) -> list[bool]:
    tree = select.prunable(mask) if prunable is None else prunable
    return [bool(f) for f in jax.tree.leaves(tree)]


def _density(mask: PyTree, flags: list[bool]) -> float:
    """Returns kept / total over the flagged leaves, counted exactly on the host."""
    leaves = [np.asarray(m) for m, f in zip(jax.tree.leaves(mask), flags, strict=True) if f]
    total = sum(m.size for m in leaves)
    return sum(int(np.count_nonzero(m)) for m in leaves) / max(total, 1)


def collapsed_layers(mask: PyTree, prunable: PyTree | None = None) -> list[str]:
    """Returns the names (``"fc1/kernel"``) of the prunable leaves that keep no
    weight at all, in tree order: the collapsed layers of Tanaka et al. 2020
    ("Pruning neural networks without any data by iteratively conserving
    synaptic flow"). A network with a collapsed layer on its only path computes a
    function of its biases alone.

    ``prunable`` defaults to ``select.prunable(mask)`` (the kernels).
    """
    names = select.path_list(mask)
    leaves = jax.tree.leaves(mask)
    flags = _flags(mask, prunable)
    return [n for n, m, f in zip(names, leaves, flags, strict=True) if f and not bool(jnp.any(m))]


def direct_density(mask: PyTree, prunable: PyTree | None = None) -> float:
    """Returns the fraction of prunable weights that ``mask`` keeps, as a Python
    float: the direct density (one minus the direct sparsity) of Vysogorets &
    Kempe 2021, to compare with :func:`effective_density`.

    ``prunable`` defaults to ``select.prunable(mask)`` (the kernels), unlike
    ``masks.density`` whose ``None`` means every leaf.
    """
    return _density(mask, _flags(mask, prunable))


def effective_mask(
    model: Model,
    params: PyTree,
    model_state: PyTree,
    mask: PyTree,
    prunable: PyTree | None = None,
) -> PyTree:
    """Returns the mask of effective weights: the kept prunable weights that lie
    on at least one path from the input to the output (Vysogorets & Kempe 2021,
    "Connectivity matters: neural network pruning through the lens of effective
    sparsity"). Non-prunable leaves are returned as they are in ``mask``.

    A weight is a path edge between two units (a Dense input and output, or a
    Conv input and output position-and-channel); it is effective iff its input
    unit is reachable from some input through kept weights and its output unit
    reaches some logit through kept weights. Biases and normalisation parameters
    are not edges: a unit reachable only through its bias is not reachable.

    Method. Build "path-count" params: each kernel-like leaf becomes its mask as
    0/1, scaled by ``1 / sqrt(fan_in)`` (fan-in: the product of all but the last
    axis); biases become 0, BatchNorm ``scale`` 1 and ``bias`` 0, and the running
    ``mean`` 0 and ``var`` 1 (leaves found by those names). Feed an all-ones
    input of shape ``(1, *model.input_shape)`` in eval mode and let ``R`` be the
    sum of the logits. All weights and activations are then nonnegative and the
    biases zero, so ReLU passes every positive value unchanged and ``R`` is a
    positive sum over the input-to-output paths of the products of their
    weights; a kept weight is effective iff ``dR/dw > 0``. The gradient is
    ``activation_in * dR/d(out unit)``: the first factor is positive iff the
    input unit is reachable, the second iff the output unit reaches the output.

    Numerics. Unscaled, a dense network's path sum is a product of fan-ins
    (overflow); scaled by ``1 / fan_in``, one lone path's product is the inverse
    (underflow, and ``> 0`` then misses a weight). The ``1 / sqrt(fan_in)``
    scaling splits the exponent between the two, and the computation runs in
    float64 under ``jax.enable_x64`` (restored on return): a full VGG-19 or
    ResNet-56 and a single surviving path through VGG-16 (weight product about
    1e-24) or all 54 convolutions of ResNet-56 read exactly, hundreds of
    decades inside float64's range. In float32 a full ResNet-56 already
    misreads (0.92 effective).

    Max pooling sends its gradient to one element of each window only, which
    would miss kept weights that feed a non-maximal element. So the model is
    traced to a jaxpr and evaluated with every ``reduce_window_max`` (``nn.max_pool``)
    replaced by the window *sum* and every ``reduce_max`` (``jnp.max``) by the
    sum over the same axes: on nonnegative inputs a sum is positive exactly when
    the maximum is, and its gradient reaches every element, so a window's output
    is connected to all its inputs, as in the network's graph.

    Limits. Exact (never marking a pathless weight effective, and missing none)
    for networks built from Dense and Conv kernels, ReLU, BatchNorm in eval mode,
    max, average and global pooling, residual sums, and reshapes, slices,
    padding and concatenation: every registry model, with or without max
    pooling. Other nonlinearities (sigmoid, tanh, ReLU6, min or sort
    reductions, attention) fall outside the argument; min-type and sort
    reductions raise ``LotteryError``, as does max pooling inside ``scan``,
    ``while`` or ``cond``. Additive leaves other than ``bias`` (a learned
    embedding, say) are treated as kernels, and a ``bias`` or ``scale`` leaf
    marked prunable is never reported effective (it is no path edge). The result depends only on
    ``mask`` and on the shapes of ``params`` and ``model_state``, never on their
    values (``jax.ShapeDtypeStruct`` leaves, from ``jax.eval_shape(model.init,
    key)``, will do). Not for use under ``jit``: it traces the model itself.
    """
    masks.validate(mask, params)
    flags = _flags(params, prunable)
    with jax.enable_x64(True):
        counts = _path_count_params(params, mask)
        state = _neutral_state(model_state)
        x = np.ones((1, *model.input_shape), np.float64)

        def logits(p, s, xs):
            return model.apply(p, s, xs, train=False)[0]

        pooled = _sum_pooled(jax.make_jaxpr(logits)(counts, state, x))

        def total(p):
            (out,) = pooled(*jax.tree.leaves((p, state, x)))
            return jnp.sum(out)

        def kept_on_a_path(p):
            grads = jax.grad(total)(p)
            return jax.tree.map(lambda c, g: (c > 0) & (g > 0), p, grads)

        reached = jax.jit(kept_on_a_path, compiler_options=_compiler_options())(counts)
    out = [
        r if f else m
        for m, r, f in zip(jax.tree.leaves(mask), jax.tree.leaves(reached), flags, strict=True)
    ]
    return jax.tree.unflatten(jax.tree.structure(mask), out)


def effective_density(
    model: Model,
    params: PyTree,
    model_state: PyTree,
    mask: PyTree,
    prunable: PyTree | None = None,
) -> float:
    """Returns the fraction of prunable weights that are effective (on some
    input-to-output path), as a Python float: the effective density of
    Vysogorets & Kempe 2021, at most :func:`direct_density`. See
    :func:`effective_mask` for the method and its limits; ``prunable`` defaults
    to ``select.prunable(params)``.
    """
    effective = effective_mask(model, params, model_state, mask, prunable)
    return _density(effective, _flags(params, prunable))


def _compiler_options() -> dict | None:
    """Returns XLA options for the one-off gradient: on the CPU, optimisation
    level 0, which compiles a VGG-16 several times faster and runs one example
    about as fast."""
    return {"xla_backend_optimization_level": 0} if jax.default_backend() == "cpu" else None


def _leaf_name(path: tuple) -> str:
    return select.path_name(path).split("/")[-1]


def _path_count_params(params: PyTree, mask: PyTree) -> PyTree:
    """Returns float64 params: kernels = mask / sqrt(fan_in), bias 0, scale 1."""

    def count(path, p, m):
        name = _leaf_name(path)
        if name == "bias":
            return np.zeros(p.shape, np.float64)
        if name == "scale":
            return np.ones(p.shape, np.float64)
        fan_in = math.prod(p.shape[:-1]) if len(p.shape) > 1 else 1
        return np.asarray(m, np.float64) / math.sqrt(max(fan_in, 1))

    return jax.tree.map_with_path(count, params, mask)


def _neutral_state(state: PyTree) -> PyTree:
    """Returns ``state`` with running means 0 and variances 1, floats in float64."""

    def neutral(path, s):
        name = _leaf_name(path)
        if name == "mean":
            return np.zeros(s.shape, np.float64)
        if name == "var":
            return np.ones(s.shape, np.float64)
        if isinstance(s, jax.ShapeDtypeStruct):
            return np.zeros(s.shape, s.dtype)
        s = np.asarray(s)
        return s.astype(np.float64) if np.issubdtype(s.dtype, np.floating) else s

    return jax.tree.map_with_path(neutral, state)


# Max-type reductions and their sum replacements (same parameters, same shapes).
def _window_sum(x, **params):
    return lax.reduce_window_sum_p.bind(x, **params)


def _axes_sum(x, *, axes, **_):
    return jnp.sum(x, axis=tuple(axes))


_REPLACED: dict[Any, Callable] = {
    lax.reduce_window_max_p: _window_sum,
    lax.reduce_max_p: _axes_sum,
}
# Winner-picking primitives whose graph cannot be read off a gradient.
_REFUSED = frozenset(
    {
        "reduce_window",
        "reduce_window_min",
        "reduce_min",
        "argmax",
        "argmin",
        "cummax",
        "cummin",
        "sort",
    }
)
# Call-like primitives evaluated by inlining their body: param holding the body.
_INLINED = {
    "jit": "jaxpr",
    "pjit": "jaxpr",
    "closed_call": "call_jaxpr",
    "core_call": "call_jaxpr",
    "custom_jvp_call": "call_jaxpr",
    "custom_vjp_call": "call_jaxpr",
    "remat2": "jaxpr",
    "checkpoint": "jaxpr",
}


def _needs_rewrite(jaxpr) -> bool:
    """Returns whether ``jaxpr`` (open) holds a max-type or refused primitive."""
    for eqn in jaxpr.eqns:
        if eqn.primitive in _REPLACED or eqn.primitive.name in _REFUSED:
            return True
        if any(_needs_rewrite(sub) for sub in jex_core.jaxprs_in_params(eqn.params)):
            return True
    return False


def _sum_pooled(closed) -> Callable:
    """Returns a function of ``closed``'s flat inputs that evaluates it with max
    pooling and max reductions replaced by sums (see :func:`effective_mask`)."""

    def run(*args):
        return _eval(closed.jaxpr, closed.consts, args)

    return run


def _bind(eqn, invals):
    """Returns ``eqn``'s primitive applied to ``invals``, as ``jax.core.eval_jaxpr`` does."""
    prim = eqn.primitive
    bind_params = prim.get_bind_params(eqn.params)
    subfuns: tuple = ()
    if isinstance(bind_params, tuple):  # older jax: (subfuns, params)
        subfuns, bind_params = bind_params
    ctx = getattr(getattr(eqn, "ctx", None), "manager", None) or contextlib.nullcontext()
    with ctx:
        return prim.bind(*subfuns, *invals, **bind_params)


def _eval(jaxpr, consts, args) -> list:
    env: dict = {}

    def read(v):
        return v.val if isinstance(v, jex_core.Literal) else env[v]

    for v, c in zip(jaxpr.constvars, consts, strict=True):
        env[v] = c
    for v, a in zip(jaxpr.invars, args, strict=True):
        env[v] = a
    for eqn in jaxpr.eqns:
        invals = [read(v) for v in eqn.invars]
        prim = eqn.primitive
        if prim in _REPLACED:
            outs = [_REPLACED[prim](*invals, **eqn.params)]
        elif prim.name in _REFUSED:
            raise LotteryError(
                "effective_mask",
                f"the model uses '{prim.name}', whose input-output connectivity cannot be "
                "read from a gradient; supported: Dense/Conv, ReLU, BatchNorm, max/avg pooling",
            )
        elif prim.name in _INLINED and any(
            _needs_rewrite(sub) for sub in jex_core.jaxprs_in_params(eqn.params)
        ):
            body = eqn.params[_INLINED[prim.name]]
            if isinstance(body, jex_core.ClosedJaxpr):
                outs = _eval(body.jaxpr, body.consts, invals)
            else:
                outs = _eval(body, (), invals)
        elif any(_needs_rewrite(sub) for sub in jex_core.jaxprs_in_params(eqn.params)):
            raise LotteryError(
                "effective_mask",
                f"max pooling (or a min or sort reduction) inside '{prim.name}' is not "
                "supported; keep pooling outside loops and conditionals",
            )
        else:
            outs = _bind(eqn, invals)
            if not prim.multiple_results:
                outs = [outs]
        for v, val in zip(eqn.outvars, outs, strict=True):
            if not isinstance(v, jex_core.DropVar):
                env[v] = val
    return [read(v) for v in jaxpr.outvars]
