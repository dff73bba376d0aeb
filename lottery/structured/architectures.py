"""Group declarations of the registry's architectures (neurons, channels, streams).

* ``MLP`` (mlp): each hidden Dense layer's units: kernel column, bias, and the
  next layer's kernel row.
* ``CNN1D`` (cnn1d), ``ConvN`` (conv2/4/6), ``VGG`` (vgg11/16/19): each conv's
  output channels with bias or BatchNorm (scale, bias, mean, var) and the next
  layer's input slice; after the flatten, channel ``c`` owns the classifier rows
  ``p * C + c``; ``fc1``/``fc2`` of ConvN are neuron groups.
* ``ResNet`` (resnet20/32/56, resnet18): per block, ``conv1``'s channels
  (``bn1``, ``conv2``'s input); and the residual streams, one group per channel
  of the sum that the stem, every block's ``conv2``/``bn2`` and the projection
  shortcuts write to and every next block reads. With option A shortcuts
  (zero padding) a channel carries on into the next stage at an offset, so a
  stream group spans stages: ``stream1`` are the stem's channels through the
  whole network, ``stream2`` the channels that stage 2's padding adds, and so
  on. With option B (projections) each stage's stream is its own group.

``rebuild`` gives the module with the kept widths: each family's module takes
per-layer widths for this (and option A shortcuts take a channel map).
"""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping

import jax
import numpy as np

from lottery.errors import LotteryError
from lottery.models.base import Model
from lottery.models.cnn1d import CNN1D
from lottery.models.convnets import ConvN
from lottery.models.mlp import MLP
from lottery.models.resnet_cifar import ResNet
from lottery.models.vgg import VGG
from lottery.structured.groups import Group, Member, declare, flat, identity, interleaved


def _producer(path: str, size: int, params: Mapping, state: Mapping, bn: str | None = None):
    """Returns the ``out`` members of layer ``path``: kernel, bias and BatchNorm."""
    kernel = params[f"{path}/kernel"]
    index = identity(size)
    out = [Member("params", f"{path}/kernel", kernel.ndim - 1, index, "out")]
    if f"{path}/bias" in params:
        out.append(Member("params", f"{path}/bias", 0, index, "out"))
    if bn is not None:
        out += [Member("params", f"{bn}/{n}", 0, index, "out") for n in ("scale", "bias")]
        out += [Member("batch_stats", f"{bn}/{n}", 0, index, "out") for n in ("mean", "var")]
    return out


def _consumer(path: str, size: int, params: Mapping, index: np.ndarray | None = None) -> Member:
    """Returns the ``in`` member of kernel ``path`` (axis -2) for ``size`` units."""
    kernel = params[f"{path}/kernel"]
    axis = kernel.ndim - 2
    if index is None:
        index = interleaved(size, kernel.shape[axis])
    return Member("params", f"{path}/kernel", axis, index, "in")


def _chain(layers: list[str], params: Mapping, state: Mapping, bns=None) -> tuple[Group, ...]:
    """Returns one group per layer of a plain chain (all but the last layer)."""
    bns = bns or {}
    groups = []
    for name, following in zip(layers[:-1], layers[1:], strict=True):
        size = params[f"{name}/kernel"].shape[-1]
        members = _producer(name, size, params, state, bns.get(name))
        members.append(_consumer(following, size, params))
        groups.append(Group(name, size, tuple(members)))
    return tuple(groups)


def _counts(groups: tuple[Group, ...], keep: Mapping[str, np.ndarray]) -> dict[str, int]:
    counts = {g.name: int(np.sum(keep[g.name])) for g in groups}
    empty = [n for n, c in counts.items() if c == 0]
    if empty:
        raise LotteryError("mask", f"group(s) {', '.join(empty)} keep no unit; cannot compact")
    return counts


def _replace(model: Model, module) -> Model:
    return dataclasses.replace(model, module=module, name=f"{model.name}-compact")


# --- MLP, CNN1D, ConvN, VGG: chains -------------------------------------------------


def _mlp_groups(model, params, state):
    layers = [f"fc{i}" for i in range(1, len(model.module.widths) + 1)] + ["out"]
    return _chain(layers, params, state)


def _mlp_rebuild(model, groups, keep):
    counts = _counts(groups, keep)
    widths = tuple(counts[f"fc{i}"] for i in range(1, len(model.module.widths) + 1))
    return _replace(model, dataclasses.replace(model.module, widths=widths))


def _cnn1d_groups(model, params, state):
    return _chain(["conv1", "conv2", "conv3", "out"], params, state)


def _cnn1d_rebuild(model, groups, keep):
    counts = _counts(groups, keep)
    widths = tuple(counts[f"conv{i}"] for i in (1, 2, 3))
    return _replace(model, dataclasses.replace(model.module, widths=widths))


def _convn_names(module: ConvN) -> list[str]:
    return [f"conv{i}" for i in range(1, 2 * module.pairs + 1)] + ["fc1", "fc2"]


def _convn_groups(model, params, state):
    return _chain([*_convn_names(model.module), "out"], params, state)


def _convn_rebuild(model, groups, keep):
    counts = _counts(groups, keep)
    widths = tuple(counts[n] for n in _convn_names(model.module))
    return _replace(model, dataclasses.replace(model.module, widths=widths))


def _vgg_convs(module: VGG) -> int:
    return sum(1 for item in module.config if item != "M")


def _vgg_groups(model, params, state):
    n = _vgg_convs(model.module)
    layers = [f"conv{i}" for i in range(1, n + 1)]
    return _chain([*layers, "out"], params, state, {c: f"bn{c[4:]}" for c in layers})


