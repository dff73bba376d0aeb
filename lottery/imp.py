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

Control branches (``lottery.controls``) run at every pruned level with the
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
import statistics
import sys
import time
from pathlib import Path
from typing import Any

import jax
import jax.numpy as jnp
import ml_collections
import numpy as np
import optax
import tqdm

from lottery import checkpoint, controls, runs, select
from lottery import experiment as experiment_lib
from lottery import masks as masks_lib
from lottery import train as train_lib
from lottery.errors import LotteryError
from lottery.prune import SCOPES, Target, prune
from lottery.schedules import make_optimizer, make_schedule, parse_duration
from lottery.scores.magnitude import magnitude

PyTree = Any
REWIND_WORDS = ("init", "lr", "finetune")
MAX_LEVELS = 1000


@dataclasses.dataclass(frozen=True)
class Plan:
    """A validated IMP config resolved against the model and data.

    ``mode`` is ``"init"``, ``"step"``, ``"lr"`` or ``"finetune"``;
    ``rewind_step`` is k (0 unless ``mode == "step"``); ``densities`` are the
    ticket's prunable densities at levels 0..levels-1 (exact: counts do not
    depend on the scores); ``prunable`` is a tree of Python bools.
    """

    levels: int
    densities: tuple[float, ...]
    fraction: float
    scope: str
    rates: dict
    prunable: Any
    mode: str
    rewind_step: int
    controls: tuple[str, ...]
    checkpoint_every: int

    @property
    def branches(self) -> tuple[str, ...]:
        """Returns ``("ticket", *controls)``."""
        return ("ticket", *self.controls)

    @property
    def start_step(self) -> int:
        """Returns the step at which levels >= 1 start training."""
        return self.rewind_step if self.mode == "step" else 0


def _renamed(err: LotteryError, old: str, new: str) -> LotteryError:
    field = new + err.field[len(old) :] if err.field.startswith(old) else err.field
    return LotteryError(field, err.message)


def _rewind_mode(text: str, trainer: train_lib.Trainer) -> tuple[str, int]:
    if text in REWIND_WORDS:
        return text, 0
    try:
        k = parse_duration(text, trainer.steps_per_epoch, "imp.rewind")
    except LotteryError:
        raise LotteryError(
            "imp.rewind",
            f"must be one of {', '.join(REWIND_WORDS)} or a step like '500it' or '2ep', "
            f"got {text!r}",
        ) from None
    if k >= trainer.total_steps:
        raise LotteryError(
            "imp.rewind",
            f"rewind step {k} is not before the end of training ({trainer.total_steps} steps)",
        )
    return ("step", k) if k > 0 else ("init", 0)


def plan(cfg: ml_collections.ConfigDict, trainer: train_lib.Trainer) -> Plan:
    """Returns the ``Plan`` of ``cfg.imp`` for ``trainer``'s model; raises
    ``LotteryError`` naming the first bad ``imp.*`` field."""
    imp = cfg.imp
    if not isinstance(imp.levels, int) or imp.levels < 1:
        raise LotteryError("imp.levels", f"must be a positive integer, got {imp.levels!r}")
    if not 0.0 < float(imp.fraction) < 1.0:
        raise LotteryError("imp.fraction", f"must be in (0, 1), got {imp.fraction}")
    if not 0.0 <= float(imp.target_density) < 1.0:
        raise LotteryError(
            "imp.target_density", f"must be in (0, 1), or 0 for none; got {imp.target_density}"
        )
    if imp.scope not in SCOPES:
        allowed = ", ".join(SCOPES)
        raise LotteryError("imp.scope", f"unknown scope '{imp.scope}'; allowed: {allowed}")
    names = list(imp.controls)
    for name in names:
        if name not in controls.CONTROLS:
            allowed = ", ".join(controls.CONTROLS)
            raise LotteryError("imp.controls", f"unknown control '{name}'; allowed: {allowed}")
    if len(set(names)) != len(names):
        raise LotteryError("imp.controls", f"lists a control twice: {names}")
    mode, k = _rewind_mode(imp.rewind, trainer)
    every = parse_duration(imp.checkpoint_every, trainer.steps_per_epoch, "imp.checkpoint_every")
    if every < 1:
        raise LotteryError("imp.checkpoint_every", "must be at least one step")
    params, _ = jax.eval_shape(trainer.model.init, jax.random.key(0))
    try:
        prunable = select.prunable(params, leaf_names=tuple(imp.leaves), exclude=tuple(imp.exclude))
        rates = {str(k_): float(v) for k_, v in imp.rates.items()}
        select.layer_rates(params, rates, prunable)
    except LotteryError as err:
        raise _renamed(err, "prune.", "imp.") from None
    if not any(jax.tree.leaves(prunable)):
        raise LotteryError("imp.leaves", f"no parameter is prunable with leaves {imp.leaves}")
    densities = _densities(params, prunable, float(imp.fraction), imp.scope, rates, imp)
    return Plan(
        levels=len(densities),
        densities=tuple(densities),
        fraction=float(imp.fraction),
        scope=imp.scope,
        rates=rates,
        prunable=prunable,
        mode=mode,
        rewind_step=k,
        controls=tuple(names),
        checkpoint_every=every,
    )


