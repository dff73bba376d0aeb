"""Prunable groups: the units (neurons, channels) a structured ticket keeps or removes.

A :class:`Group` is a set of ``size`` units, such as the 32 output channels of a
convolution. Removing unit ``i`` removes, in every :class:`Member` of the group,
the entries ``index[i]`` along ``axis`` of one leaf:

* role ``"out"``: the unit's own arrays: the kernel's output slice (a Conv
  filter ``kernel[..., i]``, a Dense column), its bias, and every BatchNorm array
  of the channel (``scale`` and ``bias`` in ``params``, ``mean`` and ``var`` in
  ``batch_stats``);
* role ``"in"``: every consumer's input slice (axis -2 of the next kernel; after
  a flatten, the rows ``p * C + i`` for each position ``p``).

With all of a unit's ``out`` params masked the unit emits exactly zero (a masked
kernel gives a zero pre-activation, BatchNorm with zero scale and bias maps it to
zero in train and eval mode, and ReLU(0) = 0), so a masked network computes the
same function as the compacted one (``lottery.structured.compact``). Masking only
the kernel would leave a constant ``bias`` flowing on: the pitfall the reference
implementations fell into.

Groups are declared per architecture (there is no graph tracer in JAX to lean on):
``declare(ModuleClass, groups=..., rebuild=...)`` registers how a Flax module's
units couple; ``groups_of(model)`` returns them. ``expand`` turns a per-group
boolean vector into a full param-shaped mask, so structured tickets use the
unstructured machinery (training, checkpoints, reports) unchanged.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable, Mapping
from typing import Any

import jax
import jax.numpy as jnp
import numpy as np
from flax import traverse_util

from lottery.errors import LotteryError
from lottery.models.base import Model

PyTree = Any
ROLES = ("out", "in")


@dataclasses.dataclass(frozen=True, eq=False)
class Member:
    """One leaf's share of a group: along ``axis`` of the leaf at ``path`` (in
    ``collection``, ``"params"`` or ``"batch_stats"``), unit ``i`` owns the
    positions ``index[i]`` (an int array ``(size, per_unit)``)."""

    collection: str
    path: str
    axis: int
    index: np.ndarray
    role: str

    @property
    def per_unit(self) -> int:
        """Returns how many positions along ``axis`` each unit owns."""
        return int(self.index.shape[1])


@dataclasses.dataclass(frozen=True, eq=False)
class Group:
    """``size`` units removed together with their ``members``."""

    name: str
    size: int
    members: tuple[Member, ...]

    def params_members(self, role: str | None = None) -> tuple[Member, ...]:
        """Returns the members in ``params`` (of ``role`` if given)."""
        return tuple(
            m for m in self.members if m.collection == "params" and (role is None or m.role == role)
        )


GroupsFn = Callable[[Model, Mapping[str, Any], Mapping[str, Any]], tuple[Group, ...]]
RebuildFn = Callable[[Model, tuple[Group, ...], Mapping[str, np.ndarray]], Model]


@dataclasses.dataclass(frozen=True)
class Architecture:
    """How one Flax module class couples its units: ``groups(model, params,
    state)`` (flat ``{path: leaf}`` dicts of shapes) returns the groups, and
    ``rebuild(model, groups, keep)`` returns the smaller model keeping the units
    ``keep[name]`` (bool vectors)."""

    groups: GroupsFn
    rebuild: RebuildFn


_ARCHITECTURES: dict[type, Architecture] = {}


def declare(module_class: type, *, groups: GroupsFn, rebuild: RebuildFn) -> None:
    """Registers the groups and the rebuild rule of ``module_class``; returns None.

    This is the extension point for structured pruning of a new architecture.
    """
    _ARCHITECTURES[module_class] = Architecture(groups=groups, rebuild=rebuild)


def architecture(model: Model) -> Architecture:
    """Returns the declared :class:`Architecture` of ``model``'s module; raises
    ``LotteryError("model.name", ...)`` if it declares no groups."""
    arch = _ARCHITECTURES.get(type(model.module))
    if arch is None:
        known = ", ".join(sorted(c.__name__ for c in _ARCHITECTURES))
        raise LotteryError(
            "model.name",
            f"model '{model.name}' ({type(model.module).__name__}) declares no prunable "
            f"groups; structured pruning supports modules: {known}",
        )
    return arch


def flat(tree: Mapping[str, Any]) -> dict[str, Any]:
    """Returns ``{"a/b/kernel": leaf}`` for a nested dict of params or state."""
    return traverse_util.flatten_dict(dict(tree), sep="/") if tree else {}


def unflat(leaves: Mapping[str, Any]) -> dict[str, Any]:
    """Returns the nested dict of ``{"a/b/kernel": leaf}`` (inverse of ``flat``)."""
    return traverse_util.unflatten_dict(dict(leaves), sep="/")


def groups_of(model: Model) -> tuple[Group, ...]:
    """Returns ``model``'s prunable groups (computed from parameter shapes only)."""
    arch = architecture(model)
    params, state = jax.eval_shape(model.init, jax.random.key(0))
    return arch.groups(model, flat(params), flat(state.get("batch_stats", {})))


