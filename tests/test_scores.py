"""Pruning-at-initialization scorers: SNIP, GraSP, SynFlow, magnitude, random,
the iterative driver ``prune_at_init``, the registry and ERK densities."""

import functools
import math

import flax.linen as nn
import jax
import jax.numpy as jnp
import numpy as np
import pytest
from jax.flatten_util import ravel_pytree

from lottery import masks, models, select
from lottery import scores as S
from lottery.errors import LotteryError
from lottery.prune import Target, prune
from lottery.scores.base import batch_loss
from lottery.scores.grasp import hessian_vector_product


def _mlp(widths=(64, 32), input_dim=40, classes=10):
    return models.get("mlp", num_classes=classes, input_shape=(input_dim,), widths=widths)


def _cnn1d():
    return models.get("cnn1d", num_classes=10, input_shape=(40,), channels=8)


# Test data comes from NumPy and arrays are checked in NumPy: on the CPU every
# eager jax.random or jnp call compiles its own small program, which adds up.


@functools.cache
def _net(model, batch_size=8):
    """Returns ``(params, state, x, y)``: NumPy normal weights scaled by
    ``1/sqrt(shape[0])`` (biases too, so that no score is trivially zero) in
    ``model``'s structure, and two scoring batches of NumPy data."""
    shapes, state = jax.eval_shape(model.init, jax.random.key(0))
    assert not state  # these test models have no BatchNorm
    rng = np.random.default_rng(0)
    params = jax.tree.map(
        lambda p: (rng.standard_normal(p.shape) / np.sqrt(p.shape[0])).astype(np.float32),
        shapes,
    )
    rng = np.random.default_rng(1)
    x = rng.standard_normal((2, batch_size, *model.input_shape)).astype(np.float32)
    y = rng.integers(0, model.num_classes, (2, batch_size)).astype(np.int32)
    return params, state, x, y


def _ones(params):
    return jax.tree.map(lambda p: np.ones(p.shape, bool), params)


def _kept(mask, prunable):
    """Returns the number of kept prunable weights (NumPy)."""
    leaves = jax.tree.leaves(mask)
    return sum(int(np.sum(m)) for m, f in zip(leaves, jax.tree.leaves(prunable), strict=True) if f)


def _total(params, prunable):
    leaves = jax.tree.leaves(params)
    return sum(p.size for p, f in zip(leaves, jax.tree.leaves(prunable), strict=True) if f)


def _mlp_forward(params, x):
    """The registry MLP written out by hand (Flatten, Dense+ReLU..., Dense out)."""
    h = x.reshape(x.shape[0], -1)
    hidden = sorted(k for k in params if k.startswith("fc"))
    for name in hidden:
        h = jax.nn.relu(h @ params[name]["kernel"] + params[name]["bias"])
    return h @ params["out"]["kernel"] + params["out"]["bias"]


def _hand_loss(params, x, y, temperature=1.0):
    """Sum over batches of each batch's mean cross-entropy, written independently."""
    total = 0.0
    for b in range(x.shape[0]):
        logp = jax.nn.log_softmax(_mlp_forward(params, x[b]) / temperature)
        total = total + -jnp.mean(jnp.take_along_axis(logp, y[b][:, None], axis=1))
    return total


def _rel(a, b):
    """Returns ||a - b|| / ||b|| (0 when both are exactly zero)."""
    a, b = np.asarray(a, np.float64), np.asarray(b, np.float64)
    if not np.any(b):
        return float(np.linalg.norm(a))
    return np.linalg.norm(a - b) / np.linalg.norm(b)


# scorer, model and the keyword options are static; everything else is traced
_pai = jax.jit(
    S.prune_at_init, static_argnums=(0, 1), static_argnames=("iterations", "scope", "invert")
)
_hand_grad = jax.jit(jax.grad(_hand_loss), static_argnums=3)


