"""One resumable training unit: K replicates of one masked network, trained as a
vmap axis from given starting weights, with their files written per replicate.

IMP levels (ticket and controls) and pruning-at-initialization sweeps are made of
these units. A unit writes, into each replicate's folder: ``mask/``, ``init/``
(the masked starting weights), ``final/`` (the trained weights), optionally
``rewind/`` (the weights at a chosen step), and ``metrics.json`` last, which
marks the unit done. Training states are saved every ``checkpoint_every`` steps
under ``resume_dir`` and the unit resumes from the latest one; a damaged one is
removed with a warning and the unit restarts from its start. Weights are
``{"params", "model_state"}`` trees.
"""

from __future__ import annotations

import dataclasses
import shutil
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import jax
import jax.numpy as jnp
import numpy as np

from lottery import checkpoint, runs
from lottery import masks as masks_lib
from lottery import train as train_lib
from lottery.errors import LotteryError

PyTree = Any
METRICS = "metrics.json"


@dataclasses.dataclass
class Unit:
    """What to train: ``folders[r]`` receives replicate r's files; ``mask`` and
    ``start`` carry a leading replicate axis; training runs steps
    ``first_step .. trainer.total_steps``; ``save_at`` is a step whose weights
    are saved as ``rewind/`` (None: none); ``record`` is merged into every
    replicate's metrics.json (e.g. ``{"level": 3, "branch": "reinit"}``), and
    ``extras[r]`` (if given) into replicate r's (e.g. its collapsed layers)."""

    folders: list[Path]
    resume_dir: Path
    trainer: train_lib.Trainer
    mask: PyTree
    start: PyTree
    first_step: int = 0
    save_at: int | None = None
    record: dict = dataclasses.field(default_factory=dict)
    extras: list[dict] | None = None


@dataclasses.dataclass
class Context:
    """What every unit of an experiment shares: the data and its per-replicate
    keys, evaluation and checkpoint intervals (in steps and epochs), which leaves
    are prunable (for densities), a progress bar with ``update``, and a cache of
    jitted helpers."""

    dataset: Any
    data_keys: jax.Array
    eval_every: int
    checkpoint_every: int
    prunable: PyTree
    bar: Any
    cache: dict = dataclasses.field(default_factory=dict)

    def compiled(self, name: str, build: Callable[[], Any]) -> Any:
        """Returns ``cache[name]``, built once by ``build()``."""
        if name not in self.cache:
            self.cache[name] = build()
        return self.cache[name]


def done(folders: list[Path]) -> bool:
    """Returns whether every replicate folder holds its metrics.json."""
    return all((Path(f) / METRICS).is_file() for f in folders)


def stack(trees: list[PyTree]) -> PyTree:
    """Returns the trees stacked along a new leading (replicate) axis."""
    return jax.tree.map(lambda *a: jnp.stack(a), *trees)


def index(tree: PyTree, i: int) -> PyTree:
    """Returns entry ``i`` of the leading (replicate) axis of every leaf."""
    return jax.tree.map(lambda a: a[i], tree)


def weights(state: train_lib.TrainState) -> PyTree:
    """Returns ``{"params", "model_state"}`` of a training state."""
    return {"params": state.params, "model_state": state.model_state}


def save_each(folders: list[Path], item: str, tree: PyTree) -> None:
    """Saves replicate ``r`` of the stacked ``tree`` to ``folders[r] / item``; returns None."""
    host = jax.device_get(tree)
    for r, folder in enumerate(folders):
        checkpoint.save_tree(Path(folder) / item, index(host, r), overwrite=True)


def load_each(folders: list[Path], item: str, template: PyTree) -> PyTree:
    """Returns ``item`` of every replicate folder, stacked; raises ``LotteryError``
    naming a missing or damaged folder."""
    return stack([checkpoint.restore_tree(Path(f) / item, template) for f in folders])


def warn(message: str) -> None:
    """Prints ``lottery: warning: <message>`` to stderr; returns None."""
    print(f"lottery: warning: {message}", file=sys.stderr)


def _per_replicate(history: list[dict], r: int) -> list[dict]:
    return [{k: (v[r] if isinstance(v, list) else v) for k, v in rec.items()} for rec in history]


