"""Layer collapse and effective sparsity (lottery.diagnostics), checked against
brute-force reachability computed with numpy on the masks."""

from __future__ import annotations

import flax.linen as nn
import jax
import jax.numpy as jnp
import numpy as np
import pytest

from lottery import diagnostics, masks, models, select
from lottery.errors import LotteryError


def _np(tree):
    return jax.tree.map(np.asarray, tree)


def _set(mask, name, index, value=False):
    """Returns ``mask`` with ``mask[name][index] = value`` (numpy leaves)."""
    mask = _np(mask)
    layer, leaf = name.split("/")
    mask[layer][leaf] = mask[layer][leaf].copy()
    mask[layer][leaf][index] = value
    return mask


def _random_mask(params, density, seed):
    """Returns a mask keeping each prunable weight with probability ``density``."""
    rng = np.random.default_rng(seed)
    flags = select.prunable(params)
    return jax.tree.map(
        lambda p, f: rng.random(p.shape) < density if f else np.ones(p.shape, bool),
        params,
        flags,
    )


def _assert_masks_equal(got, want):
    names = select.path_list(want)
    for name, g, w in zip(names, jax.tree.leaves(got), jax.tree.leaves(want), strict=True):
        np.testing.assert_array_equal(np.asarray(g), np.asarray(w), err_msg=name)


def _model(name, input_shape, num_classes=3, **opts):
    """Returns ``(model, params, state)``; params and state as shapes only (all
    that ``effective_mask`` reads), which skips a slow eager init."""
    model = models.get(name, num_classes=num_classes, input_shape=input_shape, **opts)
    params, state = jax.eval_shape(model.init, jax.random.key(0))
    return model, params, state


# --- MLP ---------------------------------------------------------------------


def _mlp_brute_force(mask, layers):
    """Returns the effective mask of an MLP from boolean matrix products."""
    mats = [np.asarray(mask[layer]["kernel"]) for layer in layers]
    fwd = [np.ones(mats[0].shape[0], bool)]
    for w in mats:
        fwd.append((fwd[-1].astype(int) @ w.astype(int)) > 0)
    bwd = [np.ones(mats[-1].shape[1], bool)]
    for w in reversed(mats):
        bwd.insert(0, (w.astype(int) @ bwd[0].astype(int)) > 0)
    out = _np(mask)
    for i, (layer, w) in enumerate(zip(layers, mats, strict=True)):
        out[layer]["kernel"] = w & np.outer(fwd[i], bwd[i + 1])
    return out


def test_mlp_unit_without_inputs_silences_its_outputs():
    model, params, state = _model("mlp", (10,), widths=(16, 8))
    mask = _set(masks.ones(params), "fc1/kernel", (slice(None), 5))
    got = diagnostics.effective_mask(model, params, state, mask)
    _assert_masks_equal(got, _set(mask, "fc2/kernel", (5, slice(None))))


def test_mlp_unit_without_outputs_silences_its_inputs():
    model, params, state = _model("mlp", (10,), widths=(16, 8))
    mask = _set(masks.ones(params), "fc2/kernel", (3, slice(None)))
    got = diagnostics.effective_mask(model, params, state, mask)
    _assert_masks_equal(got, _set(mask, "fc1/kernel", (slice(None), 3)))


def test_full_mask_is_fully_effective():
    model, params, state = _model("mlp", (10,), widths=(16, 8))
    full = masks.ones(params)
    _assert_masks_equal(diagnostics.effective_mask(model, params, state, full), full)
    assert diagnostics.effective_density(model, params, state, full) == 1.0
    assert diagnostics.direct_density(full) == 1.0
    assert diagnostics.collapsed_layers(full) == []
    assert not jax.config.jax_enable_x64  # the float64 context does not leak


def test_collapsed_layer_disconnects_everything():
    model, params, state = _model("mlp", (10,), widths=(16, 8))
    mask = _set(masks.ones(params), "fc2/kernel", ...)
    assert diagnostics.collapsed_layers(mask) == ["fc2/kernel"]
    got = diagnostics.effective_mask(model, params, state, mask)
    for layer in ("fc1", "fc2", "out"):
        assert not np.any(got[layer]["kernel"])
        assert np.all(got[layer]["bias"])  # non-prunable leaves are returned as given
    assert diagnostics.effective_density(model, params, state, mask) == 0.0
    # The output layer kept out of pruning: collapse is reported only where prunable.
    flags = select.prunable(params, exclude=("fc2",))
    assert diagnostics.collapsed_layers(mask, flags) == []


@pytest.mark.parametrize(("density", "seed"), [(0.05, 0), (0.05, 1), (0.2, 2), (0.5, 3)])
def test_mlp_matches_brute_force(density, seed):
    model, params, state = _model("mlp", (20,), widths=(64, 32))
    mask = _random_mask(params, density, seed)
    got = diagnostics.effective_mask(model, params, state, mask)
    _assert_masks_equal(got, _mlp_brute_force(mask, ("fc1", "fc2", "out")))
    if density == 0.05:
        effective = diagnostics.effective_density(model, params, state, mask)
        assert effective == diagnostics.direct_density(got)
        assert effective < diagnostics.direct_density(mask)


# --- CNN1D -------------------------------------------------------------------


def _conv1d_edges(kernel, length_in, stride=2, pad=1):
    """Returns ``(k, o, p)`` triples: tap ``k`` links input ``p`` to output ``o``."""
    width = kernel.shape[0]
    length_out = (length_in + 2 * pad - width) // stride + 1
    triples = [
        (k, o, stride * o + k - pad)
        for k in range(width)
        for o in range(length_out)
        if 0 <= stride * o + k - pad < length_in
    ]
    return triples, length_out


