"""VGG-11/16/19 for CIFAR (Simonyan & Zisserman 2015, with BatchNorm).

The CIFAR variant used in lottery-ticket work (e.g. Frankle et al. 2020,
"Linear Mode Connectivity and the Lottery Ticket Hypothesis"; Liu et al. 2019,
"Rethinking the Value of Network Pruning"): the standard convolutional
configurations, each conv 3x3 SAME without bias followed by BatchNorm and ReLU,
2x2 max pools at ``M``, and after the last pool (1x1x512 on 32x32 inputs) a
single ``Dense`` ``out`` instead of the ImageNet model's three FC layers.
"""

from __future__ import annotations

import flax.linen as nn
import jax

from lottery.models import check_rank, register
from lottery.models.base import Model
from lottery.models.conv import Conv

M = "M"
# fmt: off
CONFIGS: dict[int, tuple[int | str, ...]] = {
    11: (64, M, 128, M, 256, 256, M, 512, 512, M, 512, 512, M),
    16: (64, 64, M, 128, 128, M, 256, 256, 256, M,
         512, 512, 512, M, 512, 512, 512, M),
    19: (64, 64, M, 128, 128, M, 256, 256, 256, 256, M,
         512, 512, 512, 512, M, 512, 512, 512, 512, M),
}
# fmt: on


class VGG(nn.Module):
    """Convs ``conv1``.. each with BatchNorm ``bn1``.. and ReLU, max pools at
    ``M``, then flatten and ``Dense`` ``out``."""

    config: tuple[int | str, ...]
    num_classes: int

    @nn.compact
    def __call__(self, x: jax.Array, train: bool) -> jax.Array:
        """Returns logits ``(N, num_classes)`` for NHWC images."""
        layer = 0
        for item in self.config:
            if item == M:
                x = nn.max_pool(x, (2, 2), strides=(2, 2))
                continue
            layer += 1
            x = Conv(item, (3, 3), padding="SAME", use_bias=False, name=f"conv{layer}")(x)
            x = nn.BatchNorm(
                use_running_average=not train,
                momentum=0.9,
                epsilon=1e-5,
                name=f"bn{layer}",
            )(x)
            x = nn.relu(x)
        x = x.reshape((x.shape[0], -1))
        return nn.Dense(self.num_classes, name="out")(x)


def _vgg(depth: int, num_classes: int, input_shape: tuple[int, ...]) -> Model:
    name = f"vgg{depth}"
    check_rank(name, tuple(input_shape), (3,))
    module = VGG(config=CONFIGS[depth], num_classes=num_classes)
    return Model(name, module, tuple(input_shape), num_classes, "out")


@register("vgg11")
def vgg11(*, num_classes: int, input_shape: tuple[int, ...]) -> Model:
    """Returns VGG-11 with BatchNorm, CIFAR variant (Simonyan & Zisserman 2015)."""
    return _vgg(11, num_classes, input_shape)


@register("vgg16")
def vgg16(*, num_classes: int, input_shape: tuple[int, ...]) -> Model:
    """Returns VGG-16 with BatchNorm, CIFAR variant (Simonyan & Zisserman 2015)."""
    return _vgg(16, num_classes, input_shape)


@register("vgg19")
def vgg19(*, num_classes: int, input_shape: tuple[int, ...]) -> Model:
    """Returns VGG-19 with BatchNorm, CIFAR variant (Simonyan & Zisserman 2015),
    the VGG-19 of Frankle et al. 2020."""
    return _vgg(19, num_classes, input_shape)
