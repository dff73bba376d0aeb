"""Pruning-at-initialization sweeps: results, ablations, diagnostics, bad input, resume."""

from __future__ import annotations

import subprocess
from pathlib import Path

import jax
import numpy as np
import pytest
from subprocess_runs import chunk_steps, command, kill_when

from lottery import checkpoint, config, experiment, imp_files, pai, runs
from lottery.errors import LotteryError

CONFIG = """
from lottery.config import base


def get_config():
    cfg = base()
    cfg.name = "tiny_pai"
    cfg.kind = "pai"
    cfg.replicates = 2
    cfg.model.name = "mlp"
    cfg.model.widths = (32, 16)
    cfg.data.name = "mnist1d"
    cfg.data.num_samples = 1000
    cfg.train.batch_size = 50
    cfg.train.duration = "3ep"
    cfg.train.eval_every = 3
    cfg.train.optimizer.learning_rate = 3e-3
    cfg.pai.methods = {methods}
    cfg.pai.densities = (0.3, 0.03)
    cfg.pai.iterations.synflow = 10
    cfg.pai.ablations = {ablations}
    cfg.pai.checkpoint_every = "1ep"
    return cfg
"""
ALL = ("random", "magnitude", "snip", "grasp", "synflow")


def _config(folder: Path, methods=ALL, ablations=("shuffle", "reinit", "invert")) -> Path:
    path = folder / "tiny_pai.py"
    path.write_text(CONFIG.format(methods=tuple(methods), ablations=tuple(ablations)))
    return path


@pytest.fixture(scope="module")
def sweep(tmp_path_factory):
    folder = tmp_path_factory.mktemp("pai")
    cfg = config.load(_config(folder))
    summary = pai.run_pai(cfg, folder / "runs", progress=False)
    return cfg, summary, Path(summary["run_dir"])


def _mask(run, r, method, i, ablation, template):
    return checkpoint.restore_tree(pai.unit_dir(run, r, method, i, ablation) / "mask", template)


def test_summary_has_every_method_and_density(sweep):
    cfg, summary, run = sweep
    assert summary["kind"] == "pai" and summary["complete"]
    got = [(r["method"], r["density"]) for r in summary["results"]]
    assert got == [(m, d) for m in ALL for d in (0.3, 0.03)]
    for res in summary["results"]:
        assert abs(res["direct_density"] - res["density"]) < 1e-3
        assert 0 <= res["effective_density"] <= res["direct_density"] + 1e-9
        assert set(res["ablations"]) == {"shuffle", "reinit", "invert"}
        assert len(res["accuracy_per_replicate"]) == 2
    random_sparse = summary["results"][1]
    synflow_sparse = summary["results"][-1]
    # Vysogorets & Kempe: random pruning disconnects weights, SynFlow keeps them connected
    assert random_sparse["effective_density"] < 0.5 * random_sparse["direct_density"]
    assert synflow_sparse["effective_density"] > 0.8 * synflow_sparse["direct_density"]


def test_shuffle_keeps_counts_reinit_keeps_mask(sweep):
    cfg, _, run = sweep
    trainer, _ = experiment.build(cfg)
    t = imp_files.templates(trainer)
    flags = jax.tree.leaves(pai.sweep_plan(cfg, trainer).prunable)
    for method in ALL:
        for i in (0, 1):
            for r in (0, 1):
                mask = _mask(run, r, method, i, None, t.mask)
                shuffled = _mask(run, r, method, i, "shuffle", t.mask)
                pairs = zip(jax.tree.leaves(mask), jax.tree.leaves(shuffled), flags, strict=True)
                assert all(a.sum() == b.sum() for a, b, f in pairs if f)
                assert any(
                    not np.array_equal(a, b)
                    for a, b in zip(jax.tree.leaves(mask), jax.tree.leaves(shuffled), strict=True)
                )
                reinit = _mask(run, r, method, i, "reinit", t.mask)
                assert jax.tree.all(jax.tree.map(np.array_equal, mask, reinit))


def test_methods_share_the_initial_weights(sweep):
    cfg, _, run = sweep
    trainer, _ = experiment.build(cfg)
    t = imp_files.templates(trainer)

    def init(method, ablation=None):
        folder = pai.unit_dir(run, 0, method, 0, ablation)  # density 0.3
        return checkpoint.restore_tree(folder / "init", t.weights)["params"]["fc1"]["kernel"]

    snip, grasp = init("snip"), init("grasp")
    both = (snip != 0) & (grasp != 0)
    assert both.any() and np.array_equal(snip[both], grasp[both])
    fresh = init("snip", "reinit")
    kept = fresh != 0
    assert not np.array_equal(fresh[kept], snip[kept])


