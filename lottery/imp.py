"""Iterative magnitude pruning (IMP) with rewinding and control branches.

Frankle & Carbin (2019), "The Lottery Ticket Hypothesis": level 0 trains the
dense network; each later level removes ``imp.fraction`` of the remaining
prunable weights by the magnitude of the previous level's *trained* weights
(globally or per layer, with per-layer rate multipliers such as the output layer
at half rate), rewinds, and retrains. Rewinding (``imp.rewind``):

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
ticket's exact per-layer counts. Replicates are a ``vmap`` axis of one compiled
program; branches run one after another.

On disk (``<run>`` is ``<workdir>/<name>_<hash>``)::

    <run>/config.json                   written first
    <run>/lock                          held while a process works on the run
    <run>/replicate_<r>/level_<L>/      the ticket: mask/ init/ final/ metrics.json
                                        (level 0 also rewind/)
    <run>/replicate_<r>/level_<L>/branch_<name>/   each control, same files
    <run>/resume/level_<L>/<branch>/<step>/        training states (deleted when done)
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
import jax.numpy as jnp
import ml_collections
import numpy as np
import tqdm

from lottery import checkpoint, controls, imp_plan, runs
from lottery import experiment as experiment_lib
from lottery import imp_files as files
from lottery import masks as masks_lib
from lottery import train as train_lib
from lottery.errors import LotteryError
from lottery.imp_files import branch_dir, level_dir, summarize
from lottery.imp_plan import Plan, plan, retrain_trainer
from lottery.prune import Target, prune
from lottery.scores.magnitude import magnitude

PyTree = Any
__all__ = ["Plan", "branch_dir", "level_dir", "plan", "retrain_trainer", "run_imp", "summarize"]


@dataclasses.dataclass
class _Run:
    cfg: ml_collections.ConfigDict
    run: Path
    dense: train_lib.Trainer
    retrain: train_lib.Trainer
    dataset: Any
    plan: Plan
    keys: dict
    templates: files.Templates
    bar: Any
    cache: dict = dataclasses.field(default_factory=dict)

    def compiled(self, name: str, build) -> Any:
        """Returns ``self.cache[name]``, built once by ``build()`` (jitted helpers
        reused by every level instead of being traced again)."""
        if name not in self.cache:
            self.cache[name] = build()
        return self.cache[name]

    @property
    def replicates(self) -> int:
        return int(self.cfg.replicates)


def _train_branch(
    ctx: _Run, level: int, branch: str, mask: PyTree, start: PyTree, trainer, first: int
) -> None:
    """Trains one branch of one level (all replicates), resuming from its last
    checkpoint, and writes mask/, init/, final/ (and rewind/) and metrics.json."""
    k = ctx.replicates
    stages = [files.branch_dir(files.current(ctx.run, r, level), branch) for r in range(k)]
    for folder in stages:
        folder.mkdir(parents=True, exist_ok=True)
    files.save_each(stages, "mask", mask)

    def build():
        return jax.jit(
            jax.vmap(
                lambda w, m: train_lib.state_from_params(trainer, w["params"], w["model_state"], m)
            )
        )

    init_state = ctx.compiled(f"init_state_{id(trainer)}", build)(start, mask)
    init_state = dataclasses.replace(init_state, step=jnp.full((k,), first, jnp.int32))
    files.save_each(stages, "init", _weights(init_state))
    rewind_at = ctx.plan.rewind_step if (level == 0 and ctx.plan.mode == "step") else None
    resume_dir = ctx.run / "resume" / f"level_{level}" / branch
    template = jax.tree.map(lambda a: jax.ShapeDtypeStruct(a.shape, a.dtype), init_state)
    state, history = _restore(resume_dir, template, stages, rewind_at)
    if state is None:
        state, history = init_state, []
    step = int(np.asarray(state.step)[0])
    ctx.bar.update(step - first)
    ctx.bar.set_description(f"level {level}/{ctx.plan.levels - 1} {branch}")
    total, every = trainer.total_steps, ctx.plan.checkpoint_every
    stops = sorted(
        {s for s in range(every, total, every) if s > step}
        | ({rewind_at} if rewind_at is not None and rewind_at > step else set())
        | {total}
    )
    began = time.perf_counter()
    with checkpoint.TrainCheckpoints(resume_dir, keep=2) as ckpts:
        for stop in stops:
            state, hist = train_lib.fit(
                trainer,
                state,
                mask,
                ctx.dataset,
                ctx.keys["data"],
                replicated=True,
                eval_every=ctx.cfg.train.eval_every,
                progress=False,
                until=stop,
            )
            history += hist
            ctx.bar.update(stop - step)
            step = stop
            if stop == rewind_at:
                files.save_each(stages, "rewind", _weights(state))
            if stop < total:
                ckpts.save(stop, state, {"history": history})
        ckpts.wait_until_finished()
    if level == 0 and rewind_at is None:  # rewinding to init (or lr/finetune): k = 0
        files.save_each(stages, "rewind", start)
    files.save_each(stages, "final", _weights(state))
    seconds = time.perf_counter() - began
    host_mask = jax.device_get(mask)
    for r, folder in enumerate(stages):
        record = files.metrics(
            history, r, level, branch, files.index(host_mask, r), ctx.plan, seconds
        )
        runs.write_json(folder / "metrics.json", record)
    shutil.rmtree(resume_dir, ignore_errors=True)


def _restore(resume_dir: Path, template, stages, rewind_at) -> tuple[Any, list]:
    """Returns ``(state, history)`` from the branch's latest training checkpoint,
    or ``(None, [])`` to start the branch over (none saved, or damaged: then the
    checkpoints are removed with a warning naming them)."""
    if not resume_dir.is_dir():
        return None, []
    try:
        with checkpoint.TrainCheckpoints(resume_dir, keep=2) as ckpts:
            if ckpts.latest_step() is None:
                return None, []
            state, meta = ckpts.restore(template)
    except LotteryError as err:
        files.warn(f"{err.message}; restarting this branch from its start")
        shutil.rmtree(resume_dir, ignore_errors=True)
        return None, []
    step = int(np.asarray(state.step)[0])
    if rewind_at is not None and step > rewind_at:
        missing = [f for f in stages if not (f / "rewind").is_dir()]
        if missing:
            files.warn(f"'{missing[0] / 'rewind'}' is missing; restarting the dense level")
            shutil.rmtree(resume_dir, ignore_errors=True)
            return None, []
    return state, list(meta["history"])


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
    p = ctx.plan

    def prune_one(params, mask):
        return prune(
            magnitude(params), mask, Target.remove(p.fraction), p.scope, p.rates, p.prunable
        )

    mask = ctx.compiled("prune", lambda: jax.jit(jax.vmap(prune_one)))(trained["params"], prev_mask)
    if p.mode in ("init", "step"):
        start = files.load(ctx.run, 0, "ticket", "rewind", t.weights, k)
    else:
        start = trained
    out = {"ticket": (mask, start, ctx.retrain)}
    for name in p.controls:
        key_id = list(controls.CONTROLS).index(name)
        level_keys = _control_keys(ctx.keys["control"], level, key_id)
        control_ctx = controls.Context(mask, prev_mask, trained["params"], start, level_keys)
        fn = controls.CONTROLS[name]

        def build(fn=fn):
            return jax.jit(jax.vmap(lambda c: fn(c, ctx.dense.model, p.prunable)))

        cmask, cstart = ctx.compiled(f"control_{name}", build)(control_ctx)
        out[name] = (cmask, cstart, ctx.retrain)
    return out


def _control_keys(control: jax.Array, level: int, key_id: int) -> jax.Array:
    """Returns the per-replicate keys of one control at one level:
    ``fold_in(fold_in(control stream, level), control id)``."""
    return jax.vmap(lambda c: jax.random.fold_in(jax.random.fold_in(c, level), key_id))(control)


def _run_level(ctx: _Run, level: int) -> None:
    first = 0 if level == 0 else ctx.plan.start_step
    for r in range(ctx.replicates):
        files.current(ctx.run, r, level).mkdir(parents=True, exist_ok=True)
    inputs = None
    for branch in ctx.plan.branches if level else ("ticket",):
        if files.branch_done(ctx.run, level, branch, ctx.replicates):
            ctx.bar.update(_level_steps(ctx, level) // (len(ctx.plan.branches) if level else 1))
            continue
        if inputs is None:
            inputs = _level_inputs(ctx, level)
        mask, start, trainer = inputs[branch]
        _train_branch(ctx, level, branch, mask, start, trainer, first)
    for r in range(ctx.replicates):
        staged = files.level_dir(ctx.run, r, level, staged=True)
        if staged.is_dir():
            staged.rename(files.level_dir(ctx.run, r, level))
    shutil.rmtree(ctx.run / "resume" / f"level_{level}", ignore_errors=True)
    with contextlib.suppress(OSError):  # only when empty
        (ctx.run / "resume").rmdir()


def run_imp(cfg: ml_collections.ConfigDict, workdir: str | Path, progress: bool = True) -> dict:
    """Runs (or resumes) the IMP experiment of ``cfg`` and returns its summary,
    also written to ``<run>/summary.json`` after every level (see ``summarize``).

    Everything is validated before the run directory is created; a finished run
    returns its summary without training.
    """
    began = time.perf_counter()
    dense, dataset = experiment_lib.build(cfg)
    p = imp_plan.plan(cfg, dense)
    retrain = imp_plan.retrain_trainer(dense, cfg, p)
    existing = runs.finished_summary(runs.run_dir(workdir, cfg))
    if existing is not None and existing.get("complete"):
        return existing
    run = runs.open_run(workdir, cfg)
    with runs.lock(run):
        bar = tqdm.tqdm(disable=not progress, unit="it", leave=False)
        ctx = _Run(
            cfg=cfg,
            run=run,
            dense=dense,
            retrain=retrain,
            dataset=dataset,
            plan=p,
            keys=experiment_lib.replicate_keys(cfg.seed, cfg.replicates),
            templates=files.templates(dense),
            bar=bar,
        )
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


def _level_steps(ctx: _Run, level: int) -> int:
    """Returns the training steps of ``level`` summed over its branches."""
    if level == 0:
        return ctx.dense.total_steps
    return len(ctx.plan.branches) * (ctx.retrain.total_steps - ctx.plan.start_step)


def _weights(state: train_lib.TrainState) -> PyTree:
    return {"params": state.params, "model_state": state.model_state}
