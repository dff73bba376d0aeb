"""ResNet-18 for CIFAR and Tiny-ImageNet (He et al. 2016, adapted to small
images as is usual in pruning work, e.g. Frankle et al. 2020).

The ImageNet ResNet-18's four stages of two basic blocks (widths 64, 128, 256,
512), but with a 3x3 stride-1 stem conv (``conv1`` + ``bn1`` + ReLU) and no
max pool; a 1x1 conv + BatchNorm projection shortcut where a block changes
shape; global average pooling and ``Dense`` ``out``. About 11.17M parameters on
CIFAR-10.
"""

from __future__ import annotations

from lottery.models import check_rank, register
from lottery.models.base import Model
from lottery.models.resnet_cifar import ResNet


@register("resnet18")
def resnet18(*, num_classes: int, input_shape: tuple[int, ...]) -> Model:
    """Returns ResNet-18 (He et al. 2016) with a CIFAR stem (3x3 conv, no max
    pool) and projection shortcuts; 11,173,962 params on CIFAR-10."""
    check_rank("resnet18", tuple(input_shape), (3,))
    module = ResNet(
        blocks=(2, 2, 2, 2),
        widths=(64, 128, 256, 512),
        shortcut="B",
        num_classes=num_classes,
    )
    return Model("resnet18", module, tuple(input_shape), num_classes, "out")
