"""Tests for the model zoo: pinned parameter counts, forward passes, the registry."""

from __future__ import annotations

import flax.linen as nn
import jax
import jax.numpy as jnp
import pytest

from lottery import models
from lottery.errors import LotteryError
from lottery.models import Model, param_count

KEY = jax.random.key(0)
CIFAR = (32, 32, 3)
MNIST = (28, 28, 1)

# Smallest input each model is tested on (models that allow it get small ones).
FORWARD_SHAPES = {
    "mlp": (8, 8, 1),
    "cnn1d": (40,),
    "lenet5": (16, 16, 1),
    "conv2": (8, 8, 3),
    "conv4": (8, 8, 3),
    "conv6": (8, 8, 3),
}

BN_MODELS = {"vgg11", "vgg16", "vgg19", "resnet18", "resnet20", "resnet32", "resnet56"}

# (name, input_shape, options, expected parameter count with 10 classes). The
# first six are checked against the papers / hand counts; the rest are
# regression values measured from this implementation.
PARAM_COUNTS = [
    ("mlp", MNIST, {"widths": (300, 100)}, 266_610),
    ("lenet5", MNIST, {}, 61_706),
    ("conv2", CIFAR, {}, 4_301_642),
    ("conv4", CIFAR, {}, 2_425_930),
    ("conv6", CIFAR, {}, 2_262_602),
    ("resnet20", CIFAR, {"shortcut": "A"}, 269_722),
    ("resnet32", CIFAR, {}, 464_154),
    ("resnet56", CIFAR, {}, 853_018),
    ("resnet20", CIFAR, {"shortcut": "B"}, 272_474),
    ("resnet18", CIFAR, {}, 11_173_962),
    ("vgg11", CIFAR, {}, 9_228_362),
    ("vgg16", CIFAR, {}, 14_724_042),
    ("vgg19", CIFAR, {}, 20_035_018),
    ("cnn1d", (40,), {}, 8_010),
]


def abstract_init(model: Model):
    """(params, state) as shape structs: counts without allocating or compiling."""
    return jax.eval_shape(model.init, KEY)


def test_names_sorted_and_complete():
    expected = {
        "mlp", "cnn1d", "lenet5", "conv2", "conv4", "conv6", "vgg11", "vgg16",
        "vgg19", "resnet20", "resnet32", "resnet56", "resnet18",
    }  # fmt: skip
    assert set(models.names()) == expected
    assert models.names() == tuple(sorted(models.names()))


@pytest.mark.parametrize(("name", "shape", "options", "count"), PARAM_COUNTS)
def test_param_count(name, shape, options, count):
    model = models.get(name, num_classes=10, input_shape=shape, **options)
    params, _ = abstract_init(model)
    assert param_count(params) == count


def test_conv6_conv_weights_match_paper_conv_figure():
    # Frankle & Carbin's "1.1M" conv parameters for Conv-6 (kernels only).
    params, _ = abstract_init(models.get("conv6", num_classes=10, input_shape=CIFAR))
    conv = sum(params[f"conv{i}"]["kernel"].size for i in range(1, 7))
    assert conv == 1_144_512


@pytest.mark.parametrize("name", models.names())
def test_output_layer_and_state(name):
    model = models.get(name, num_classes=7, input_shape=FORWARD_SHAPES.get(name, CIFAR))
    params, state = abstract_init(model)
    assert model.output_layer == "out"
    assert model.output_layer in params
    assert params["out"]["kernel"].shape[-1] == 7
    assert params["out"]["bias"].shape == (7,)
    if name in BN_MODELS:
        assert set(state) == {"batch_stats"}
    else:
        assert state == {}


@pytest.mark.parametrize(
    "name",
    [
        pytest.param(n, marks=[pytest.mark.slow] if n in ("resnet18", "resnet20") else [])
        for n in models.names()
    ],
)  # the two ResNets take 25 s each here; ResNet-32/56 share their code and stay
def test_forward_train_and_eval(name):
    shape = FORWARD_SHAPES.get(name, CIFAR)
    model = models.get(name, num_classes=5, input_shape=shape)
    params, state = model.init(KEY)
    x = jax.random.normal(jax.random.key(1), (3, *shape))

    logits, new_state = model.apply(params, state, x, train=True)
    assert logits.shape == (3, 5)
    assert bool(jnp.all(jnp.isfinite(logits)))
    if name in BN_MODELS:
        old = jax.tree.leaves(state["batch_stats"])
        new = jax.tree.leaves(new_state["batch_stats"])
        assert len(old) == len(new) > 0
        assert all(o.shape == n.shape for o, n in zip(old, new, strict=True))
        assert any(bool(jnp.any(o != n)) for o, n in zip(old, new, strict=True))
    else:
        assert new_state == {}

    eval_logits, eval_state = model.apply(params, new_state, x[:1], train=False)
    assert eval_logits.shape == (1, 5)
    assert eval_state is new_state


