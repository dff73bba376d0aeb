"""Theoretical MACs, FLOPs and parameter counts (lottery.structured.flops)."""

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from lottery import masks, models
from lottery.errors import LotteryError
from lottery.structured import flops as fl


def _mlp():
    return models.get("mlp", num_classes=10, input_shape=(40,), widths=(32, 16))


def _cnn1d():
    return models.get("cnn1d", num_classes=10, input_shape=(40,), channels=8)


def _half_mask(params, seed=0):
    """Returns a mask keeping exactly half of every kernel (other leaves all-True)."""
    rng = np.random.default_rng(seed)

    def half(path, p):
        if jax.tree_util.keystr(path[-1:]) != "['kernel']":
            return jnp.ones(p.shape, bool)
        flat = np.zeros(p.size, bool)
        flat[rng.permutation(p.size)[: p.size // 2]] = True
        return jnp.asarray(flat.reshape(p.shape))

    return jax.tree.map_with_path(half, params)


def test_mlp_macs_exact():
    model = _mlp()
    assert fl.layer_positions(model) == {"fc1": 1, "fc2": 1, "out": 1}
    result = fl.macs(model)
    assert result["layers"] == {"fc1": 40 * 32, "fc2": 32 * 16, "out": 16 * 10}
    assert result["total"] == 40 * 32 + 32 * 16 + 16 * 10
    assert fl.flops(model) == 2 * result["total"]


def test_cnn1d_macs_exact():
    model = _cnn1d()
    assert fl.layer_positions(model) == {"conv1": 19, "conv2": 10, "conv3": 5, "out": 1}
    expected = {
        "conv1": 5 * 1 * 8 * 19,
        "conv2": 3 * 8 * 8 * 10,
        "conv3": 3 * 8 * 8 * 5,
        "out": 5 * 8 * 10,
    }
    result = fl.macs(model)
    assert result["layers"] == expected
    assert result["total"] == 760 + 1920 + 960 + 400 == 4040


def test_resnet20_positions_and_total():
    model = models.get("resnet20", num_classes=10, input_shape=(32, 32, 3))
    positions = fl.layer_positions(model)
    assert positions["conv1"] == 1024
    assert positions["stage1_block0/conv1"] == 1024
    assert positions["stage3_block0/conv1"] == 64
    assert positions["out"] == 1
    total = fl.macs(model)["total"]
    assert 40e6 <= total <= 42e6
    assert fl.flops(model) == 2 * total


def test_params_shapes_arrays_and_none_agree():
    model = _cnn1d()
    params, _ = model.init(jax.random.key(1))
    shapes = jax.eval_shape(model.init, jax.random.key(0))[0]
    assert fl.macs(model, params) == fl.macs(model, shapes) == fl.macs(model)
    assert fl.param_count(params) == fl.param_count(shapes) == models.param_count(params)


@pytest.mark.parametrize("make", [_mlp, _cnn1d])
def test_masked_half_kernels_gives_half_macs(make):
    model = make()
    params, _ = model.init(jax.random.key(0))
    mask = _half_mask(params)
    dense = fl.macs(model, params)
    sparse = fl.macs(model, params, mask)
    for layer, count in dense["layers"].items():
        assert count % 2 == 0
        assert sparse["layers"][layer] == count // 2, layer
    assert sparse["total"] == dense["total"] // 2
    assert fl.flops(model, params, mask) == dense["total"]
    assert fl.macs(model, params, masks.ones(params)) == dense


def test_param_count_with_mask():
    model = _mlp()
    params, _ = model.init(jax.random.key(0))
    total = fl.param_count(params)
    assert total == 40 * 32 + 32 + 32 * 16 + 16 + 16 * 10 + 10
    mask = _half_mask(params)
    kernels = 40 * 32 + 32 * 16 + 16 * 10
    assert fl.param_count(params, mask) == total - kernels // 2
    mask["fc1"]["bias"] = mask["fc1"]["bias"].at[:4].set(False)
    assert fl.param_count(params, mask) == total - kernels // 2 - 4


def test_mask_mismatch_raises():
    model = _mlp()
    params, _ = model.init(jax.random.key(0))
    bad = masks.ones(params)
    bad["fc1"]["kernel"] = jnp.ones((3, 3), bool)
    with pytest.raises(LotteryError, match="fc1/kernel"):
        fl.macs(model, params, bad)
    del bad["fc1"]
    with pytest.raises(LotteryError, match="mask"):
        fl.param_count(params, bad)


def _xla_flops(model, params, state, x) -> float:
    compiled = jax.jit(lambda p, x: model.apply(p, state, x, train=False)[0]).lower(params, x)
    cost = compiled.compile().cost_analysis()
    if isinstance(cost, list | tuple):
        cost = cost[0] if cost else None
    if not cost or "flops" not in cost or not cost["flops"] > 0:
        pytest.skip(f"XLA cost_analysis gave no flops on {jax.default_backend()}: {cost!r}")
    return float(cost["flops"])


@pytest.mark.parametrize("make", [_mlp, _cnn1d])
def test_flops_close_to_xla_cost_analysis(make):
    model = make()
    params, state = model.init(jax.random.key(0))
    x = jnp.zeros((1, *model.input_shape), jnp.float32)
    ours = fl.flops(model, params)
    theirs = _xla_flops(model, params, state, x)
    assert abs(theirs - ours) <= 0.25 * ours, (theirs, ours)
