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

import jax
import jax.numpy as jnp
import ml_collections

from lottery import config as config_lib
from lottery import data as data_lib
from lottery import models as models_lib
from lottery import rng, runs
from lottery import train as train_lib
from lottery.errors import LotteryError


def _options(block: ml_collections.ConfigDict) -> dict:
    return {k: v for k, v in block.to_dict().items() if k != "name"}


def build(cfg: ml_collections.ConfigDict) -> tuple[train_lib.Trainer, data_lib.Dataset]:
    """Returns ``(trainer, dataset)`` for a validated config; raises ``LotteryError``
    naming the field for any bad model, data or training option."""
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
    trainer = train_lib.make_trainer(model, dataset, cfg.train)
    return trainer, dataset


def replicate_keys(seed: int, replicates: int) -> dict[str, jax.Array]:
    """Returns the named PRNG streams with a leading replicate axis."""
    roots = [rng.root_key(seed, r) for r in range(replicates)]
    per = [rng.streams(k) for k in roots]
    return jax.tree.map(lambda *ks: jnp.stack(ks), *per)


def _mean_std(values: list[float]) -> tuple[float, float]:
    return statistics.fmean(values), statistics.pstdev(values) if len(values) > 1 else 0.0


def run_train(cfg: ml_collections.ConfigDict, workdir: str | Path, progress: bool = True) -> dict:
    """Trains ``cfg.replicates`` dense networks (one vmapped program) and returns
    the summary written to ``<run_dir>/summary.json``.

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
    state = jax.vmap(lambda k: train_lib.init_state(trainer, k))(keys["init"])
    with runs.staged(final, cfg) as stage:
        state, history = train_lib.fit(
            trainer,
            state,
            None,
            dataset,
            keys["data"],
            replicated=True,
            eval_every=cfg.train.eval_every,
            progress=progress,
            on_epoch=lambda rec: runs.append_jsonl(stage / runs.METRICS_FILE, rec),
        )
        last = history[-1]
        params0 = jax.tree.map(lambda a: a[0], state.params)
        acc_mean, acc_std = _mean_std(last["test_accuracy"])
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
