"""Fault injection: an IMP run killed (SIGKILL) at each of 25 named points and
rerun with the same command ends with exactly the files of an uninterrupted run
(masks, weights, metrics, summary, report tables) and nothing half-written. The
points are killed in chains of two (see ``CHAINS``): the rerun after the first
kill is itself killed at the second point, and the chain's last rerun must equal
the uninterrupted run.

The points (``lottery.faults``) cover: the lock just taken; a level's inputs
computed; a unit's mask and init written; compilation of the first epoch
program and of the retraining program (killed 0.2 s into it); training between
checkpoints; an asynchronous checkpoint save in flight (twice mid-epoch); an
orbax save of final weights in flight; final weights written; a metrics file
half-written (temporary file not yet renamed); one of a unit's two members done;
between a level's two programs; between the renames of a level's replicate
folders; a level finished but its summary not written; the summary half-written;
the report's table and plot half-written. Each kill is checked to have happened
(exit by SIGKILL), so a point that is never reached fails its test.
"""

from __future__ import annotations

import os
import signal
import subprocess
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import jax
import numpy as np
import pytest
from conftest import CACHE_ENV
from subprocess_runs import command

from lottery import checkpoint, config, experiment, faults, imp, imp_files, runs

pytestmark = pytest.mark.faults

CONFIG = """
from lottery.config import base


def get_config():
    cfg = base()
    cfg.name = "faults"
    cfg.kind = "imp"
    cfg.replicates = 2
    cfg.model.name = "mlp"
    cfg.model.widths = (32, 16)
    cfg.data.name = "mnist1d"
    cfg.data.num_samples = 1000
    cfg.train.batch_size = 50
    cfg.train.duration = "3ep"  # 48 steps of 16 per epoch
    cfg.train.optimizer.learning_rate = 3e-3
    cfg.imp.levels = 2
    cfg.imp.rewind = "1ep"  # the rewind point is saved at step 16
    cfg.imp.checkpoint_every = "20it"  # training states at steps 20 and 40, mid-epoch
    cfg.imp.controls = ("reinit",)
    cfg.parallel.max_vmap = 2  # level 1: two programs (ticket, reinit)
    return cfg
"""

T0, T1 = "level=0:first=ticket.r0", "level=1:first=ticket.r0"
R1 = "level=1:first=reinit.r0"
POINTS = [
    "locked",
    "level_inputs:level=0",
    f"mask_saved:{T0}",
    f"init_saved:{T0}",
    f"segment:{T0}:step=0@0.2",  # compiling the first epoch program
    f"rewind_saved:{T0}",
    f"checkpoint_started:{T0}:step=20",
    f"segment:{T0}:step=20@0.05",  # training between checkpoints
    f"checkpoint_started:{T0}:step=40",
    "tree_saving:item=final",
    f"final_saved:{T0}",
    "json_written:file=metrics.json",
    f"metrics_written:{T0}:member=0",
    f"unit_done:{T0}",
    "level_renamed:level=0:replicate=0",
    "level_done:level=0",
    "json_written:file=summary.json",
    "level_inputs:level=1",
    f"segment:{T1}:step=16@0.2",  # compiling the retraining program
    f"checkpoint_started:{R1}:step=20",
    f"unit_done:{T1}",
    f"metrics_written:{R1}:member=1",
    "level_renamed:level=1:replicate=0",
    "report_written:file=table.csv",
    "report_written:file=accuracy_vs_density.png",
]
# Chains of two: the run killed at an early point is rerun and killed at a point
# 13 places later (which that rerun still reaches), then rerun to the end; the
# middle point stands alone. Each kill is one process fewer than a kill-and-rerun
# pair per point, and each resumed-then-killed run is checked by its chain's end.
CHAINS = [(POINTS[i], POINTS[i + 13]) for i in range(12)] + [(POINTS[12],)]
REPORT = ("table.csv", "table.json", "table.txt")


COMPILING = {p for p in POINTS if p.startswith("segment") and p.endswith("@0.2")}


def _env(cache: Path, point: str | None = None) -> dict[str, str]:
    """The subprocess environment: JAX's persistent compilation cache in ``cache``
    (the same executables, loaded instead of compiled: most of a tiny run's time
    otherwise), except for the points that kill during compilation."""
    env = {k: v for k, v in os.environ.items() if k != faults.ENV}
    cache_vars = ("JAX_COMPILATION_CACHE_DIR", *CACHE_ENV)
    for key in cache_vars:
        env.pop(key, None)
    if point not in COMPILING:
        env.update(JAX_COMPILATION_CACHE_DIR=str(cache), **CACHE_ENV)
    if point is not None:
        env[faults.ENV] = point
    return env


