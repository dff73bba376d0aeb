"""Instability analysis of an IMP level (Frankle, Dziugaite, Roy & Carbin 2020).

From a level's rewind point (its mask and starting weights, at step k), two
copies are trained with different data orders (different SGD noise: each copy's
batch order and augmentation come from its own key in the ``instability``
stream), then evaluated at 30 evenly spaced points of the line between their
final weights (``lottery.connectivity``). The level is *stable* when the test
error barrier is about 0. The rewind point is the one the IMP level itself
trains from:

* level 0: the dense network's rewind point (``rewind/``: the initialization, or
  the weights at step k with ``imp.rewind`` a step), trained to the end;
* level L >= 1: the level's ``init/`` (its masked start: the rewind point, or
  the previous level's trained weights for ``lr``/``finetune``), trained with
  the level's own trainer from the level's start step.

Each copy starts with a fresh optimizer state, as IMP's retraining does. The two
copies of every replicate train as one vmap axis (``branch.train_members``,
resumable like any IMP level) and the paths are evaluated vmapped over
replicates. Files, inside the run directory::

    <run>/instability/level_<L>/copy_<c>/replicate_<r>/   mask/ init/ final/ metrics.json
    <run>/instability/level_<L>/instability.json           errors, barriers (see below)
    <run>/instability/level_<L>/table.txt, instability.png
"""

from __future__ import annotations

import shutil
import statistics
import time
from pathlib import Path
from typing import Any

import jax
import jax.numpy as jnp
import numpy as np
import tqdm

from lottery import branch, connectivity, imp_plan, report, runs
from lottery import config as config_lib
from lottery import experiment as experiment_lib
from lottery import imp_files as files
from lottery.errors import LotteryError

PyTree = Any
COPIES = 2
RESULT = "instability.json"


def folder(run: Path, level: int) -> Path:
    """Returns ``<run>/instability/level_<L>``."""
    return Path(run) / "instability" / f"level_{level}"


def _start(run: Path, level: int, p: imp_plan.Plan, tpl: files.Templates, k: int):
    """Returns ``(mask, start weights, first step)`` of ``level``'s rewind point, stacked
    over the ``k`` replicates."""
    if level == 0:
        weights = files.load(run, 0, "ticket", "rewind", tpl.weights, k)
        mask = jax.tree.map(lambda s: jnp.ones((k, *s.shape), bool), tpl.mask)
        return mask, weights, p.rewind_step
    mask = files.load(run, level, "ticket", "mask", tpl.mask, k)
    weights = files.load(run, level, "ticket", "init", tpl.weights, k)
    return mask, weights, p.start_step


