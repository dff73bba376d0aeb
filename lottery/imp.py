"""Iterative magnitude pruning (IMP) with rewinding and control branches.

Frankle & Carbin (2019), "The Lottery Ticket Hypothesis": level 0 trains the
dense network; each later level removes ``imp.fraction`` of the remaining
prunable weights by the magnitude of the previous level's *trained* weights
(globally or per layer, with per-layer rate multipliers such as the output layer
at half rate), rewinds, and retrains. ``imp.criterion`` swaps the magnitude for
another rule of ``lottery.criteria`` (a function of the trained weights and
level 0's rewind weights). Rewinding (``imp.rewind``):

* ``"init"``: to the initial weights (Frankle & Carbin 2019).
* ``"500it"`` / ``"2ep"``: to the dense run's weights (and BatchNorm statistics)
  at step k (Frankle et al. 2020); later levels train steps k..T with the
  learning-rate schedule and data order resuming at k and a fresh optimizer state.
* ``"lr"``: learning-rate rewinding (Renda et al. 2020): keep the previous level's
  trained weights, replay the whole schedule from step 0 (fresh optimizer state).
* ``"finetune"``: keep the trained weights and train the same number of steps at
  the schedule's final learning rate (Renda et al.'s fine-tuning baseline).

The config is checked and resolved in ``lottery.imp_plan``; the files of a run
are laid out, read and summarized by ``lottery.imp_files``; this module drives
the levels. Control branches (``lottery.controls``) run at every pruned level with the
ticket's exact per-layer counts. A level's branches and replicates are one
``vmap`` axis of one compiled program (``parallel.max_vmap`` at a time).

On disk (``<run>`` is ``<workdir>/<name>_<hash>``)::

    <run>/config.json                   written first
    <run>/lock                          held while a process works on the run
    <run>/replicate_<r>/level_<L>/      the ticket: mask/ init/ final/ metrics.json
                                        (level 0 also rewind/)
    <run>/replicate_<r>/level_<L>/branch_<name>/   each control, same files
    <run>/resume/level_<L>/<chunk>/<step>/         training states (deleted when done)
    <run>/summary.json, <run>/report/

A level is built in ``replicate_<r>/.level_<L>.partial`` and renamed into place
when every branch has finished, so ``level_<L>`` is complete or absent; inside
it, ``metrics.json`` is a branch's last file. Rerunning the command skips
finished levels and branches and resumes a branch from its last checkpoint;
every level reads its inputs (masks, trained and rewind weights) back from disk,
so a resumed run executes exactly the computation of an uninterrupted one.
"""

from __future__ import annotations

import contextlib
import dataclasses
import shutil
import time
from pathlib import Path
from typing import Any

import jax
import ml_collections
import tqdm

from lottery import branch, controls, criteria, faults, imp_plan, runs
from lottery import experiment as experiment_lib
from lottery import imp_files as files
from lottery import masks as masks_lib
from lottery import train as train_lib
from lottery.imp_files import branch_dir, level_dir, summarize
from lottery.imp_plan import Plan, plan, retrain_trainer
from lottery.prune import Target, prune
from lottery.structured import ticket

PyTree = Any
__all__ = [
    "Plan",
    "branch_dir",
    "level_dir",
    "plan",
    "retrain_trainer",
    "run_imp",
    "run_levels",
    "summarize",
]


@dataclasses.dataclass
class _Run:
    cfg: ml_collections.ConfigDict
    run: Path
    dense: train_lib.Trainer
    retrain: train_lib.Trainer
    plan: Plan
    keys: dict
    templates: files.Templates
    units: branch.Context

    @property
    def replicates(self) -> int:
        return int(self.cfg.replicates)


