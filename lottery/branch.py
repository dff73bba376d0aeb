"""Resumable training units: many masked networks of one shape (replicates,
and the control branches or ablations beside them), trained as one vmap axis
from given starting weights, with their files written per network.

IMP levels (ticket and controls) and pruning-at-initialization sweeps list their
networks as ``Member``s; ``train_members`` groups them ``parallel.max_vmap`` at a
time into ``Unit``s, each one compiled program. On the CPU a member's results do
not depend on the group it trained in (bit for bit, for models without
BatchNorm; see ``lottery.xla_flags``). A unit writes, into each member's
folder: ``mask/``, ``init/`` (the masked starting weights), ``final/`` (the
trained weights), optionally ``rewind/`` (the weights at a chosen step), and
``metrics.json`` last, which marks the member done. Training states are saved
every ``checkpoint_every`` steps under ``resume_dir`` and the unit resumes from
the latest one; a damaged one is removed with a warning and the unit restarts
from its start. Weights are
``{"params", "model_state"}`` trees.
"""

from __future__ import annotations

import dataclasses
import hashlib
import shutil
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import jax
import jax.numpy as jnp
import numpy as np

from lottery import checkpoint, faults, runs
from lottery import masks as masks_lib
from lottery import train as train_lib
from lottery.errors import LotteryError

PyTree = Any
METRICS = "metrics.json"


@dataclasses.dataclass(frozen=True)
class Member:
    """One network to train: ``folder`` receives its files, ``replicate`` is the
    replicate whose data order it sees (and is written as ``replicate``),
    ``label`` names it uniquely within its experiment (e.g. ``"reinit.r2"``), and
    ``record`` is merged into its metrics.json (e.g. ``{"level": 3, "branch":
    "reinit"}``)."""

    folder: Path
    replicate: int
    label: str
    record: dict = dataclasses.field(default_factory=dict)


@dataclasses.dataclass
class Unit:
    """What to train as one vmapped program: ``members`` (one per entry of the
    leading axis of ``mask`` and ``start``); training runs steps ``first_step ..
    trainer.total_steps``; ``save_at`` is a step whose weights are saved as
    ``rewind/`` (None: none)."""

    members: list[Member]
    resume_dir: Path
    trainer: train_lib.Trainer
    mask: PyTree
    start: PyTree
    first_step: int = 0
    save_at: int | None = None

    @property
    def folders(self) -> list[Path]:
        """Returns the members' folders, in order."""
        return [Path(m.folder) for m in self.members]


@dataclasses.dataclass
class Context:
    """What every unit of an experiment shares: the data and its per-replicate
    keys, evaluation and checkpoint intervals (in steps and epochs), which leaves
    are prunable (for densities), a progress bar with ``update`` (counting one
    step of one network as one), a cache of jitted helpers, and ``max_vmap``: the
    most networks trained in one program (``parallel.max_vmap``; 0: no cap)."""

    dataset: Any
    data_keys: jax.Array
    eval_every: int
    checkpoint_every: int
    prunable: PyTree
    bar: Any
    cache: dict = dataclasses.field(default_factory=dict)
    max_vmap: int = 0

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


def _finite_or_none(value: Any) -> Any:
    return value if not isinstance(value, float) or np.isfinite(value) else None


def _per_replicate(history: list[dict], r: int) -> list[dict]:
    return [
        {k: _finite_or_none(v[r] if isinstance(v, list) else v) for k, v in rec.items()}
        for rec in history
    ]


