"""N:M and block sparsity: exact group counts, top-n by brute force, jit/vmap, errors,
and a 2:4-masked MLP that still trains."""

import itertools

import jax
import jax.numpy as jnp
import numpy as np
import optax
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from lottery import masks, models, select
from lottery.errors import LotteryError
from lottery.structured.nm import block_mask, nm_mask, satisfies_nm

NM_SHAPES = [(8, 3), (16, 5), (3, 8, 4)]
NM_PAIRS = [(2, 4), (4, 8), (1, 4)]


def _scores(rng, shape, levels=4):
    # few distinct values so that ties are common
    return rng.integers(0, levels, size=shape).astype(np.float32)


def _tree(rng, shape, levels=4):
    return {
        "a": {"kernel": jnp.asarray(_scores(rng, shape, levels)), "bias": jnp.zeros(shape[-1])},
        "b": {"kernel": jnp.asarray(_scores(rng, (8, 2), levels))},
    }


def _nm_reference(s, n, m):
    """Brute force: in each run of m along axis -2, keep the n best (score desc, index asc)."""
    s = np.asarray(s)
    out = np.zeros(s.shape, bool)
    *spatial, fan_in, fan_out = s.shape
    for pos in itertools.product(*(range(d) for d in spatial)):
        for o in range(fan_out):
            for g in range(fan_in // m):
                rows = list(range(g * m, (g + 1) * m))
                best = sorted(rows, key=lambda r: (-s[(*pos, r, o)], r))[:n]
                for r in best:
                    out[(*pos, r, o)] = True
    return out


def _group_counts(x, m):
    x = np.asarray(x)
    *lead, fan_in, fan_out = x.shape
    return x.reshape(*lead, fan_in // m, m, fan_out).sum(axis=-2)


@settings(deadline=None, max_examples=25)
@given(
    shape=st.sampled_from(NM_SHAPES),
    nm=st.sampled_from(NM_PAIRS),
    seed=st.integers(0, 2**31 - 1),
    levels=st.sampled_from([2, 4, 1000]),
)
def test_nm_groups_keep_exactly_top_n(shape, nm, seed, levels):
    n, m = nm
    scores = _tree(np.random.default_rng(seed), shape, levels)
    got = nm_mask(scores, n, m)
    assert jax.tree.structure(got) == jax.tree.structure(scores)
    for g, s in zip(jax.tree.leaves(got), jax.tree.leaves(scores), strict=True):
        assert g.dtype == jnp.bool_ and g.shape == s.shape
    assert np.all(np.asarray(got["a"]["bias"]))
    for name in ("a", "b"):
        k = np.asarray(got[name]["kernel"])
        assert np.all(_group_counts(k, m) == n)
        np.testing.assert_array_equal(k, _nm_reference(scores[name]["kernel"], n, m))
    assert bool(satisfies_nm(got, n, m))


@pytest.mark.parametrize("shape", NM_SHAPES)
def test_nm_jit_and_vmap_match_eager(shape):
    rng = np.random.default_rng(0)
    batch = [_tree(rng, shape) for _ in range(3)]
    stacked = jax.tree.map(lambda *xs: jnp.stack(xs), *batch)
    jitted = jax.jit(nm_mask, static_argnums=(1, 2))
    vmapped = jax.vmap(lambda s: nm_mask(s, 2, 4))(stacked)
    for i, tree in enumerate(batch):
        want = nm_mask(tree, 2, 4)
        for a, b, c in zip(
            jax.tree.leaves(want),
            jax.tree.leaves(jitted(tree, 2, 4)),
            jax.tree.leaves(jax.tree.map(lambda x, i=i: x[i], vmapped)),
            strict=True,
        ):
            np.testing.assert_array_equal(a, b)
            np.testing.assert_array_equal(a, c)


def test_nm_ties_go_to_lower_index_and_nan_ranks_lowest():
    s = jnp.array([[1.0], [1.0], [1.0], [1.0], [jnp.nan], [0.0], [-0.0], [-1.0]])
    got = np.asarray(nm_mask({"kernel": s}, 2, 4)["kernel"][:, 0])
    np.testing.assert_array_equal(got, [1, 1, 0, 0, 0, 1, 1, 0])


def test_nm_intersects_given_mask_and_keeps_non_prunable():
    rng = np.random.default_rng(1)
    scores = _tree(rng, (8, 3), levels=1000)
    mask = jax.tree.map(lambda s: jnp.asarray(rng.random(s.shape) < 0.5), scores)
    got = nm_mask(scores, 2, 4, mask=mask)
    plain = nm_mask(scores, 2, 4)
    np.testing.assert_array_equal(got["a"]["bias"], mask["a"]["bias"])
    for name in ("a", "b"):
        want = np.asarray(plain[name]["kernel"]) & np.asarray(mask[name]["kernel"])
        np.testing.assert_array_equal(got[name]["kernel"], want)
        assert np.all(_group_counts(got[name]["kernel"], 4) <= 2)


def test_nm_respects_prunable():
    scores = _tree(np.random.default_rng(2), (8, 3))
    prunable = select.prunable(scores, exclude=["b"])
    got = nm_mask(scores, 2, 4, prunable=prunable)
    assert np.all(np.asarray(got["b"]["kernel"]))
    assert np.all(_group_counts(got["a"]["kernel"], 4) == 2)


def test_nm_errors():
    scores = {"fc1": {"kernel": jnp.ones((6, 4)), "bias": jnp.ones(4)}}
    with pytest.raises(LotteryError) as err:
        nm_mask(scores, 2, 4)
    assert err.value.field == "nm/fc1/kernel" and "6" in str(err.value)
    good = {"fc1": {"kernel": jnp.ones((8, 4))}}
    with pytest.raises(LotteryError) as err:
        nm_mask(good, 5, 4)
    assert err.value.field == "nm.n"
    with pytest.raises(LotteryError) as err:
        nm_mask(good, 0, 4)
    assert err.value.field == "nm.n"
    with pytest.raises(LotteryError) as err:
        nm_mask(good, 1, 0)
    assert err.value.field == "nm.m"
    with pytest.raises(LotteryError) as err:
        nm_mask(good, 2.0, 4)
    assert err.value.field == "nm.n"
    with pytest.raises(LotteryError) as err:
        nm_mask({"w": {"kernel": jnp.ones(8)}}, 2, 4)
    assert err.value.field == "nm/w/kernel"


def test_satisfies_nm():
    k = jnp.zeros((8, 2), bool).at[0, 0].set(True).at[1, 0].set(True)
    assert bool(satisfies_nm({"kernel": k}, 2, 4))
    assert not bool(satisfies_nm({"kernel": k.at[2, 0].set(True)}, 2, 4))
    assert not bool(satisfies_nm({"kernel": jnp.ones((6, 2), bool)}, 2, 4))
    assert bool(jax.jit(satisfies_nm, static_argnums=(1, 2))({"kernel": k}, 2, 4))


# ---------------------------------------------------------------- block sparsity

BLOCK_SHAPES = [(8, 4), (4, 8), (3, 3, 8, 4)]


def _tiles(x, bi, bo):
    """Returns the (in//bi, out//bo, *spatial, bi, bo) tiles of a full-shape array."""
    x = np.asarray(x)
    *spatial, fan_in, fan_out = x.shape
    k = len(spatial)
    t = x.reshape(*spatial, fan_in // bi, bi, fan_out // bo, bo)
    return np.moveaxis(t, (k, k + 2), (0, 1))


def _block_reference(leaves, density, bi, bo):
    """Brute force: tile |score| sums ranked (desc, flat index asc) across the leaves."""
    sums = [np.abs(_tiles(s, bi, bo)).sum(axis=tuple(range(2, s.ndim + 2))) for s in leaves]
    flat = np.concatenate([t.ravel() for t in sums])
    keep = int(np.round(np.float32(density) * np.float32(flat.size)))
    order = sorted(range(flat.size), key=lambda i: (-flat[i], i))
    chosen = np.zeros(flat.size, bool)
    chosen[order[:keep]] = True
    out, offset = [], 0
    for t in sums:
        out.append(chosen[offset : offset + t.size].reshape(t.shape))
        offset += t.size
    return out


@settings(deadline=None, max_examples=25)
@given(
    shapes=st.lists(st.sampled_from(BLOCK_SHAPES), min_size=1, max_size=2),
    block=st.sampled_from([(2, 2), (4, 2), (4, 4)]),
    density=st.sampled_from([0.1, 0.25, 0.5, 0.7, 1.0]),
    scope=st.sampled_from(["layerwise", "global"]),
    seed=st.integers(0, 2**31 - 1),
)
def test_block_tiles_constant_and_counts(shapes, block, density, scope, seed):
    bi, bo = block
    shapes = [s for s in shapes if s[-1] % bo == 0 and s[-2] % bi == 0] or [(8, 4)]
    rng = np.random.default_rng(seed)
    scores = {
        f"l{i}": {"kernel": jnp.asarray(_scores(rng, s, 3) - 1), "bias": jnp.ones(s[-1])}
        for i, s in enumerate(shapes)
    }
    got = block_mask(scores, density, block, scope=scope)
    assert jax.tree.structure(got) == jax.tree.structure(scores)
    names = sorted(scores)
    kernels = [np.asarray(got[n]["kernel"]) for n in names]
    for n in names:
        assert got[n]["kernel"].dtype == jnp.bool_
        assert np.all(np.asarray(got[n]["bias"]))
    tile_keep = []
    for k in kernels:
        t = _tiles(k, bi, bo)
        flat = t.reshape(t.shape[0], t.shape[1], -1)
        assert np.all(flat == flat[..., :1])  # every tile constant
        tile_keep.append(flat[..., 0])
    sizes = [t.size for t in tile_keep]
    if scope == "layerwise":
        for t, name in zip(tile_keep, names, strict=True):
            assert t.sum() == int(np.round(np.float32(density) * np.float32(t.size)))
            want = _block_reference([np.asarray(scores[name]["kernel"])], density, bi, bo)[0]
            np.testing.assert_array_equal(t, want)
    else:
        total = sum(t.sum() for t in tile_keep)
        assert total == int(np.round(np.float32(density) * np.float32(sum(sizes))))
        want = _block_reference([np.asarray(scores[n]["kernel"]) for n in names], density, bi, bo)
        for t, w in zip(tile_keep, want, strict=True):
            np.testing.assert_array_equal(t, w)


def test_block_jit_traced_density_and_vmap():
    rng = np.random.default_rng(3)
    scores = {"a": {"kernel": jnp.asarray(rng.normal(size=(8, 8)))}}
    densities = jnp.array([0.25, 0.5, 1.0])
    fn = jax.jit(lambda s, d: block_mask(s, d, (2, 2)))
    batched = jax.vmap(lambda d: block_mask(scores, d, (2, 2)))(densities)
    for i, d in enumerate([0.25, 0.5, 1.0]):
        want = np.asarray(block_mask(scores, d, (2, 2))["a"]["kernel"])
        np.testing.assert_array_equal(fn(scores, densities[i])["a"]["kernel"], want)
        np.testing.assert_array_equal(batched["a"]["kernel"][i], want)
        assert want.sum() == round(d * 16) * 4


def test_block_intersects_mask():
    rng = np.random.default_rng(4)
    scores = {"a": {"kernel": jnp.asarray(rng.normal(size=(8, 4))), "bias": jnp.ones(4)}}
    mask = {"a": {"kernel": jnp.asarray(rng.random((8, 4)) < 0.5), "bias": jnp.zeros(4, bool)}}
    got = block_mask(scores, 0.5, (2, 2), mask=mask)
    plain = block_mask(scores, 0.5, (2, 2))
    want = np.asarray(plain["a"]["kernel"]) & np.asarray(mask["a"]["kernel"])
    np.testing.assert_array_equal(got["a"]["kernel"], want)
    np.testing.assert_array_equal(got["a"]["bias"], mask["a"]["bias"])


@pytest.mark.parametrize("density", [0, 0.0, 1.5, -0.2, "half"])
def test_block_bad_density(density):
    scores = {"a": {"kernel": jnp.ones((8, 4))}}
    with pytest.raises(LotteryError) as err:
        block_mask(scores, density)
    assert err.value.field == "block.density"


def test_block_errors():
    with pytest.raises(LotteryError) as err:
        block_mask({"fc": {"kernel": jnp.ones((8, 6))}}, 0.5, (4, 4))
    assert err.value.field == "block/fc/kernel"
    with pytest.raises(LotteryError) as err:
        block_mask({"conv": {"kernel": jnp.ones((3, 3, 6, 8))}}, 0.5, (4, 4))
    assert err.value.field == "block/conv/kernel"
    good = {"fc": {"kernel": jnp.ones((8, 8))}}
    with pytest.raises(LotteryError) as err:
        block_mask(good, 0.5, (0, 4))
    assert err.value.field == "block.block"
    with pytest.raises(LotteryError) as err:
        block_mask(good, 0.5, scope="both")
    assert err.value.field == "block.scope"


# ---------------------------------------------------------------- the masked model trains


def test_2_4_masked_mlp_trains_and_stays_2_4():
    model = models.get("mlp", num_classes=10, input_shape=(40,), widths=(32, 16))
    params, state = jax.jit(model.init)(jax.random.key(0))
    kx, kt = jax.random.split(jax.random.key(1))
    x = jax.random.normal(kx, (256, 40))
    y = jnp.argmax(x @ jax.random.normal(kt, (40, 10)), axis=-1)

    mask = jax.jit(lambda p: nm_mask(jax.tree.map(jnp.abs, p), 2, 4))(params)
    for name in ("fc1", "fc2", "out"):
        assert np.all(_group_counts(mask[name]["kernel"], 4) == 2)
    params = masks.apply(params, mask)

    def loss_fn(p):
        logits, _ = model.apply(masks.apply(p, mask), state, x, train=True)
        return optax.softmax_cross_entropy_with_integer_labels(logits, y).mean()

    opt = optax.adam(1e-2)

    def step(carry, _):
        p, o = carry
        loss, grads = jax.value_and_grad(loss_fn)(p)
        grads = masks.apply(grads, mask)
        updates, o = opt.update(grads, o, p)
        return (masks.apply(optax.apply_updates(p, updates), mask), o), loss

    @jax.jit
    def train(p):
        (p, _), losses = jax.lax.scan(step, (p, opt.init(p)), None, length=150)
        return p, losses[0], loss_fn(p)

    params, initial, final = train(params)
    initial, final = float(initial), float(final)
    assert final < 0.7 * initial, (initial, final)

    assert bool(satisfies_nm(mask, 2, 4))
    for name in ("fc1", "fc2", "out"):
        k = np.asarray(params[name]["kernel"])
        m = np.asarray(mask[name]["kernel"])
        assert np.all(k[~m] == 0.0)  # masked-out weights are exactly zero
        assert np.all(_group_counts(k != 0, 4) <= 2)
        assert np.all(_group_counts(m, 4) == 2)