def _densities(params, prunable, fraction, scope, rates, imp) -> list[float]:
    """Returns the ticket densities per level: counts never depend on the scores,
    so pruning all-zero scores gives the exact counts of every replicate."""
    mask = jax.tree.map(lambda p: jnp.ones(p.shape, bool), params)
    zeros = jax.tree.map(lambda p: jnp.zeros(p.shape, jnp.float32), params)
    step = jax.jit(lambda m: prune(zeros, m, Target.remove(fraction), scope, rates, prunable))
    target = float(imp.target_density)
    densities = [1.0]
    while True:
        if target > 0 and densities[-1] <= target:
            break
        if target == 0 and len(densities) >= imp.levels:
            break
        if len(densities) >= MAX_LEVELS:
            raise LotteryError(
                "imp.target_density", f"not reached within {MAX_LEVELS} levels; raise imp.fraction"
            )
        new = step(mask)
        if jax.tree.all(jax.tree.map(lambda a, b: bool(jnp.all(a == b)), mask, new)):
            raise LotteryError(
                "imp.target_density",
                f"{target} cannot be reached: pruning stops at density {densities[-1]:.4g}",
            )
        mask = new
        densities.append(float(masks_lib.density(mask, prunable)))
    return densities


def retrain_trainer(
    trainer: train_lib.Trainer, cfg: ml_collections.ConfigDict, p: Plan
) -> train_lib.Trainer:
    """Returns the trainer of levels >= 1: ``trainer`` itself for rewinding to
    init and learning-rate rewinding; the schedule shifted to start at k for
    rewinding to step k; a constant schedule at the final learning rate for
    fine-tuning. Each level starts with a fresh optimizer state."""
    if p.mode in ("init", "lr"):
        return trainer
    schedule = make_schedule(cfg.train, trainer.total_steps, trainer.steps_per_epoch)
    if p.mode == "finetune":
        shifted = optax.constant_schedule(float(schedule(trainer.total_steps - 1)))
    else:
        k = p.rewind_step

        def shifted(count):
            return schedule(count + k)

    return dataclasses.replace(trainer, optimizer=make_optimizer(cfg.train, shifted))


# ----------------------------------------------------------------------------- layout


def level_dir(run: Path, replicate: int, level: int, staged: bool = False) -> Path:
    """Returns ``<run>/replicate_<r>/level_<L>`` (or its ``.partial`` staging folder)."""
    name = f".level_{level}.partial" if staged else f"level_{level}"
    return Path(run) / f"replicate_{replicate}" / name


def branch_dir(level_path: Path, branch: str) -> Path:
    """Returns the folder of ``branch`` inside a level folder (the ticket's is the level's)."""
    return level_path if branch == "ticket" else level_path / f"branch_{branch}"


def _current(run: Path, replicate: int, level: int) -> Path:
    final = level_dir(run, replicate, level)
    return final if final.is_dir() else level_dir(run, replicate, level, staged=True)


def _level_done(run: Path, level: int, replicates: int) -> bool:
    return all(level_dir(run, r, level).is_dir() for r in range(replicates))


def _branch_done(run: Path, level: int, branch: str, replicates: int) -> bool:
    return all(
        (branch_dir(_current(run, r, level), branch) / "metrics.json").is_file()
        for r in range(replicates)
    )


# ----------------------------------------------------------------------------- helpers


def _stack(trees: list[PyTree]) -> PyTree:
    return jax.tree.map(lambda *a: jnp.stack(a), *trees)


def _index(tree: PyTree, i: int) -> PyTree:
    return jax.tree.map(lambda a: a[i], tree)


@dataclasses.dataclass(frozen=True)
class _Templates:
    weights: PyTree
    mask: PyTree


def _templates(trainer: train_lib.Trainer) -> _Templates:
    params, model_state = jax.eval_shape(trainer.model.init, jax.random.key(0))
    return _Templates(
        weights={"params": params, "model_state": model_state},
        mask=jax.tree.map(lambda p: jax.ShapeDtypeStruct(p.shape, jnp.bool_), params),
    )


