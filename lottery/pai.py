"""Pruning-at-initialization sweeps: methods x densities x replicates, with the
sanity-check ablations of Frankle et al. (2021).

For each method (``lottery.scores``: random, magnitude, SNIP, GraSP, SynFlow; and
``random_erk``: random positions with Erdős–Rényi-Kernel layer densities) and
each density, every replicate's initial network is scored and pruned at init
(``prune_at_init``; SynFlow iterated, 100 rounds by default), then trained with
the mask. All methods and densities of a replicate start from the same initial
weights and see the same data order, so they differ only in their masks.
Ablations (``pai.ablations``), each trained beside the unablated mask:

* ``shuffle``: the mask permuted within each layer (same per-layer counts), on
  the same initial weights.
* ``reinit``: the same mask on a fresh initialization.
* ``invert``: the ranking inverted (scores negated, never a reciprocal).

The networks of one method (every density, ablation and replicate) share one
shape, so they train as one vmap axis, ``parallel.max_vmap`` at a time
(``lottery.branch.train_members``: resumable, files written per network)::

    <run>/replicate_<r>/<method>/density_<i>/                 mask/ init/ final/ metrics.json
    <run>/replicate_<r>/<method>/density_<i>/branch_<ablation>/

Scoring data: ``pai.samples_per_class`` examples of every class per batch,
``pai.scoring_batches`` batches, drawn from the training set with the
replicate's ``prune`` stream (GraSP's class-balanced sampling; SNIP uses the same).
"""

from __future__ import annotations

import dataclasses
import math
import shutil
import statistics
import time
from pathlib import Path
from typing import Any

import jax
import jax.numpy as jnp
import ml_collections
import numpy as np
import tqdm

from lottery import branch, controls, diagnostics, runs, scores, select
from lottery import experiment as experiment_lib
from lottery import train as train_lib
from lottery.errors import LotteryError
from lottery.prune import SCOPES, prune_to_counts

PyTree = Any
ABLATIONS = ("shuffle", "reinit", "invert")
DEFAULT_DENSITIES = tuple(10 ** (-q / 4) for q in range(2, 13))  # 10^-0.5 .. 10^-3


@dataclasses.dataclass(frozen=True)
class Sweep:
    """A validated ``pai`` block: ``methods`` maps a name to ``(scorer, iterations)``."""

    methods: dict
    densities: tuple[float, ...]
    scope: str
    rates: dict
    prunable: Any
    ablations: tuple[str, ...]
    samples_per_class: int
    scoring_batches: int
    checkpoint_every: int


def method_names() -> tuple[str, ...]:
    """Returns the ``pai.methods`` names allowed now: every scorer registered in
    ``lottery.scores.SCORERS`` (a fork may add its own) and ``random_erk``."""
    return (*scores.SCORERS, "random_erk")


def _positive_int(value, field: str) -> int:
    if isinstance(value, bool) or not isinstance(value, int) or value < 1:
        raise LotteryError(field, f"must be a positive integer, got {value!r}")
    return value


