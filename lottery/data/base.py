"""The dataset contract: arrays in memory, normalized, plus an augmentation name."""

from __future__ import annotations

import dataclasses

import numpy as np

AUGMENTATIONS = ("none", "cifar")


@dataclasses.dataclass(frozen=True)
class Dataset:
    """A classification dataset held in host memory.

    Attributes:
      name: a label (``mnist1d``, ``cifar10``, ``arrays``...).
      x_train, x_test: float32 arrays ``(N, *input_shape)``, already normalized;
        images are NHWC, MNIST-1D is ``(N, 40)``.
      y_train, y_test: int32 labels ``(N,)`` in ``[0, num_classes)``.
      num_classes: number of classes.
      augment: ``"none"`` or ``"cifar"`` (random crop with 4-pixel zero padding and
        horizontal flip, applied on the device inside the training loop).
    """

    name: str
    x_train: np.ndarray
    y_train: np.ndarray
    x_test: np.ndarray
    y_test: np.ndarray
    num_classes: int
    augment: str = "none"

    @property
    def input_shape(self) -> tuple[int, ...]:
        """Returns the shape of one example."""
        return tuple(self.x_train.shape[1:])
