"""The command line: a tiny real run, and malformed invocations that fail cleanly."""

import json
import os
import subprocess
import sys

import jax
import jax.numpy as jnp
import pytest

from lottery import cli, experiment, imp_plan, select
from lottery import config as config_lib
from lottery.data import synthetic
from lottery.prune import Target, prune

MLP = "configs/mnist1d_mlp.py"
FAST = ["--config.train.duration=2ep", "--no-progress"]


def test_broken_config_file(tmp_path, capsys):
    bad = tmp_path / "bad.py"
    bad.write_text("from lottery.config import base\ndef get_config():\n    return base(\n")
    status = cli.main(["run", str(bad), "--workdir", str(tmp_path / "runs")])
    err = capsys.readouterr().err.strip().splitlines()
    assert status == 2 and len(err) == 1 and "config: cannot load" in err[0]
    assert not (tmp_path / "runs").exists()


def test_run_writes_config_metrics_summary(tmp_path, capsys):
    workdir = tmp_path / "runs"
    args = ["run", MLP, *FAST, "--config.replicates=2", "--workdir", str(workdir), "--json"]
    assert cli.main(args) == 0
    out = capsys.readouterr().out.strip().splitlines()
    summary = json.loads(out[-1])
    run_dir = workdir / os.path.basename(summary["run_dir"])
    assert sorted(os.listdir(workdir)) == [run_dir.name]
    assert sorted(os.listdir(run_dir)) == ["config.json", "metrics.jsonl", "summary.json"]
    assert json.loads((run_dir / "summary.json").read_text()) == summary
    assert summary["kind"] == "train" and summary["replicates"] == 2
    assert len(summary["test_accuracy_per_replicate"]) == 2
    assert 0.1 < summary["test_accuracy"] <= 1.0 and summary["wall_seconds"] > 0
    config = json.loads((run_dir / "config.json").read_text())
    assert config["train"]["duration"] == "2ep" and config["replicates"] == 2
    lines = (run_dir / "metrics.jsonl").read_text().splitlines()
    assert json.loads(lines[-1])["epoch"] == 2
    # a finished run is not run again
    assert cli.main(args) == 0
    assert json.loads(capsys.readouterr().out.strip().splitlines()[-1]) == summary


def test_console_script_bad_input_exits_nonzero(tmp_path):
    proc = subprocess.run(
        [
            sys.executable,
            "-m",
            "lottery",
            "run",
            MLP,
            "--config.train.optimizer.name=rmsprop",
            "--workdir",
            str(tmp_path / "runs"),
        ],
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert proc.returncode == 2
    lines = proc.stderr.strip().splitlines()
    assert lines == [
        "lottery: error: train.optimizer.name: unknown optimizer 'rmsprop'; "
        "allowed: adam, adamw, sgd"
    ]
    assert not (tmp_path / "runs").exists()


# ------------------------------------------------------------------ --synthetic

TINY = """from lottery.config import base


def get_config():
    cfg = base()
    cfg.name = "tiny"
    cfg.model.widths = (16,)
    cfg.data.name = {data!r}
    cfg.train.batch_size = 50
    cfg.train.duration = "2ep"
    return cfg
"""


def _tiny(tmp_path, data="mnist"):
    path = tmp_path / "tiny.py"
    path.write_text(TINY.format(data=data))
    return str(path)


def test_synthetic_run_end_to_end(tmp_path, capsys):
    workdir = tmp_path / "runs"
    sizes = ["--config.data.num_train=500", "--config.data.num_test=100"]
    args = ["run", _tiny(tmp_path), "--synthetic", *sizes, "--config.data.seed=1"]
    assert cli.main([*args, "--no-progress", "--workdir", str(workdir), "--json"]) == 0
    summary = json.loads(capsys.readouterr().out.strip().splitlines()[-1])
    run_dir = workdir / os.path.basename(summary["run_dir"])
    config = json.loads((run_dir / "config.json").read_text())
    assert config["data"] == {
        "name": "synthetic",
        "like": "mnist",
        "seed": 1,
        "num_train": 500,
        "num_test": 100,
    }
    assert summary["steps"] == 20 and 0.0 <= summary["test_accuracy"] <= 1.0


def test_synthetic_keeps_the_configs_augmentation():
    cfg = config_lib.load("configs/cifar10_conv2.py")  # sets data.augment = "none"
    cli._synthetic(cfg)
    assert cfg.data.to_dict() == {
        **synthetic.twin_block("cifar10"),
        "augment": "none",
    }


def test_synthetic_without_a_twin_is_one_line_error(tmp_path, capsys):
    workdir = tmp_path / "runs"
    status = cli.main(["run", _tiny(tmp_path, "emnist"), "--synthetic", "--workdir", str(workdir)])
    err = capsys.readouterr().err.strip().splitlines()
    assert status == 2 and len(err) == 1, err
    assert err[0].startswith("lottery: error: data.name: dataset 'emnist' has no synthetic twin")
    assert "allowed: mnist1d, mnist," in err[0]
    assert not workdir.exists()


def test_mnist_lenet300_imp_config_validates_and_plans():
    cfg = config_lib.load("configs/mnist_lenet300_imp.py")
    assert cfg.data.name == "mnist" and cfg.replicates == 5 and cfg.imp.checkpoint_every == "10ep"
    assert synthetic.SHAPES["mnist"][0] // cfg.train.batch_size == 1000  # steps per epoch
    cli._synthetic(cfg)  # MNIST's shapes, no download; few examples to stay fast
    config_lib.override(cfg, "data.num_train", "600")
    trainer, dataset = experiment.build(cfg)
    assert dataset.input_shape == (28, 28, 1) and trainer.total_steps == 50000
    plan = imp_plan.plan(cfg, trainer)
    assert plan.levels >= 15 and plan.mode == "init" and "reinit" in plan.controls
    assert plan.densities[9] == pytest.approx(0.135, abs=0.001)  # Frankle & Carbin's 13.5%
    assert plan.densities[15] == pytest.approx(0.036, abs=0.001)  # and 3.6%
    # two levels of pruning: hidden kernels lose 20% per level, the output layer 10%
    params, _ = jax.eval_shape(trainer.model.init, jax.random.key(0))
    mask = jax.tree.map(lambda p: jnp.ones(p.shape, bool), params)
    zeros = jax.tree.map(lambda p: jnp.zeros(p.shape, jnp.float32), params)
    target = Target.remove(plan.fraction)
    step = jax.jit(lambda m: prune(zeros, m, target, plan.scope, plan.rates, plan.prunable))
    mask = step(step(mask))
    counts = [int(m.sum()) for m in jax.tree.leaves(mask)]
    kept = dict(zip(select.path_list(mask), counts, strict=True))
    assert kept["out/kernel"] == 810  # 1000 -> 900 -> 810
    hidden = 784 * 300 + 300 * 100  # pruned together (global): 265200 -> 212160 -> 169728
    assert kept["fc1/kernel"] + kept["fc2/kernel"] == 169728 == round(0.64 * hidden)