def sweep_plan(cfg: ml_collections.ConfigDict, trainer: train_lib.Trainer) -> Sweep:
    """Returns the ``Sweep`` of ``cfg.pai``; raises ``LotteryError`` naming the
    first bad ``pai.*`` field."""
    pai = cfg.pai
    methods = {}
    if not pai.methods:
        raise LotteryError("pai.methods", "lists no method")
    iterations = {str(k): v for k, v in pai.iterations.items()}
    for name in iterations:
        if name not in scores.SCORERS:
            allowed = ", ".join(method_names())
            raise LotteryError(f"pai.iterations.{name}", f"unknown method; allowed: {allowed}")
    for name in pai.methods:
        if name == "random_erk":  # random positions, Erdős–Rényi-Kernel layer densities
            methods[name] = (scores.get("random"), 1)
            continue
        options = {}
        if name == "grasp":
            options["temperature"] = float(pai.temperature)
        if name == "synflow":
            options["float64"] = bool(pai.synflow_float64)
        if name not in scores.SCORERS:
            allowed = ", ".join(method_names())
            raise LotteryError("pai.method", f"unknown method '{name}'; allowed: {allowed}")
        scorer = scores.get(name, **options)
        rounds = _positive_int(iterations.get(name, 1), f"pai.iterations.{name}")
        methods[name] = (scorer, rounds)
    if len(methods) != len(pai.methods):
        raise LotteryError("pai.methods", f"lists a method twice: {list(pai.methods)}")
    densities = tuple(float(d) for d in pai.densities) or DEFAULT_DENSITIES
    for d in densities:
        if not 0.0 < d <= 1.0:
            raise LotteryError("pai.densities", f"every density must be in (0, 1], got {d}")
    if pai.scope not in SCOPES:
        allowed = ", ".join(SCOPES)
        raise LotteryError("pai.scope", f"unknown scope '{pai.scope}'; allowed: {allowed}")
    for name in pai.ablations:
        if name not in ABLATIONS:
            allowed = ", ".join(ABLATIONS)
            raise LotteryError("pai.ablations", f"unknown ablation '{name}'; allowed: {allowed}")
    prunable, rates, every = experiment_lib.pruning_setup(pai, trainer, "pai")
    return Sweep(
        methods=methods,
        densities=densities,
        scope=pai.scope,
        rates=rates,
        prunable=prunable,
        ablations=tuple(pai.ablations),
        samples_per_class=_positive_int(pai.samples_per_class, "pai.samples_per_class"),
        scoring_batches=_positive_int(pai.scoring_batches, "pai.scoring_batches"),
        checkpoint_every=every,
    )


def balanced_sample(
    key: jax.Array, x: np.ndarray, y: np.ndarray, num_classes: int, per_class: int, batches: int
) -> tuple[np.ndarray, np.ndarray]:
    """Returns ``(x, y)`` of shape ``(batches, per_class * num_classes, ...)``: every
    batch holds ``per_class`` examples of each class, drawn without replacement
    (a class with too few examples raises ``LotteryError``) by a NumPy generator
    seeded from ``key``, so the sample is reproducible."""
    seed = np.asarray(jax.random.key_data(key)).ravel().tolist()
    rng = np.random.default_rng(seed)
    need = per_class * batches
    picks = []
    for c in range(num_classes):
        pool = np.flatnonzero(y == c)
        if pool.size < need:
            raise LotteryError(
                "pai.samples_per_class",
                f"class {c} has {pool.size} training examples; {need} needed "
                "(samples_per_class x scoring_batches)",
            )
        picks.append(rng.choice(pool, size=need, replace=False).reshape(batches, per_class))
    idx = np.concatenate(picks, axis=1)  # (batches, num_classes * per_class)
    return x[idx], y[idx]


def unit_dir(run: Path, replicate: int, method: str, i: int, ablation: str | None) -> Path:
    """Returns the folder of one replicate of one method at density index ``i``
    (and ``branch_<ablation>`` inside it for an ablation)."""
    folder = Path(run) / f"replicate_{replicate}" / method / f"density_{i}"
    return folder / f"branch_{ablation}" if ablation else folder


@dataclasses.dataclass
class _Sweep:
    cfg: ml_collections.ConfigDict
    run: Path
    trainer: train_lib.Trainer
    sweep: Sweep
    keys: dict
    init: PyTree  # stacked initial weights
    data: tuple  # stacked scoring batches
    units: branch.Context

    @property
    def replicates(self) -> int:
        return int(self.cfg.replicates)