@functools.partial(jax.jit, static_argnums=(0, 1))
def _score(scorer, model, params, state, mask, x=None, y=None, key=None):
    """Returns ``scorer``'s scores, computed under ``jax.jit``."""
    return scorer(model, params, state, mask, x, y, key)


def _random_kernel_mask(params, seed, keep=0.6):
    """Returns a mask keeping each kernel entry with probability ``keep``."""
    rng = np.random.default_rng(seed)
    return jax.tree.map(
        lambda p, f: rng.random(p.shape) < keep if f else np.ones(p.shape, bool),
        params,
        select.prunable(params),
    )


# 1. SNIP ---------------------------------------------------------------------


def test_snip_equals_abs_grad_times_weight():
    model = _mlp(widths=(16, 12), input_dim=10)
    params, state, x, y = _net(model)
    got = _score(S.Snip(), model, params, state, _ones(params), x, y)
    g = _hand_grad(params, x, y, 1.0)
    want = jax.tree.map(lambda g, w: np.abs(np.asarray(g) * np.asarray(w)), g, params)
    for a, b in zip(jax.tree.leaves(got), jax.tree.leaves(want), strict=True):
        assert a.dtype == jnp.float32
        assert _rel(a, b) < 1e-6

    # with a mask c: |dL/dc| = |w * grad L(w * c)|, the gradient at the masked weights
    mask = _random_kernel_mask(params, 5)
    got = _score(S.Snip(), model, params, state, mask, x, y)
    g = _hand_grad(jax.tree.map(lambda p, m: p * m, params, mask), x, y, 1.0)
    want = jax.tree.map(lambda g, w: np.abs(np.asarray(g) * np.asarray(w)), g, params)
    for a, b in zip(jax.tree.leaves(got), jax.tree.leaves(want), strict=True):
        assert _rel(a, b) < 1e-6


# 2-3. GraSP ------------------------------------------------------------------


def test_hessian_vector_product_matches_central_difference():
    model = _mlp(widths=(16, 12), input_dim=10)
    params, state, x, y = _net(model)
    flat32 = np.asarray(ravel_pytree(params)[0])
    v = np.random.default_rng(9).standard_normal(flat32.shape)

    @jax.jit
    def both(flat, v, x):
        # the loss the GraSP scorer uses (ReLU MLP, summed batches), in float64
        unravel = ravel_pytree(jax.tree.map(lambda p: p.astype(jnp.float64), params))[1]
        loss = batch_loss(model, state, x, y, temperature=1.0)
        hv = hessian_vector_product(loss, unravel(flat), unravel(v))
        eps = 1e-4
        grad = jax.grad(lambda f: loss(unravel(f)))
        fd = (grad(flat + eps * v) - grad(flat - eps * v)) / (2 * eps)
        return ravel_pytree(hv)[0], fd

    with jax.enable_x64(True):
        got, want = both(flat32.astype(np.float64), v, x.astype(np.float64))
        assert got.dtype == jnp.float64 and want.dtype == jnp.float64
        got, want = np.asarray(got), np.asarray(want)
    assert np.linalg.norm(want) > 0
    assert _rel(got, want) < 1e-3


