"""LeNet-5, the convolutional network of LeCun et al. 1998."""

from __future__ import annotations

import flax.linen as nn
import jax

from lottery.models import check_rank, register
from lottery.models.base import Model
from lottery.models.conv import Conv


class LeNet5(nn.Module):
    """``conv1`` 6@5x5 SAME, ReLU, 2x2 max pool; ``conv2`` 16@5x5 VALID, ReLU,
    2x2 max pool; ``fc1`` 120, ``fc2`` 84 (ReLU); ``out``."""

    num_classes: int

    @nn.compact
    def __call__(self, x: jax.Array, train: bool) -> jax.Array:
        """Returns logits ``(N, num_classes)`` for NHWC images."""
        x = nn.relu(Conv(6, (5, 5), padding="SAME", name="conv1")(x))
        x = nn.max_pool(x, (2, 2), strides=(2, 2))
        x = nn.relu(Conv(16, (5, 5), padding="VALID", name="conv2")(x))
        x = nn.max_pool(x, (2, 2), strides=(2, 2))
        x = x.reshape((x.shape[0], -1))
        x = nn.relu(nn.Dense(120, name="fc1")(x))
        x = nn.relu(nn.Dense(84, name="fc2")(x))
        return nn.Dense(self.num_classes, name="out")(x)


@register("lenet5")
def lenet5(*, num_classes: int, input_shape: tuple[int, ...]) -> Model:
    """Returns LeNet-5 (LeCun et al. 1998, "Gradient-based learning applied to
    document recognition") with ReLU and max pooling, the MNIST variant whose
    first convolution pads 28x28 inputs to keep 28x28 (61,706 parameters on
    MNIST)."""
    check_rank("lenet5", tuple(input_shape), (3,))
    return Model(
        "lenet5",
        LeNet5(num_classes=num_classes),
        tuple(input_shape),
        num_classes,
        "out",
    )