def metrics_record(
    history: list[dict],
    r: int,
    mask_r: PyTree,
    prunable: PyTree,
    diverged_epoch: int | None = None,
) -> dict:
    """Returns the metrics of entry ``r`` of a vmapped training: density and
    per-layer density of its mask over the prunable leaves, final and best test
    accuracy (first maximum) with its step, final losses, ``diverged`` and the
    evaluation history (``train`` adds the member's ``replicate``).

    A member whose loss became NaN or infinite (``diverged_epoch``, 1-based) is
    written with ``diverged: true``, that epoch, and null accuracies and losses (a
    NaN network's argmax is no measurement); its history keeps the epochs before,
    with non-finite values as null."""
    hist = _per_replicate(history, r)
    last = hist[-1]
    kept, total = masks_lib.count(mask_r, prunable)
    layers = masks_lib.layer_density(mask_r, prunable)
    out = {
        "density": int(kept) / total,
        "kept": int(kept),
        "total": total,
        "layer_density": {k: float(v) for k, v in layers.items()},
        "diverged": diverged_epoch is not None,
        "steps": last["step"],
        "history": hist,
    }
    measured = ("test_accuracy", "test_loss", "train_accuracy", "train_loss")
    if diverged_epoch is not None:
        out.update(dict.fromkeys(measured), best_test_accuracy=None, best_step=None)
        out["diverged_epoch"] = int(diverged_epoch)
        return out
    best = max(hist, key=lambda rec: rec["test_accuracy"])
    out.update({k: last[k] for k in measured})
    out.update(best_test_accuracy=best["test_accuracy"], best_step=best["step"])
    return out


def _restore(unit: Unit, template: PyTree) -> tuple[Any, dict]:
    """Returns ``(state, meta)`` from the unit's latest training checkpoint (meta:
    ``history`` and ``diverged``, member index to epoch), or ``(None, {})`` to
    start over (none saved; damaged, with a warning naming it; or past
    ``save_at`` with a ``rewind/`` missing)."""
    if not unit.resume_dir.is_dir():
        return None, {}
    try:
        with checkpoint.TrainCheckpoints(unit.resume_dir, keep=2) as ckpts:
            if ckpts.latest_step() is None:
                return None, {}
            state, meta = ckpts.restore(template)
    except LotteryError as err:
        warn(f"{err.message}; restarting this branch from its start")
        shutil.rmtree(unit.resume_dir, ignore_errors=True)
        return None, {}
    step = int(np.asarray(state.step)[0])
    if unit.save_at is not None and step > unit.save_at:
        missing = [f for f in unit.folders if not (Path(f) / "rewind").is_dir()]
        if missing:
            warn(f"'{missing[0] / 'rewind'}' is missing; restarting this branch from its start")
            shutil.rmtree(unit.resume_dir, ignore_errors=True)
            return None, {}
    return state, meta


def chunks(count: int, cap: int) -> list[range]:
    """Returns ``range(count)`` cut into consecutive pieces of at most ``cap``
    (0: one piece): how members are grouped into programs. The cut depends only
    on ``count`` and ``cap``, so a resumed run forms the same programs."""
    size = count if cap <= 0 else cap
    return [range(i, min(i + size, count)) for i in range(0, count, max(size, 1))]


def chunk_name(members: list[Member]) -> str:
    """Returns the folder name of a chunk's training states: its first and last
    labels and a short hash of all of them (so another grouping never resumes it)."""
    digest = hashlib.sha256("\n".join(m.label for m in members).encode()).hexdigest()[:8]
    return f"{members[0].label}..{members[-1].label}.{digest}"


def train_members(
    members: list[Member],
    mask: PyTree,
    start: PyTree,
    trainer: train_lib.Trainer,
    ctx: Context,
    resume_root: Path,
    first_step: int = 0,
    save_at: int | None = None,
) -> None:
    """Trains every member not yet done, ``ctx.max_vmap`` at a time as one vmapped
    program each (``mask`` and ``start`` stacked along the members), resuming
    each chunk from ``resume_root/<chunk_name>``; returns None. A chunk with any
    member unfinished is trained whole, so every member is always computed in the
    same program as in an uninterrupted run."""
    steps = trainer.total_steps - first_step
    for piece in chunks(len(members), ctx.max_vmap):
        group = [members[i] for i in piece]
        if done([m.folder for m in group]):
            ctx.bar.update(steps * len(group))
            continue
        take = np.asarray(piece)
        unit = Unit(
            members=group,
            resume_dir=Path(resume_root) / chunk_name(group),
            trainer=trainer,
            mask=jax.tree.map(lambda a, take=take: a[take], mask),
            start=jax.tree.map(lambda a, take=take: a[take], start),
            first_step=first_step,
            save_at=save_at,
        )
        train(unit, ctx)


