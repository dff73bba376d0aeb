"""Tests of lottery.data: loaders (mnist1d, mocked TFDS, synthetic, arrays) and the JAX pipeline."""

from __future__ import annotations

import os
import random

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from lottery import data
from lottery.data import pipeline
from lottery.errors import LotteryError


@pytest.fixture(scope="module")
def mnist1d():
    return data.load_mnist1d()


# --------------------------------------------------------------------- mnist1d


def test_mnist1d_canonical_shapes_and_dtypes(mnist1d):
    assert mnist1d.name == "mnist1d"
    assert mnist1d.x_train.shape == (4000, 40)
    assert mnist1d.x_test.shape == (1000, 40)
    assert mnist1d.y_train.shape == (4000,)
    assert mnist1d.y_test.shape == (1000,)
    assert mnist1d.x_train.dtype == np.float32
    assert mnist1d.y_train.dtype == np.int32
    assert mnist1d.y_test.dtype == np.int32
    assert mnist1d.num_classes == 10
    assert mnist1d.augment == "none"
    assert mnist1d.input_shape == (40,)
    assert set(np.unique(mnist1d.y_train)) == set(range(10))
    assert mnist1d.y_test.min() >= 0 and mnist1d.y_test.max() < 10
    # mnist1d standardizes the whole set.
    full = np.concatenate([mnist1d.x_train, mnist1d.x_test])
    assert abs(full.mean()) < 1e-4
    assert abs(full.std() - 1.0) < 1e-4


def test_mnist1d_is_deterministic_and_keeps_global_random_state(mnist1d):
    np.random.seed(123)  # noqa: NPY002 (the global state is the point)
    random.seed(123)
    np_before = np.random.get_state()  # noqa: NPY002 (the global state is the point)
    py_before = random.getstate()
    again = data.load_mnist1d(num_samples=200, seed=42)
    np_after = np.random.get_state()  # noqa: NPY002 (the global state is the point)
    assert np_before[0] == np_after[0]
    np.testing.assert_array_equal(np_before[1], np_after[1])
    assert np_before[2:] == np_after[2:]
    assert random.getstate() == py_before

    same = data.load_mnist1d(num_samples=200, seed=42)
    other = data.load_mnist1d(num_samples=200, seed=7)
    np.testing.assert_array_equal(again.x_train, same.x_train)
    np.testing.assert_array_equal(again.y_test, same.y_test)
    assert not np.array_equal(again.x_train, other.x_train)


def test_mnist1d_num_samples_and_split_configurable():
    ds = data.load("mnist1d", num_samples=300, train_split=0.5, seed=1)
    assert ds.x_train.shape == (150, 40)
    assert ds.x_test.shape == (150, 40)


@pytest.mark.parametrize(
    "options, field",
    [
        ({"num_samples": 105}, "data.num_samples"),
        ({"num_samples": 0}, "data.num_samples"),
        ({"train_split": 1.0}, "data.train_split"),
        ({"num_samples": 10, "train_split": 0.05}, "data.train_split"),
        ({"seed": -1}, "data.seed"),
        ({"data_dir": "/tmp"}, "data.data_dir"),
    ],
)
def test_mnist1d_bad_options(options, field):
    with pytest.raises(LotteryError) as err:
        data.load("mnist1d", **options)
    assert err.value.field == field


# ------------------------------------------------------------------------ tfds


@pytest.fixture
def mock_tfds(monkeypatch):
    """Mocked TFDS data; also repairs the mock's batched read.

    ``tfds.testing.mock_data`` (4.9.10) installs its fake ``__getitems__`` on a
    MagicMock as a plain instance attribute, so it is called without ``self``
    and fails; give the mocked array_record source a working one.
    """
    tfds = pytest.importorskip("tensorflow_datasets")
    original = tfds.data_source

    def data_source(*args, **kwargs):
        source = original(*args, **kwargs)
        inner = source.data_source
        inner.__getitems__ = lambda keys: [inner[k] for k in keys]
        return source

    monkeypatch.setattr(tfds, "data_source", data_source)
    with tfds.testing.mock_data(num_examples=24, policy=tfds.testing.MockPolicy.USE_CODE):
        yield tfds