def _level_inputs(ctx: _Run, level: int) -> dict[str, tuple[PyTree, PyTree, train_lib.Trainer]]:
    """Returns ``{branch: (mask, start weights, trainer)}`` for ``level``, computed
    from the previous level's files on disk (all replicates stacked)."""
    k, t = ctx.replicates, ctx.templates
    if level == 0:
        params, model_state = jax.vmap(ctx.dense.model.init)(ctx.keys["init"])
        ones = jax.vmap(masks_lib.ones)(params)
        return {"ticket": (ones, {"params": params, "model_state": model_state}, ctx.dense)}
    prev_mask = files.load(ctx.run, level - 1, "ticket", "mask", t.mask, k)
    trained = files.load(ctx.run, level - 1, "ticket", "final", t.weights, k)
    rewind0 = files.load(ctx.run, 0, "ticket", "rewind", t.weights, k)
    p = ctx.plan
    criterion = criteria.CRITERIA[p.criterion]

    def prune_one(params, initial, mask):
        scores = criterion(params, initial)
        return prune(scores, mask, Target.remove(p.fraction), p.scope, p.rates, p.prunable)

    if p.structure == "weights":
        prune_fn = ctx.units.compiled("prune", lambda: jax.jit(jax.vmap(prune_one)))
        mask = prune_fn(trained["params"], rewind0["params"], prev_mask)
    else:
        mask = _structured_masks(ctx, trained["params"], prev_mask, level)
    start = rewind0 if p.mode in ("init", "step") else trained
    out = {"ticket": (mask, start, ctx.retrain)}
    for name in p.controls:
        key_id = list(controls.CONTROLS).index(name)
        level_keys = _control_keys(ctx.keys["control"], level, key_id)
        control_ctx = controls.Context(mask, prev_mask, trained["params"], start, level_keys)
        fn = p.control_registry[name]

        def build(fn=fn):
            return jax.jit(jax.vmap(lambda c: fn(c, ctx.dense.model, p.prunable)))

        cmask, cstart = ctx.units.compiled(f"control_{name}", build)(control_ctx)
        out[name] = (cmask, cstart, ctx.retrain)
    return out


def _structured_masks(ctx: _Run, trained: PyTree, prev_mask: PyTree, level: int) -> PyTree:
    """Returns the stacked masks of a structured level (``imp.structure``
    "channels" or "refill"), one replicate at a time (the unit counts are plain
    integers chosen per replicate)."""
    p, model = ctx.plan, ctx.dense.model
    out = []
    for r in range(ctx.replicates):
        params, mask = (jax.tree.map(lambda a, r=r: a[r], t) for t in (trained, prev_mask))
        density = p.densities[level]
        if p.structure == "channels":
            new = ticket.channel_step(model, params, mask, density, p.prunable, p.group_score)
        else:
            new = ticket.refill_step(
                model, params, mask, density, p.prunable, p.fraction, p.scope, p.rates
            )
        out.append(new)
    return jax.tree.map(lambda *leaves: jax.numpy.stack(leaves), *out)


def _control_keys(control: jax.Array, level: int, key_id: int) -> jax.Array:
    """Returns the per-replicate keys of one control at one level:
    ``fold_in(fold_in(control stream, level), control id)``."""
    return jax.vmap(lambda c: jax.random.fold_in(jax.random.fold_in(c, level), key_id))(control)


def _members(ctx: _Run, level: int, names: tuple[str, ...]) -> list[branch.Member]:
    """Returns the level's networks, branch by branch, replicates within a branch."""
    return [
        branch.Member(
            folder=files.branch_dir(files.current(ctx.run, r, level), name),
            replicate=r,
            label=f"{name}.r{r}",
            record={"level": level, "branch": name},
        )
        for name in names
        for r in range(ctx.replicates)
    ]


def _run_level(ctx: _Run, level: int) -> None:
    """Trains every branch of ``level`` (ticket and controls, all replicates, as
    one vmap axis in chunks of ``parallel.max_vmap``) and moves the level into place."""
    for r in range(ctx.replicates):
        files.current(ctx.run, r, level).mkdir(parents=True, exist_ok=True)
    names = ctx.plan.branches if level else ("ticket",)
    members = _members(ctx, level, names)
    ctx.units.bar.set_description(f"level {level}/{ctx.plan.levels - 1}")
    if not branch.done([m.folder for m in members]):
        inputs = _level_inputs(ctx, level)
        faults.point("level_inputs", level=level)
        mask = branch.stack_of({n: inputs[n][0] for n in names}, list(names))
        start = branch.stack_of({n: inputs[n][1] for n in names}, list(names))
        trainer = inputs[names[0]][2]
        save_at = None
        if level == 0 and ctx.plan.mode == "step":
            save_at = ctx.plan.rewind_step
        elif level == 0:  # the rewind point is the initialization (k = 0)
            folders = [m.folder for m in members]
            for folder in folders:
                folder.mkdir(parents=True, exist_ok=True)
            branch.save_each(folders, "rewind", start)
        first = 0 if level == 0 else ctx.plan.start_step
        resume = ctx.run / "resume" / f"level_{level}"
        branch.train_members(members, mask, start, trainer, ctx.units, resume, first, save_at)
    else:
        ctx.units.bar.update(_level_steps(ctx, level))
    for r in range(ctx.replicates):
        staged = files.level_dir(ctx.run, r, level, staged=True)
        if staged.is_dir():
            staged.rename(files.level_dir(ctx.run, r, level))
            faults.point("level_renamed", level=level, replicate=r)
    shutil.rmtree(ctx.run / "resume" / f"level_{level}", ignore_errors=True)
    with contextlib.suppress(OSError):  # only when empty
        (ctx.run / "resume").rmdir()
    faults.point("level_done", level=level)


