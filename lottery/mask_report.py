"""The mask report of an IMP run (``lottery masks RUN_DIR``): per level and
branch, direct and effective density, sign flips of the surviving weights, and
how much the tickets of different replicates (seeds) overlap, against what two
independent random masks of the same density would share.

Written to ``<run>/report/``: ``masks.json``, ``masks.txt``,
``masks_jaccard.png`` (the tickets of every replicate at a few levels) and
``effective_density.png``. See ``lottery.mask_analysis`` for the definitions.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from lottery import experiment as experiment_lib
from lottery import imp_files as files
from lottery import imp_plan, report, runs
from lottery import mask_analysis as analysis
from lottery.branch import index
from lottery.config import from_dict
from lottery.errors import LotteryError


def random_overlap(density: float) -> float:
    """Returns the expected Jaccard overlap of two independent uniformly random
    masks of density ``d``: ``d^2 / (2d - d^2) = d / (2 - d)``."""
    return density / (2.0 - density)


def analyze_run(run_dir: str | Path, jaccard_levels: int = 5) -> dict:
    """Returns the mask analysis of the finished levels of the IMP run in
    ``run_dir``: ``levels`` (one object per level: ``level``, ``density``, and
    per branch ``direct``/``effective`` density and ``sign_flips``, means over
    replicates; ``replicate_jaccard``: the mean overlap of the tickets of
    different replicates, with ``random_jaccard`` the independent-random
    baseline), and ``jaccard``: ``labels`` and ``matrix`` of the tickets of every
    replicate at ``jaccard_levels`` evenly spaced levels. Raises ``LotteryError``
    for a directory that is not an IMP run."""
    run = Path(run_dir)
    if not (run / runs.CONFIG_FILE).is_file():
        raise LotteryError("run_dir", f"'{run}' is not a run directory (no config.json)")
    cfg = from_dict(runs.read_json(run / runs.CONFIG_FILE))
    if cfg.kind != "imp":
        raise LotteryError("run_dir", f"'{run}' is a '{cfg.kind}' run; masks needs an IMP run")
    trainer, _ = experiment_lib.build(cfg)
    p = imp_plan.plan(cfg, trainer)
    tpl = files.templates(trainer)
    k = int(cfg.replicates)
    finished = [lv for lv in range(p.levels) if files.level_done(run, lv, k)]
    levels, tickets = [], {}
    for level in finished:
        entry = {"level": level, "density": p.densities[level]}
        for name in p.branches if level else ("ticket",):
            m = files.load(run, level, name, "mask", tpl.mask, k)
            start = files.load(run, level, name, "init", tpl.weights, k)["params"]
            final = files.load(run, level, name, "final", tpl.weights, k)["params"]
            reps = [index(m, r) for r in range(k)]
            if name == "ticket":
                tickets[level] = reps
            state = tpl.weights["model_state"]
            eff = [analysis.effective_density(trainer.model, mr, p.prunable, state) for mr in reps]
            flips = [
                analysis.sign_flips(index(start, r), index(final, r), reps[r], p.prunable)
                for r in range(k)
            ]
            entry[name] = {
                "direct": p.densities[level],
                "effective": float(np.mean(eff)),
                "sign_flips": float(np.mean(flips)),
            }
        matrix = analysis.jaccard_matrix(tickets[level], p.prunable)
        entry["replicate_jaccard"] = analysis.mean_pairwise(matrix)
        entry["random_jaccard"] = random_overlap(p.densities[level])
        levels.append(entry)
    picks = sorted(
        {finished[i] for i in np.linspace(0, len(finished) - 1, jaccard_levels).astype(int)}
    )
    labels = [f"L{lv}.r{r}" for lv in picks for r in range(k)]
    matrix = analysis.jaccard_matrix([tickets[lv][r] for lv in picks for r in range(k)], p.prunable)
    return {
        "kind": "masks",
        "run_dir": str(run),
        "branches": list(p.branches),
        "levels": levels,
        "jaccard": {"labels": labels, "matrix": matrix.round(6).tolist()},
    }


def format_table(result: dict) -> str:
    """Returns the text table of a mask analysis: per level, the direct density,
    each branch's effective density and sign flips, and the replicate overlap (%)."""
    branches = result["branches"]
    head = f"{'level':>5} {'density':>8}"
    for b in branches:
        head += f" {b + ' eff':>16} {b + ' flips':>16}"
    head += f" {'seed overlap':>12} {'random':>7}"
    lines = [head]
    for lv in result["levels"]:
        row = f"{lv['level']:>5} {100 * lv['density']:>7.2f}%"
        for b in branches:
            if b in lv:
                row += f" {100 * lv[b]['effective']:>15.2f}% {100 * lv[b]['sign_flips']:>15.2f}%"
            else:
                row += f" {'':>16} {'':>16}"
        row += f" {100 * lv['replicate_jaccard']:>11.2f}% {100 * lv['random_jaccard']:>6.2f}%"
        lines.append(row)
    return "\n".join(lines) + "\n"


def plot_effective(result: dict, path: str | Path) -> Path:
    """Writes a PNG of effective against direct density (log-log, %) per branch,
    with the diagonal (every kept weight effective); returns ``path``."""
    fig, ax = report._figure()
    levels = result["levels"]
    direct = [100 * lv["density"] for lv in levels]
    ax.plot(direct, direct, color="gray", ls="--", lw=1, label="effective = direct")
    for b in result["branches"]:
        pts = [(100 * lv["density"], 100 * lv[b]["effective"]) for lv in levels if b in lv]
        ax.plot(*zip(*pts, strict=True), marker="o", ms=3, label=b)
    ax.set_xscale("log")
    ax.set_yscale("log")
    ax.invert_xaxis()
    ax.set_xlabel("direct density (% of prunable weights kept)")
    ax.set_ylabel("effective density (%)")
    ax.set_title("Weights on an input-to-output path")
    ax.grid(alpha=0.3, which="both")
    ax.legend()
    return report._save(fig, Path(path))


def write(result: dict, out: str | Path) -> dict[str, Path]:
    """Writes ``masks.json``, ``masks.txt``, ``masks_jaccard.png`` and
    ``effective_density.png`` into ``out``; returns their paths by kind."""
    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    runs.write_json(out / "masks.json", result)
    txt = report._atomic(out / "masks.txt", lambda tmp: tmp.write_text(format_table(result)))
    jac = result["jaccard"]
    heat = analysis.plot_jaccard(
        jac["labels"],
        np.asarray(jac["matrix"]),
        out / "masks_jaccard.png",
        "Ticket overlap across replicates and levels",
    )
    return {
        "json": out / "masks.json",
        "txt": txt,
        "jaccard": heat,
        "effective": plot_effective(result, out / "effective_density.png"),
    }
