"""IMP: controls match the ticket's counts, rewinding modes, rewind weights, bad input,
damaged checkpoints. Resume after SIGKILL is in test_imp_resume.py."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import jax
import jax.numpy as jnp
import numpy as np
import pytest
from tiny_configs import tiny_mlp, with_fields

from lottery import checkpoint, config, controls, experiment, imp, imp_files, masks, runs, select
from lottery import train as train_lib
from lottery.errors import LotteryError
from lottery.prune import Target, prune


def tiny(**fields) -> config.ml_collections.ConfigDict:
    """A 3-level IMP run on 800 MNIST-1D examples that takes a few seconds."""
    cfg = tiny_mlp("tiny_imp", "imp")
    cfg.train.duration = "4ep"
    cfg.train.eval_every = 2
    cfg.imp.levels = 3
    cfg.imp.rates.out = 0.5
    cfg.imp.checkpoint_every = "1ep"
    cfg.imp.controls = ("reinit", "random_prune", "shuffle", "invert")
    return with_fields(cfg, fields)


def _templates(cfg):
    trainer, _ = experiment.build(cfg)
    t = imp_files.templates(trainer)
    return trainer, t.weights, t.mask


def _load(run: Path, r: int, level: int, branch: str, item: str, template):
    folder = imp.branch_dir(imp.level_dir(run, r, level), branch)
    return checkpoint.restore_tree(folder / item, template)


def _counts(mask, prunable):
    return [int(np.sum(m)) for m, f in zip(jax.tree.leaves(mask), prunable, strict=True) if f]


@pytest.fixture(scope="module")
def four_controls(tmp_path_factory):
    workdir = tmp_path_factory.mktemp("imp")
    cfg = tiny()
    summary = imp.run_imp(cfg, workdir, progress=False)
    return cfg, summary, Path(summary["run_dir"])


def test_summary_and_layout(four_controls):
    cfg, summary, run = four_controls
    assert summary["kind"] == "imp" and summary["complete"]
    assert [lv["level"] for lv in summary["levels"]] == [0, 1, 2]
    assert summary["levels"][0]["density"] == 1.0
    # 20% of the hidden kernels (1792), 10% of the output kernel (160) per level
    assert 0.78 < summary["levels"][1]["density"] < 0.83
    for level in summary["levels"][1:]:
        assert set(cfg.imp.controls) <= set(level)
        for branch in imp.Plan.branches.fget(_plan(cfg)):
            assert len(level[branch]["per_replicate"]) == 2
            assert 0.1 < level[branch]["mean"] <= 1.0
    assert (run / "config.json").is_file() and not (run / "lock").exists()
    assert not (run / "resume").exists()
    for r in range(2):
        level0 = imp.level_dir(run, r, 0)
        assert {p.name for p in level0.iterdir()} == {
            "mask",
            "init",
            "rewind",
            "final",
            "metrics.json",
        }
        level1 = imp.level_dir(run, r, 1)
        assert (level1 / "branch_reinit" / "metrics.json").is_file()
        assert not imp.level_dir(run, r, 1, staged=True).exists()
    on_disk = runs.read_json(run / "summary.json")
    assert on_disk["levels"] == summary["levels"]


def _plan(cfg):
    trainer, _ = experiment.build(cfg)
    return imp.plan(cfg, trainer)


def test_controls_have_the_tickets_per_layer_counts(four_controls):
    cfg, summary, run = four_controls
    trainer, _, mask_t = _templates(cfg)
    flags = jax.tree.leaves(imp.plan(cfg, trainer).prunable)
    for level in (1, 2):
        for r in range(2):
            ticket = _load(run, r, level, "ticket", "mask", mask_t)
            want = _counts(ticket, flags)
            for name in cfg.imp.controls:
                control = _load(run, r, level, name, "mask", mask_t)
                assert _counts(control, flags) == want, (level, r, name)
                if name != "reinit":  # positions change; reinit keeps the ticket's mask
                    moved = sum(
                        int(np.sum(a != b))
                        for a, b in zip(
                            jax.tree.leaves(ticket), jax.tree.leaves(control), strict=True
                        )
                    )
                    assert moved > 0, (level, r, name)
                else:
                    assert jax.tree.all(jax.tree.map(np.array_equal, ticket, control))


def test_shuffle_and_invert_start_from_the_tickets_weights(four_controls):
    cfg, _, run = four_controls
    _, weights_t, _ = _templates(cfg)
    ticket = _load(run, 0, 2, "ticket", "init", weights_t)["params"]
    rewind = _load(run, 0, 0, "ticket", "rewind", weights_t)["params"]
    for name in ("shuffle", "invert"):
        start = _load(run, 0, 2, name, "init", weights_t)["params"]
        kept = jax.tree.map(lambda s: s != 0, start)
        # every kept weight holds the rewind value: the ticket's own initialization
        same = jax.tree.map(lambda s, w, k: bool(np.all(s[k] == w[k])), start, rewind, kept)
        assert all(jax.tree.leaves(same)), name
    reinit = _load(run, 0, 2, "reinit", "init", weights_t)["params"]
    assert not np.array_equal(reinit["fc1"]["kernel"], ticket["fc1"]["kernel"])


def test_invert_keeps_the_smallest_magnitudes(four_controls):
    cfg, _, run = four_controls
    trainer, weights_t, mask_t = _templates(cfg)
    prev_mask = _load(run, 1, 1, "ticket", "mask", mask_t)
    trained = _load(run, 1, 1, "ticket", "final", weights_t)["params"]
    inv = _load(run, 1, 2, "invert", "mask", mask_t)
    ticket = _load(run, 1, 2, "ticket", "mask", mask_t)
    w = np.abs(np.asarray(trained["fc1"]["kernel"]))
    live = np.asarray(prev_mask["fc1"]["kernel"])
    kept_inv, kept_ticket = np.asarray(inv["fc1"]["kernel"]), np.asarray(ticket["fc1"]["kernel"])
    assert kept_inv.sum() == kept_ticket.sum()
    assert not np.any(kept_inv & ~live)  # nothing revived
    assert w[kept_inv].max() <= w[live & ~kept_inv].min()  # the lowest magnitudes kept
    assert w[kept_ticket].min() >= w[live & ~kept_ticket].max()  # the ticket: the highest


def test_controls_unit_exact_counts_and_no_revival():
    params = {
        "a": {"kernel": jax.random.normal(jax.random.key(1), (30, 20))},
        "b": {"kernel": jax.random.normal(jax.random.key(2), (20, 5)), "bias": jnp.ones(5)},
    }
    prunable = select.prunable(params)
    noise = jax.tree.map(lambda p: jax.random.uniform(jax.random.key(3), p.shape), params)
    prev = prune(
        noise,
        masks.ones(params),
        Target.density(0.5),
        prunable=prunable,
    )
    ticket = prune(jax.tree.map(jnp.abs, params), prev, Target.remove(0.3), prunable=prunable)
    start = {"params": params, "model_state": {}}
    for i, (name, fn) in enumerate(controls.CONTROLS.items()):
        ctx = controls.Context(ticket, prev, params, start, jax.random.key(10 + i))
        model = _FakeModel(params)
        mask, _ = fn(ctx, model, prunable)
        assert _counts(mask, jax.tree.leaves(prunable)) == _counts(
            ticket, jax.tree.leaves(prunable)
        )
        assert bool(jnp.all(mask["b"]["bias"]))  # non-prunable leaves untouched
        if name == "invert":
            assert not any(
                bool(jnp.any(m & ~p))
                for m, p in zip(jax.tree.leaves(mask), jax.tree.leaves(prev), strict=True)
            )


class _FakeModel:
    def __init__(self, params):
        self.params = params

    def init(self, key):
        return jax.tree.map(lambda p: jax.random.normal(key, p.shape), self.params), {}


@pytest.mark.parametrize("rewind", ["1ep", "lr", "finetune"])
def test_rewinding_modes_run_end_to_end(tmp_path, rewind):
    cfg = tiny(imp__rewind=rewind, imp__levels=2, imp__controls=("reinit",), replicates=1)
    summary = imp.run_imp(cfg, tmp_path, progress=False)
    assert summary["complete"] and summary["rewind"] == rewind
    run = Path(summary["run_dir"])
    trainer, weights_t, mask_t = _templates(cfg)
    mask1 = _load(run, 0, 1, "ticket", "mask", mask_t)
    start1 = _load(run, 0, 1, "ticket", "init", weights_t)
    if rewind == "1ep":
        source = _load(run, 0, 0, "ticket", "rewind", weights_t)
        first_step = trainer.steps_per_epoch
    else:  # learning-rate rewinding and fine-tuning keep the trained weights
        source = _load(run, 0, 0, "ticket", "final", weights_t)
        first_step = 0
    assert jax.tree.all(
        jax.tree.map(np.array_equal, start1["params"], masks.apply(source["params"], mask1))
    )
    metrics = runs.read_json(imp.level_dir(run, 0, 1) / "metrics.json")
    assert metrics["steps"] == trainer.total_steps
    assert [h["step"] for h in metrics["history"]] == [32, 64]  # evaluations at epochs 2 and 4
    assert first_step in (0, trainer.steps_per_epoch)
    assert 0.2 < summary["levels"][1]["ticket"]["mean"] <= 1.0


@pytest.mark.parametrize(
    ("rewind", "expected_lr"), [("init", 0.1), ("lr", 0.1), ("2ep", 0.01), ("finetune", 0.001)]
)
def test_retraining_learning_rate(rewind, expected_lr):
    """Levels >= 1 start with a fresh optimizer and the schedule at the rewind point:
    step k for weight rewinding, 0 for learning-rate rewinding, and the final
    learning rate for fine-tuning (a step schedule 0.1 -> 0.01 at 1ep -> 0.001 at 3ep)."""
    cfg = tiny(imp__rewind=rewind)
    cfg.train.optimizer.name = "sgd"
    cfg.train.optimizer.momentum = 0.0
    cfg.train.optimizer.learning_rate = 0.1
    cfg.train.schedule.name = "step"
    cfg.train.schedule.milestones = ("1ep", "3ep")
    trainer, _ = experiment.build(cfg)
    retrain = imp.retrain_trainer(trainer, cfg, imp.plan(cfg, trainer))
    w = {"w": jnp.zeros(())}
    updates, _ = retrain.optimizer.update({"w": jnp.ones(())}, retrain.optimizer.init(w), w)
    assert float(updates["w"]) == pytest.approx(-expected_lr)


def test_rewind_point_equals_the_dense_run_at_that_step(tmp_path):
    cfg = tiny(imp__rewind="1ep", imp__levels=1, imp__checkpoint_every="3ep")
    summary = imp.run_imp(cfg, tmp_path, progress=False)
    run = Path(summary["run_dir"])
    trainer, dataset = experiment.build(cfg)
    keys = experiment.replicate_keys(cfg.seed, cfg.replicates)
    state = jax.vmap(lambda k: train_lib.init_state(trainer, k))(keys["init"])
    ones = jax.vmap(masks.ones)(state.params)
    k = trainer.steps_per_epoch
    state, _ = train_lib.fit(
        trainer, state, ones, dataset, keys["data"], replicated=True, progress=False, until=k
    )
    _, weights_t, _ = _templates(cfg)
    for r in range(cfg.replicates):
        saved = _load(run, r, 0, "ticket", "rewind", weights_t)["params"]
        dense = jax.tree.map(lambda a, r=r: np.asarray(a[r]), state.params)
        assert jax.tree.all(jax.tree.map(np.array_equal, saved, dense))
        init = _load(run, r, 0, "ticket", "init", weights_t)["params"]
        assert not np.array_equal(init["fc1"]["kernel"], saved["fc1"]["kernel"])


def test_target_density_sets_the_number_of_levels():
    cfg = tiny(imp__target_density=0.5)
    p = _plan(cfg)
    assert p.densities[-1] <= 0.5 < p.densities[-2]
    assert p.levels == len(p.densities) == 5  # 1, 0.81, 0.65, 0.53, then 0.43 <= 0.5


@pytest.mark.parametrize(
    ("field", "value", "message"),
    [
        ("imp__fraction", 1.5, "imp.fraction: must be in (0, 1)"),
        ("imp__scope", "everywhere", "imp.scope: unknown scope 'everywhere'"),
        ("imp__controls", ("reinit", "bogus"), "imp.controls: unknown control 'bogus'"),
        ("imp__controls", ("reinit", "reinit"), "imp.controls: lists a control twice"),
        ("imp__rewind", "9ep", "imp.rewind: rewind step 144 is not before the end"),
        ("imp__rewind", "sometime", "imp.rewind: must be one of init, lr, finetune"),
        ("imp__levels", 0, "imp.levels: must be a positive integer"),
        ("imp__target_density", 1.0, "imp.target_density: must be in (0, 1)"),
        ("imp__exclude", ("nothing",), "imp.exclude: 'nothing' matches no parameter"),
        ("kind", "sweep", "kind: unknown kind 'sweep'; allowed: train, imp"),
    ],
)
def test_bad_imp_config_writes_nothing(tmp_path, field, value, message):
    cfg = tiny(**{field: value})
    with pytest.raises(LotteryError) as err:
        imp.run_imp(cfg, tmp_path, progress=False)
    assert message in str(err.value) and "\n" not in str(err.value)
    assert list(tmp_path.iterdir()) == []


def test_unknown_rate_layer_is_named(tmp_path):
    cfg = tiny()
    cfg.imp.rates.fc9 = 0.5
    with pytest.raises(LotteryError, match="imp.rates.fc9: matches no prunable parameter"):
        imp.run_imp(cfg, tmp_path, progress=False)
    assert list(tmp_path.iterdir()) == []


def _largest_file(folder: Path) -> Path:
    return max((p for p in folder.rglob("*") if p.is_file()), key=lambda p: p.stat().st_size)


def _stopped_after_level_0(tmp_path):
    """Returns ``(cfg, run)`` of a 2-level run made to look stopped after level 0."""
    cfg = tiny(imp__levels=2, imp__controls=(), replicates=1)
    run = Path(imp.run_imp(cfg, tmp_path, progress=False)["run_dir"])
    shutil.rmtree(imp.level_dir(run, 0, 1))
    (run / "summary.json").unlink()
    return cfg, run


@pytest.mark.faults
def test_damaged_finished_level_names_the_file(tmp_path):
    cfg, run = _stopped_after_level_0(tmp_path)  # and level 0's trained weights damaged
    damaged = _largest_file(imp.level_dir(run, 0, 0) / "final")
    damaged.write_bytes(damaged.read_bytes()[: damaged.stat().st_size // 2])
    with pytest.raises(LotteryError) as err:
        imp.run_imp(cfg, tmp_path, progress=False)
    assert str(imp.level_dir(run, 0, 0) / "final") in str(err.value)
    assert not (run / "lock").exists()


@pytest.mark.faults
def test_deleted_checkpoint_names_the_folder(tmp_path):
    cfg, run = _stopped_after_level_0(tmp_path)
    shutil.rmtree(imp.level_dir(run, 0, 0) / "mask")
    with pytest.raises(LotteryError, match="no such checkpoint directory") as err:
        imp.run_imp(cfg, tmp_path, progress=False)
    assert str(imp.level_dir(run, 0, 0) / "mask") in str(err.value)


def test_finished_run_is_not_trained_again(four_controls, monkeypatch):
    cfg, summary, _ = four_controls
    monkeypatch.setattr(imp, "_run_level", lambda *a: pytest.fail("trained again"))
    again = imp.run_imp(cfg, Path(summary["run_dir"]).parent, progress=False)
    assert again["levels"] == summary["levels"]


def test_report_command_writes_table_and_plots(four_controls, capsys):
    from lottery import cli

    _, summary, run = four_controls
    assert cli.main(["report", str(run), "--json"]) == 0
    out = capsys.readouterr().out
    assert "random_prune" in out and "density %" in out
    rows = json.loads(out.strip().splitlines()[-1])
    assert [row["level"] for row in rows] == [0, 1, 2]
    for name in ("table.csv", "table.json", "accuracy_vs_density.png", "layer_density.png"):
        assert (run / "report" / name).stat().st_size > 0
    assert cli.main(["report", str(run / "nowhere")]) == 2
    assert "summary.json: no such file" in capsys.readouterr().err