def _load(run: Path, level: int, branch: str, item: str, template: PyTree, k: int) -> PyTree:
    return _stack(
        [
            checkpoint.restore_tree(branch_dir(level_dir(run, r, level), branch) / item, template)
            for r in range(k)
        ]
    )


def _save_each(stage_dirs: list[Path], item: str, tree: PyTree) -> None:
    host = jax.device_get(tree)
    for r, folder in enumerate(stage_dirs):
        checkpoint.save_tree(folder / item, _index(host, r), overwrite=True)


def _history_of(history: list[dict], r: int) -> list[dict]:
    per = []
    for rec in history:
        per.append({k: (v[r] if isinstance(v, list) else v) for k, v in rec.items()})
    return per


def _metrics(history, r, level, branch, mask_r, p: Plan, seconds: float) -> dict:
    hist = _history_of(history, r)
    last = hist[-1]
    best = max(hist, key=lambda rec: rec["test_accuracy"])  # first maximum
    kept, total = masks_lib.count(mask_r, p.prunable)
    return {
        "level": level,
        "branch": branch,
        "replicate": r,
        "density": int(kept) / total,
        "kept": int(kept),
        "total": total,
        "layer_density": {
            k: float(v) for k, v in masks_lib.layer_density(mask_r, p.prunable).items()
        },
        "test_accuracy": last["test_accuracy"],
        "test_loss": last["test_loss"],
        "train_accuracy": last["train_accuracy"],
        "train_loss": last["train_loss"],
        "best_test_accuracy": best["test_accuracy"],
        "best_step": best["step"],
        "steps": last["step"],
        "history": hist,
        "seconds": round(seconds, 3),
    }


def _warn(message: str) -> None:
    print(f"lottery: warning: {message}", file=sys.stderr)


# ----------------------------------------------------------------------------- driver


@dataclasses.dataclass
class _Run:
    cfg: ml_collections.ConfigDict
    run: Path
    dense: train_lib.Trainer
    retrain: train_lib.Trainer
    dataset: Any
    plan: Plan
    keys: dict
    templates: _Templates
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
    stages = [branch_dir(_current(ctx.run, r, level), branch) for r in range(k)]
    for folder in stages:
        folder.mkdir(parents=True, exist_ok=True)
    _save_each(stages, "mask", mask)

    def build():
        return jax.jit(
            jax.vmap(
                lambda w, m: train_lib.state_from_params(trainer, w["params"], w["model_state"], m)
            )
        )

    init_state = ctx.compiled(f"init_state_{id(trainer)}", build)(start, mask)
    init_state = dataclasses.replace(init_state, step=jnp.full((k,), first, jnp.int32))
    _save_each(stages, "init", {"params": init_state.params, "model_state": init_state.model_state})
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
                weights = {"params": state.params, "model_state": state.model_state}
                _save_each(stages, "rewind", weights)
            if stop < total:
                ckpts.save(stop, state, {"history": history})
        ckpts.wait_until_finished()
    if level == 0 and rewind_at is None:  # rewinding to init (or lr/finetune): k = 0
        _save_each(
            stages, "rewind", {"params": start["params"], "model_state": start["model_state"]}
        )
    _save_each(stages, "final", {"params": state.params, "model_state": state.model_state})
    seconds = time.perf_counter() - began
    host_mask = jax.device_get(mask)
    for r, folder in enumerate(stages):
        record = _metrics(history, r, level, branch, _index(host_mask, r), ctx.plan, seconds)
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
        _warn(f"{err.message}; restarting this branch from its start")
        shutil.rmtree(resume_dir, ignore_errors=True)
        return None, []
    step = int(np.asarray(state.step)[0])
    if rewind_at is not None and step > rewind_at:
        missing = [f for f in stages if not (f / "rewind").is_dir()]
        if missing:
            _warn(f"'{missing[0] / 'rewind'}' is missing; restarting the dense level")
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
    prev_mask = _load(ctx.run, level - 1, "ticket", "mask", t.mask, k)
    trained = _load(ctx.run, level - 1, "ticket", "final", t.weights, k)
    p = ctx.plan

    def prune_one(params, mask):
        return prune(
            magnitude(params), mask, Target.remove(p.fraction), p.scope, p.rates, p.prunable
        )

    mask = ctx.compiled("prune", lambda: jax.jit(jax.vmap(prune_one)))(trained["params"], prev_mask)
    if p.mode in ("init", "step"):
        start = _load(ctx.run, 0, "ticket", "rewind", t.weights, k)
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
        _current(ctx.run, r, level).mkdir(parents=True, exist_ok=True)
    inputs = None
    for branch in ctx.plan.branches if level else ("ticket",):
        trainer = ctx.dense if level == 0 else ctx.retrain
        steps = trainer.total_steps - first
        if _branch_done(ctx.run, level, branch, ctx.replicates):
            ctx.bar.update(steps)
            continue
        if inputs is None:
            inputs = _level_inputs(ctx, level)
        mask, start, trainer = inputs[branch]
        _train_branch(ctx, level, branch, mask, start, trainer, first)
    for r in range(ctx.replicates):
        staged = level_dir(ctx.run, r, level, staged=True)
        if staged.is_dir():
            staged.rename(level_dir(ctx.run, r, level))
    shutil.rmtree(ctx.run / "resume" / f"level_{level}", ignore_errors=True)
    with contextlib.suppress(OSError):  # only when empty
        (ctx.run / "resume").rmdir()