def _mask_fn(ctx: _Sweep, method: str, invert: bool):
    scorer, rounds = ctx.sweep.methods[method]
    s, model = ctx.sweep, ctx.trainer.model

    def one(weights, x, y, key, density):
        return scores.prune_at_init(
            scorer,
            model,
            weights["params"],
            weights["model_state"],
            x,
            y,
            key,
            density,
            iterations=rounds,
            scope=s.scope,
            prunable=s.prunable,
            rates=s.rates,
            invert=invert,
        )

    build = lambda: jax.jit(jax.vmap(one, in_axes=(0, 0, 0, 0, None)))  # noqa: E731
    return ctx.units.compiled(f"mask_{method}_{invert}", build)


def erk_counts(params: PyTree, prunable: PyTree, density: float) -> PyTree:
    """Returns a tree like ``params`` of int32 kept counts: ``round(d_l * size_l)``
    for the Erdős–Rényi-Kernel layer densities ``d_l`` (Evci et al. 2020) of each
    prunable leaf, -1 elsewhere."""
    layers = scores.erk_densities(params, prunable, density)
    names = select.path_list(params)
    flat = [
        jnp.int32(round(layers[n] * math.prod(p.shape)) if f else -1)
        for n, p, f in zip(names, jax.tree.leaves(params), jax.tree.leaves(prunable), strict=True)
    ]
    return jax.tree.unflatten(jax.tree.structure(params), flat)


def _erk_masks(ctx: _Sweep, keys: jax.Array, density: float, invert: bool) -> PyTree:
    one_replicate = jax.tree.map(
        lambda a: jax.ShapeDtypeStruct(a.shape[1:], a.dtype), ctx.init["params"]
    )
    counts = erk_counts(one_replicate, ctx.sweep.prunable, density)
    scorer, model, prunable = (
        ctx.sweep.methods["random_erk"][0],
        ctx.trainer.model,
        ctx.sweep.prunable,
    )

    def one(weights, key, counts):
        ones = jax.tree.map(lambda p: jnp.ones(p.shape, bool), weights["params"])
        s = scorer(model, weights["params"], weights["model_state"], ones, None, None, key)
        s = jax.tree.map(jnp.negative, s) if invert else s
        return prune_to_counts(s, ones, counts, prunable)

    build = lambda: jax.jit(jax.vmap(one, in_axes=(0, 0, None)))  # noqa: E731
    return ctx.units.compiled(f"mask_random_erk_{invert}", build)(ctx.init, keys, counts)


def _masks(ctx: _Sweep, method: str, i: int) -> dict[str | None, tuple[PyTree, PyTree]]:
    """Returns ``{None: (mask, start), ablation: (mask, start), ...}`` for one
    method and density index, all replicates stacked."""
    density = jnp.float32(ctx.sweep.densities[i])
    keys = jax.vmap(lambda k: jax.random.fold_in(k, i))(ctx.keys["prune"])
    x, y = ctx.data
    if method == "random_erk":
        mask = _erk_masks(ctx, keys, ctx.sweep.densities[i], False)
    else:
        mask = _mask_fn(ctx, method, False)(ctx.init, x, y, keys, density)
    out = {None: (mask, ctx.init)}
    model, prunable = ctx.trainer.model, ctx.sweep.prunable
    for ablation in ctx.sweep.ablations:
        ablation_id = ABLATIONS.index(ablation)
        akeys = jax.vmap(lambda k, a=ablation_id: jax.random.fold_in(jax.random.fold_in(k, i), a))(
            ctx.keys["control"]
        )
        if ablation == "invert" and method == "random_erk":
            out[ablation] = (_erk_masks(ctx, keys, ctx.sweep.densities[i], True), ctx.init)
            continue
        if ablation == "invert":
            out[ablation] = (_mask_fn(ctx, method, True)(ctx.init, x, y, keys, density), ctx.init)
            continue
        fn = controls.CONTROLS[ablation]
        build = lambda fn=fn: jax.jit(jax.vmap(lambda c: fn(c, model, prunable)))  # noqa: E731
        control = controls.Context(mask, mask, ctx.init["params"], ctx.init, akeys)
        out[ablation] = ctx.units.compiled(f"ablation_{ablation}", build)(control)
    return out