@pytest.mark.parametrize(
    "name, shape, augment",
    [("mnist", (28, 28, 1), "none"), ("cifar10", (32, 32, 3), "cifar")],
)
def test_tfds_mocked(mock_tfds, name, shape, augment):
    ds = data.load(name, data_dir="/nonexistent")
    assert ds.name == name
    assert ds.x_train.shape == (24, *shape)
    assert ds.x_test.shape == (24, *shape)
    assert ds.x_train.dtype == np.float32 and ds.x_test.dtype == np.float32
    assert ds.y_train.dtype == np.int32
    assert ds.num_classes == 10
    assert ds.augment == augment
    assert ds.input_shape == shape
    for y in (ds.y_train, ds.y_test):
        assert y.min() >= 0 and y.max() < 10
    # Per-channel standardization with the training set's statistics.
    np.testing.assert_allclose(ds.x_train.mean(axis=(0, 1, 2)), 0.0, atol=1e-4)
    np.testing.assert_allclose(ds.x_train.std(axis=(0, 1, 2)), 1.0, atol=1e-3)


def test_tfds_reads_without_getitems(mock_tfds, monkeypatch):
    """A source without ``__getitems__`` is read one record at a time."""

    class Plain:
        def __init__(self, source):
            self.source = source
            self.dataset_info = source.dataset_info

        def __len__(self):
            return len(self.source)

        def __getitem__(self, i):
            return self.source[i]

    batched = mock_tfds.data_source
    monkeypatch.setattr(mock_tfds, "data_source", lambda *a, **k: Plain(batched(*a, **k)))
    ds = data.load_tfds("cifar10")
    assert ds.x_train.shape == (24, 32, 32, 3)


def test_tfds_not_prepared_is_one_line_error(tmp_path):
    pytest.importorskip("tensorflow_datasets")
    with pytest.raises(LotteryError) as err:
        data.load("mnist", data_dir=str(tmp_path))
    assert err.value.field == "data.name"
    assert "not prepared" in str(err.value)
    assert str(tmp_path) in str(err.value)
    assert "\n" not in str(err.value)


def _write_tfds_dir(data_dir, name, file_format, arrays=None):
    """Writes a TFDS dataset folder by hand (TFDS's own writer needs TensorFlow):
    dataset_info.json plus, given ``arrays = {split: (uint8 images, labels)}``,
    one array_record shard per split of PNG-encoded tf.train.Examples."""
    import io

    import tensorflow_datasets as tfds
    from PIL import Image
    from tensorflow_datasets.core import splits as splits_lib

    builder = tfds.builder(name, data_dir=str(data_dir), file_format=file_format)
    os.makedirs(builder.data_dir)
    infos = []
    for split, (images, labels) in (arrays or {"train": ([0], [0]), "test": ([0], [0])}).items():
        if arrays is not None:
            from array_record.python.array_record_module import ArrayRecordWriter
            from tensorflow_datasets.proto import tf_example_pb2

            path = f"{builder.data_dir}/{name}-{split}.array_record-00000-of-00001"
            writer = ArrayRecordWriter(path, "group_size:1")
            for image, label in zip(images, labels, strict=True):
                png = io.BytesIO()
                Image.fromarray(image.squeeze(-1)).save(png, format="PNG")
                example = tf_example_pb2.Example()
                example.features.feature["image"].bytes_list.value.append(png.getvalue())
                example.features.feature["label"].int64_list.value.append(int(label))
                writer.write(example.SerializeToString())
            writer.close()
        infos.append(
            splits_lib.SplitInfo(
                name=split, shard_lengths=[len(labels)], num_bytes=1, filename_template=None
            )
        )
    builder.info.set_splits(splits_lib.SplitDict(infos))
    builder.info.write_to_directory(builder.data_dir)