def _total_steps(p: Plan, dense: train_lib.Trainer, retrain: train_lib.Trainer) -> int:
    later = (p.levels - 1) * len(p.branches) * (retrain.total_steps - p.start_step)
    return dense.total_steps + later


def run_imp(cfg: ml_collections.ConfigDict, workdir: str | Path, progress: bool = True) -> dict:
    """Runs (or resumes) the IMP experiment of ``cfg`` and returns its summary,
    also written to ``<run>/summary.json`` after every level (see ``summarize``).

    Everything is validated before the run directory is created; a finished run
    returns its summary without training.
    """
    began = time.perf_counter()
    dense, dataset = experiment_lib.build(cfg)
    p = plan(cfg, dense)
    retrain = retrain_trainer(dense, cfg, p)
    existing = runs.finished_summary(runs.run_dir(workdir, cfg))
    if existing is not None and existing.get("complete"):
        return existing
    run = runs.open_run(workdir, cfg)
    with runs.lock(run):
        bar = tqdm.tqdm(
            total=_total_steps(p, dense, retrain), disable=not progress, unit="it", leave=False
        )
        ctx = _Run(
            cfg=cfg,
            run=run,
            dense=dense,
            retrain=retrain,
            dataset=dataset,
            plan=p,
            keys=experiment_lib.replicate_keys(cfg.seed, cfg.replicates),
            templates=_templates(dense),
            bar=bar,
        )
        with bar:
            for level in range(p.levels):
                if _level_done(run, level, ctx.replicates):
                    bar.update(_level_steps(p, dense, retrain, level))
                    continue
                _run_level(ctx, level)
                summary = summarize(run, p, time.perf_counter() - began)
                runs.write_json(run / runs.SUMMARY_FILE, summary)
        summary = summarize(run, p, time.perf_counter() - began)
        runs.write_json(run / runs.SUMMARY_FILE, summary)
    return summary


def _level_steps(p: Plan, dense, retrain, level: int) -> int:
    if level == 0:
        return dense.total_steps
    return len(p.branches) * (retrain.total_steps - p.start_step)


# ----------------------------------------------------------------------------- summary


def _mean_std(values: list[float]) -> tuple[float, float]:
    return statistics.fmean(values), (statistics.pstdev(values) if len(values) > 1 else 0.0)


def _branch_summary(records: list[dict]) -> dict:
    accs = [rec["test_accuracy"] for rec in records]
    mean, std = _mean_std(accs)
    return {
        "mean": mean,
        "std": std,
        "per_replicate": accs,
        "best_step": statistics.fmean(rec["best_step"] for rec in records),
        "best_accuracy": statistics.fmean(rec["best_test_accuracy"] for rec in records),
    }


def summarize(run: str | Path, p: Plan, wall_seconds: float) -> dict:
    """Returns the IMP summary of the finished levels in ``run``: ``kind`` ("imp"),
    ``run_dir``, ``name``, ``wall_seconds`` (of this invocation), ``replicates``,
    ``rewind``, ``branches``, ``complete``, and ``levels``: one object per finished
    level with ``level``, ``density`` (kept fraction of the prunable weights),
    ``layer_density`` (mean over replicates) and per branch
    ``{"mean", "std", "per_replicate", "best_step", "best_accuracy"}`` of the
    final test accuracy over replicates (controls from level 1 on)."""
    run = Path(run)
    cfg = runs.read_json(run / runs.CONFIG_FILE)
    k = int(cfg["replicates"])
    levels = []
    for level in range(p.levels):
        if not _level_done(run, level, k):
            break
        entry: dict[str, Any] = {"level": level}
        for branch in p.branches if level else ("ticket",):
            records = [
                runs.read_json(branch_dir(level_dir(run, r, level), branch) / "metrics.json")
                for r in range(k)
            ]
            if branch == "ticket":
                entry["density"] = records[0]["density"]
                entry["layer_density"] = {
                    name: statistics.fmean(rec["layer_density"][name] for rec in records)
                    for name in records[0]["layer_density"]
                }
            entry[branch] = _branch_summary(records)
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