def test_grasp_scores_and_sign_convention():
    model = _mlp(widths=(8,), input_dim=6, classes=3)
    params, state, x, y = _net(model, batch_size=16)
    temperature = 200.0
    scorer = S.get("grasp", temperature=temperature)
    assert scorer.keep_highest is False
    got = _score(scorer, model, params, state, _ones(params), x, y)

    # independent reference: the full Hessian of the hand-written loss (83 x 83)
    @jax.jit
    def reference(flat, x):
        unravel = ravel_pytree(jax.tree.map(lambda p: p.astype(flat.dtype), params))[1]

        def flat_loss(f):
            return _hand_loss(unravel(f), x, y, temperature)

        g = jax.grad(flat_loss)(flat)
        return unravel(-flat * (jax.hessian(flat_loss)(flat) @ g))

    with jax.enable_x64(True):
        flat = np.asarray(ravel_pytree(params)[0], np.float64)
        want = reference(flat, x.astype(np.float64))
        want = jax.tree.map(np.asarray, want)
    for a, b in zip(jax.tree.leaves(got), jax.tree.leaves(want), strict=True):
        assert _rel(a, b) < 1e-4

    # prune_at_init keeps the LOWEST S: every kept kernel entry scores below every
    # removed one (global ranking over the kernels)
    density = 0.3
    mask = _pai(scorer, model, params, state, x, y, jax.random.key(0), density)
    prunable = select.prunable(params)
    assert _kept(mask, prunable) == round(density * _total(params, prunable))
    pairs = [
        (np.asarray(s).ravel(), np.asarray(m).ravel())
        for s, m, f in zip(
            jax.tree.leaves(got), jax.tree.leaves(mask), jax.tree.leaves(prunable), strict=True
        )
        if f
    ]
    s = np.concatenate([p[0] for p in pairs])
    m = np.concatenate([p[1] for p in pairs])
    assert s[m].max() < s[~m].min()
    # the inverted ranking keeps the highest S instead
    inv = _pai(scorer, model, params, state, x, y, jax.random.key(0), density, invert=True)
    mi = np.concatenate(
        [
            np.asarray(k).ravel()
            for k, f in zip(jax.tree.leaves(inv), jax.tree.leaves(prunable), strict=True)
            if f
        ]
    )
    assert s[mi].min() > s[~mi].max()


# 4. SynFlow ------------------------------------------------------------------


class _BiasFree(nn.Module):
    @nn.compact
    def __call__(self, x, train):
        x = nn.relu(nn.Dense(16, use_bias=False, name="fc1")(x))
        x = nn.relu(nn.Dense(12, use_bias=False, name="fc2")(x))
        return nn.Dense(4, use_bias=False, name="out")(x)


def _layer_sums(scores):
    return np.array([np.asarray(scores[k]["kernel"], np.float64).sum() for k in scores])


def test_synflow_conserves_flow_per_layer():
    model = models.from_flax(_BiasFree(), input_shape=(10,), num_classes=4, output_layer="out")
    params, state, _, _ = _net(model)
    scorer = S.get("synflow")
    assert scorer.needs_data is False
    scores = _score(scorer, model, params, state, _ones(params))
    sums = _layer_sums(scores)
    assert np.all(sums > 0)
    assert np.ptp(sums) / sums.mean() < 1e-4

    # with a random mask applied (as after a pruning round) the flow is still
    # conserved, and pruned weights score exactly zero
    mask = _random_kernel_mask(params, 3, keep=0.5)
    scores = _score(scorer, model, params, state, mask)
    sums = _layer_sums(scores)
    assert np.ptp(sums) / sums.mean() < 1e-4
    for s, m in zip(jax.tree.leaves(scores), jax.tree.leaves(mask), strict=True):
        assert np.all(np.asarray(s)[~np.asarray(m)] == 0)

    # one SynFlow pruning round from the all-ones mask, then re-score
    pruned = _pai(scorer, model, params, state, None, None, jax.random.key(0), 0.5)
    assert _kept(pruned, select.prunable(params)) == round(0.5 * (160 + 192 + 48))
    sums = _layer_sums(_score(scorer, model, params, state, pruned))
    assert np.ptp(sums) / sums.mean() < 1e-4

    # the float64 pass: same ranking, scores scaled by a positive constant
    s64 = _score(S.get("synflow", float64=True), model, params, state, mask)
    a = np.concatenate([np.asarray(v).ravel() for v in jax.tree.leaves(s64)])
    b = np.concatenate([np.asarray(v).ravel() for v in jax.tree.leaves(scores)])
    assert a.dtype == np.float32 and a.max() == 1.0
    assert _rel(a, b / b.max()) < 1e-5


# 5. exact counts through prune_at_init, under jit ----------------------------