def test_tfds_real_array_record_read(tmp_path):
    """The unmocked path: real array_record reads, PNG decoding, no TensorFlow."""
    pytest.importorskip("tensorflow_datasets")
    rng = np.random.default_rng(0)
    arrays = {
        split: (rng.integers(0, 256, (n, 28, 28, 1), dtype=np.uint8), rng.integers(0, 10, n))
        for split, n in (("train", 40), ("test", 8))
    }
    _write_tfds_dir(tmp_path, "mnist", "array_record", arrays)
    ds = data.load("mnist", data_dir=str(tmp_path))
    train = arrays["train"][0] / 255.0
    mean, std = train.mean(), train.std()
    for x, y, split in ((ds.x_train, ds.y_train, "train"), (ds.x_test, ds.y_test, "test")):
        images, labels = arrays[split]
        np.testing.assert_allclose(x, (images / 255.0 - mean) / std, atol=1e-5)
        np.testing.assert_array_equal(y, labels)
    assert ds.num_classes == 10 and ds.augment == "none"


def test_tfds_prepared_as_tfrecord_is_one_line_error(tmp_path):
    pytest.importorskip("tensorflow_datasets")
    _write_tfds_dir(tmp_path, "mnist", "tfrecord")
    with pytest.raises(LotteryError) as err:
        data.load("mnist", data_dir=str(tmp_path))
    assert err.value.field == "data.name"
    assert "tfrecord, not array_record" in str(err.value)
    assert "\n" not in str(err.value)


def test_normalize_uses_train_statistics():
    from lottery.data.tfds import _normalize

    rng = np.random.default_rng(0)
    train = rng.integers(0, 256, (50, 4, 4, 3), dtype=np.uint8)
    test = rng.integers(0, 128, (10, 4, 4, 3), dtype=np.uint8)
    xtr, xte, mean, std = _normalize(train, test)
    ref = train.astype(np.float64) / 255
    np.testing.assert_allclose(mean, ref.mean(axis=(0, 1, 2)), rtol=1e-6)
    np.testing.assert_allclose(std, ref.std(axis=(0, 1, 2)), rtol=1e-5)
    np.testing.assert_allclose(xte, (test / 255 - mean) / std, rtol=1e-5, atol=1e-5)
    assert xtr.dtype == np.float32


def test_unknown_dataset_and_option():
    with pytest.raises(LotteryError) as err:
        data.load("imagenet")
    assert err.value.field == "data.name"
    assert "mnist1d" in str(err.value)
    with pytest.raises(LotteryError) as err:
        data.load_tfds("imagenet")
    assert err.value.field == "data.name"
    with pytest.raises(LotteryError) as err:
        data.load("cifar10", seed=1)
    assert err.value.field == "data.seed"
    assert "data_dir" in str(err.value)
    assert data.names()[0] == "mnist1d"
    assert {"mnist", "fashion_mnist", "cifar10", "cifar100", "svhn_cropped"} <= set(data.names())


# ------------------------------------------------------------------- synthetic


@pytest.mark.parametrize(
    "like, shape, classes, augment",
    [
        ("mnist", (28, 28, 1), 10, "none"),
        ("mnist1d", (40,), 10, "none"),
        ("cifar100", (32, 32, 3), 100, "cifar"),
        ("svhn_cropped", (32, 32, 3), 10, "none"),
    ],
)
def test_synthetic_shapes_classes_dtypes(like, shape, classes, augment):
    ds = data.load("synthetic", like=like, num_train=300, num_test=50)
    assert ds.name == f"synthetic_{like}"
    assert ds.x_train.shape == (300, *shape) and ds.x_test.shape == (50, *shape)
    assert ds.y_train.shape == (300,) and ds.y_test.shape == (50,)
    assert ds.x_train.dtype == ds.x_test.dtype == np.float32
    assert ds.y_train.dtype == ds.y_test.dtype == np.int32
    assert ds.num_classes == classes and ds.input_shape == shape
    assert ds.augment == augment
    assert 0 <= ds.y_train.min() and ds.y_train.max() < classes


def test_synthetic_default_sizes_are_the_real_ones():
    ds = data.load("synthetic")  # like="mnist": 60000 x 784 floats, under a second
    assert ds.x_train.shape == (60000, 28, 28, 1) and ds.x_test.shape == (10000, 28, 28, 1)
    assert abs(float(ds.x_train.mean())) < 0.01 and abs(float(ds.x_train.std()) - 1) < 0.01
    sizes = {k: v[:2] for k, v in data.synthetic.SHAPES.items()}
    assert sizes["cifar10"] == sizes["cifar100"] == (50000, 10000)
    assert sizes["svhn_cropped"] == (73257, 26032) and sizes["mnist1d"] == (4000, 1000)


