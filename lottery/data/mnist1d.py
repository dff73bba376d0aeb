"""MNIST-1D, generated locally (never downloaded) from the ``mnist1d`` package."""

from __future__ import annotations

import numbers
import random

import numpy as np

from lottery.data.base import Dataset
from lottery.errors import LotteryError

NUM_CLASSES = 10


def _check_options(num_samples, train_split, seed) -> None:
    if (
        not isinstance(num_samples, numbers.Integral)
        or isinstance(num_samples, bool)
        or num_samples < NUM_CLASSES
        or num_samples % NUM_CLASSES
    ):
        raise LotteryError(
            "data.num_samples",
            f"must be a positive multiple of {NUM_CLASSES}; got {num_samples!r}",
        )
    if (
        not isinstance(train_split, numbers.Real)
        or isinstance(train_split, bool)
        or not 0.0 < train_split < 1.0
    ):
        raise LotteryError("data.train_split", f"must be a number in (0, 1); got {train_split!r}")
    n_train = int(num_samples * train_split)
    if n_train < 1 or n_train >= num_samples:
        raise LotteryError(
            "data.train_split",
            f"{train_split!r} of {num_samples} examples leaves an empty "
            f"train or test split ({n_train} train)",
        )
    if not isinstance(seed, numbers.Integral) or isinstance(seed, bool) or seed < 0:
        raise LotteryError("data.seed", f"must be a non-negative integer; got {seed!r}")


def load_mnist1d(num_samples: int = 5000, train_split: float = 0.8, seed: int = 42) -> Dataset:
    """Generates MNIST-1D in memory with ``mnist1d.data.make_dataset``.

    The defaults give the canonical dataset: 4000 train and 1000 test examples
    of 40 features at seed 42. Nothing is downloaded or written to disk, and the
    global NumPy and Python random states are restored afterwards (mnist1d
    reseeds both).

    Args:
      num_samples: total number of examples, a multiple of 10 (mnist1d makes
        ``num_samples // 10`` examples per class).
      train_split: fraction of the examples that go to the training split.
      seed: the generator's seed.

    Returns:
      A ``Dataset`` named ``mnist1d`` with float32 ``x`` of shape ``(N, 40)``
      (standardized by mnist1d to zero mean, unit std over the whole set),
      int32 labels in ``[0, 10)``, ``num_classes=10`` and ``augment="none"``.

    Raises:
      LotteryError: on a bad ``num_samples``, ``train_split`` or ``seed``.
    """
    _check_options(num_samples, train_split, seed)
    # Imported here: ``mnist1d.data`` takes about a second to import.
    from mnist1d.data import get_dataset_args, make_dataset

    args = get_dataset_args()
    args.num_samples = int(num_samples)
    args.train_split = float(train_split)
    args.seed = int(seed)

    np_state = np.random.get_state()  # noqa: NPY002 (the global state is the point)
    py_state = random.getstate()
    try:
        data = make_dataset(args)
    finally:
        np.random.set_state(np_state)  # noqa: NPY002 (the global state is the point)
        random.setstate(py_state)

    return Dataset(
        name="mnist1d",
        x_train=np.asarray(data["x"], dtype=np.float32),
        y_train=np.asarray(data["y"], dtype=np.int32),
        x_test=np.asarray(data["x_test"], dtype=np.float32),
        y_test=np.asarray(data["y_test"], dtype=np.int32),
        num_classes=NUM_CLASSES,
        augment="none",
    )