def _diagnostics(ctx: _Sweep, mask: PyTree) -> list[dict]:
    out = []
    host = jax.device_get(mask)
    for r in range(ctx.replicates):
        mask_r = branch.index(host, r)
        weights = branch.index(ctx.init, r)
        out.append(
            {
                "collapsed_layers": diagnostics.collapsed_layers(mask_r, ctx.sweep.prunable),
                "effective_density": float(
                    diagnostics.effective_density(
                        ctx.trainer.model,
                        weights["params"],
                        weights["model_state"],
                        mask_r,
                        ctx.sweep.prunable,
                    )
                ),
            }
        )
    return out


def _run_method(ctx: _Sweep, method: str) -> None:
    """Trains every density and ablation of ``method``, all replicates, as one vmap
    axis (``parallel.max_vmap`` networks at a time)."""
    variants = (None, *ctx.sweep.ablations)
    by_point: dict[tuple[int, str | None], list[branch.Member]] = {}
    for i, density in enumerate(ctx.sweep.densities):
        for v in variants:
            record = {
                "method": method,
                "target_density": density,
                "density_index": i,
                "branch": v or "mask",
            }
            by_point[i, v] = [
                branch.Member(
                    folder=unit_dir(ctx.run, r, method, i, v),
                    replicate=r,
                    label=f"{i}.{v or 'mask'}.r{r}",
                    record=dict(record),
                )
                for r in range(ctx.replicates)
            ]
    points = list(by_point)
    members = [m for point in points for m in by_point[point]]
    if branch.done([m.folder for m in members]):
        ctx.units.bar.update(ctx.trainer.total_steps * len(members))
        return
    ctx.units.bar.set_description(method)
    masks, starts = {}, {}
    for i in range(len(ctx.sweep.densities)):
        for v, (mask, start) in _masks(ctx, method, i).items():
            masks[i, v], starts[i, v] = mask, start
            for member, extra in zip(by_point[i, v], _diagnostics(ctx, mask), strict=True):
                member.record.update(extra)
    branch.train_members(
        members,
        branch.stack_of(masks, points),
        branch.stack_of(starts, points),
        ctx.trainer,
        ctx.units,
        ctx.run / "resume" / method,
    )


def run_pai(cfg: ml_collections.ConfigDict, workdir: str | Path, progress: bool = True) -> dict:
    """Runs (or resumes) the sweep of ``cfg`` and returns its summary, also written
    to ``<run>/summary.json`` (see ``summarize``). Everything is validated before
    the run directory is created; a finished run returns its summary."""
    began = time.perf_counter()
    trainer, dataset = experiment_lib.build(cfg)
    s = sweep_plan(cfg, trainer)
    keys = experiment_lib.replicate_keys(cfg.seed, cfg.replicates)
    samples = [
        balanced_sample(
            keys["prune"][r],
            np.asarray(dataset.x_train),
            np.asarray(dataset.y_train),
            dataset.num_classes,
            s.samples_per_class,
            s.scoring_batches,
        )
        for r in range(cfg.replicates)
    ]
    existing = runs.finished_summary(runs.run_dir(workdir, cfg))
    if existing is not None and existing.get("complete"):
        return existing
    run = runs.open_run(workdir, cfg)
    with runs.lock(run):
        params, model_state = jax.vmap(trainer.model.init)(keys["init"])
        variants = 1 + len(s.ablations)
        total = len(s.methods) * len(s.densities) * variants * cfg.replicates
        total *= trainer.total_steps
        bar = tqdm.tqdm(total=total, disable=not progress, unit="it", leave=False)
        ctx = _Sweep(
            cfg=cfg,
            run=run,
            trainer=trainer,
            sweep=s,
            keys=keys,
            init={"params": params, "model_state": model_state},
            data=(jnp.stack([x for x, _ in samples]), jnp.stack([y for _, y in samples])),
            units=branch.Context(
                dataset=dataset,
                data_keys=keys["data"],
                eval_every=cfg.train.eval_every,
                checkpoint_every=s.checkpoint_every,
                prunable=s.prunable,
                bar=bar,
                max_vmap=int(cfg.parallel.max_vmap),
            ),
        )
        with bar:
            for method in s.methods:
                _run_method(ctx, method)
                runs.write_json(run / runs.SUMMARY_FILE, summarize(run, s, _elapsed(began)))
        summary = summarize(run, s, _elapsed(began))
        if summary["complete"]:  # every unit written: nothing left to resume
            shutil.rmtree(run / "resume", ignore_errors=True)
        runs.write_json(run / runs.SUMMARY_FILE, summary)
    return summary