def run_imp(cfg: ml_collections.ConfigDict, workdir: str | Path, progress: bool = True) -> dict:
    """Runs (or resumes) the IMP experiment of ``cfg`` and returns its summary,
    also written to ``<run>/summary.json`` after every level (see ``summarize``).

    Everything is validated before the run directory is created; a finished run
    returns its summary without training.
    """
    began = time.perf_counter()
    dense, dataset = experiment_lib.build(cfg)
    p = imp_plan.plan(cfg, dense)
    existing = runs.finished_summary(runs.run_dir(workdir, cfg))
    if existing is not None and existing.get("complete"):
        return existing
    run = runs.open_run(workdir, cfg)
    with runs.lock(run):
        faults.point("locked")
        return run_levels(cfg, run, dense, dataset, p, progress, began)


def run_levels(
    cfg: ml_collections.ConfigDict,
    run: Path,
    dense: train_lib.Trainer,
    dataset,
    p: Plan,
    progress: bool = True,
    began: float | None = None,
    dense_from: Path | None = None,
) -> dict:
    """Runs (or resumes) every level of ``p`` in the open, locked folder ``run``
    (which holds ``config.json``) and returns the summary, written to
    ``run/summary.json``. ``dense_from``: another IMP folder of the same config
    up to ``imp.structure`` whose finished level 0 (the dense network, the same
    computation) is copied instead of trained again."""
    began = time.perf_counter() if began is None else began
    retrain = imp_plan.retrain_trainer(dense, cfg, p)
    bar = tqdm.tqdm(disable=not progress, unit="it", leave=False)
    keys = experiment_lib.replicate_keys(cfg.seed, cfg.replicates)
    ctx = _Run(
        cfg=cfg,
        run=run,
        dense=dense,
        retrain=retrain,
        plan=p,
        keys=keys,
        templates=files.templates(dense),
        units=branch.Context(
            dataset=dataset,
            data_keys=keys["data"],
            eval_every=cfg.train.eval_every,
            checkpoint_every=p.checkpoint_every,
            prunable=p.prunable,
            bar=bar,
            max_vmap=int(cfg.parallel.max_vmap),
        ),
    )
    if dense_from is not None:
        _copy_dense(dense_from, run, ctx.replicates)
    bar.total = sum(_level_steps(ctx, level) for level in range(p.levels))
    with bar:
        for level in range(p.levels):
            if files.level_done(run, level, ctx.replicates):
                bar.update(_level_steps(ctx, level))
                continue
            _run_level(ctx, level)
            summary = files.summarize(run, p, time.perf_counter() - began)
            runs.write_json(run / runs.SUMMARY_FILE, summary)
    summary = files.summarize(run, p, time.perf_counter() - began)
    runs.write_json(run / runs.SUMMARY_FILE, summary)
    return summary


def _copy_dense(source: Path, run: Path, replicates: int) -> None:
    """Copies ``source``'s finished level 0 into ``run`` (staged, then renamed)."""
    if not files.level_done(source, 0, replicates) or files.level_done(run, 0, replicates):
        return
    for r in range(replicates):
        final = files.level_dir(run, r, 0)
        if final.is_dir():
            continue
        staged = files.level_dir(run, r, 0, staged=True)
        shutil.rmtree(staged, ignore_errors=True)
        shutil.copytree(files.level_dir(source, r, 0), staged)
        staged.rename(final)


def _level_steps(ctx: _Run, level: int) -> int:
    """Returns the network-steps of ``level``: training steps summed over its
    branches and replicates."""
    if level == 0:
        return ctx.replicates * ctx.dense.total_steps
    per = ctx.retrain.total_steps - ctx.plan.start_step
    return len(ctx.plan.branches) * ctx.replicates * per
