"""A small 1-D convolutional network for MNIST-1D."""

from __future__ import annotations

import flax.linen as nn
import jax

from lottery.errors import LotteryError
from lottery.models import check_rank, register
from lottery.models.base import Model
from lottery.models.conv import Conv


class CNN1D(nn.Module):
    """Three strided 1-D convolutions with ReLU, then flatten and ``Dense`` ``out``.

    ``conv1`` is 5 wide, ``conv2`` and ``conv3`` 3 wide, all stride 2 with one
    position of zero padding per side, so a length-40 signal becomes 19, 10, 5.
    ``widths`` (three ints) overrides ``channels`` per convolution; compaction of a
    channel ticket (``lottery.structured.compact``) sets it.
    """

    channels: int
    num_classes: int
    widths: tuple[int, ...] = ()

    @nn.compact
    def __call__(self, x: jax.Array, train: bool) -> jax.Array:
        """Returns logits ``(N, num_classes)`` for ``x`` of shape ``(N, L)`` or
        ``(N, L, C)``."""
        if x.ndim == 2:
            x = x[..., None]
        widths = self.widths or (self.channels,) * 3
        for i, (width, features) in enumerate(zip((5, 3, 3), widths, strict=True), start=1):
            conv = Conv(
                features,
                kernel_size=(width,),
                strides=(2,),
                padding=[(1, 1)],
                name=f"conv{i}",
            )
            x = nn.relu(conv(x))
        x = x.reshape((x.shape[0], -1))
        return nn.Dense(self.num_classes, name="out")(x)


@register("cnn1d")
def cnn1d(*, num_classes: int, input_shape: tuple[int, ...], channels: int = 32) -> Model:
    """Returns the MNIST-1D convolutional network of Greydanus 2020 ("Scaling
    down deep learning", the ``ConvBase`` model): conv 5/2 pad 1, conv 3/2 pad 1,
    conv 3/2 pad 1, ReLU after each, then a linear classifier. The paper uses 25
    channels; the default here is 32. Inputs are ``(40,)`` signals (or ``(L,)``
    / ``(L, C)``).
    """
    check_rank("cnn1d", tuple(input_shape), (1, 2))
    if isinstance(channels, bool) or not isinstance(channels, int) or channels < 1:
        raise LotteryError("model.channels", f"must be a positive integer, got {channels!r}")
    module = CNN1D(channels=channels, num_classes=num_classes)
    return Model("cnn1d", module, tuple(input_shape), num_classes, "out")