def _vgg_rebuild(model, groups, keep):
    counts = _counts(groups, keep)
    config, layer = [], 0
    for item in model.module.config:
        if item == "M":
            config.append(item)
        else:
            layer += 1
            config.append(counts[f"conv{layer}"])
    return _replace(model, dataclasses.replace(model.module, config=tuple(config)))


# --- ResNet: inner channels and residual streams -----------------------------------


def _blocks(module: ResNet) -> list[list[str]]:
    return [[f"stage{s}_block{b}" for b in range(n)] for s, n in enumerate(module.blocks, start=1)]


def _stream_units(module: ResNet, params: Mapping) -> list[list[tuple[str, int]]]:
    """Returns, per stage, the ``(group, unit)`` of each channel of its stream."""
    stages = _blocks(module)
    if f"{stages[0][0]}/shortcut_conv/kernel" in params:
        raise LotteryError("model", "a projection in the first block is not supported by groups")
    streams: list[list[tuple[str, int]]] = []
    for s, blocks in enumerate(stages, start=1):
        width = params[f"{blocks[0]}/conv2/kernel"].shape[-1]
        if s == 1 or f"{blocks[0]}/shortcut_conv/kernel" in params:
            streams.append([(f"stream{s}", i) for i in range(width)])
            continue
        previous = streams[-1]
        lo = (width - len(previous)) // 2
        fresh = iter(range(width))
        units = []
        for j in range(width):
            if lo <= j < lo + len(previous):
                units.append(previous[j - lo])
            else:
                units.append((f"stream{s}", next(fresh)))
        streams.append(units)
    return streams


def _resnet_groups(model, params, state):
    module = model.module
    stages = _blocks(module)
    streams = _stream_units(module, params)
    groups: list[Group] = []
    for blocks in stages:
        for blk in blocks:
            size = params[f"{blk}/conv1/kernel"].shape[-1]
            members = _producer(f"{blk}/conv1", size, params, state, f"{blk}/bn1")
            members.append(_consumer(f"{blk}/conv2", size, params, identity(size)))
            groups.append(Group(f"{blk}/conv1", size, tuple(members)))
    # stream members, keyed by group: (collection, path, axis, role) -> {unit: position}
    positions: dict[str, dict[tuple, dict[int, int]]] = {}

    def add(units, collection, path, axis, role):
        for position, (name, unit) in enumerate(units):
            slot = positions.setdefault(name, {}).setdefault((collection, path, axis, role), {})
            slot[unit] = position

    def add_producer(units, conv, bn):
        add(units, "params", f"{conv}/kernel", 3, "out")
        for n in ("scale", "bias"):
            add(units, "params", f"{bn}/{n}", 0, "out")
        for n in ("mean", "var"):
            add(units, "batch_stats", f"{bn}/{n}", 0, "out")

    add_producer(streams[0], "conv1", "bn1")
    for s, blocks in enumerate(stages):
        for b, blk in enumerate(blocks):
            reads = streams[s - 1] if b == 0 and s > 0 else streams[s]
            add(reads, "params", f"{blk}/conv1/kernel", 2, "in")
            add_producer(streams[s], f"{blk}/conv2", f"{blk}/bn2")
            if f"{blk}/shortcut_conv/kernel" in params:
                add(reads, "params", f"{blk}/shortcut_conv/kernel", 2, "in")
                add_producer(streams[s], f"{blk}/shortcut_conv", f"{blk}/shortcut_bn")
    add(streams[-1], "params", "out/kernel", 0, "in")
    for name, slots in positions.items():
        size = 1 + max(max(slot) for slot in slots.values())
        members = []
        for (collection, path, axis, role), slot in slots.items():
            if len(slot) != size:
                raise LotteryError("groups", f"stream {name} does not cover all of {path}")
            index = np.array([slot[u] for u in range(size)])[:, None]
            members.append(Member(collection, path, axis, index, role))
        groups.append(Group(name, size, tuple(members)))
    return tuple(groups)


def _resnet_rebuild(model, groups, keep):
    _counts(groups, keep)
    module = model.module
    params = flat(jax.eval_shape(model.init, jax.random.key(0))[0])
    streams = _stream_units(module, params)
    kept = [[j for j, (n, u) in enumerate(units) if keep[n][u]] for units in streams]
    widths = tuple(len(k) for k in kept)
    inner = tuple(
        tuple(int(np.sum(keep[f"{blk}/conv1"])) for blk in blocks) for blocks in _blocks(module)
    )
    pad_maps: list[tuple[int, ...]] = [()]
    for s in range(1, len(streams)):
        where = {streams[s - 1][j]: i for i, j in enumerate(kept[s - 1])}
        pad_maps.append(tuple(where.get(streams[s][j], -1) for j in kept[s]))
    new = dataclasses.replace(
        module,
        widths=widths,
        inner=inner,
        pad_maps=tuple(pad_maps) if module.shortcut == "A" else (),
    )
    return _replace(model, new)


declare(MLP, groups=_mlp_groups, rebuild=_mlp_rebuild)
declare(CNN1D, groups=_cnn1d_groups, rebuild=_cnn1d_rebuild)
declare(ConvN, groups=_convn_groups, rebuild=_convn_rebuild)
declare(VGG, groups=_vgg_groups, rebuild=_vgg_rebuild)
declare(ResNet, groups=_resnet_groups, rebuild=_resnet_rebuild)