def _bn_batches(dataset, batch: int, count: int) -> jax.Array:
    """Returns the first ``count`` batches of ``batch`` training inputs, in order,
    shape ``(count, batch, *input)`` (fewer if the training set is smaller)."""
    count = max(1, min(count, dataset.x_train.shape[0] // batch))
    return jnp.asarray(dataset.x_train[: count * batch]).reshape(count, batch, *dataset.input_shape)


def analyze(
    run_dir: str | Path,
    level: int,
    points: int = 30,
    progress: bool = True,
    bn_batches: int = 20,
) -> dict:
    """Runs (or resumes) the instability analysis of ``level`` of the IMP run in
    ``run_dir`` and returns its result, also written to
    ``<run>/instability/level_<L>/instability.json``: ``level``, ``density``,
    ``rewind`` (the run's ``imp.rewind``), ``start_step``, ``points``, ``alphas``,
    ``test_error`` and ``train_error`` (per replicate, a list over the points),
    ``test_barrier`` / ``train_barrier`` (per replicate) with their ``mean`` and
    ``std``, and the copies' final test accuracies. BatchNorm models have their
    statistics recomputed at every point from ``bn_batches`` training batches.

    Raises ``LotteryError`` for a run directory that is not an IMP run, a level
    that is not finished, or ``points`` < 2."""
    run = Path(run_dir)
    if not (run / runs.CONFIG_FILE).is_file():
        raise LotteryError("run_dir", f"'{run}' is not a run directory (no config.json)")
    cfg = config_lib.from_dict(runs.read_json(run / runs.CONFIG_FILE))
    if cfg.kind != "imp":
        raise LotteryError(
            "run_dir", f"'{run}' is a '{cfg.kind}' run; instability needs an IMP run"
        )
    if isinstance(points, bool) or not isinstance(points, int) or points < 2:
        raise LotteryError("points", f"must be an integer >= 2, got {points!r}")
    dense, dataset = experiment_lib.build(cfg)
    p = imp_plan.plan(cfg, dense)
    k = int(cfg.replicates)
    if isinstance(level, bool) or not isinstance(level, int) or not 0 <= level < p.levels:
        raise LotteryError("level", f"must be an integer in [0, {p.levels - 1}], got {level!r}")
    if not files.level_done(run, level, k):
        raise LotteryError("level", f"level {level} of '{run}' has not finished; run it first")
    out = folder(run, level)
    if (out / RESULT).is_file():
        done = runs.read_json(out / RESULT)
        if done.get("points") == points:
            return done
    began = time.perf_counter()
    with runs.lock(run):
        result = _analyze_locked(cfg, run, level, points, progress, bn_batches, dense, dataset, p)
    result["wall_seconds"] = round(time.perf_counter() - began, 2)
    runs.write_json(out / RESULT, result)
    write_report(result, out)
    return result


def _analyze_locked(cfg, run, level, points, progress, bn_batches, dense, dataset, p) -> dict:
    k = int(cfg.replicates)
    tpl = files.templates(dense)
    mask, start, first = _start(run, level, p, tpl, k)
    retrain = imp_plan.retrain_trainer(dense, cfg, p)
    trainer = retrain if level or p.mode == "step" else dense
    streams = experiment_lib.replicate_keys(cfg.seed, k)["instability"]
    keys = jnp.stack([jax.random.fold_in(streams[r], c) for c in range(COPIES) for r in range(k)])
    out = folder(run, level)
    members = [
        branch.Member(
            folder=out / f"copy_{c}" / f"replicate_{r}",
            replicate=c * k + r,
            label=f"copy{c}.r{r}",
            record={"level": level, "copy": c, "run_replicate": r},
        )
        for c in range(COPIES)
        for r in range(k)
    ]
    both = jax.tree.map(lambda a: jnp.concatenate([a] * COPIES), (mask, start))
    bar = tqdm.tqdm(
        total=COPIES * k * (trainer.total_steps - first), disable=not progress, unit="it"
    )
    bar.set_description(f"instability level {level}")
    ctx = branch.Context(
        dataset=dataset,
        data_keys=keys,
        eval_every=cfg.train.eval_every,
        checkpoint_every=p.checkpoint_every,
        prunable=p.prunable,
        bar=bar,
        max_vmap=int(cfg.parallel.max_vmap),
    )
    with bar:
        branch.train_members(members, both[0], both[1], trainer, ctx, out / "resume", first)
    shutil.rmtree(out / "resume", ignore_errors=True)
    finals = branch.load_each([m.folder for m in members], "final", tpl.weights)
    a, b = (jax.tree.map(lambda x, c=c: x[c * k : (c + 1) * k], finals) for c in range(COPIES))
    has_state = bool(jax.tree.leaves(tpl.weights["model_state"]))
    bn = _bn_batches(dataset, trainer.batch_size, bn_batches) if has_state else None
    errors = {}
    for split in ("test", "train"):
        x, y = (jnp.asarray(getattr(dataset, f"{v}_{split}")) for v in "xy")

        def path(wa, wb, m, x=x, y=y):
            return connectivity.path_errors(
                dense.model, wa, wb, m, x, y, points, bn, dense.eval_batch_size, dense.dtype
            )

        errors[split] = np.asarray(jax.jit(jax.vmap(path))(a, b, mask), np.float64)
    records = [runs.read_json(m.folder / branch.METRICS) for m in members]
    return _result(cfg, level, p, first, points, errors, records, k)


def _stats(values: list[float]) -> dict:
    mean, std = experiment_lib.mean_std(values)
    return {"mean": mean, "std": std, "per_replicate": values}


def _result(cfg, level, p, first, points, errors, records, k) -> dict:
    barriers = {s: [float(v) for v in connectivity.barrier(e)] for s, e in errors.items()}
    return {
        "kind": "instability",
        "name": cfg.name,
        "level": level,
        "density": p.densities[level],
        "rewind": cfg.imp.rewind,
        "start_step": first,
        "points": points,
        "alphas": [float(v) for v in np.linspace(0.0, 1.0, points)],
        "test_error": errors["test"].tolist(),
        "train_error": errors["train"].tolist(),
        "test_barrier": _stats(barriers["test"]),
        "train_barrier": _stats(barriers["train"]),
        "copy_test_accuracy": [
            [records[c * k + r]["test_accuracy"] for r in range(k)] for c in range(COPIES)
        ],
        "mean_endpoint_test_error": statistics.fmean(
            0.5 * (e[0] + e[-1]) for e in errors["test"].tolist()
        ),
    }


def format_table(result: dict) -> str:
    """Returns the text table of an instability result: one row per replicate
    (test and train barrier, endpoint test errors) and the mean ± std row, in %."""
    lines = [
        f"instability of level {result['level']} (density {100 * result['density']:.2f}%, "
        f"rewind {result['rewind']}, from step {result['start_step']}, "
        f"{result['points']} points)",
        f"{'replicate':>9}  {'test barrier':>12}  {'train barrier':>13}  "
        f"{'error A':>8}  {'error B':>8}",
    ]
    for r, errs in enumerate(result["test_error"]):
        lines.append(
            f"{r:>9}  {100 * result['test_barrier']['per_replicate'][r]:>11.2f}%  "
            f"{100 * result['train_barrier']['per_replicate'][r]:>12.2f}%  "
            f"{100 * errs[0]:>7.2f}%  {100 * errs[-1]:>7.2f}%"
        )
    t, tr = result["test_barrier"], result["train_barrier"]
    lines.append(
        f"{'mean':>9}  {100 * t['mean']:>6.2f}±{100 * t['std']:<4.2f}%  "
        f"{100 * tr['mean']:>7.2f}±{100 * tr['std']:<4.2f}%"
    )
    return "\n".join(lines) + "\n"


def plot(result: dict, path: str | Path) -> Path:
    """Writes a PNG of test error (%) along the path (x: interpolation coefficient),
    one thin line per replicate and their mean in bold; returns ``path``."""
    fig, ax = report._figure()
    xs = result["alphas"]
    errs = 100 * np.asarray(result["test_error"])
    for row in errs:
        ax.plot(xs, row, color="tab:blue", alpha=0.35, lw=1)
    ax.plot(xs, errs.mean(0), color="tab:blue", lw=2.2, label="mean over replicates")
    ax.set_xlabel("interpolation coefficient (0: copy A, 1: copy B)")
    ax.set_ylabel("test error (%)")
    barrier = 100 * result["test_barrier"]["mean"]
    ax.set_title(
        f"level {result['level']} ({100 * result['density']:.1f}% density), "
        f"rewind {result['rewind']}: barrier {barrier:.2f} points"
    )
    ax.grid(alpha=0.3)
    ax.legend()
    return report._save(fig, Path(path))


def write_report(result: dict, out: str | Path) -> dict[str, Path]:
    """Writes ``table.txt`` and ``instability.png`` of ``result`` into ``out``;
    returns ``{"txt": path, "png": path}``."""
    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    txt = report._atomic(out / "table.txt", lambda tmp: tmp.write_text(format_table(result)))
    return {"txt": txt, "png": plot(result, out / "instability.png")}