def metrics_record(history: list[dict], r: int, mask_r: PyTree, prunable: PyTree) -> dict:
    """Returns replicate ``r``'s metrics: density and per-layer density of its
    mask over the prunable leaves, final and best test accuracy (first maximum)
    with its step, final losses, and the evaluation history."""
    hist = _per_replicate(history, r)
    last = hist[-1]
    best = max(hist, key=lambda rec: rec["test_accuracy"])
    kept, total = masks_lib.count(mask_r, prunable)
    layers = masks_lib.layer_density(mask_r, prunable)
    return {
        "replicate": r,
        "density": int(kept) / total,
        "kept": int(kept),
        "total": total,
        "layer_density": {k: float(v) for k, v in layers.items()},
        "test_accuracy": last["test_accuracy"],
        "test_loss": last["test_loss"],
        "train_accuracy": last["train_accuracy"],
        "train_loss": last["train_loss"],
        "best_test_accuracy": best["test_accuracy"],
        "best_step": best["step"],
        "steps": last["step"],
        "history": hist,
    }


def _restore(unit: Unit, template: PyTree) -> tuple[Any, list]:
    """Returns ``(state, history)`` from the unit's latest training checkpoint,
    or ``(None, [])`` to start over (none saved; damaged, with a warning naming it;
    or past ``save_at`` with a ``rewind/`` missing)."""
    if not unit.resume_dir.is_dir():
        return None, []
    try:
        with checkpoint.TrainCheckpoints(unit.resume_dir, keep=2) as ckpts:
            if ckpts.latest_step() is None:
                return None, []
            state, meta = ckpts.restore(template)
    except LotteryError as err:
        warn(f"{err.message}; restarting this branch from its start")
        shutil.rmtree(unit.resume_dir, ignore_errors=True)
        return None, []
    step = int(np.asarray(state.step)[0])
    if unit.save_at is not None and step > unit.save_at:
        missing = [f for f in unit.folders if not (Path(f) / "rewind").is_dir()]
        if missing:
            warn(f"'{missing[0] / 'rewind'}' is missing; restarting this branch from its start")
            shutil.rmtree(unit.resume_dir, ignore_errors=True)
            return None, []
    return state, list(meta["history"])


def train(unit: Unit, ctx: Context) -> None:
    """Trains ``unit`` (resuming from its last checkpoint) and writes its files;
    returns None. Advances ``ctx.bar`` by the steps trained or skipped."""
    trainer, k = unit.trainer, len(unit.folders)
    for folder in unit.folders:
        Path(folder).mkdir(parents=True, exist_ok=True)
    save_each(unit.folders, "mask", unit.mask)

    def build():
        def one(w, m):
            return train_lib.state_from_params(trainer, w["params"], w["model_state"], m)

        return jax.jit(jax.vmap(one))

    init_state = ctx.compiled(f"init_state_{id(trainer)}", build)(unit.start, unit.mask)
    init_state = dataclasses.replace(init_state, step=jnp.full((k,), unit.first_step, jnp.int32))
    save_each(unit.folders, "init", weights(init_state))
    template = jax.tree.map(lambda a: jax.ShapeDtypeStruct(a.shape, a.dtype), init_state)
    state, history = _restore(unit, template)
    if state is None:
        state, history = init_state, []
    step = int(np.asarray(state.step)[0])
    ctx.bar.update(step - unit.first_step)
    total, every = trainer.total_steps, ctx.checkpoint_every
    stops = {s for s in range(every, total, every) if s > step} | {total}
    if unit.save_at is not None and unit.save_at > step:
        stops.add(unit.save_at)
    began = time.perf_counter()
    with checkpoint.TrainCheckpoints(unit.resume_dir, keep=2) as ckpts:
        for stop in sorted(stops):
            state, hist = train_lib.fit(
                trainer,
                state,
                unit.mask,
                ctx.dataset,
                ctx.data_keys,
                replicated=True,
                eval_every=ctx.eval_every,
                progress=False,
                until=stop,
            )
            history += hist
            ctx.bar.update(stop - step)
            step = stop
            if stop == unit.save_at:
                save_each(unit.folders, "rewind", weights(state))
            if stop < total:
                ckpts.save(stop, state, {"history": history})
        ckpts.wait_until_finished()
    save_each(unit.folders, "final", weights(state))
    seconds = round(time.perf_counter() - began, 3)
    host_mask = jax.device_get(unit.mask)
    for r, folder in enumerate(unit.folders):
        record = metrics_record(history, r, index(host_mask, r), ctx.prunable)
        extra = unit.extras[r] if unit.extras else {}
        record = {**unit.record, **extra, **record, "seconds": seconds}
        runs.write_json(Path(folder) / METRICS, record)
    shutil.rmtree(unit.resume_dir, ignore_errors=True)