@pytest.mark.parametrize("model_fn", [_mlp, _cnn1d], ids=["mlp", "cnn1d"])
def test_every_scorer_keeps_exact_count(model_fn):
    model = model_fn()
    params, state, x, y = _net(model)
    prunable = select.prunable(params)
    total = _total(params, prunable)
    cases = [(name, 1) for name in S.SCORERS] + [("synflow", 10)]

    # one compiled program for every case (compiling each alone costs more), vmapped
    # over a sweep of densities so that the density is a traced value
    @jax.jit
    @functools.partial(jax.vmap, in_axes=(None, None, None, None, None, 0))
    def run(params, state, x, y, key, density):
        return [
            S.prune_at_init(S.get(n), model, params, state, x, y, key, density, iterations=it)
            for n, it in cases
        ]

    densities = (0.1, 0.5)
    results = run(params, state, x, y, jax.random.key(4), np.array(densities, np.float32))
    for (name, iterations), many in zip(cases, results, strict=True):
        for i, d in enumerate(densities):
            mask = jax.tree.map(lambda m, i=i: np.asarray(m[i]), many)
            masks.validate(mask, params)
            assert _kept(mask, prunable) == round(d * total), (name, iterations, d)
            for m, f in zip(jax.tree.leaves(mask), jax.tree.leaves(prunable), strict=True):
                assert f or np.all(m)


def test_iterative_rounds_follow_exponential_schedule_and_never_revive():
    model = _mlp()
    params, state, _, _ = _net(model)
    prunable = select.prunable(params)
    total = _total(params, prunable)
    scorer = S.get("synflow")
    # two rounds to 0.09 go through 0.3; the result is inside the 0.3 one-round mask
    # computed from the same scores, and SynFlow rounds are not just one-shot
    key = jax.random.key(0)
    two = _pai(scorer, model, params, state, None, None, key, 0.09, iterations=2)
    first = _pai(scorer, model, params, state, None, None, key, 0.3)
    assert _kept(first, prunable) == round(0.3 * total)
    assert _kept(two, prunable) == round(0.09 * total)
    for a, b in zip(jax.tree.leaves(two), jax.tree.leaves(first), strict=True):
        assert not np.any(np.asarray(a) & ~np.asarray(b))
    one = _pai(scorer, model, params, state, None, None, key, 0.09)
    assert _kept(one, prunable) == _kept(two, prunable)
    assert any(
        not np.array_equal(a, b)
        for a, b in zip(jax.tree.leaves(one), jax.tree.leaves(two), strict=True)
    )


# 6. inverted ranking ---------------------------------------------------------


def test_inverted_magnitude_keeps_what_magnitude_removes():
    model = _mlp()
    params, state, _, _ = _net(model)
    prunable = select.prunable(params)
    mag = S.get("magnitude")
    key = jax.random.key(0)
    d = 0.3
    inv = _pai(mag, model, params, state, None, None, key, d, scope="layerwise", invert=True)
    kept = _pai(mag, model, params, state, None, None, key, 1 - d, scope="layerwise")
    for a, b, f in zip(
        jax.tree.leaves(inv), jax.tree.leaves(kept), jax.tree.leaves(prunable), strict=True
    ):
        a, b = np.asarray(a), np.asarray(b)
        if f:
            np.testing.assert_array_equal(a, ~b)
            assert a.sum() == round(d * a.size)
        else:
            assert a.all() and b.all()
    # and it is the plain primitive on negated magnitudes
    negated = jax.tree.map(lambda w: -np.abs(np.asarray(w)), params)
    want = jax.jit(lambda s: prune(s, masks.ones(s), Target.density(d), "layerwise"))(negated)
    for a, b in zip(jax.tree.leaves(inv), jax.tree.leaves(want), strict=True):
        np.testing.assert_array_equal(a, b)


# 7. registry errors ----------------------------------------------------------


