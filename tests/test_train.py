"""Masked training: exact zeros, vmapped replicates, schedules, BatchNorm, NaN."""

import flax.linen as nn
import jax
import jax.numpy as jnp
import ml_collections
import numpy as np
import pytest

from lottery import data, masks, models, select
from lottery import train as train_lib
from lottery.errors import LotteryError
from lottery.prune import Target, prune
from lottery.schedules import make_schedule, parse_duration


def _dataset(n=600, d=12, classes=4, seed=0):
    rng = np.random.default_rng(seed)
    w = rng.normal(size=(d, classes))
    x = rng.normal(size=(n, d)).astype(np.float32)
    y = np.argmax(x @ w, -1).astype(np.int32)
    return data.from_arrays(x[:500], y[:500], x[500:], y[500:], num_classes=classes)


def _train_cfg(opt="adam", lr=1e-2, duration="100it", **opt_fields):
    cfg = ml_collections.ConfigDict(
        {
            "batch_size": 50,
            "duration": duration,
            "eval_batch_size": 1000,
            "optimizer": {
                "name": opt,
                "learning_rate": lr,
                "momentum": 0.9,
                "nesterov": False,
                "weight_decay": 0.0,
                "b1": 0.9,
                "b2": 0.999,
                "eps": 1e-8,
            },
            "schedule": {"name": "constant", "warmup": "0it", "milestones": (), "gamma": 0.1},
        }
    )
    cfg.optimizer.update(opt_fields)
    return cfg


def _setup(train_cfg, widths=(64, 32)):
    ds = _dataset()
    model = models.get("mlp", num_classes=4, input_shape=ds.input_shape, widths=widths)
    return train_lib.make_trainer(model, ds, train_cfg), ds


@pytest.mark.parametrize(
    "opt,fields",
    [
        ("adamw", {"weight_decay": 0.1}),
        ("adam", {"weight_decay": 1e-3}),
        ("sgd", {"momentum": 0.9, "weight_decay": 5e-4}),
        ("sgd", {"momentum": 0.9, "nesterov": True}),
    ],
)
def test_pruned_weights_stay_exactly_zero(opt, fields):
    trainer, ds = _setup(_train_cfg(opt, lr=0.05, **fields))
    key = jax.random.key(0)
    params, model_state = trainer.model.init(key)
    flags = select.prunable(params)
    # 10% density, chosen at random so that pruned weights start non-zero
    scores = jax.tree.map(lambda p: jax.random.uniform(jax.random.key(1), p.shape), params)
    mask = prune(scores, masks.ones(params), Target.density(0.1), prunable=flags)
    assert float(masks.density(mask, flags)) == pytest.approx(0.1, abs=1e-3)
    state = train_lib.state_from_params(trainer, params, model_state, mask)
    state, history = train_lib.fit(trainer, state, mask, ds, jax.random.key(2), progress=False)
    assert int(state.step) == 100
    for name, p0, p1, m, f in zip(
        select.path_list(params),
        jax.tree.leaves(params),
        jax.tree.leaves(state.params),
        jax.tree.leaves(mask),
        jax.tree.leaves(flags),
        strict=True,
    ):
        p0, p1, m = np.asarray(p0), np.asarray(p1), np.asarray(m)
        assert (p1[~m] == 0.0).all(), f"{name}: a pruned weight is not exactly 0.0"
        if f:  # kept weights on dead paths (no gradient, no decay) may rest
            assert (p1[m] != p0[m]).mean() > 0.1, f"{name}: kept weights did not move"
    # optimizer moments of pruned weights are exactly zero too
    moments = [
        s for s in jax.tree.leaves(state.opt_state) if s.shape == mask["fc1"]["kernel"].shape
    ]
    assert moments, "expected per-weight optimizer state"
    for mom in moments:
        assert (np.asarray(mom)[~np.asarray(mask["fc1"]["kernel"])] == 0.0).all()
    assert history[-1]["train_loss"] < np.log(4)  # learned something: below chance loss