def _kill_chain(path: Path, workdir: Path, cache: Path, chain: tuple[str, ...]) -> tuple:
    """Runs the command killed at each point of ``chain`` in turn (each run after
    the first resumes what the previous one left), then once more to the end;
    returns ``([killed processes], final process)``."""
    cmd = command(path, workdir)
    killed = [
        subprocess.run(cmd, capture_output=True, text=True, env=_env(cache, point))
        for point in chain
    ]
    done = subprocess.run(cmd, capture_output=True, text=True, env=_env(cache))
    return killed, done


@pytest.fixture(scope="module")
def reference(tmp_path_factory):
    """Returns ``(config path, config, run dir, compilation cache)`` of an
    uninterrupted run."""
    folder = tmp_path_factory.mktemp("faults")
    path = folder / "faults.py"
    path.write_text(CONFIG)
    cache = folder / "jax_cache"
    cmd = command(path, folder / "reference")
    done = subprocess.run(cmd, capture_output=True, text=True, env=_env(cache))
    assert done.returncode == 0, done.stderr[-2000:]
    cfg = config.load(path)
    return path, cfg, runs.run_dir(folder / "reference", cfg), cache


@pytest.fixture(scope="module")
def killed_runs(reference, tmp_path_factory):
    """Returns ``{chain: (workdir, killed processes, final process)}`` for every
    chain, two chains at a time (the machine's two cores)."""
    path, _, _, cache = reference
    root = tmp_path_factory.mktemp("killed")
    workdirs = {chain: root / f"c{i:02d}" for i, chain in enumerate(CHAINS)}
    with ThreadPoolExecutor(max_workers=2) as pool:
        futures = {c: pool.submit(_kill_chain, path, w, cache, c) for c, w in workdirs.items()}
        return {c: (workdirs[c], *f.result()) for c, f in futures.items()}


def _metrics(path: Path) -> dict:
    rec = runs.read_json(path)
    rec.pop("seconds")
    return rec


def _same_run(a: Path, b: Path, cfg) -> int:
    """Asserts that run ``b`` holds exactly run ``a``'s results: every network's
    metrics, and its mask, init, final (and rewind) checkpoints by the SHA-256 of
    their bytes recorded at save (the last level's final weights also restored
    and compared); returns the number of networks compared."""
    trainer, _ = experiment.build(cfg)
    weights = imp_files.templates(trainer).weights
    p = imp.plan(cfg, trainer)
    compared = 0
    for r in range(cfg.replicates):
        for level in range(p.levels):
            for name in p.branches if level else ("ticket",):
                da = imp.branch_dir(imp.level_dir(a, r, level), name)
                db = imp.branch_dir(imp.level_dir(b, r, level), name)
                assert _metrics(da / "metrics.json") == _metrics(db / "metrics.json")
                items = ("mask", "init", "final") + (("rewind",) if level == 0 else ())
                for item in items:
                    digests = checkpoint.saved_digest(da / item), checkpoint.saved_digest(db / item)
                    assert digests[0] == digests[1], (r, level, name, item)
                compared += 1
        last = imp.branch_dir(imp.level_dir(b, r, p.levels - 1), "ticket") / "final"
        ta = checkpoint.restore_tree(str(last).replace(str(b), str(a)), weights)
        assert jax.tree.all(
            jax.tree.map(np.array_equal, ta, checkpoint.restore_tree(last, weights))
        )
    sa, sb = runs.read_json(a / "summary.json"), runs.read_json(b / "summary.json")
    assert sa["levels"] == sb["levels"] and sb["complete"]
    for name in REPORT:
        assert (a / "report" / name).read_bytes() == (b / "report" / name).read_bytes(), name
    assert (b / "report" / "accuracy_vs_density.png").is_file()
    return compared


def _leftovers(run: Path) -> list[Path]:
    """Returns what a finished run must not hold: staging folders, temporary
    files and folders, training states, the lock."""
    found = [*run.rglob("*partial*"), *run.rglob("*tmp*"), *run.rglob("resume"), *run.rglob("lock")]
    return sorted(set(found))


@pytest.mark.parametrize("chain", CHAINS, ids=[" then ".join(c) for c in CHAINS])
def test_killed_then_rerun_equals_uninterrupted(reference, killed_runs, chain):
    _, cfg, ref, _ = reference
    workdir, killed, done = killed_runs[chain]
    for point, proc in zip(chain, killed, strict=True):
        assert proc.returncode == -signal.SIGKILL, f"not killed at {point}: {proc.stderr[-1500:]}"
    assert done.returncode == 0, done.stderr[-2000:]
    run = runs.run_dir(workdir, cfg)
    assert _same_run(ref, run, cfg) == 2 * (1 + 2)
    assert _leftovers(run) == []
    assert [p.name for p in workdir.iterdir()] == [run.name]


def test_the_suite_has_at_least_twenty_distinct_points_each_killed_once():
    assert len(set(POINTS)) == len(POINTS) >= 20
    assert sorted(p for chain in CHAINS for p in chain) == sorted(POINTS)