def test_registry_and_errors():
    assert set(S.SCORERS) == {"magnitude", "random", "snip", "grasp", "synflow"}
    assert S.get("grasp") == S.Grasp(temperature=200.0)
    assert S.get("synflow", float64=True).float64 is True
    hash(S.get("random"))  # static under jit
    cases = [
        (lambda: S.get("obd"), "pai.method"),
        (lambda: S.get("grasp", temp=1.0), "pai.temp"),
        (lambda: S.get("synflow", temperature=1.0), "pai.temperature"),
        (lambda: S.get("grasp", temperature=-1.0), "pai.temperature"),
        (lambda: S.get("random", distribution="gauss"), "pai.distribution"),
        (lambda: S.get("synflow", float64="yes"), "pai.float64"),
    ]
    for make, field in cases:
        with pytest.raises(LotteryError) as err:
            make()
        assert err.value.field == field
    with pytest.raises(LotteryError, match="allowed: magnitude, random, snip, grasp, synflow"):
        S.get("obd")

    model = _mlp()
    params, state, _, _ = _net(model)
    key = jax.random.key(0)
    with pytest.raises(LotteryError) as err:
        S.prune_at_init(S.Magnitude(), model, params, state, None, None, key, 0.5, iterations=0)
    assert err.value.field == "pai.iterations"
    with pytest.raises(LotteryError) as err:
        S.prune_at_init(S.Magnitude(), model, params, state, None, None, key, 1.5)
    assert err.value.field == "prune.density"
    with pytest.raises(LotteryError) as err:
        S.prune_at_init(S.Snip(), model, params, state, None, None, key, 0.5)
    assert err.value.field == "pai.num_samples"


def test_random_scores_are_uniform_and_key_dependent():
    model = _mlp()
    params, state, _, _ = _net(model)
    r = S.get("random")
    a = _score(r, model, params, state, None, key=jax.random.key(1))
    b = _score(r, model, params, state, None, key=jax.random.key(2))
    flat_a = np.concatenate([np.asarray(v).ravel() for v in jax.tree.leaves(a)])
    flat_b = np.concatenate([np.asarray(v).ravel() for v in jax.tree.leaves(b)])
    assert flat_a.dtype == np.float32 and flat_a.min() >= 0 and flat_a.max() < 1
    assert abs(flat_a.mean() - 0.5) < 0.02
    # every leaf has its own values (no leaf repeats another's stream)
    firsts = [float(np.asarray(v).ravel()[0]) for v in jax.tree.leaves(a)]
    assert len(set(firsts)) == len(firsts)
    assert not np.array_equal(flat_a, flat_b)


# 8. ERK ----------------------------------------------------------------------


@pytest.mark.parametrize(
    ("name", "options", "input_shape", "density"),
    [
        ("mlp", {"widths": (300, 100)}, (4,), 0.5),  # fc1 and out forced dense
        ("mlp", {"widths": (300, 100)}, (784,), 0.05),
        ("resnet20", {}, (32, 32, 3), 0.1),
        ("cnn1d", {"channels": 8}, (40,), 0.2),
    ],
)
def test_erk_densities(name, options, input_shape, density):
    model = models.get(name, num_classes=10, input_shape=input_shape, **options)
    params, _ = jax.eval_shape(model.init, jax.random.key(0))
    prunable = select.prunable(params)
    dens = S.erk_densities(params, prunable, density)
    shapes = {
        n: p.shape
        for n, p, f in zip(
            select.path_list(params),
            jax.tree.leaves(params),
            jax.tree.leaves(prunable),
            strict=True,
        )
        if f
    }
    assert list(dens) == list(shapes)
    sizes = {n: math.prod(s) for n, s in shapes.items()}
    total = sum(sizes.values())
    assert all(0 < d <= 1 for d in dens.values())
    assert abs(sum(dens[n] * sizes[n] for n in dens) - density * total) < 1e-6 * total
    counts = sum(round(dens[n] * sizes[n]) for n in dens)
    assert abs(counts - round(density * total)) <= len(dens)
    # sparse layers follow (sum of dims) / (prod of dims)
    sparse = [n for n in dens if dens[n] < 1]
    assert sparse
    ratios = [dens[n] * sizes[n] / sum(shapes[n]) for n in sparse]
    np.testing.assert_allclose(ratios, ratios[0], rtol=1e-9)
    if input_shape == (4,):
        assert dens["fc1/kernel"] == 1.0 and dens["out/kernel"] == 1.0


