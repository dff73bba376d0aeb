"""Synthetic twins of the real datasets: random data of the same shapes and sizes.

A twin lets the speed of a config be measured where its dataset cannot be
downloaded (``lottery run CONFIG --synthetic``). It is learnable, not pure noise:
``x`` is standard normal and each label is the argmax of a fixed random linear
teacher (orthonormal columns, so the classes are balanced) applied to the
flattened ``x``; a linear model can fit it exactly, so training reduces the loss.
"""

from __future__ import annotations

import numbers

import numpy as np

from lottery.data.base import Dataset
from lottery.errors import LotteryError

# name -> (train size, test size, example shape, classes, the real dataset's augmentation)
SHAPES = {
    "mnist1d": (4000, 1000, (40,), 10, "none"),
    "mnist": (60000, 10000, (28, 28, 1), 10, "none"),
    "fashion_mnist": (60000, 10000, (28, 28, 1), 10, "none"),
    "cifar10": (50000, 10000, (32, 32, 3), 10, "cifar"),
    "cifar100": (50000, 10000, (32, 32, 3), 100, "cifar"),
    "svhn_cropped": (73257, 26032, (32, 32, 3), 10, "none"),
}


def _check_int(field: str, value, low: int) -> int:
    if not isinstance(value, numbers.Integral) or isinstance(value, bool) or value < low:
        what = "a positive" if low > 0 else "a non-negative"
        raise LotteryError(f"data.{field}", f"must be {what} integer; got {value!r}")
    return int(value)


def twin_block(name: str) -> dict:
    """Returns the ``data`` block of ``name``'s synthetic twin, every option at its
    default (``name``, ``like``, ``seed``, ``num_train``, ``num_test``) so that
    each one can be overridden; raises ``LotteryError`` (``data.name``) when
    ``name`` has no twin."""
    if name not in SHAPES:
        raise LotteryError(
            "data.name",
            f"dataset {name!r} has no synthetic twin; allowed: {', '.join(SHAPES)}",
        )
    n_train, n_test, _, _, _ = SHAPES[name]
    return {"name": "synthetic", "like": name, "seed": 0, "num_train": n_train, "num_test": n_test}


def load_synthetic(
    like: str = "mnist",
    seed: int = 0,
    num_train: int | None = None,
    num_test: int | None = None,
) -> Dataset:
    """Generates the synthetic twin of dataset ``like`` in memory.

    Args:
      like: the dataset to imitate: ``mnist1d``, ``mnist``, ``fashion_mnist``,
        ``cifar10``, ``cifar100`` or ``svhn_cropped``.
      seed: seed of ``numpy.random.default_rng``; the teacher, the training set
        and the test set come from three independent child streams, so the
        test set does not depend on ``num_train``.
      num_train, num_test: split sizes; ``None`` means the real dataset's.

    Returns:
      A ``Dataset`` named ``synthetic_<like>`` with float32 standard-normal ``x``
      of ``like``'s example shape (NHWC for images), int32 teacher labels in
      ``[0, num_classes)``, ``like``'s ``num_classes`` and its augmentation
      (``"cifar"`` for cifar10/cifar100, ``"none"`` otherwise).

    Raises:
      LotteryError: ``data.like`` for a dataset without a twin, ``data.seed``,
        ``data.num_train`` or ``data.num_test`` for a bad value.
    """
    if not isinstance(like, str) or like not in SHAPES:
        raise LotteryError(
            "data.like", f"no synthetic twin of {like!r}; allowed: {', '.join(SHAPES)}"
        )
    n_train, n_test, shape, num_classes, augment = SHAPES[like]
    seed = _check_int("seed", seed, 0)
    n_train = n_train if num_train is None else _check_int("num_train", num_train, 1)
    n_test = n_test if num_test is None else _check_int("num_test", num_test, 1)

    teacher_rng, train_rng, test_rng = np.random.default_rng(seed).spawn(3)
    dim = int(np.prod(shape))
    teacher, _ = np.linalg.qr(teacher_rng.standard_normal((dim, num_classes), dtype=np.float32))

    def split(rng: np.random.Generator, n: int) -> tuple[np.ndarray, np.ndarray]:
        x = rng.standard_normal((n, *shape), dtype=np.float32)
        y = np.argmax(x.reshape(n, dim) @ teacher, axis=1).astype(np.int32)
        return x, y

    x_train, y_train = split(train_rng, n_train)
    x_test, y_test = split(test_rng, n_test)
    return Dataset(
        name=f"synthetic_{like}",
        x_train=x_train,
        y_train=y_train,
        x_test=x_test,
        y_test=y_test,
        num_classes=num_classes,
        augment=augment,
    )