def test_vmapped_replicates_equal_runs_alone():
    trainer, ds = _setup(_train_cfg("sgd", lr=0.05, duration="2ep"))
    keys = jax.random.split(jax.random.key(3), 2)
    data_keys = jax.random.split(jax.random.key(4), 2)
    states = jax.vmap(lambda k: train_lib.init_state(trainer, k))(keys)
    params0 = jax.tree.map(lambda a: a[0], states.params)
    flags = select.prunable(params0)
    # different masks per replicate: one dense-ish, one sparse
    mask_list = [
        prune(
            jax.tree.map(jnp.abs, params0), masks.ones(params0), Target.density(d), prunable=flags
        )
        for d in (0.8, 0.2)
    ]
    mask_stack = jax.tree.map(lambda *m: jnp.stack(m), *mask_list)
    states = jax.vmap(lambda p, s, m: train_lib.state_from_params(trainer, p, s, m))(
        states.params, states.model_state, mask_stack
    )
    final, history = train_lib.fit(
        trainer, states, mask_stack, ds, data_keys, replicated=True, progress=False
    )
    for r in range(2):
        alone = train_lib.init_state(trainer, keys[r], mask_list[r])
        alone, hist_alone = train_lib.fit(
            trainer, alone, mask_list[r], ds, data_keys[r], progress=False
        )
        for a, b in zip(jax.tree.leaves(alone.params), jax.tree.leaves(final.params), strict=True):
            # vmap batches the matmuls, so float sums may differ in the last bits
            np.testing.assert_allclose(np.asarray(a), np.asarray(b[r]), rtol=1e-5, atol=1e-6)
        assert hist_alone[-1]["test_accuracy"] == pytest.approx(
            history[-1]["test_accuracy"][r], abs=2e-3
        )


@pytest.mark.parametrize("stop", [20, 25, 33])  # 10 steps per epoch: on and off boundaries
def test_stop_and_resume_at_any_step_is_identical(stop):
    trainer, ds = _setup(_train_cfg("adam", lr=1e-2, duration="4ep"))
    key, data_key = jax.random.key(5), jax.random.key(6)
    full, full_hist = train_lib.fit(
        trainer, train_lib.init_state(trainer, key), None, ds, data_key, progress=False
    )
    part, _ = train_lib.fit(
        trainer, train_lib.init_state(trainer, key), None, ds, data_key, progress=False, until=stop
    )
    assert int(part.step) == stop
    resumed, hist = train_lib.fit(trainer, part, None, ds, data_key, progress=False)
    assert [h["epoch"] for h in hist] == [e for e in (1, 2, 3, 4) if e * 10 > stop]
    assert hist[-1]["test_accuracy"] == full_hist[-1]["test_accuracy"]
    for a, b in zip(jax.tree.leaves(full), jax.tree.leaves(resumed), strict=True):
        np.testing.assert_array_equal(np.asarray(a), np.asarray(b))


class _BNNet(nn.Module):
    @nn.compact
    def __call__(self, x, train: bool):
        x = nn.Dense(16, name="fc1")(x)
        x = nn.BatchNorm(use_running_average=not train, name="bn1")(x)
        return nn.Dense(4, name="out")(nn.relu(x))


def test_batchnorm_statistics_update_and_eval_mode():
    ds = _dataset()
    model = models.from_flax(_BNNet(), ds.input_shape, 4, "out")
    trainer = train_lib.make_trainer(model, ds, _train_cfg(duration="1ep"))
    state = train_lib.init_state(trainer, jax.random.key(0))
    before = np.asarray(state.model_state["batch_stats"]["bn1"]["mean"])  # fit donates state
    state, hist = train_lib.fit(trainer, state, None, ds, jax.random.key(1), progress=False)
    after = state.model_state["batch_stats"]["bn1"]["mean"]
    assert not np.allclose(np.asarray(before), np.asarray(after))
    assert 0.0 <= hist[-1]["test_accuracy"] <= 1.0


def test_nan_loss_is_one_clear_error():
    trainer, ds = _setup(_train_cfg("sgd", lr=1e30, duration="2ep"))
    state = train_lib.init_state(trainer, jax.random.key(0))
    with pytest.raises(LotteryError, match="train.optimizer.learning_rate: the training loss"):
        train_lib.fit(trainer, state, None, ds, jax.random.key(1), progress=False)


