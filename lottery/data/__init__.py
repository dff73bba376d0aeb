"""Datasets (held in host memory) and the on-device batching/augmentation pipeline."""

from __future__ import annotations

from lottery.data.arrays import from_arrays
from lottery.data.base import AUGMENTATIONS, Dataset
from lottery.data.mnist1d import load_mnist1d
from lottery.data.pipeline import augment_batch, epoch_indices
from lottery.data.synthetic import load_synthetic
from lottery.data.tfds import TFDS_DATASETS, load_tfds
from lottery.errors import LotteryError

__all__ = [
    "AUGMENTATIONS",
    "Dataset",
    "augment_batch",
    "epoch_indices",
    "from_arrays",
    "load",
    "load_mnist1d",
    "load_synthetic",
    "load_tfds",
    "names",
]

_OPTIONS = {"mnist1d": ("num_samples", "train_split", "seed")}
_OPTIONS.update({name: ("data_dir",) for name in TFDS_DATASETS})
_OPTIONS["synthetic"] = ("like", "seed", "num_train", "num_test")


def names() -> tuple[str, ...]:
    """Returns the dataset names that ``load`` accepts, ``mnist1d`` first."""
    return tuple(_OPTIONS)


def load(name: str, **options) -> Dataset:
    """Loads a dataset by name.

    Args:
      name: ``mnist1d`` (options ``num_samples``, ``train_split``, ``seed``),
        a TFDS name: ``mnist``, ``fashion_mnist``, ``cifar10``, ``cifar100``,
        ``svhn_cropped`` (option ``data_dir``), or ``synthetic``: random
        learnable data shaped like the dataset named by option ``like``
        (options ``like``, ``seed``, ``num_train``, ``num_test``).
      **options: passed to ``load_mnist1d``, ``load_tfds`` or ``load_synthetic``.

    Returns:
      The ``Dataset``, normalized and ready for training.

    Raises:
      LotteryError: ``data.name`` for an unknown or unprepared dataset,
        ``data.<option>`` for an option the dataset does not take or a bad value.
    """
    if name not in _OPTIONS:
        raise LotteryError("data.name", f"unknown dataset {name!r}; allowed: {', '.join(names())}")
    allowed = _OPTIONS[name]
    for opt in options:
        if opt not in allowed:
            raise LotteryError(
                f"data.{opt}",
                f"not an option of dataset {name!r}; allowed: {', '.join(allowed)}",
            )
    if name == "mnist1d":
        return load_mnist1d(**options)
    if name == "synthetic":
        return load_synthetic(**options)
    return load_tfds(name, **options)
