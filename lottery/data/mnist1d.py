"""MNIST-1D, generated locally (never downloaded) from the ``mnist1d`` package.

Generating takes about a millisecond per example (5 s for the canonical 5000),
so a process generates each ``(num_samples, train_split, seed)`` once and keeps
the read-only arrays. With the environment variable ``LOTTERY_MNIST1D_CACHE``
set to a folder, the arrays are also kept there between processes (written
atomically, with a SHA-256 of their bytes checked on every read; a damaged file
is generated again). The test suite's subprocess runs use it.
"""

from __future__ import annotations

import functools
import hashlib
import numbers
import os
import random
from pathlib import Path

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
    of 40 features at seed 42. Nothing is downloaded; nothing is written to disk
    unless ``LOTTERY_MNIST1D_CACHE`` is set (see the module docstring). The global
    NumPy and Python random states are left as they were (mnist1d reseeds both).
    The arrays are read-only: they are shared by every call with these options.

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
    x_train, y_train, x_test, y_test = _arrays(int(num_samples), float(train_split), int(seed))
    return Dataset(
        name="mnist1d",
        x_train=x_train,
        y_train=y_train,
        x_test=x_test,
        y_test=y_test,
        num_classes=NUM_CLASSES,
        augment="none",
    )


CACHE_ENV = "LOTTERY_MNIST1D_CACHE"
_KEYS = ("x_train", "y_train", "x_test", "y_test")


def _digest(arrays: tuple[np.ndarray, ...]) -> str:
    h = hashlib.sha256()
    for a in arrays:
        h.update(f"{a.dtype}|{a.shape}|".encode())
        h.update(np.ascontiguousarray(a).tobytes())
    return h.hexdigest()


@functools.lru_cache(maxsize=8)
def _arrays(num_samples: int, train_split: float, seed: int) -> tuple[np.ndarray, ...]:
    """Returns read-only ``(x_train, y_train, x_test, y_test)``: from the process's
    memory, from ``$LOTTERY_MNIST1D_CACHE`` if set and intact, else generated."""
    folder = os.environ.get(CACHE_ENV)
    path = Path(folder) / f"mnist1d_{num_samples}_{train_split!r}_{seed}.npz" if folder else None
    arrays = None
    if path is not None and path.is_file():
        try:
            with np.load(path) as f:
                arrays = tuple(f[k] for k in _KEYS)
                if str(f["sha256"]) != _digest(arrays):
                    arrays = None
        except (OSError, ValueError, KeyError):
            arrays = None
    if arrays is None:
        arrays = _generate(num_samples, train_split, seed)
        if path is not None:
            path.parent.mkdir(parents=True, exist_ok=True)
            tmp = path.with_name(f".{path.name}.tmp-{os.getpid()}")
            with open(tmp, "wb") as f:
                np.savez(f, **dict(zip(_KEYS, arrays, strict=True)), sha256=_digest(arrays))
            os.replace(tmp, path)
    for a in arrays:
        a.flags.writeable = False
    return arrays


def _generate(num_samples: int, train_split: float, seed: int) -> tuple[np.ndarray, ...]:
    """Returns ``(x_train, y_train, x_test, y_test)`` from ``mnist1d.data.make_dataset``
    (float32 and int32), leaving NumPy's and Python's global random states as they were."""
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

    return (
        np.asarray(data["x"], dtype=np.float32),
        np.asarray(data["y"], dtype=np.int32),
        np.asarray(data["x_test"], dtype=np.float32),
        np.asarray(data["y_test"], dtype=np.int32),
    )
