"""A ``Dataset`` from arrays already in memory, checked."""

from __future__ import annotations

import numbers

import numpy as np

from lottery.data.base import AUGMENTATIONS, Dataset
from lottery.errors import LotteryError


def _features(arg: str, value) -> np.ndarray:
    try:
        x = np.asarray(value)
    except Exception as err:  # ragged lists and the like
        raise LotteryError(arg, f"is not an array: {err}") from err
    if x.dtype == object or not (
        np.issubdtype(x.dtype, np.number) or np.issubdtype(x.dtype, np.bool_)
    ):
        raise LotteryError(arg, f"must be numeric; got dtype {x.dtype}")
    if x.ndim < 2:
        raise LotteryError(arg, f"must have shape (N, *example_shape); got shape {x.shape}")
    if x.shape[0] == 0:
        raise LotteryError(arg, "is empty")
    x = x.astype(np.float32)
    if not np.isfinite(x).all():
        raise LotteryError(arg, "contains NaN or inf")
    return x


def _labels(arg: str, value, x_arg: str, n: int) -> np.ndarray:
    y = np.asarray(value)
    if y.ndim != 1:
        raise LotteryError(arg, f"must have shape (N,); got shape {y.shape}")
    if y.dtype == np.bool_ or not np.issubdtype(y.dtype, np.integer):
        raise LotteryError(arg, f"labels must be integers; got dtype {y.dtype}")
    if len(y) != n:
        raise LotteryError(arg, f"has {len(y)} labels but {x_arg} has {n} examples")
    if y.min() < 0:
        raise LotteryError(arg, f"labels must be >= 0; found {int(y.min())}")
    return y


def from_arrays(
    x_train,
    y_train,
    x_test,
    y_test,
    num_classes: int | None = None,
    name: str = "arrays",
    augment: str = "none",
) -> Dataset:
    """Builds a ``Dataset`` from in-memory arrays, after checking them.

    ``x`` arrays are cast to float32 as given (no normalization is applied);
    labels are cast to int32.

    Args:
      x_train, x_test: numeric arrays ``(N, *example_shape)`` with the same
        example shape (NHWC for images).
      y_train, y_test: integer labels ``(N,)``, one per example.
      num_classes: number of classes; ``None`` means ``max(label) + 1``.
      name: the dataset's label.
      augment: ``"none"`` or ``"cifar"`` (which needs NHWC images).

    Returns:
      A ``Dataset`` holding float32 copies of ``x`` and int32 copies of ``y``.

    Raises:
      LotteryError: whose ``field`` names the offending argument (``x_train``,
        ``y_test``, ``num_classes``, ``augment``...).
    """
    if not isinstance(name, str) or not name:
        raise LotteryError("name", f"must be a non-empty string; got {name!r}")
    if augment not in AUGMENTATIONS:
        raise LotteryError(
            "augment",
            f"unknown augmentation {augment!r}; allowed: {', '.join(AUGMENTATIONS)}",
        )
    xtr = _features("x_train", x_train)
    xte = _features("x_test", x_test)
    if xte.shape[1:] != xtr.shape[1:]:
        raise LotteryError(
            "x_test",
            f"example shape {xte.shape[1:]} differs from x_train's {xtr.shape[1:]}",
        )
    if augment == "cifar" and xtr.ndim != 4:
        raise LotteryError(
            "augment",
            f"'cifar' needs NHWC images (N, H, W, C); got example shape {xtr.shape[1:]}",
        )
    ytr = _labels("y_train", y_train, "x_train", len(xtr))
    yte = _labels("y_test", y_test, "x_test", len(xte))

    largest = int(max(ytr.max(), yte.max()))
    if num_classes is None:
        num_classes = largest + 1
    elif (
        not isinstance(num_classes, numbers.Integral)
        or isinstance(num_classes, bool)
        or num_classes < 1
    ):
        raise LotteryError("num_classes", f"must be a positive integer; got {num_classes!r}")
    else:
        num_classes = int(num_classes)
        for arg, y in (("y_train", ytr), ("y_test", yte)):
            if int(y.max()) >= num_classes:
                raise LotteryError(
                    arg,
                    f"labels must lie in [0, {num_classes}); found {int(y.max())}",
                )

    return Dataset(
        name=name,
        x_train=xtr,
        y_train=ytr.astype(np.int32),
        x_test=xte,
        y_test=yte.astype(np.int32),
        num_classes=num_classes,
        augment=augment,
    )
