"""Fully connected networks (LeNet-300-100 and friends)."""

from __future__ import annotations

from collections.abc import Sequence

import flax.linen as nn
import jax

from lottery.errors import LotteryError
from lottery.models import register
from lottery.models.base import Model


class MLP(nn.Module):
    """Flatten, then ``Dense + ReLU`` per width (``fc1``, ``fc2``, ...), then
    ``Dense`` ``out``."""

    widths: tuple[int, ...]
    num_classes: int

    @nn.compact
    def __call__(self, x: jax.Array, train: bool) -> jax.Array:
        """Returns logits ``(N, num_classes)``."""
        x = x.reshape((x.shape[0], -1))
        for i, width in enumerate(self.widths, start=1):
            x = nn.relu(nn.Dense(width, name=f"fc{i}")(x))
        return nn.Dense(self.num_classes, name="out")(x)


@register("mlp")
def mlp(
    *,
    num_classes: int,
    input_shape: tuple[int, ...],
    widths: Sequence[int] = (300, 100),
) -> Model:
    """Returns a ReLU multilayer perceptron with hidden ``widths``.

    The default ``(300, 100)`` is LeNet-300-100 (LeCun et al. 1998), the fully
    connected network of Frankle & Carbin 2019; on MNIST (28, 28, 1) it has
    266,610 parameters.
    """
    try:
        widths = tuple(int(w) for w in widths)
    except (TypeError, ValueError):
        widths = None
    if widths is None or any(w < 1 for w in widths):
        raise LotteryError("model.widths", "must be a list of positive integers")
    module = MLP(widths=widths, num_classes=num_classes)
    return Model("mlp", module, tuple(input_shape), num_classes, "out")