def stack_of(trees: dict[Any, PyTree], order: list) -> PyTree:
    """Returns the stacked trees ``trees[key]`` (each with a leading axis) joined
    along that axis in ``order``."""
    return jax.tree.map(lambda *a: jnp.concatenate(a), *[trees[key] for key in order])


def train(unit: Unit, ctx: Context) -> None:
    """Trains ``unit`` (resuming from its last checkpoint) and writes its files;
    returns None. Advances ``ctx.bar`` by the network-steps trained or skipped."""
    trainer, k = unit.trainer, len(unit.members)
    for folder in unit.folders:
        Path(folder).mkdir(parents=True, exist_ok=True)
    where = {"level": unit.members[0].record.get("level"), "first": unit.members[0].label}
    save_each(unit.folders, "mask", unit.mask)
    faults.point("mask_saved", **where)
    data_keys = ctx.data_keys[np.asarray([m.replicate for m in unit.members])]

    def build():
        def one(w, m):
            return train_lib.state_from_params(trainer, w["params"], w["model_state"], m)

        return jax.jit(jax.vmap(one))

    init_state = ctx.compiled(f"init_state_{id(trainer)}", build)(unit.start, unit.mask)
    init_state = dataclasses.replace(init_state, step=jnp.full((k,), unit.first_step, jnp.int32))
    save_each(unit.folders, "init", weights(init_state))
    faults.point("init_saved", **where)
    template = jax.tree.map(lambda a: jax.ShapeDtypeStruct(a.shape, a.dtype), init_state)
    state, meta = _restore(unit, template)
    if state is None:
        state = init_state
    history = list(meta.get("history", []))
    diverged = {int(i): int(e) for i, e in meta.get("diverged", {}).items()}

    def on_diverged(i: int, epoch: int) -> None:
        if i not in diverged:
            diverged[i] = epoch
            member = unit.members[i]
            place = "".join(f"{k} {v}, " for k, v in member.record.items())
            warn(
                f"{place}{member.label}: the training loss became NaN or infinite in "
                f"epoch {epoch}; marked diverged (lower train.optimizer.learning_rate), "
                "the other networks go on"
            )

    step = int(np.asarray(state.step)[0])
    ctx.bar.update((step - unit.first_step) * k)
    total, every = trainer.total_steps, ctx.checkpoint_every
    stops = {s for s in range(every, total, every) if s > step} | {total}
    if unit.save_at is not None and unit.save_at > step:
        stops.add(unit.save_at)
    began = time.perf_counter()
    with checkpoint.TrainCheckpoints(unit.resume_dir, keep=2) as ckpts:
        for stop in sorted(stops):
            faults.point("segment", **where, step=step)
            state, hist = train_lib.fit(
                trainer,
                state,
                unit.mask,
                ctx.dataset,
                data_keys,
                replicated=True,
                eval_every=ctx.eval_every,
                progress=False,
                until=stop,
                on_diverged=on_diverged,
            )
            history = history + hist  # a new list: a started save may still read the old
            ctx.bar.update((stop - step) * k)
            step = stop
            if stop == unit.save_at:
                save_each(unit.folders, "rewind", weights(state))
                faults.point("rewind_saved", **where)
            if stop < total:
                ckpts.save(stop, state, {"history": history, "diverged": diverged})
                faults.point("checkpoint_started", **where, step=stop)
        ckpts.wait_until_finished()
    save_each(unit.folders, "final", weights(state))
    faults.point("final_saved", **where)
    seconds = round(time.perf_counter() - began, 3)
    host_mask = jax.device_get(unit.mask)
    for i, member in enumerate(unit.members):
        record = metrics_record(history, i, index(host_mask, i), ctx.prunable, diverged.get(i))
        record = {**member.record, **record, "replicate": member.replicate, "seconds": seconds}
        runs.write_json(Path(member.folder) / METRICS, record)
        faults.point("metrics_written", **where, member=i)
    shutil.rmtree(unit.resume_dir, ignore_errors=True)
    faults.point("unit_done", **where)
