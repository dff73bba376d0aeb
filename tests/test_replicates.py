"""Replicates and branches as one vmap axis: a network's results do not depend on
how many others share its program (``parallel.max_vmap``): bit for bit on some
CPUs, to float32 rounding on all (``float_compare``)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from float_compare import assert_close, trees_close
from tiny_configs import tiny_mlp, with_fields

from lottery import checkpoint, config, experiment, imp, imp_files, pai, runs
from lottery.errors import LotteryError


def _imp_cfg(**fields):
    cfg = tiny_mlp("vmap_imp", "imp")
    cfg.replicates = 4
    cfg.train.duration = "3ep"
    cfg.train.eval_every = 1
    cfg.imp.levels = 3
    cfg.imp.checkpoint_every = "10ep"  # no mid-level saves: orbax dominates tiny runs
    cfg.imp.controls = ("reinit", "random_prune")
    return with_fields(cfg, fields)


def _metrics(folder: Path) -> dict:
    record = runs.read_json(folder / "metrics.json")
    record.pop("seconds")
    return record


@pytest.fixture(scope="module")
def imp_runs(tmp_path_factory):
    """The same IMP config run with every level's 12 networks in one program and
    with each network alone (``max_vmap`` 1); returns ``(cfg, run_all, run_alone)``."""
    out = []
    for cap in (0, 1):
        cfg = _imp_cfg(parallel__max_vmap=cap)
        workdir = tmp_path_factory.mktemp(f"cap{cap}")
        out.append(Path(imp.run_imp(cfg, workdir, progress=False)["run_dir"]))
    return _imp_cfg(), *out


def test_imp_networks_vmapped_equal_each_alone(imp_runs):
    cfg, together, alone = imp_runs
    assert together.name == alone.name  # parallel.* is not part of the hash
    trainer, _ = experiment.build(cfg)
    t = imp_files.templates(trainer)
    compared = 0
    for r in range(4):
        for level in range(3):
            for branch in ("ticket", "reinit", "random_prune") if level else ("ticket",):
                a = imp.branch_dir(imp.level_dir(together, r, level), branch)
                b = imp.branch_dir(imp.level_dir(alone, r, level), branch)
                ma, mb = _metrics(a), _metrics(b)
                assert ma["replicate"] == r and ma["branch"] == branch
                assert_close(ma, mb, (r, level, branch))  # every loss and accuracy
                for item, template in (("mask", t.mask), ("final", t.weights)):
                    ta = checkpoint.restore_tree(a / item, template)
                    tb = checkpoint.restore_tree(b / item, template)
                    assert trees_close(ta, tb), (item, r, level)  # masks: exactly
                compared += 1
    assert compared == 4 * (1 + 2 * 3)
    sa = runs.read_json(together / "summary.json")
    sb = runs.read_json(alone / "summary.json")
    assert_close(sa["levels"], sb["levels"])


def _train_cfg(model: str, replicates: int, cap: int):
    cfg = tiny_mlp(f"vmap_train_{model}", "train")
    cfg.model = config.ml_collections.ConfigDict({"name": model})
    cfg.replicates = replicates
    cfg.parallel.max_vmap = cap
    cfg.train.duration = "2ep"
    return cfg


@pytest.mark.parametrize("model", ["mlp", "cnn1d"])
def test_train_replicates_vmapped_equal_alone_and_a_single_replicate(tmp_path, model):
    together = experiment.run_train(_train_cfg(model, 4, 0), tmp_path / "a", progress=False)
    alone = experiment.run_train(_train_cfg(model, 4, 1), tmp_path / "b", progress=False)
    single = experiment.run_train(_train_cfg(model, 1, 0), tmp_path / "c", progress=False)
    accs = together["test_accuracy_per_replicate"]
    assert len(set(accs)) > 1  # four different networks
    assert_close(accs, alone["test_accuracy_per_replicate"])
    assert_close(accs[0], single["test_accuracy_per_replicate"][0])
    # Bit-exact across widths on some CPUs only (tests/float_compare.py): every
    # epoch's losses and accuracies must agree to float32 rounding.
    lines = [(Path(s["run_dir"]) / runs.METRICS_FILE).read_text() for s in (together, alone)]
    records = [[json.loads(line) for line in text.splitlines()] for text in lines]
    assert len(records[0]) == len(records[1]) > 0
    assert_close(records[0], records[1])


def test_pai_sweep_in_chunks_equals_one_program(tmp_path):
    def cfg(cap):
        c = tiny_mlp("vmap_pai", "pai")
        c.train.duration = "2ep"
        c.pai.methods = ("snip",)
        c.pai.densities = (0.2, 0.05)
        c.pai.ablations = ("shuffle",)
        c.parallel.max_vmap = cap
        return c

    one = pai.run_pai(cfg(0), tmp_path / "a", progress=False)
    chunked = pai.run_pai(cfg(3), tmp_path / "b", progress=False)  # 8 networks: 3, 3, 2
    assert_close(one["results"], chunked["results"])


@pytest.mark.parametrize(
    "field,value,message",
    [
        ("parallel.max_vmap", "-1", "parallel.max_vmap: must be an integer >= 0"),
        ("parallel.devices", "-2", "parallel.devices: must be an integer >= 0"),
        ("parallel.mesh", "'model'", "parallel.mesh: unknown mesh axis 'model'"),
        ("parallel.devices", "64", "parallel.devices: asks for 64 devices but JAX sees"),
        ("train.dtype", "'float16'", "train.dtype: unknown dtype 'float16'"),
    ],
)
def test_bad_parallel_or_dtype_option_is_one_line_and_writes_nothing(
    tmp_path, field, value, message
):
    cfg = _imp_cfg()
    config.override(cfg, field, value)
    with pytest.raises(LotteryError) as err:
        imp.run_imp(cfg, tmp_path / "runs", progress=False)
    assert message in str(err.value) and "\n" not in str(err.value)
    assert not (tmp_path / "runs").exists()


def test_parallel_block_changes_neither_hash_nor_run_directory(tmp_path):
    base = _imp_cfg()
    other = _imp_cfg(parallel__max_vmap=3, parallel__mesh="replicates")
    assert config.config_hash(base) == config.config_hash(other)
    first = runs.open_run(tmp_path, base)
    assert runs.open_run(tmp_path, other) == first  # resumable with another chunk size
    changed = _imp_cfg(train__dtype="bfloat16")
    assert config.config_hash(changed) != config.config_hash(base)  # dtype changes results
