"""Experiments from a config: build the model and data, train, write the run.

``build`` checks everything that can be checked before any file is written
(model and dataset options, batch size against the data, durations), so bad
input never leaves a run directory behind.
"""

from __future__ import annotations

import dataclasses
import statistics
import time
from pathlib import Path
from typing import Any

import jax
import jax.numpy as jnp
import ml_collections
import numpy as np

from lottery import branch, rng, runs, select
from lottery import config as config_lib
from lottery import data as data_lib
from lottery import mesh as mesh_lib
from lottery import models as models_lib
from lottery import train as train_lib
from lottery.errors import LotteryError
from lottery.schedules import parse_duration


def _options(block: ml_collections.ConfigDict) -> dict:
    return {k: v for k, v in block.to_dict().items() if k != "name"}


def build(cfg: ml_collections.ConfigDict) -> tuple[train_lib.Trainer, data_lib.Dataset]:
    """Returns ``(trainer, dataset)`` for a validated config, the trainer on the
    devices of ``cfg.parallel`` (``lottery.mesh.layout``); raises ``LotteryError``
    naming the field for any bad model, data, training or device option."""
    config_lib.validate(cfg)
    options = _options(cfg.data)
    augment = options.pop("augment", None)  # overrides the dataset's own default
    dataset = data_lib.load(cfg.data.name, **options)
    if augment is not None:
        if augment not in data_lib.AUGMENTATIONS:
            allowed = ", ".join(data_lib.AUGMENTATIONS)
            raise LotteryError(
                "data.augment", f"unknown augmentation {augment!r}; allowed: {allowed}"
            )
        dataset = dataclasses.replace(dataset, augment=augment)
    model = models_lib.get(
        cfg.model.name,
        num_classes=dataset.num_classes,
        input_shape=dataset.input_shape,
        **_options(cfg.model),
    )
    layout = mesh_lib.layout(cfg.parallel)
    trainer = train_lib.make_trainer(model, dataset, cfg.train, layout)
    return trainer, dataset


def replicate_keys(seed: int, replicates: int) -> dict[str, jax.Array]:
    """Returns the named PRNG streams with a leading replicate axis."""
    roots = [rng.root_key(seed, r) for r in range(replicates)]
    per = [rng.streams(k) for k in roots]
    return jax.tree.map(lambda *ks: jnp.stack(ks), *per)


def mean_std(values: list[float]) -> tuple[float, float]:
    """Returns the mean and population standard deviation (0 for one value)."""
    return statistics.fmean(values), statistics.pstdev(values) if len(values) > 1 else 0.0


def accuracy_stats(
    records: list[dict], exclude: frozenset[int] = frozenset()
) -> tuple[float | None, float | None, list[int]]:
    """Returns ``(mean, std, diverged)`` of the final test accuracy in metrics
    records (one per replicate): mean and std over the records neither marked
    ``diverged`` nor in ``exclude`` (None, None if none is left), and the indices
    of those marked ``diverged``."""
    diverged = [i for i, rec in enumerate(records) if rec.get("diverged")]
    left = [i for i in range(len(records)) if i not in diverged and i not in exclude]
    ok = [records[i]["test_accuracy"] for i in left]
    mean, std = mean_std(ok) if ok else (None, None)
    return mean, std, diverged


def pruning_setup(
    block: ml_collections.ConfigDict, trainer: train_lib.Trainer, prefix: str
) -> tuple[Any, dict[str, float], int]:
    """Returns ``(prunable, rates, checkpoint_every)`` of an experiment block
    (``imp`` or ``pai``): the tree of prunable leaves from ``leaves``/``exclude``,
    the per-layer ``rates`` (checked against the model) and ``checkpoint_every``
    in steps. Errors name ``<prefix>.<field>``."""
    params, _ = jax.eval_shape(trainer.model.init, jax.random.key(0))
    try:
        prunable = select.prunable(
            params, leaf_names=tuple(block.leaves), exclude=tuple(block.exclude)
        )
        rates = {str(k): float(v) for k, v in block.rates.items()}
        select.layer_rates(params, rates, prunable)
    except LotteryError as err:
        field = err.field
        if field.startswith("prune."):
            field = f"{prefix}.{field[len('prune.') :]}"
        raise LotteryError(field, err.message) from None
    if not any(jax.tree.leaves(prunable)):
        raise LotteryError(
            f"{prefix}.leaves", f"no parameter is prunable with leaves {block.leaves}"
        )
    field = f"{prefix}.checkpoint_every"
    every = parse_duration(block.checkpoint_every, trainer.steps_per_epoch, field)
    if every < 1:
        raise LotteryError(field, "must be at least one step")
    return prunable, rates, every


def _join(a: dict, b: dict) -> dict:
    """Returns one history record of two replicate chunks: lists concatenated."""
    return {k: (a[k] + b[k] if isinstance(a[k], list) else a[k]) for k in a}


def run_train(cfg: ml_collections.ConfigDict, workdir: str | Path, progress: bool = True) -> dict:
    """Trains ``cfg.replicates`` dense networks (one vmapped program, or chunks of
    ``parallel.max_vmap``) and returns the summary written to ``<run_dir>/summary.json``.

    Summary fields: ``kind`` ("train"), ``run_dir``, ``wall_seconds``,
    ``test_accuracy`` (mean over replicates), ``test_accuracy_std``,
    ``test_accuracy_per_replicate``, ``test_loss``, ``train_accuracy``, ``steps``,
    ``epochs``, ``replicates``, ``params`` (count). A run that
    already finished is not run again: its summary is returned.
    """
    start = time.perf_counter()
    trainer, dataset = build(cfg)
    final = runs.run_dir(workdir, cfg)
    done = runs.finished_summary(final)
    if done is not None:
        return done
    keys = replicate_keys(cfg.seed, cfg.replicates)
    with runs.staged(final, cfg) as stage:
        history, params0 = [], None
        pieces = [np.asarray(p) for p in branch.chunks(cfg.replicates, cfg.parallel.max_vmap)]
        for take in pieces:  # parallel.max_vmap replicates per program
            state = jax.vmap(lambda k: train_lib.init_state(trainer, k))(keys["init"][take])
            state, part = train_lib.fit(
                trainer,
                state,
                None,
                dataset,
                keys["data"][take],
                replicated=True,
                eval_every=cfg.train.eval_every,
                progress=progress,
            )
            if history:
                history = [_join(a, b) for a, b in zip(history, part, strict=True)]
            else:
                history = part
            if params0 is None:
                params0 = jax.tree.map(lambda a: a[0], state.params)
        for record in history:
            runs.append_jsonl(stage / runs.METRICS_FILE, record)
        last = history[-1]
        acc_mean, acc_std = mean_std(last["test_accuracy"])
        summary = {
            "kind": "train",
            "run_dir": str(final),
            "wall_seconds": round(time.perf_counter() - start, 2),
            "test_accuracy": acc_mean,
            "test_accuracy_std": acc_std,
            "test_accuracy_per_replicate": last["test_accuracy"],
            "test_loss": statistics.fmean(last["test_loss"]),
            "train_accuracy": statistics.fmean(last["train_accuracy"]),
            "steps": last["step"],
            "epochs": last["epoch"],
            "replicates": cfg.replicates,
            "params": models_lib.param_count(params0),
        }
        runs.write_json(stage / runs.SUMMARY_FILE, summary)
    return summary