def _elapsed(began: float) -> float:
    return round(time.perf_counter() - began, 2)


def summarize(run: str | Path, s: Sweep, wall_seconds: float) -> dict:
    """Returns the sweep summary of the finished points in ``run``: ``kind``
    ("pai"), ``run_dir``, ``name``, ``wall_seconds``, ``replicates``, ``methods``,
    ``ablations``, ``complete``, and ``results``: one object per method and density
    with ``method``, ``density`` (the target), ``direct_density`` and
    ``effective_density`` (means over replicates), ``accuracy_mean``,
    ``accuracy_std``, ``accuracy_per_replicate``, ``collapsed_layers`` (layers at
    zero density in any replicate), ``layer_density`` (mean), ``diverged`` (the
    replicates whose loss became NaN, left out of the accuracy; see
    ``experiment.accuracy_stats``), and ``ablations``: ``{name: {"mean", "std",
    "diverged"}}`` of the ablated masks' accuracy."""
    run = Path(run)
    cfg = runs.read_json(run / runs.CONFIG_FILE)
    k = int(cfg["replicates"])
    results, expected = [], 0
    for method in s.methods:
        for i, density in enumerate(s.densities):
            expected += 1
            folders = [unit_dir(run, r, method, i, None) for r in range(k)]
            if not branch.done(folders):
                continue
            recs = [runs.read_json(f / branch.METRICS) for f in folders]
            mean, std, diverged = experiment_lib.accuracy_stats(recs)
            entry = {
                "method": method,
                "density": density,
                "direct_density": statistics.fmean(rec["density"] for rec in recs),
                "effective_density": statistics.fmean(rec["effective_density"] for rec in recs),
                "accuracy_mean": mean,
                "accuracy_std": std,
                "accuracy_per_replicate": [rec["test_accuracy"] for rec in recs],
                "diverged": diverged,
                "collapsed_layers": sorted({n for rec in recs for n in rec["collapsed_layers"]}),
                "layer_density": {
                    n: statistics.fmean(rec["layer_density"][n] for rec in recs)
                    for n in recs[0]["layer_density"]
                },
                "ablations": {},
            }
            for ablation in s.ablations:
                afolders = [unit_dir(run, r, method, i, ablation) for r in range(k)]
                if branch.done(afolders):
                    arecs = [runs.read_json(f / branch.METRICS) for f in afolders]
                    amean, astd, adiv = experiment_lib.accuracy_stats(arecs)
                    entry["ablations"][ablation] = {"mean": amean, "std": astd, "diverged": adiv}
            results.append(entry)
    return {
        "kind": "pai",
        "run_dir": str(run),
        "name": cfg["name"],
        "wall_seconds": wall_seconds,
        "replicates": k,
        "methods": list(s.methods),
        "ablations": list(s.ablations),
        "complete": len(results) == expected,
        "results": results,
    }


def density_label(density: float) -> str:
    """Returns ``10^-x.xx`` for a density (how the sweep's grid is written)."""
    return f"10^{math.log10(density):.2f}"
