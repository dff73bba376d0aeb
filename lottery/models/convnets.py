"""Conv-2, Conv-4 and Conv-6 of Frankle & Carbin 2019 ("The Lottery Ticket
Hypothesis", Figure 2): VGG-like stacks for CIFAR-10.

Each is ``n`` pairs of 3x3 SAME convolutions (64,64 | 128,128 | 256,256) with
ReLU and a 2x2 max pool after each pair, then ``fc1`` 256, ``fc2`` 256 (ReLU)
and ``out``; all layers have biases. On (32, 32, 3) with 10 classes they have
4,301,642 (Conv-2), 2,425,930 (Conv-4) and 2,262,602 (Conv-6) parameters.

The paper's table lists Conv-6 as 1.7M parameters, but its own conv-only figure
of 1.1M matches this architecture (1,144,512 conv kernel weights), so the 1.7M
is inconsistent with the described layers; we keep the described architecture.
"""

from __future__ import annotations

import flax.linen as nn
import jax

from lottery.models import check_rank, register
from lottery.models.base import Model
from lottery.models.conv import Conv

_WIDTHS = (64, 128, 256)


class ConvN(nn.Module):
    """``pairs`` blocks of two 3x3 convs + ReLU and a 2x2 max pool, then
    ``fc1``/``fc2`` 256 + ReLU and ``out``. Convs are ``conv1``, ``conv2``, ...
    ``widths`` (one int per conv, then fc1 and fc2) overrides the standard widths;
    compaction of a channel ticket sets it."""

    pairs: int
    num_classes: int
    widths: tuple[int, ...] = ()

    @nn.compact
    def __call__(self, x: jax.Array, train: bool) -> jax.Array:
        """Returns logits ``(N, num_classes)`` for NHWC images."""
        widths = self.widths or (*(w for w in _WIDTHS[: self.pairs] for _ in range(2)), 256, 256)
        layer = 0
        for _ in range(self.pairs):
            for _ in range(2):
                layer += 1
                conv = Conv(widths[layer - 1], (3, 3), padding="SAME", name=f"conv{layer}")
                x = nn.relu(conv(x))
            x = nn.max_pool(x, (2, 2), strides=(2, 2))
        x = x.reshape((x.shape[0], -1))
        x = nn.relu(nn.Dense(widths[-2], name="fc1")(x))
        x = nn.relu(nn.Dense(widths[-1], name="fc2")(x))
        return nn.Dense(self.num_classes, name="out")(x)


def _conv_n(name: str, pairs: int, num_classes: int, input_shape: tuple[int, ...]) -> Model:
    check_rank(name, tuple(input_shape), (3,))
    module = ConvN(pairs=pairs, num_classes=num_classes)
    return Model(name, module, tuple(input_shape), num_classes, "out")


@register("conv2")
def conv2(*, num_classes: int, input_shape: tuple[int, ...]) -> Model:
    """Returns Conv-2 of Frankle & Carbin 2019 (4,301,642 params on CIFAR-10)."""
    return _conv_n("conv2", 1, num_classes, input_shape)


@register("conv4")
def conv4(*, num_classes: int, input_shape: tuple[int, ...]) -> Model:
    """Returns Conv-4 of Frankle & Carbin 2019 (2,425,930 params on CIFAR-10)."""
    return _conv_n("conv4", 2, num_classes, input_shape)


@register("conv6")
def conv6(*, num_classes: int, input_shape: tuple[int, ...]) -> Model:
    """Returns Conv-6 of Frankle & Carbin 2019 (2,262,602 params on CIFAR-10;
    see the module docstring about the paper's 1.7M)."""
    return _conv_n("conv6", 3, num_classes, input_shape)
