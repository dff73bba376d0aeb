"""Image datasets read from a locally prepared TFDS array_record build (no TensorFlow)."""

from __future__ import annotations

import numpy as np

from lottery.data.base import Dataset
from lottery.errors import LotteryError

# name -> augmentation applied in the training loop.
TFDS_DATASETS = {
    "mnist": "none",
    "fashion_mnist": "none",
    "cifar10": "cifar",
    "cifar100": "cifar",
    "svhn_cropped": "none",
}

_CHUNK = 4096  # records per batched read


def _read_split(source) -> tuple[np.ndarray, np.ndarray]:
    """Reads every record of a random-access source into (uint8 images, int32 labels)."""
    n = len(source)
    first = source[0]
    image0 = np.asarray(first["image"])
    images = np.empty((n, *image0.shape), dtype=np.uint8)
    labels = np.empty((n,), dtype=np.int32)
    getitems = getattr(source, "__getitems__", None)
    for start in range(0, n, _CHUNK):
        keys = list(range(start, min(start + _CHUNK, n)))
        records = getitems(keys) if getitems is not None else [source[k] for k in keys]
        images[start : start + len(keys)] = np.stack([r["image"] for r in records])
        labels[start : start + len(keys)] = [int(r["label"]) for r in records]
    return images, labels


def _normalize(
    train: np.ndarray, test: np.ndarray
) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """Scales uint8 NHWC to [0, 1] and standardizes per channel with train stats."""
    axes = tuple(range(train.ndim - 1))
    # Sums of x and x^2 (x in [0, 1]) in float64, chunked so that no float64 copy
    # of the whole training set is made.
    total = np.zeros(train.shape[-1], dtype=np.float64)
    total_sq = np.zeros(train.shape[-1], dtype=np.float64)
    for start in range(0, len(train), _CHUNK):
        part = train[start : start + _CHUNK].astype(np.float64) / 255.0
        total += part.sum(axis=axes)
        total_sq += np.square(part).sum(axis=axes)
    count = train.size // train.shape[-1]
    mean = total / count
    std = np.sqrt(np.maximum(total_sq / count - np.square(mean), 0.0))
    std = np.where(std > 1e-8, std, 1.0)

    mean32 = mean.astype(np.float32)
    std32 = std.astype(np.float32)

    def apply(images: np.ndarray) -> np.ndarray:
        x = images.astype(np.float32)
        x *= np.float32(1.0 / 255.0)
        x -= mean32
        x /= std32
        return x

    return apply(train), apply(test), mean32, std32


def _unusable(name: str, data_dir, tfds) -> LotteryError | None:
    """The one-line error for a dataset that is not prepared (as array_record), else None."""
    where = data_dir or tfds.core.constants.get_default_data_dir()
    build = (
        f"run `tfds build {name} --file_format=array_record --data_dir={where}` on a "
        "machine with network (then copy the folder here), or use data.name=mnist1d"
    )
    builder = tfds.builder(name, data_dir=data_dir)
    if not builder.is_prepared():
        return LotteryError("data.name", f"dataset '{name}' is not prepared under {where}; {build}")
    formats = builder.info.available_file_formats()
    if not any(f.value == "array_record" for f in formats):
        found = ", ".join(sorted(f.value for f in formats)) or "no recorded format"
        return LotteryError(
            "data.name",
            f"dataset '{name}' under {where} is prepared as {found}, not array_record "
            f"(needed for random access without TensorFlow); {build}",
        )
    return None


def load_tfds(name: str, data_dir: str | None = None) -> Dataset:
    """Loads a TFDS image dataset that was prepared locally in array_record format.

    Reads the ``train`` and ``test`` splits with ``tfds.data_source`` (random
    access, no TensorFlow, never downloads), scales images to [0, 1] and
    standardizes each channel with the training set's mean and std.

    Args:
      name: one of ``mnist``, ``fashion_mnist``, ``cifar10``, ``cifar100``,
        ``svhn_cropped``.
      data_dir: the TFDS data directory; ``None`` means TFDS's default
        (``$TFDS_DATA_DIR`` or ``~/tensorflow_datasets``).

    Returns:
      A ``Dataset`` with float32 NHWC images, int32 labels, ``num_classes`` from
      the dataset's metadata, and ``augment="cifar"`` for cifar10/cifar100,
      ``"none"`` otherwise.

    Raises:
      LotteryError: ``data.name`` for an unknown name, or when the dataset is
        not prepared (as array_record) under ``data_dir``.
    """
    if name not in TFDS_DATASETS:
        raise LotteryError(
            "data.name",
            f"unknown dataset {name!r}; allowed: {', '.join(TFDS_DATASETS)}",
        )
    import tensorflow_datasets as tfds

    splits = {}
    for split in ("train", "test"):
        try:
            # download=False: an unprepared dataset fails here at once instead of
            # trying the network. The exception type then depends on what is on
            # disk (KeyError for no splits, NotImplementedError for tfrecord...),
            # so ask the builder what is wrong rather than trusting the type.
            source = tfds.data_source(name, split=split, data_dir=data_dir, download=False)
        except Exception as err:
            unusable = _unusable(name, data_dir, tfds)
            if unusable is None:
                raise
            raise unusable from err
        if len(source) == 0:
            raise LotteryError("data.name", f"split '{split}' of dataset '{name}' is empty")
        splits[split] = (*_read_split(source), source)

    x_train, x_test, _, _ = _normalize(splits["train"][0], splits["test"][0])
    num_classes = int(splits["train"][2].dataset_info.features["label"].num_classes)
    return Dataset(
        name=name,
        x_train=x_train,
        y_train=splits["train"][1],
        x_test=x_test,
        y_test=splits["test"][1],
        num_classes=num_classes,
        augment=TFDS_DATASETS[name],
    )