def _cnn1d_brute_force(mask, length):
    """Returns the effective mask of ``cnn1d`` by unit-level (position, channel)
    reachability on the masks."""
    kernels = [np.asarray(mask[f"conv{i}"]["kernel"]) for i in (1, 2, 3)]
    dense = np.asarray(mask["out"]["kernel"])
    fwd = [np.ones((length, 1), bool)]
    edges = []
    for w in kernels:
        triples, length_out = _conv1d_edges(w, fwd[-1].shape[0])
        edges.append(triples)
        reach = np.zeros((length_out, w.shape[2]), bool)
        for k, o, p in triples:
            reach[o] |= (fwd[-1][p][:, None] & w[k]).any(axis=0)
        fwd.append(reach)
    flat = fwd[-1].reshape(-1)
    back = (dense.astype(int) @ np.ones(dense.shape[1], int)) > 0
    out = _np(mask)
    out["out"]["kernel"] = dense & flat[:, None]
    bwd = back.reshape(fwd[-1].shape)
    for i in (2, 1, 0):
        w = kernels[i]
        eff = np.zeros_like(w)
        prev = np.zeros(fwd[i].shape, bool)
        for k, o, p in edges[i]:
            eff[k] |= w[k] & np.outer(fwd[i][p], bwd[o])
            prev[p] |= (w[k] & bwd[o][None, :]).any(axis=1)
        out[f"conv{i + 1}"]["kernel"] = eff
        bwd = prev
    return out


def test_cnn1d_dead_channel_silences_the_kernel_slice_reading_it():
    model, params, state = _model("cnn1d", (40,), channels=4)
    mask = _set(masks.ones(params), "conv1/kernel", (slice(None), slice(None), 2))
    got = diagnostics.effective_mask(model, params, state, mask)
    _assert_masks_equal(got, _set(mask, "conv2/kernel", (slice(None), 2, slice(None))))


@pytest.mark.parametrize(("density", "seed"), [(0.1, 0), (0.3, 1), (0.5, 2)])
def test_cnn1d_matches_brute_force(density, seed):
    model, params, state = _model("cnn1d", (40,), channels=4)
    mask = _random_mask(params, density, seed)
    got = diagnostics.effective_mask(model, params, state, mask)
    want = _cnn1d_brute_force(mask, 40)
    _assert_masks_equal(got, want)


# --- Max pooling -------------------------------------------------------------


class _Pooled(nn.Module):
    """conv, 2x2 pool, conv, global pool, dense: with max or with average pools."""

    pool: str

    @nn.compact
    def __call__(self, x, train):
        x = nn.relu(nn.Conv(3, (3, 3), padding="SAME", name="conv1")(x))
        pool = nn.max_pool if self.pool == "max" else nn.avg_pool
        x = pool(x, (2, 2), strides=(2, 2))
        x = nn.relu(nn.Conv(4, (3, 3), padding="SAME", name="conv2")(x))
        x = jnp.max(x, axis=(1, 2)) if self.pool == "max" else jnp.mean(x, axis=(1, 2))
        return nn.Dense(3, name="out")(x)


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_max_pooling_connects_every_window_element(seed):
    # The gradient of a max reaches one element per window; the average's reaches
    # all, so the average-pooled twin has the graph's connectivity by plain autodiff.
    maxed = models.from_flax(_Pooled("max"), (4, 4, 1), 3, "out")
    averaged = models.from_flax(_Pooled("avg"), (4, 4, 1), 3, "out")
    params, state = jax.eval_shape(maxed.init, jax.random.key(0))
    mask = _random_mask(params, 0.3, seed)
    got = diagnostics.effective_mask(maxed, params, state, mask)
    _assert_masks_equal(got, diagnostics.effective_mask(averaged, params, state, mask))


class _MinPooled(nn.Module):
    @nn.compact
    def __call__(self, x, train):
        return nn.Dense(2, name="out")(jnp.min(nn.Dense(4, name="fc1")(x), axis=-1, keepdims=True))


def test_min_reduction_is_refused():
    model = models.from_flax(_MinPooled(), (5,), 2, "out")
    params, state = model.init(jax.random.key(0))
    with pytest.raises(LotteryError, match="reduce_min"):
        diagnostics.effective_mask(model, params, state, masks.ones(params))


# --- Deep networks: no overflow, no underflow ---------------------------------


@pytest.mark.parametrize("name", ["vgg16", "resnet20"])
def test_deep_full_mask_is_fully_effective(name):
    model, params, state = _model(name, (32, 32, 3), num_classes=10)
    full = masks.ones(params)
    assert diagnostics.effective_density(model, params, state, full) == 1.0


def test_vgg16_single_path_is_found():
    # One centre tap from channel 0 to channel 0 in every conv and one output
    # weight: a single path whose weight product is ~1e-24 after fan-in scaling.
    model, params, state = _model("vgg16", (32, 32, 3), num_classes=10)
    path = jax.tree.map(lambda m: np.zeros(m.shape, bool), _np(masks.ones(params)))
    for layer in path:
        for leaf in path[layer]:
            if leaf != "kernel":
                path[layer][leaf] = np.ones(path[layer][leaf].shape, bool)
            elif layer == "out":
                path[layer][leaf][0, 0] = True
            else:
                path[layer][leaf][1, 1, 0, 0] = True
    # Two dangling weights read channel 1, which nothing feeds: ineffective.
    mask = _set(_set(path, "conv7/kernel", (1, 1, 1, 0), True), "out/kernel", (1, 0), True)
    got = diagnostics.effective_mask(model, params, state, mask)
    _assert_masks_equal(got, path)