def test_synthetic_is_deterministic_and_seeded():
    a = data.load("synthetic", like="cifar10", num_train=64, num_test=16, seed=3)
    b = data.load("synthetic", like="cifar10", num_train=64, num_test=16, seed=3)
    c = data.load("synthetic", like="cifar10", num_train=64, num_test=16, seed=4)
    for field in ("x_train", "y_train", "x_test", "y_test"):
        np.testing.assert_array_equal(getattr(a, field), getattr(b, field))
    assert not np.array_equal(a.x_train, c.x_train)
    # the test set comes from its own stream: it does not depend on num_train
    d = data.load("synthetic", like="cifar10", num_train=32, num_test=16, seed=3)
    np.testing.assert_array_equal(a.x_test, d.x_test)
    np.testing.assert_array_equal(a.y_test, d.y_test)


def test_synthetic_labels_are_balanced_and_linearly_learnable():
    ds = data.load("synthetic", like="mnist1d")
    counts = np.bincount(ds.y_train, minlength=10)
    assert counts.min() > 0.5 * counts.mean()  # every class, roughly balanced
    # a least-squares fit of one-hot labels (a linear model) generalizes
    onehot = np.eye(10, dtype=np.float32)[ds.y_train]
    w, *_ = np.linalg.lstsq(ds.x_train, onehot, rcond=None)
    accuracy = np.mean(np.argmax(ds.x_test @ w, axis=1) == ds.y_test)
    assert accuracy > 0.7, accuracy  # chance is 0.1


@pytest.mark.parametrize(
    "options, field",
    [
        ({"like": "imagenet"}, "data.like"),
        ({"seed": -1}, "data.seed"),
        ({"num_train": 0}, "data.num_train"),
        ({"num_test": 2.5}, "data.num_test"),
        ({"num_train": True}, "data.num_train"),
        ({"data_dir": "/tmp"}, "data.data_dir"),
    ],
)
def test_synthetic_bad_options(options, field):
    with pytest.raises(LotteryError) as err:
        data.load("synthetic", **options)
    assert err.value.field == field
    assert len(str(err.value).splitlines()) == 1
    if field == "data.like":
        assert "allowed: mnist1d, mnist, fashion_mnist, cifar10" in str(err.value)


# ---------------------------------------------------------------------- arrays


def _arrays(n_train=6, n_test=4, shape=(3,)):
    rng = np.random.default_rng(0)
    return {
        "x_train": rng.normal(size=(n_train, *shape)),
        "y_train": np.arange(n_train) % 3,
        "x_test": rng.normal(size=(n_test, *shape)),
        "y_test": np.arange(n_test) % 3,
    }


def test_from_arrays_ok():
    ds = data.from_arrays(**_arrays())
    assert ds.name == "arrays"
    assert ds.num_classes == 3
    assert ds.x_train.dtype == np.float32 and ds.y_train.dtype == np.int32
    assert ds.input_shape == (3,)
    ds = data.from_arrays(**_arrays(shape=(8, 8, 3)), num_classes=5, augment="cifar")
    assert ds.num_classes == 5 and ds.augment == "cifar"


@pytest.mark.parametrize(
    "change, field",
    [
        ({"y_train": np.arange(5) % 3}, "y_train"),
        ({"x_test": np.zeros((0, 3))}, "x_test"),
        ({"x_train": np.zeros(6)}, "x_train"),
        ({"y_test": np.array([0.0, 1.0, 2.0, 0.0])}, "y_test"),
        ({"y_test": np.array([0, 1, -1, 0])}, "y_test"),
        ({"y_test": np.array([0, 1, 7, 0]), "num_classes": 3}, "y_test"),
        ({"num_classes": 0}, "num_classes"),
        ({"x_test": np.zeros((4, 2))}, "x_test"),
        ({"x_train": np.full((6, 3), np.nan)}, "x_train"),
        ({"augment": "mixup"}, "augment"),
        ({"augment": "cifar"}, "augment"),
    ],
)
def test_from_arrays_errors_name_the_argument(change, field):
    kwargs = {**_arrays(), **change}
    with pytest.raises(LotteryError) as err:
        data.from_arrays(**kwargs)
    assert err.value.field == field


