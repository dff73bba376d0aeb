"""ResNet-20/32/56 for CIFAR (He et al. 2016, "Deep Residual Learning for Image
Recognition", Section 4.2).

``conv1`` 3x3 16 + ``bn1`` + ReLU, three stages of ``n`` basic blocks
(``stage1_block0`` ... ``stage3_block{n-1}``) of widths 16, 32, 64 with stride 2
at the first block of stages 2 and 3, global average pooling and ``Dense``
``out``; depth is ``6n + 2``. Convolutions have no bias.

Shortcuts when a block changes shape: option ``"A"`` (He et al.'s CIFAR choice,
parameter-free) subsamples with stride 2 and zero-pads the new channels;
option ``"B"`` projects with a 1x1 conv (``shortcut_conv``) + BatchNorm
(``shortcut_bn``). ResNet-20 with option A has 269,722 parameters (BatchNorm
scale and bias included, running statistics not).
"""

from __future__ import annotations

import flax.linen as nn
import jax
import jax.numpy as jnp

from lottery.errors import LotteryError
from lottery.models import check_rank, register
from lottery.models.base import Model
from lottery.models.conv import Conv

SHORTCUTS = ("A", "B")


def batch_norm(train: bool, name: str) -> nn.BatchNorm:
    """Returns the library's BatchNorm (momentum 0.9, epsilon 1e-5) named ``name``."""
    return nn.BatchNorm(use_running_average=not train, momentum=0.9, epsilon=1e-5, name=name)


class BasicBlock(nn.Module):
    """Two 3x3 convs with BatchNorm (``conv1``/``bn1``, ``conv2``/``bn2``), ReLU
    after the first and after the residual sum (He et al. 2016).

    ``inner`` (default ``features``) is the width of ``conv1``; ``pad_map``, if
    given, replaces option A's zero padding: output channel ``j`` of the shortcut
    is input channel ``pad_map[j]``, or zero where it is -1. Compaction of a
    channel ticket (``lottery.structured.compact``) sets both."""

    features: int
    strides: int
    shortcut: str  # "A" (zero-pad identity) or "B" (1x1 conv + BN projection)
    inner: int = 0
    pad_map: tuple[int, ...] = ()

    @nn.compact
    def __call__(self, x: jax.Array, train: bool) -> jax.Array:
        """Returns the block's output, ``(N, H / strides, W / strides, features)``."""
        s = (self.strides, self.strides)
        y = Conv(
            self.inner or self.features,
            (3, 3),
            s,
            padding=[(1, 1), (1, 1)],
            use_bias=False,
            name="conv1",
        )(x)
        y = nn.relu(batch_norm(train, "bn1")(y))
        y = Conv(
            self.features,
            (3, 3),
            padding=[(1, 1), (1, 1)],
            use_bias=False,
            name="conv2",
        )(y)
        y = batch_norm(train, "bn2")(y)
        if self.strides != 1 or x.shape[-1] != self.features:
            if self.shortcut == "A" and self.pad_map:
                x = x[:, :: self.strides, :: self.strides, :]
                x = jnp.concatenate([x, jnp.zeros_like(x[..., :1])], axis=-1)
                zero = x.shape[-1] - 1
                take = [zero if j < 0 else j for j in self.pad_map]
                x = jnp.take(x, jnp.asarray(take, jnp.int32), axis=-1)
            elif self.shortcut == "A":
                x = x[:, :: self.strides, :: self.strides, :]
                extra = self.features - x.shape[-1]
                x = jnp.pad(x, ((0, 0), (0, 0), (0, 0), (extra // 2, extra - extra // 2)))
            else:
                x = Conv(self.features, (1, 1), s, use_bias=False, name="shortcut_conv")(x)
                x = batch_norm(train, "shortcut_bn")(x)
        return nn.relu(x + y)


class ResNet(nn.Module):
    """A stem conv + BN + ReLU, stages of :class:`BasicBlock`, global average
    pool and ``Dense`` ``out``; shared by the CIFAR ResNets and ResNet-18.

    ``widths`` are the residual streams' widths per stage (the stem has the first);
    ``inner`` (per stage, per block) the widths of each block's ``conv1``, and
    ``pad_maps`` (per stage) option A shortcut maps; compaction sets the last two."""

    blocks: tuple[int, ...]
    widths: tuple[int, ...]
    shortcut: str
    num_classes: int
    inner: tuple[tuple[int, ...], ...] = ()
    pad_maps: tuple[tuple[int, ...], ...] = ()

    @nn.compact
    def __call__(self, x: jax.Array, train: bool) -> jax.Array:
        """Returns logits ``(N, num_classes)`` for NHWC images."""
        x = Conv(
            self.widths[0],
            (3, 3),
            padding=[(1, 1), (1, 1)],
            use_bias=False,
            name="conv1",
        )(x)
        x = nn.relu(batch_norm(train, "bn1")(x))
        for stage, (n, width) in enumerate(zip(self.blocks, self.widths, strict=True), start=1):
            for b in range(n):
                strides = 2 if stage > 1 and b == 0 else 1
                block = BasicBlock(
                    width,
                    strides,
                    self.shortcut,
                    inner=self.inner[stage - 1][b] if self.inner else 0,
                    pad_map=self.pad_maps[stage - 1] if self.pad_maps and b == 0 else (),
                    name=f"stage{stage}_block{b}",
                )
                x = block(x, train)
        x = jnp.mean(x, axis=(1, 2))
        return nn.Dense(self.num_classes, name="out")(x)


def _resnet(depth: int, num_classes: int, input_shape: tuple[int, ...], shortcut: str) -> Model:
    name = f"resnet{depth}"
    check_rank(name, tuple(input_shape), (3,))
    if not isinstance(shortcut, str) or shortcut.upper() not in SHORTCUTS:
        raise LotteryError("model.shortcut", f"unknown shortcut {shortcut!r}; allowed: A, B")
    n = (depth - 2) // 6
    module = ResNet(
        blocks=(n, n, n),
        widths=(16, 32, 64),
        shortcut=shortcut.upper(),
        num_classes=num_classes,
    )
    return Model(name, module, tuple(input_shape), num_classes, "out")


@register("resnet20")
def resnet20(*, num_classes: int, input_shape: tuple[int, ...], shortcut: str = "A") -> Model:
    """Returns ResNet-20 for CIFAR (He et al. 2016; n = 3), 269,722 params with
    shortcut A on CIFAR-10."""
    return _resnet(20, num_classes, input_shape, shortcut)


@register("resnet32")
def resnet32(*, num_classes: int, input_shape: tuple[int, ...], shortcut: str = "A") -> Model:
    """Returns ResNet-32 for CIFAR (He et al. 2016; n = 5)."""
    return _resnet(32, num_classes, input_shape, shortcut)


@register("resnet56")
def resnet56(*, num_classes: int, input_shape: tuple[int, ...], shortcut: str = "A") -> Model:
    """Returns ResNet-56 for CIFAR (He et al. 2016; n = 9)."""
    return _resnet(56, num_classes, input_shape, shortcut)
