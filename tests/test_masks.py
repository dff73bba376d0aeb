"""Masks and leaf selection: algebra, counts, validation, jit and vmap."""

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from lottery import masks, select
from lottery.errors import LotteryError


def _params():
    k1, k2 = jax.random.split(jax.random.key(0))
    return {
        "fc1": {"kernel": jax.random.normal(k1, (6, 4)), "bias": jnp.ones(4)},
        "bn1": {"scale": jnp.ones(4), "bias": jnp.zeros(4)},
        "out": {"kernel": jax.random.normal(k2, (4, 3)), "bias": jnp.ones(3)},
    }


def test_ones_and_apply_zero_exactly():
    params = _params()
    mask = masks.ones(params)
    assert all(m.dtype == jnp.bool_ and bool(m.all()) for m in jax.tree.leaves(mask))
    mask["fc1"]["kernel"] = mask["fc1"]["kernel"].at[0].set(False)
    out = masks.apply(params, mask)
    np.testing.assert_array_equal(out["fc1"]["kernel"][0], np.zeros(4))
    np.testing.assert_array_equal(out["fc1"]["kernel"][1:], params["fc1"]["kernel"][1:])
    np.testing.assert_array_equal(out["out"]["kernel"], params["out"]["kernel"])


def test_select_prunable_is_kernels_and_exclude_output():
    params = _params()
    flags = select.prunable(params)
    assert flags["fc1"]["kernel"] and flags["out"]["kernel"]
    assert not flags["fc1"]["bias"] and not flags["bn1"]["scale"] and not flags["bn1"]["bias"]
    flags = select.prunable(params, exclude=("out",))
    assert flags["fc1"]["kernel"] and not flags["out"]["kernel"]
    with pytest.raises(LotteryError, match="prune.exclude"):
        select.prunable(params, exclude=("nope",))


def test_layer_rates():
    params = _params()
    flags = select.prunable(params)
    rates = select.layer_rates(params, {"out": 0.5}, flags)
    assert rates["out"]["kernel"] == 0.5 and rates["fc1"]["kernel"] == 1.0
    assert rates["fc1"]["bias"] == 0.0
    with pytest.raises(LotteryError, match="prune.rates.fc9"):
        select.layer_rates(params, {"fc9": 0.5}, flags)
    with pytest.raises(LotteryError, match="prune.rates.out"):
        select.layer_rates(params, {"out": -1.0}, flags)


def test_count_density_layer_density():
    params = _params()
    flags = select.prunable(params)
    mask = masks.ones(params)
    mask["fc1"]["kernel"] = jnp.zeros((6, 4), bool).at[:3].set(True)  # 12 of 24
    kept, total = masks.count(mask, flags)
    assert int(kept) == 12 + 12 and total == 24 + 12
    assert float(masks.density(mask, flags)) == pytest.approx(24 / 36)
    dens = masks.layer_density(mask, flags)
    assert list(dens) == ["fc1/kernel", "out/kernel"]
    assert float(dens["fc1/kernel"]) == 0.5 and float(dens["out/kernel"]) == 1.0
    # all leaves when prunable is None: 4+4+4+3 biases/bn more, all kept
    kept_all, total_all = masks.count(mask)
    assert total_all == 24 + 4 + 4 + 4 + 12 + 3 and int(kept_all) == total_all - 12


def test_intersect_and_jaccard():
    a = {"w": jnp.array([True, True, False, False])}
    b = {"w": jnp.array([True, False, True, False])}
    assert masks.intersect(a, b)["w"].tolist() == [True, False, False, False]
    assert float(masks.jaccard(a, b)) == pytest.approx(1 / 3)
    assert float(masks.jaccard(a, a)) == 1.0
    empty = {"w": jnp.zeros(4, bool)}
    assert float(masks.jaccard(empty, empty)) == 1.0


def test_jit_and_vmap():
    params = _params()
    flags = select.prunable(params)
    mask = masks.ones(params)
    fn = jax.jit(lambda m: (masks.density(m, flags), masks.layer_density(m, flags)))
    d, layers = fn(mask)
    assert float(d) == 1.0 and set(layers) == {"fc1/kernel", "out/kernel"}
    stacked = jax.tree.map(lambda m: jnp.stack([m, jnp.zeros_like(m)]), mask)
    ds = jax.vmap(lambda m: masks.density(m, flags))(stacked)
    np.testing.assert_allclose(ds, [1.0, 0.0])
    j = jax.vmap(masks.jaccard, in_axes=(0, None))(stacked, mask)
    np.testing.assert_allclose(j, [1.0, 0.0])
    applied = jax.jit(jax.vmap(masks.apply, in_axes=(None, 0)))(params, stacked)
    assert float(jnp.abs(applied["fc1"]["kernel"][1]).sum()) == 0.0


def test_validate_names_first_mismatch():
    params = _params()
    masks.validate(masks.ones(params), params)
    bad = masks.ones(params)
    del bad["out"]["bias"]
    with pytest.raises(LotteryError, match="mask/out/bias: missing"):
        masks.validate(bad, params)
    bad = masks.ones(params)
    bad["fc1"]["extra"] = jnp.ones(2, bool)
    with pytest.raises(LotteryError, match="mask/fc1/extra: unexpected"):
        masks.validate(bad, params)
    bad = masks.ones(params)
    bad["fc1"]["kernel"] = jnp.ones((4, 6), bool)
    with pytest.raises(LotteryError, match=r"mask/fc1/kernel: shape \(4, 6\)"):
        masks.validate(bad, params)
    bad = masks.ones(params)
    bad["out"]["kernel"] = jnp.ones((4, 3), jnp.float32)
    with pytest.raises(LotteryError, match="mask/out/kernel: dtype float32"):
        masks.validate(bad, params)