def test_erk_hand_computed():
    params = {"a": {"kernel": jnp.zeros((2, 2))}, "b": {"kernel": jnp.zeros((10, 10))}}
    prunable = select.prunable(params)
    # raw: a (4/4 = 1), b (20/100 = 0.2); kept 0.5 * 104 = 52 = eps * (4 + 20) -> eps > 1,
    # so a is dense and b keeps 48 of 100
    dens = S.erk_densities(params, prunable, 0.5)
    assert dens == {"a/kernel": 1.0, "b/kernel": pytest.approx(0.48)}
    assert S.erk_densities(params, prunable, 1.0) == {"a/kernel": 1.0, "b/kernel": 1.0}
    with pytest.raises(LotteryError) as err:
        S.erk_densities(params, prunable, 0.0)
    assert err.value.field == "pai.density"


# BatchNorm models: data-driven scorers use batch statistics, SynFlow eval mode


class _WithBatchNorm(nn.Module):
    @nn.compact
    def __call__(self, x, train):
        x = nn.Dense(12, name="fc1")(x)
        x = nn.BatchNorm(use_running_average=not train, name="bn1")(x)
        return nn.Dense(3, name="out")(nn.relu(x))


def test_scorers_on_a_batchnorm_model():
    model = models.from_flax(_WithBatchNorm(), input_shape=(6,), num_classes=3, output_layer="out")
    shapes, state = jax.eval_shape(model.init, jax.random.key(0))
    rng = np.random.default_rng(0)
    params = jax.tree.map(lambda p: rng.standard_normal(p.shape).astype(np.float32), shapes)
    # running statistics far from the batch's: train and eval mode give different scores
    state = {
        "batch_stats": {
            "bn1": {"mean": np.full(12, 5.0, np.float32), "var": np.full(12, 0.01, np.float32)}
        }
    }
    x = rng.standard_normal((2, 8, 6)).astype(np.float32)
    y = rng.integers(0, 3, (2, 8)).astype(np.int32)
    ones = _ones(params)
    snip = _score(S.Snip(), model, params, state, ones, x, y)

    def train_loss(params):
        total = 0.0
        for b in range(2):
            logits, _ = model.apply(params, state, x[b], train=True)
            logp = jax.nn.log_softmax(logits)
            total = total - jnp.mean(jnp.take_along_axis(logp, y[b][:, None], axis=1))
        return total

    g = jax.jit(jax.grad(train_loss))(params)
    # over all leaves at once: the bias before BatchNorm has a zero gradient in exact
    # arithmetic, so its float32 values are rounding noise whose ratio means nothing
    a = np.concatenate([np.ravel(v) for v in jax.tree.leaves(snip)])
    want = jax.tree.map(lambda gg, w: np.abs(np.asarray(gg) * w), g, params)
    assert _rel(a, np.concatenate([np.ravel(v) for v in jax.tree.leaves(want)])) < 1e-5
    # SynFlow runs BatchNorm on its running statistics (abs'd), in both precisions
    s32 = _score(S.Synflow(), model, params, state, ones)
    s64 = _score(S.Synflow(float64=True), model, params, state, ones)
    a = np.concatenate([np.asarray(v).ravel() for v in jax.tree.leaves(s64)])
    b = np.concatenate([np.asarray(v).ravel() for v in jax.tree.leaves(s32)])
    assert np.all(np.isfinite(b)) and b.max() > 0
    assert _rel(a, b / b.max()) < 1e-5
    grasp = _score(S.Grasp(), model, params, state, ones, x, y)
    assert all(np.all(np.isfinite(v)) for v in jax.tree.leaves(grasp))