def test_random_erk_keeps_the_erk_counts(tmp_path):
    cfg = config.load(_config(tmp_path, methods=("random_erk",), ablations=("invert",)))
    config.override(cfg, "pai.densities", "(0.1,)")
    summary = pai.run_pai(cfg, tmp_path / "runs", progress=False)
    run = Path(summary["run_dir"])
    trainer, _ = experiment.build(cfg)
    t = imp_files.templates(trainer)
    prunable = pai.sweep_plan(cfg, trainer).prunable
    want = jax.tree.leaves(pai.erk_counts(t.weights["params"], prunable, 0.1))
    for r in (0, 1):
        for ablation in (None, "invert"):
            mask = _mask(run, r, "random_erk", 0, ablation, t.mask)
            got = [int(m.sum()) for m, w in zip(jax.tree.leaves(mask), want, strict=True) if w >= 0]
            assert got == [int(w) for w in want if w >= 0]
    # ERK is not uniform: the small output layer is kept denser than the 40x32 input layer
    layers = summary["results"][0]["layer_density"]
    assert layers["out/kernel"] > layers["fc1/kernel"]
    assert abs(summary["results"][0]["direct_density"] - 0.1) < 0.01


@pytest.mark.parametrize(
    ("field", "value", "message"),
    [
        ("pai.methods", "('snip', 'nope')", "pai.method: unknown method 'nope'"),
        ("pai.densities", "(0.5, 1.5)", "pai.densities: every density must be in (0, 1]"),
        ("pai.ablations", "('flip',)", "pai.ablations: unknown ablation 'flip'"),
        ("pai.scope", "'nowhere'", "pai.scope: unknown scope 'nowhere'"),
        ("pai.samples_per_class", "0", "pai.samples_per_class: must be a positive integer"),
        ("pai.samples_per_class", "500", "pai.samples_per_class: class 0 has"),
        ("pai.temperature", "-1.0", "pai.temperature"),
    ],
)
def test_bad_sweep_config_writes_nothing(tmp_path, field, value, message):
    cfg = config.load(_config(tmp_path))
    config.override(cfg, field, value)
    with pytest.raises(LotteryError) as err:
        pai.run_pai(cfg, tmp_path / "runs", progress=False)
    assert message in str(err.value) and "\n" not in str(err.value)
    assert not (tmp_path / "runs").exists()


@pytest.mark.slow  # about 100 s; the IMP SIGKILL test covers resume in the default run
def test_sigkill_mid_sweep_then_rerun_equals_uninterrupted(tmp_path, sweep):
    """Killed while training GraSP (both densities and every ablation in one
    program); the rerun matches exactly."""
    _, reference, ref_run = sweep
    config_path = _config(tmp_path)
    cfg = config.load(config_path)
    workdir = tmp_path / "runs"
    run = runs.run_dir(workdir, cfg)
    resume = run / "resume" / "grasp"
    kill_when(command(config_path, workdir), lambda: any(chunk_steps(resume).values()))
    assert not (pai.unit_dir(run, 0, "grasp", 1, None) / "metrics.json").exists()
    done = subprocess.run(command(config_path, workdir), capture_output=True, text=True)
    assert done.returncode == 0, done.stderr[-2000:]
    summary = runs.read_json(run / "summary.json")
    assert summary["results"] == reference["results"]
    trainer, _ = experiment.build(cfg)
    t = imp_files.templates(trainer)
    for method in ALL:
        for ablation in (None, "shuffle", "reinit", "invert"):
            for r in (0, 1):
                a = pai.unit_dir(ref_run, r, method, 1, ablation)
                b = pai.unit_dir(run, r, method, 1, ablation)
                ma, mb = runs.read_json(a / "metrics.json"), runs.read_json(b / "metrics.json")
                ma.pop("seconds"), mb.pop("seconds")
                assert ma == mb
                wa = checkpoint.restore_tree(a / "final", t.weights)
                wb = checkpoint.restore_tree(b / "final", t.weights)
                assert jax.tree.all(jax.tree.map(np.array_equal, wa, wb))
    assert not (run / "lock").exists() and not (run / "resume").exists()