def test_layouts_and_paths():
    params, _ = abstract_init(models.get("mlp", num_classes=10, input_shape=MNIST))
    assert params["fc1"]["kernel"].shape == (784, 300)
    params, _ = abstract_init(models.get("lenet5", num_classes=10, input_shape=MNIST))
    assert params["conv1"]["kernel"].shape == (5, 5, 1, 6)
    assert params["fc1"]["kernel"].shape == (400, 120)
    params, _ = abstract_init(models.get("cnn1d", num_classes=10, input_shape=(40,)))
    assert params["conv1"]["kernel"].shape == (5, 1, 32)
    assert params["out"]["kernel"].shape == (5 * 32, 10)
    params, state = abstract_init(models.get("resnet20", num_classes=10, input_shape=CIFAR))
    assert set(params["stage2_block0"]) == {"conv1", "bn1", "conv2", "bn2"}
    assert "bias" not in params["stage1_block0"]["conv1"]
    assert set(state["batch_stats"]["stage1_block0"]["bn1"]) == {"mean", "var"}
    params, _ = abstract_init(
        models.get("resnet20", num_classes=10, input_shape=CIFAR, shortcut="B")
    )
    assert params["stage2_block0"]["shortcut_conv"]["kernel"].shape == (1, 1, 16, 32)
    assert "shortcut_bn" in params["stage3_block0"]
    assert "shortcut_conv" not in params["stage2_block1"]
    params, _ = abstract_init(models.get("vgg11", num_classes=10, input_shape=CIFAR))
    assert params["out"]["kernel"].shape == (512, 10)
    assert "bias" not in params["conv8"] and "conv9" not in params


def test_cnn1d_channels_option():
    model = models.get("cnn1d", num_classes=10, input_shape=(40,), channels=25)
    params, _ = abstract_init(model)
    # Greydanus's 25-channel ConvBase: a 125-wide linear layer.
    assert params["out"]["kernel"].shape == (125, 10)


def test_mlp_widths_option():
    model = models.get("mlp", num_classes=3, input_shape=(4,), widths=[5])
    params, _ = abstract_init(model)
    assert set(params) == {"fc1", "out"}
    assert param_count(params) == 4 * 5 + 5 + 5 * 3 + 3


def test_unknown_model_name():
    with pytest.raises(LotteryError) as err:
        models.get("resnet99", num_classes=10, input_shape=CIFAR)
    assert err.value.field == "model.name"
    assert "resnet99" in str(err.value) and "resnet20" in str(err.value)


def test_unknown_option():
    with pytest.raises(LotteryError) as err:
        models.get("mlp", num_classes=10, input_shape=MNIST, depth=3)
    assert err.value.field == "model.depth"
    assert err.value.message == "not an option of model 'mlp'; allowed: widths"
    with pytest.raises(LotteryError) as err:
        models.get("lenet5", num_classes=10, input_shape=MNIST, widths=(1,))
    assert err.value.field == "model.widths"


def test_bad_option_values():
    with pytest.raises(LotteryError) as err:
        models.get("resnet20", num_classes=10, input_shape=CIFAR, shortcut="C")
    assert err.value.field == "model.shortcut"
    with pytest.raises(LotteryError) as err:
        models.get("mlp", num_classes=10, input_shape=MNIST, widths=(300, 0))
    assert err.value.field == "model.widths"
    with pytest.raises(LotteryError) as err:
        models.get("lenet5", num_classes=10, input_shape=(784,))
    assert err.value.field == "model.input_shape"
    with pytest.raises(LotteryError) as err:
        models.get("mlp", num_classes=0, input_shape=MNIST)
    assert err.value.field == "model.num_classes"


class Tiny(nn.Module):
    @nn.compact
    def __call__(self, x, train: bool):
        x = x.reshape((x.shape[0], -1))
        x = nn.Dropout(0.5, deterministic=not train)(nn.relu(nn.Dense(4, name="hidden")(x)))
        return nn.Dense(3, name="head")(x)


def test_from_flax():
    model = models.from_flax(Tiny(), (2, 2), 3, "head", name="tiny")
    assert (model.name, model.input_shape, model.output_layer) == (
        "tiny",
        (2, 2),
        "head",
    )
    params, state = model.init(KEY)
    assert state == {}
    assert param_count(params) == 4 * 4 + 4 + 4 * 3 + 3
    x = jnp.ones((5, 2, 2))
    logits, _ = model.apply(params, state, x, train=False)
    assert logits.shape == (5, 3)
    logits, _ = model.apply(params, state, x, train=True, rng=jax.random.key(2))
    assert logits.shape == (5, 3)


def test_from_flax_checks():
    with pytest.raises(LotteryError) as err:
        models.from_flax(Tiny(), (2, 2), 3, "out")
    assert err.value.field == "model.output_layer"
    assert "head" in str(err.value)
    with pytest.raises(LotteryError) as err:
        models.from_flax(Tiny(), (2, 2), 10, "head")
    assert err.value.field == "model.num_classes"
