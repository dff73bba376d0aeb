"""Numerical faults: a network whose loss becomes NaN is marked diverged, and the
other networks of its vmapped program finish as when trained without it (bit for
bit) and as when trained alone (to float32 rounding; bit for bit on some CPUs)."""

from __future__ import annotations

import contextlib
import dataclasses
import io

import jax
import numpy as np
import pytest
from float_compare import assert_close, trees_close
from tiny_configs import tiny_mlp

from lottery import checkpoint, experiment, imp, imp_files, report, runs, train
from lottery.errors import LotteryError

pytestmark = pytest.mark.faults


def _cfg(replicates: int):
    cfg = tiny_mlp("diverge", "imp")
    cfg.replicates = replicates
    cfg.train.duration = "3ep"
    cfg.imp.levels = 3
    cfg.imp.controls = ("reinit",)
    return cfg


def test_fit_marks_the_nan_replicate_and_leaves_the_other_unchanged():
    trainer, dataset = experiment.build(_cfg(2))
    keys = jax.random.split(jax.random.key(0), 2)

    def states():  # fit donates its input state: a fresh one per call
        return jax.vmap(lambda k: train.init_state(trainer, k))(keys)

    fresh = states()
    scaled = jax.tree.map(lambda a: a.at[1].multiply(1e30), fresh.params)
    poisoned = dataclasses.replace(fresh, params=scaled)
    data_keys = jax.random.split(jax.random.key(1), 2)
    seen = []
    both, hist = train.fit(
        trainer, poisoned, None, dataset, data_keys, replicated=True, progress=False,
        on_diverged=lambda r, epoch: seen.append((r, epoch)),
    )  # fmt: skip
    assert seen == [(1, 1)]  # once, in the first epoch
    clean, clean_hist = train.fit(
        trainer, states(), None, dataset, data_keys, replicated=True, progress=False
    )
    alone, alone_hist = train.fit(
        trainer, jax.tree.map(lambda a: a[:1], states()), None, dataset, data_keys[:1],
        replicated=True, progress=False,
    )  # fmt: skip
    first = lambda t: jax.tree.map(lambda a: np.asarray(a[0]), t)  # noqa: E731
    # the same program without the NaN network: bit for bit
    assert jax.tree.all(jax.tree.map(np.array_equal, first(both.params), first(clean.params)))
    assert [r["test_accuracy"][0] for r in hist] == [r["test_accuracy"][0] for r in clean_hist]
    # alone (a one-network program): bit for bit on some CPUs, to float32 rounding on all
    assert trees_close(first(both.params), first(alone.params))
    assert_close([r["test_loss"][0] for r in hist], [r["test_loss"][0] for r in alone_hist])
    assert not np.isfinite(np.asarray(jax.tree.leaves(both.params)[0][1])).all()
    again = states()
    scaled = jax.tree.map(lambda a: a.at[1].multiply(1e30), again.params)
    poisoned = dataclasses.replace(again, params=scaled)
    with pytest.raises(LotteryError, match="train.optimizer.learning_rate: the training loss"):
        train.fit(trainer, poisoned, None, dataset, data_keys, replicated=True, progress=False)


@pytest.fixture(scope="module")
def runs_pair(tmp_path_factory):
    """Returns ``(alone, clean, poisoned, stderr)``: replicate 0 trained alone;
    two replicates; the same two whose replicate 1 starts level 1 from weights
    scaled by 1e30."""
    folder = tmp_path_factory.mktemp("diverge")
    alone = imp.run_imp(_cfg(1), folder / "alone", progress=False)
    clean = imp.run_imp(_cfg(2), folder / "clean", progress=False)
    real = imp._level_inputs

    def poison(ctx, level):
        out = real(ctx, level)
        if level == 1:
            mask, start, trainer = out["ticket"]
            start = jax.tree.map(lambda a: a.at[1].multiply(1e30) if a.ndim else a, start)
            out["ticket"] = (mask, start, trainer)
        return out

    mp = pytest.MonkeyPatch()
    mp.setattr(imp, "_level_inputs", poison)
    err = io.StringIO()
    with contextlib.redirect_stderr(err):
        poisoned = imp.run_imp(_cfg(2), folder / "poisoned", progress=False)
    mp.undo()
    return alone, clean, poisoned, err.getvalue()


def test_the_diverged_replicate_is_marked_in_metrics_summary_and_report(runs_pair):
    _, _, poisoned, err = runs_pair
    run = poisoned["run_dir"]
    rec = runs.read_json(imp.branch_dir(imp.level_dir(run, 1, 1), "ticket") / "metrics.json")
    assert rec["diverged"] and rec["diverged_epoch"] == 1
    assert rec["test_accuracy"] is None
    one, two = poisoned["levels"][1], poisoned["levels"][2]
    assert one["ticket"]["diverged"] == [1] and one["reinit"]["diverged"] == []
    assert two["ticket"]["after_divergence"] == [1] and two["ticket"]["diverged"] == []
    assert one["ticket"]["mean"] == one["ticket"]["per_replicate"][0]
    assert poisoned["complete"]
    assert err.count("marked diverged") == 1 and "level 1, branch ticket, ticket.r1" in err
    table = report.format_table(poisoned)
    assert "(1 diverged)" in table.splitlines()[2] and "(1 diverged)" in table.splitlines()[3]


def test_the_other_replicate_finishes_as_without_the_nan_one_and_as_alone(runs_pair):
    alone, clean, poisoned, _ = runs_pair
    trainer, _ = experiment.build(_cfg(1))
    t = imp_files.templates(trainer)
    compared = 0
    for level in range(3):
        for name in ("ticket", "reinit") if level else ("ticket",):
            folders = [
                imp.branch_dir(imp.level_dir(s["run_dir"], 0, level), name)
                for s in (poisoned, clean, alone)
            ]
            p, c, a = (runs.read_json(f / "metrics.json") for f in folders)
            for rec in (p, c, a):
                rec.pop("seconds")
            assert p == c, (level, name)  # the same program: bit for bit
            assert_close(p, a, (level, name))  # alone: to float32 rounding
            for item, template in (("mask", t.mask), ("final", t.weights)):
                tp, tc, ta = (checkpoint.restore_tree(f / item, template) for f in folders)
                assert jax.tree.all(jax.tree.map(np.array_equal, tp, tc)), (level, name, item)
                assert trees_close(tp, ta), (level, name, item)
            compared += 1
    assert compared == 5