def identity(size: int) -> np.ndarray:
    """Returns the ``(size, 1)`` index of units that own one position each."""
    return np.arange(size)[:, None]


def interleaved(size: int, length: int) -> np.ndarray:
    """Returns the ``(size, length // size)`` index of a flatten of ``(..., size)``
    features: unit ``c`` owns positions ``p * size + c`` (channels vary fastest,
    as in an NHWC reshape)."""
    if length % size:
        raise LotteryError("model", f"a flatten of {length} features is not a multiple of {size}")
    return np.arange(length).reshape(length // size, size).T


def check_groups(groups: tuple[Group, ...], params: Mapping, state: Mapping) -> None:
    """Returns None if every member fits its leaf and no position of a leaf axis
    is claimed twice; raises ``LotteryError`` naming the member otherwise."""
    claimed: dict[tuple[str, str, int], np.ndarray] = {}
    for g in groups:
        for m in g.members:
            leaves = params if m.collection == "params" else state
            if m.path not in leaves:
                raise LotteryError(f"groups/{g.name}", f"no leaf '{m.path}' in {m.collection}")
            length = leaves[m.path].shape[m.axis]
            if m.index.shape[0] != g.size or m.index.max() >= length:
                raise LotteryError(f"groups/{g.name}", f"member '{m.path}' does not fit")
            key = (m.collection, m.path, m.axis)
            seen = claimed.setdefault(key, np.zeros(length, bool))
            if seen[m.index.ravel()].any():
                raise LotteryError(f"groups/{g.name}", f"'{m.path}' axis {m.axis} claimed twice")
            seen[m.index.ravel()] = True


def _axis_vector(length: int, member: Member, keep: jax.Array) -> jax.Array:
    positions = jnp.asarray(member.index.ravel())
    values = jnp.repeat(keep, member.per_unit)
    return jnp.ones(length, bool).at[positions].set(values)


def expand(groups: tuple[Group, ...], keep: Mapping[str, jax.Array], params: PyTree) -> PyTree:
    """Returns the param-shaped boolean mask of the units ``keep[name]`` (a bool
    vector per group; a missing group keeps every unit): an entry is kept unless
    some group covering it drops its unit. Works under ``jit`` and ``vmap``."""
    leaves = flat(params)
    out = {p: jnp.ones(v.shape, bool) for p, v in leaves.items()}
    for g in groups:
        if g.name not in keep:
            continue
        k = jnp.asarray(keep[g.name], bool)
        for m in g.params_members():
            shape = leaves[m.path].shape
            vec = _axis_vector(shape[m.axis], m, k)
            bshape = [1] * len(shape)
            bshape[m.axis] = shape[m.axis]
            out[m.path] = out[m.path] & vec.reshape(bshape)
    return unflat(out)


def unit_sums(
    group: Group,
    leaves: Mapping[str, jax.Array],
    role: str | None = "out",
    collection: str = "params",
) -> jax.Array:
    """Returns a ``(size,)`` vector: for each unit, the sum of ``leaves`` (a flat
    ``{path: array}`` of per-weight values of ``collection``) over its positions
    in the members of ``role`` (all roles if None) whose path ``leaves`` has."""
    total = jnp.zeros(group.size, jnp.float32)
    for m in group.members:
        if m.collection != collection or m.path not in leaves:
            continue
        if role is not None and m.role != role:
            continue
        value = jnp.moveaxis(jnp.asarray(leaves[m.path], jnp.float32), m.axis, 0)
        per_position = value.reshape(value.shape[0], -1).sum(axis=1)
        total = total + per_position[jnp.asarray(m.index)].sum(axis=1)
    return total


def alive(groups: tuple[Group, ...], mask: PyTree) -> dict[str, jax.Array]:
    """Returns ``{name: bool (size,)}``: a unit is alive unless every entry of its
    ``out`` params is masked (then it emits exactly zero and can be removed)."""
    leaves = flat(mask)
    return {
        g.name: unit_sums(g, {p: v.astype(jnp.float32) for p, v in leaves.items()}, "out") > 0
        for g in groups
    }


def alive_counts(groups: tuple[Group, ...], mask: PyTree) -> dict[str, int]:
    """Returns ``{name: number of alive units}`` under ``mask`` (see ``alive``)."""
    return {name: int(np.sum(v)) for name, v in alive(groups, mask).items()}
