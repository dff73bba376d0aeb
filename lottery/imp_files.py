"""Files of an IMP run: where each level and branch lives, loading and saving
their trees, per-branch metrics records, and the run's summary.

    <run>/replicate_<r>/level_<L>/                 the ticket: mask/ init/ final/ metrics.json
                                                   (level 0 also rewind/)
    <run>/replicate_<r>/level_<L>/branch_<name>/   each control, the same files
    <run>/replicate_<r>/.level_<L>.partial/        a level being built

Weights are ``{"params", "model_state"}`` trees; masks are boolean trees.
"""

from __future__ import annotations

import dataclasses
import statistics
from pathlib import Path
from typing import Any

import jax
import jax.numpy as jnp

from lottery import runs
from lottery import train as train_lib
from lottery.branch import load_each
from lottery.experiment import accuracy_stats
from lottery.imp_plan import Plan

PyTree = Any


def level_dir(run: Path, replicate: int, level: int, staged: bool = False) -> Path:
    """Returns ``<run>/replicate_<r>/level_<L>`` (or its ``.partial`` staging folder)."""
    name = f".level_{level}.partial" if staged else f"level_{level}"
    return Path(run) / f"replicate_{replicate}" / name


def branch_dir(level_path: Path, branch: str) -> Path:
    """Returns the folder of ``branch`` inside a level folder (the ticket's is the level's)."""
    return level_path if branch == "ticket" else level_path / f"branch_{branch}"


def current(run: Path, replicate: int, level: int) -> Path:
    """Returns the level folder being used: the final one if it exists, else the staging one."""
    final = level_dir(run, replicate, level)
    return final if final.is_dir() else level_dir(run, replicate, level, staged=True)


def level_done(run: Path, level: int, replicates: int) -> bool:
    """Returns whether every replicate's ``level_<L>`` folder is in place."""
    return all(level_dir(run, r, level).is_dir() for r in range(replicates))


def branch_done(run: Path, level: int, branch: str, replicates: int) -> bool:
    """Returns whether every replicate of ``branch`` at ``level`` wrote its metrics.json."""
    return all(
        (branch_dir(current(run, r, level), branch) / "metrics.json").is_file()
        for r in range(replicates)
    )


@dataclasses.dataclass(frozen=True)
class Templates:
    weights: PyTree
    mask: PyTree


def templates(trainer: train_lib.Trainer) -> Templates:
    """Returns the shape/dtype templates of one replicate's weights and mask."""
    params, model_state = jax.eval_shape(trainer.model.init, jax.random.key(0))
    return Templates(
        weights={"params": params, "model_state": model_state},
        mask=jax.tree.map(lambda p: jax.ShapeDtypeStruct(p.shape, jnp.bool_), params),
    )


def load(run: Path, level: int, branch: str, item: str, template: PyTree, k: int) -> PyTree:
    """Returns ``item`` (mask, init, rewind, final) of a finished level for the
    ``k`` replicates, stacked; raises ``LotteryError`` naming a missing or damaged folder."""
    folders = [branch_dir(level_dir(run, r, level), branch) for r in range(k)]
    return load_each(folders, item, template)


def _branch_summary(records: list[dict], tainted: frozenset[int]) -> dict:
    """Returns a branch's accuracy over the replicates that did not diverge and
    whose masks do not descend from a diverged ticket (``tainted``): ``diverged``
    lists the first, ``after_divergence`` the second; the means are None if no
    replicate is left."""
    mean, std, diverged = accuracy_stats(records, tainted)
    ok = [rec for r, rec in enumerate(records) if r not in diverged and r not in tainted]
    best_step = best_accuracy = None
    if ok:
        best_step = statistics.fmean(rec["best_step"] for rec in ok)
        best_accuracy = statistics.fmean(rec["best_test_accuracy"] for rec in ok)
    return {
        "mean": mean,
        "std": std,
        "per_replicate": [rec["test_accuracy"] for rec in records],
        "diverged": diverged,
        "after_divergence": sorted(tainted),
        "best_step": best_step,
        "best_accuracy": best_accuracy,
    }


def summarize(run: str | Path, p: Plan, wall_seconds: float) -> dict:
    """Returns the IMP summary of the finished levels in ``run``: ``kind`` ("imp"),
    ``run_dir``, ``name``, ``wall_seconds`` (of this invocation), ``replicates``,
    ``rewind``, ``branches``, ``complete``, and ``levels``: one object per finished
    level with ``level``, ``density`` (kept fraction of the prunable weights),
    ``layer_density`` (mean over replicates) and per branch
    ``{"mean", "std", "per_replicate", "diverged", "after_divergence",
    "best_step", "best_accuracy"}`` of the final test accuracy over replicates
    (controls from level 1 on). A replicate whose loss became NaN is listed in
    ``diverged``; at every later level, whose masks are pruned from its NaN
    weights, in ``after_divergence``; both are left out of the means."""
    run = Path(run)
    cfg = runs.read_json(run / runs.CONFIG_FILE)
    k = int(cfg["replicates"])
    levels = []
    tainted: set[int] = set()  # replicates whose ticket diverged at an earlier level
    for level in range(p.levels):
        if not level_done(run, level, k):
            break
        entry: dict[str, Any] = {"level": level}
        for branch in p.branches if level else ("ticket",):
            records = [
                runs.read_json(branch_dir(level_dir(run, r, level), branch) / "metrics.json")
                for r in range(k)
            ]
            if branch == "ticket":
                entry["density"] = statistics.fmean(rec["density"] for rec in records)
                entry["layer_density"] = {
                    name: statistics.fmean(rec["layer_density"][name] for rec in records)
                    for name in records[0]["layer_density"]
                }
            entry[branch] = _branch_summary(records, frozenset(tainted))
        tainted |= set(entry["ticket"]["diverged"])
        levels.append(entry)
    return {
        "kind": "imp",
        "run_dir": str(run),
        "name": cfg["name"],
        "wall_seconds": round(wall_seconds, 2),
        "replicates": k,
        "rewind": cfg["imp"]["rewind"],
        "branches": list(p.branches),
        "complete": len(levels) == p.levels,
        "levels": levels,
    }
