"""Structured versus unstructured tickets in one run (config ``kind = "structured"``).

For each entry of ``structured.variants`` (``"weights"``: unstructured IMP,
``"channels"``: channel-wise IMP, ``"refill"``: IMP-Refill; Chen et al. 2022)
this runs the config's IMP experiment with ``imp.structure`` set to it, in
``<run>/<variant>/`` (an ordinary IMP folder, resumable level by level). The
dense level 0 is the same computation for every variant, so it is trained once
and copied. All variants prune towards the same per-level densities (the
unstructured schedule of ``imp.fraction``), so levels line up.

The summary (``kind`` "structured") has, per level and variant, the test
accuracy over replicates, the kept density of the prunable weights, and the
cost of the network: ``params_nonzero`` / ``flops_masked`` (what the mask
keeps) and ``params_compacted`` / ``flops_compacted`` (the physically smaller
dense network of ``lottery.structured.compact``; an unstructured ticket rarely
frees a whole unit, so its compacted cost stays near the dense one). Parameter
counts cover every parameter (kernels, biases, BatchNorm); FLOPs are
``2 x`` kernel multiply-accumulates per example (``lottery.structured.flops``).
"""

from __future__ import annotations

import copy
import statistics
import time
from pathlib import Path
from typing import Any

import jax
import ml_collections
import numpy as np

from lottery import experiment as experiment_lib
from lottery import imp, imp_plan, runs
from lottery import imp_files as files
from lottery.errors import LotteryError
from lottery.models.base import Model
from lottery.structured import flops as flops_lib
from lottery.structured import groups as groups_lib
from lottery.structured import ticket

PyTree = Any


def variant_config(cfg: ml_collections.ConfigDict, variant: str) -> ml_collections.ConfigDict:
    """Returns ``cfg`` as the IMP config of one variant (``imp.structure = variant``)."""
    out = copy.deepcopy(cfg)
    out.kind = "imp"
    out.imp.structure = variant
    out.structured.variants = type(cfg.structured.variants)((variant,))
    return out


def _variants(cfg: ml_collections.ConfigDict) -> tuple[str, ...]:
    names = tuple(cfg.structured.variants)
    if not names:
        raise LotteryError("structured.variants", "must name at least one variant")
    for name in names:
        if name not in ticket.STRUCTURES:
            allowed = ", ".join(ticket.STRUCTURES)
            raise LotteryError(
                "structured.variants", f"unknown variant '{name}'; allowed: {allowed}"
            )
    if len(set(names)) != len(names):
        raise LotteryError("structured.variants", f"lists a variant twice: {list(names)}")
    return names


def run_structured(
    cfg: ml_collections.ConfigDict, workdir: str | Path, progress: bool = True
) -> dict:
    """Runs (or resumes) every variant of ``cfg`` and returns the comparison
    summary, also written to ``<run>/summary.json`` (see ``summarize``)."""
    began = time.perf_counter()
    names = _variants(cfg)
    dense, dataset = experiment_lib.build(cfg)
    plans = {v: imp_plan.plan(variant_config(cfg, v), dense) for v in names}
    existing = runs.finished_summary(runs.run_dir(workdir, cfg))
    if existing is not None and existing.get("complete"):
        return existing
    run = runs.open_run(workdir, cfg)
    with runs.lock(run):
        first = None
        for v in names:
            sub = run / v
            sub.mkdir(exist_ok=True)
            vcfg = variant_config(cfg, v)
            if not (sub / runs.CONFIG_FILE).is_file():
                runs.write_json(sub / runs.CONFIG_FILE, vcfg.to_dict())
            imp.run_levels(vcfg, sub, dense, dataset, plans[v], progress, began, first)
            first = first or sub
        summary = summarize(run, dense.model, plans, time.perf_counter() - began)
        runs.write_json(run / runs.SUMMARY_FILE, summary)
    return summary


def costs(model: Model, mask: PyTree) -> dict[str, int]:
    """Returns the costs of one replicate's ``mask``: ``params_nonzero`` and
    ``flops_masked`` (kept entries), ``params_compacted`` and ``flops_compacted``
    (the compacted dense network's)."""
    params, _ = jax.eval_shape(model.init, jax.random.key(0))
    groups = groups_lib.groups_of(model)
    keep = {n: np.asarray(v) for n, v in groups_lib.alive(groups, mask).items()}
    small = groups_lib.architecture(model).rebuild(model, groups, keep)
    small_params, _ = jax.eval_shape(small.init, jax.random.key(0))
    return {
        "params_nonzero": flops_lib.param_count(params, mask),
        "flops_masked": flops_lib.flops(model, params, mask),
        "params_compacted": flops_lib.param_count(small_params),
        "flops_compacted": flops_lib.flops(small, small_params),
    }


def summarize(run: Path, model: Model, plans: dict, wall_seconds: float) -> dict:
    """Returns the structured summary: ``kind`` ("structured"), ``run_dir``,
    ``name``, ``wall_seconds``, ``replicates``, ``variants``, ``complete``,
    ``dense`` (``params``, ``flops``), and ``levels``: per level ``level``,
    ``target_density`` and per variant ``{"density", "mean", "std",
    "per_replicate", "params_nonzero", "params_compacted", "flops_masked",
    "flops_compacted"}`` (means over replicates) plus its controls' accuracies
    under ``"controls"``."""
    cfg = runs.read_json(run / runs.CONFIG_FILE)
    k = int(cfg["replicates"])
    params, _ = jax.eval_shape(model.init, jax.random.key(0))
    template = jax.tree.map(lambda p: jax.ShapeDtypeStruct(p.shape, bool), params)
    names = list(plans)
    per_variant = {v: files.summarize(run / v, plans[v], wall_seconds) for v in names}
    levels = []
    count = min(len(per_variant[v]["levels"]) for v in names)
    for level in range(count):
        entry: dict[str, Any] = {
            "level": level,
            "target_density": plans[names[0]].densities[level],
        }
        for v in names:
            lv = per_variant[v]["levels"][level]
            masks = files.load(run / v, level, "ticket", "mask", template, k)
            each = [costs(model, jax.tree.map(lambda a, r=r: a[r], masks)) for r in range(k)]
            entry[v] = {
                "density": lv["density"],
                "mean": lv["ticket"]["mean"],
                "std": lv["ticket"]["std"],
                "per_replicate": lv["ticket"]["per_replicate"],
                "diverged": lv["ticket"]["diverged"],
                **{key: statistics.fmean(c[key] for c in each) for key in each[0]},
                "controls": {
                    b: {"mean": lv[b]["mean"], "std": lv[b]["std"]}
                    for b in plans[v].controls
                    if b in lv
                },
            }
        levels.append(entry)
    total = max(p.levels for p in plans.values())
    return {
        "kind": "structured",
        "run_dir": str(run),
        "name": cfg["name"],
        "wall_seconds": round(wall_seconds, 2),
        "replicates": k,
        "variants": names,
        "complete": count == total and all(s["complete"] for s in per_variant.values()),
        "dense": {"params": flops_lib.param_count(params), "flops": flops_lib.flops(model, params)},
        "levels": levels,
    }