# -------------------------------------------------------------------- pipeline


def test_epoch_indices():
    # Jitted with static sizes, as in the training loop (one compile on CPU).
    epoch = jax.jit(data.epoch_indices, static_argnums=(1, 2))
    key = jax.random.key(0)
    idx = epoch(key, 103, 10)
    assert idx.shape == (10, 10)
    assert idx.dtype == jnp.int32
    flat = np.asarray(idx).ravel()
    # 100 distinct indices out of range(103): a prefix of a permutation.
    assert len(set(flat.tolist())) == 100
    assert flat.min() >= 0 and flat.max() < 103
    assert not np.array_equal(flat, np.arange(100))
    np.testing.assert_array_equal(idx, epoch(key, 103, 10))
    assert not np.array_equal(idx, epoch(jax.random.key(1), 103, 10))
    with pytest.raises(LotteryError) as err:
        data.epoch_indices(key, 5, 10)
    assert err.value.field == "train.batch_size"


def _reference_crop_flip(x, offsets, flips, pad=4):
    n, h, w, _ = x.shape
    padded = np.pad(x, ((0, 0), (pad, pad), (pad, pad), (0, 0)))
    out = np.empty_like(x)
    for i in range(n):
        r, c = offsets[i]
        crop = padded[i, r : r + h, c : c + w]
        out[i] = crop[:, ::-1] if flips[i] else crop
    return out


def test_augment_none_and_unknown():
    x = jnp.ones((2, 4, 4, 3))
    assert data.augment_batch(jax.random.key(0), x, "none") is x
    with pytest.raises(LotteryError) as err:
        data.augment_batch(jax.random.key(0), x, "mixup")
    assert err.value.field == "data.augment"
    with pytest.raises(LotteryError):
        data.augment_batch(jax.random.key(0), jnp.ones((2, 40)), "cifar")


def test_augment_cifar_matches_numpy_reference():
    x = np.random.default_rng(0).normal(size=(64, 8, 8, 3)).astype(np.float32)
    key = jax.random.key(3)

    @jax.jit
    def run(key, x):
        return data.augment_batch(key, x, "cifar"), pipeline._cifar_params(key, len(x))

    out, (offsets, flips) = run(key, x)
    assert out.shape == x.shape and out.dtype == x.dtype
    np.testing.assert_array_equal(out, run(key, x)[0])
    assert not np.array_equal(out, run(jax.random.key(4), x)[0])

    offsets, flips = np.asarray(offsets), np.asarray(flips)
    assert offsets.shape == (64, 2) and flips.shape == (64,)
    assert offsets.min() >= 0 and offsets.max() <= 8
    # Real randomness: both flip outcomes and several offsets occur.
    assert 0 < flips.sum() < 64
    assert len(np.unique(offsets)) > 3
    np.testing.assert_array_equal(out, _reference_crop_flip(x, offsets, flips))


def test_crop_and_flip_fixed_offsets():
    x = np.random.default_rng(1).normal(size=(3, 8, 8, 3)).astype(np.float32)
    offsets = np.array([[4, 4], [4, 4], [0, 0]])
    flips = np.array([False, True, False])
    out = np.asarray(jax.jit(pipeline._crop_and_flip)(x, offsets, flips))
    # Centre crop without flip is the identity; with flip, the mirror image.
    np.testing.assert_array_equal(out[0], x[0])
    np.testing.assert_array_equal(out[1], x[1, :, ::-1])
    # A corner crop shifts the image down-right and brings in zero padding.
    np.testing.assert_array_equal(out[2, :4], 0.0)
    np.testing.assert_array_equal(out[2, :, :4], 0.0)
    np.testing.assert_array_equal(out[2, 4:, 4:], x[2, :4, :4])
