"""Resume after SIGKILL: an IMP run killed in the middle of a level and rerun ends
with exactly the masks and metrics of an uninterrupted run."""

from __future__ import annotations

import subprocess
from pathlib import Path

import jax
import numpy as np
import pytest
from subprocess_runs import chunk_steps, max_step
from subprocess_runs import command as _command
from subprocess_runs import kill_when as _kill_when

from lottery import checkpoint, config, experiment, imp, imp_files, runs

CONFIG = """
from lottery.config import base


def get_config():
    cfg = base()
    cfg.name = "resume_imp"
    cfg.kind = "imp"
    cfg.replicates = 2
    cfg.model.name = "mlp"
    cfg.model.widths = (64, 32)
    cfg.data.name = "mnist1d"
    cfg.data.num_samples = 2000
    cfg.train.batch_size = 50
    cfg.train.duration = "8ep"
    cfg.train.eval_every = 2
    cfg.train.optimizer.learning_rate = 3e-3
    cfg.imp.levels = 3
    cfg.imp.rates.out = 0.5
    cfg.imp.rewind = "{rewind}"
    cfg.imp.checkpoint_every = "2ep"
    cfg.imp.controls = ("reinit", "shuffle")
    return cfg
"""


def _write_config(folder: Path, rewind: str) -> Path:
    path = folder / f"resume_{rewind}.py"
    path.write_text(CONFIG.format(rewind=rewind))
    return path


def _same_results(run_a: Path, run_b: Path, cfg) -> None:
    trainer, _ = experiment.build(cfg)
    mask_t = imp_files.templates(trainer).mask
    p = imp.plan(cfg, trainer)
    compared = 0
    for r in range(cfg.replicates):
        for level in range(p.levels):
            for branch in p.branches if level else ("ticket",):
                a = imp.branch_dir(imp.level_dir(run_a, r, level), branch)
                b = imp.branch_dir(imp.level_dir(run_b, r, level), branch)
                ma, mb = runs.read_json(a / "metrics.json"), runs.read_json(b / "metrics.json")
                ma.pop("seconds"), mb.pop("seconds")
                assert ma == mb, (r, level, branch)
                for item in ("mask", "final"):
                    template = mask_t if item == "mask" else imp_files.templates(trainer).weights
                    ta = checkpoint.restore_tree(a / item, template)
                    tb = checkpoint.restore_tree(b / item, template)
                    assert jax.tree.all(jax.tree.map(np.array_equal, ta, tb)), (item, level)
                compared += 1
    assert compared == cfg.replicates * (1 + (p.levels - 1) * len(p.branches))
    sa, sb = runs.read_json(run_a / "summary.json"), runs.read_json(run_b / "summary.json")
    assert sa["levels"] == sb["levels"] and sb["complete"]


@pytest.fixture(scope="module")
def uninterrupted(tmp_path_factory):
    """Returns ``reference(rewind) -> (config path, config, run dir)`` of an
    uninterrupted run, made on first use."""
    folder = tmp_path_factory.mktemp("reference")
    out = {}

    def reference(rewind: str):
        if rewind not in out:
            path = _write_config(folder, rewind)
            cfg = config.load(path)
            out[rewind] = path, cfg, Path(imp.run_imp(cfg, folder, progress=False)["run_dir"])
        return out[rewind]

    return reference


@pytest.mark.slow  # tests/faults/test_kill.py kills 25 points of such a run
@pytest.mark.parametrize("rewind", ["init", "2ep"])
def test_sigkill_mid_level_then_rerun_equals_uninterrupted(tmp_path, uninterrupted, rewind):
    """The reference trains each level's 6 networks in one program; the killed run
    and its rerun train them 4 at a time (``parallel.max_vmap``, not hashed), so
    this also checks that a network's results do not depend on its program."""
    config_path, cfg, reference = uninterrupted(rewind)
    chunked = "--config.parallel.max_vmap=4"
    workdir = tmp_path / "killed"
    run = runs.run_dir(workdir, cfg)
    spe = 32  # 1600 training examples, batch 50
    if rewind == "init":  # killed in level 1 in its second chunk (shuffle), after 2 epochs
        level, first, after = 1, "shuffle", 2 * spe
    else:  # killed in the dense level 0 after its 4th epoch (the rewind point is epoch 2)
        level, first, after = 0, "ticket", 4 * spe
    resume = run / "resume" / f"level_{level}"
    _kill_when(_command(config_path, workdir, chunked), lambda: max_step(resume, first) >= after)
    killed_level = level
    assert not imp.level_dir(run, 0, killed_level).exists()
    assert imp.level_dir(run, 0, killed_level, staged=True).is_dir()
    assert (run / "lock").exists()  # left behind by the killed process: stale, taken over

    done = subprocess.run(_command(config_path, workdir, chunked), capture_output=True, text=True)
    assert done.returncode == 0, done.stderr[-2000:]
    _same_results(reference, run, cfg)
    assert not (run / "resume").exists() and not (run / "lock").exists()
    leftovers = [p for p in run.rglob("*partial*")] + [p for p in run.rglob(".*tmp*")]
    assert leftovers == []


@pytest.mark.faults
def test_damaged_resume_checkpoint_restarts_the_branch_cleanly(tmp_path, uninterrupted):
    config_path, cfg, reference = uninterrupted("init")
    workdir = tmp_path / "killed"
    run = runs.run_dir(workdir, cfg)
    resume = run / "resume" / "level_1"

    def two_saved():
        return any(len(steps) >= 2 for steps in chunk_steps(resume).values())

    _kill_when(_command(config_path, workdir), two_saved)
    [(folder, steps)] = chunk_steps(resume).items()  # one chunk: the whole level
    for step in steps:  # damage every kept checkpoint
        files = [p for p in (folder / str(step)).rglob("*") if p.is_file()]
        biggest = max(files, key=lambda p: p.stat().st_size)
        biggest.write_bytes(biggest.read_bytes()[: biggest.stat().st_size // 3])
    done = subprocess.run(_command(config_path, workdir), capture_output=True, text=True)
    assert done.returncode == 0, done.stderr[-2000:]
    assert "restarting this branch from its start" in done.stderr
    assert str(folder) in done.stderr
    _same_results(reference, run, cfg)