def test_durations_and_schedules():
    assert parse_duration("500it", 40) == 500
    assert parse_duration("2ep", 40) == 80
    with pytest.raises(LotteryError, match="train.duration"):
        parse_duration("2 epochs", 40)
    cfg = _train_cfg("sgd", lr=0.1)
    cfg.schedule.update({"name": "step", "milestones": ("2ep", "300it"), "gamma": 0.1})
    sched = make_schedule(cfg, 400, 100)
    assert float(sched(0)) == pytest.approx(0.1)
    assert float(sched(199)) == pytest.approx(0.1)
    assert float(sched(200)) == pytest.approx(0.01)
    assert float(sched(300)) == pytest.approx(0.001)
    cfg.schedule.update({"name": "cosine", "warmup": "100it"})
    sched = make_schedule(cfg, 400, 100)
    assert float(sched(0)) == 0.0
    assert float(sched(50)) == pytest.approx(0.05)
    assert float(sched(100)) == pytest.approx(0.1)
    assert float(sched(400)) == pytest.approx(0.0, abs=1e-6)
    cfg.schedule.warmup = "5ep"
    with pytest.raises(LotteryError, match="train.schedule.warmup"):
        make_schedule(cfg, 400, 100)


def test_batch_size_larger_than_dataset():
    ds = _dataset()
    model = models.get("mlp", num_classes=4, input_shape=ds.input_shape, widths=(8,))
    cfg = _train_cfg()
    cfg.batch_size = 10_000
    with pytest.raises(LotteryError, match=r"train.batch_size: must be in \[1, 500\]"):
        train_lib.make_trainer(model, ds, cfg)


def test_fit_rejects_a_mask_that_does_not_match():
    trainer, ds = _setup(_train_cfg(duration="1ep"))
    state = train_lib.init_state(trainer, jax.random.key(0))
    mask = masks.ones(state.params)
    mask["fc2"]["kernel"] = jnp.ones((3, 3), bool)
    with pytest.raises(LotteryError, match=r"mask/fc2/kernel: shape \(3, 3\) differs"):
        train_lib.fit(trainer, state, mask, ds, jax.random.key(1), progress=False)


def test_bfloat16_computes_in_bfloat16_and_keeps_float32_state():
    cfg = _train_cfg("adam", lr=1e-2, duration="60it")
    cfg.dtype = "bfloat16"
    trainer, ds = _setup(cfg)
    params, model_state = trainer.model.init(jax.random.key(0))
    flags = select.prunable(params)
    scores = jax.tree.map(lambda p: jax.random.uniform(jax.random.key(1), p.shape), params)
    mask = prune(scores, masks.ones(params), Target.density(0.3), prunable=flags)
    state = train_lib.state_from_params(trainer, params, model_state, mask)
    x, y = jnp.asarray(ds.x_train[:50]), jnp.asarray(ds.y_train[:50])
    jaxpr = str(jax.make_jaxpr(lambda s: train_lib.train_step(trainer, s, mask, x, y))(state))
    assert "dot_general" in jaxpr and "bf16[50,64]" in jaxpr  # the first layer's output
    state, history = train_lib.fit(trainer, state, mask, ds, jax.random.key(2), progress=False)
    for leaf in jax.tree.leaves((state.params, state.opt_state)):
        assert leaf.dtype in (jnp.float32, jnp.int32), leaf.dtype  # params and moments
    for p, m in zip(jax.tree.leaves(state.params), jax.tree.leaves(mask), strict=True):
        assert m.dtype == jnp.bool_ and (np.asarray(p)[~np.asarray(m)] == 0.0).all()
    assert history[-1]["train_loss"] < 0.5 * np.log(4)


@pytest.mark.slow  # 30 s; the bfloat16 dtype checks above stay in the default run
def test_bfloat16_cnn_reaches_float32_accuracy_within_one_point(tmp_path):
    """The MNIST-1D CNN, 4 replicates, 20 epochs (800 steps): mean test accuracy
    in bfloat16 within 1 point of float32 (the full 6000-step figure is in
    benchmarks/results-cpu.md)."""
    from pathlib import Path

    from lottery import config, experiment

    accuracy = {}
    for dtype in ("float32", "bfloat16"):
        cfg = config.load(Path(__file__).resolve().parent.parent / "configs/mnist1d_cnn.py")
        cfg.replicates = 4
        cfg.train.duration = "20ep"
        cfg.train.dtype = dtype
        accuracy[dtype] = experiment.run_train(cfg, tmp_path, progress=False)["test_accuracy"]
    assert accuracy["float32"] > 0.85
    assert abs(accuracy["bfloat16"] - accuracy["float32"]) <= 0.01, accuracy
