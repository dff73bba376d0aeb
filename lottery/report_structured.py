"""The report of a structured-versus-unstructured run (summary ``kind`` "structured").

One row per level: the target density and, per variant (unstructured IMP,
channel IMP, IMP-Refill), the kept density, the test accuracy (mean ± std over
replicates), the parameter count and the FLOPs of the compacted network. Two
plots: accuracy against density, and accuracy against compacted FLOPs (what a
structured ticket actually saves at inference).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np

from lottery.errors import LotteryError

LABELS = {"weights": "unstructured IMP", "channels": "channel IMP", "refill": "IMP-Refill"}


def check(summary: dict) -> list[dict]:
    """Returns the summary's levels, sorted; raises ``LotteryError`` if there are none."""
    levels = summary.get("levels") or []
    if not levels:
        raise LotteryError("summary", "the structured summary has no levels (nothing was trained)")
    return sorted(levels, key=lambda lv: lv["level"])


def table_rows(summary: dict) -> list[dict[str, Any]]:
    """Returns one flat dict per level: ``level``, ``target_density`` and, per
    variant ``v``, ``v_density``, ``v_mean``, ``v_std``, ``v_params_nonzero``,
    ``v_params_compacted``, ``v_flops_masked``, ``v_flops_compacted``."""
    keys = ("density", "mean", "std", "params_nonzero", "params_compacted")
    keys += ("flops_masked", "flops_compacted")
    out = []
    for lv in check(summary):
        row: dict[str, Any] = {"level": lv["level"], "target_density": lv["target_density"]}
        for v in summary["variants"]:
            for key in keys:
                row[f"{v}_{key}"] = (lv.get(v) or {}).get(key)
        out.append(row)
    return out


def format_table(summary: dict) -> str:
    """Returns a fixed-width table, one row per level and variant: the level's
    target density, the variant's kept density, test accuracy (mean ± std, %),
    and the compacted network's parameters and kFLOPs (per example) next to the
    masked kFLOPs (only the kept weights counted)."""
    from lottery.report import accuracy_cell  # report imports this module

    levels = check(summary)
    header = ["level", "target %", "variant", "density %", "accuracy %"]
    header += ["params", "kFLOPs", "masked kFLOPs"]
    rows = []
    for lv in levels:
        for v in summary["variants"][:1] if lv["level"] == 0 else summary["variants"]:
            r = lv.get(v)
            if r is None:
                continue
            rows.append(
                [
                    str(lv["level"]),
                    f"{100 * lv['target_density']:.2f}",
                    "dense" if lv["level"] == 0 else LABELS.get(v, v),
                    f"{100 * r['density']:.2f}",
                    accuracy_cell(r.get("mean"), r.get("std"), r.get("diverged")),
                    str(round(r["params_compacted"])),
                    f"{r['flops_compacted'] / 1e3:.1f}",
                    f"{r['flops_masked'] / 1e3:.1f}",
                ]
            )
    widths = [max(len(c) for c in col) for col in zip(header, *rows, strict=True)]
    lines = ["  ".join(c.rjust(w) for c, w in zip(r, widths, strict=True)) for r in [header, *rows]]
    dense = summary.get("dense", {})
    note = (
        f"params and kFLOPs: the compacted network (per example); dense: "
        f"{dense.get('params', 0)} params, {dense.get('flops', 0) / 1e3:.1f} kFLOPs\n"
    )
    return "\n".join(lines) + "\n" + note


def plot(summary: dict, path: str | Path, save, figure) -> Path:
    """Writes a PNG with two panels: test accuracy (%) against density (%, log
    scale) and against compacted FLOPs (log scale), one line per variant with a
    mean ± std band. Returns ``path``."""
    from matplotlib.ticker import FuncFormatter

    levels = check(summary)
    fig, (left, right) = figure(2)
    for v in summary["variants"]:
        pts = [
            (lv[v]["density"], lv[v]["flops_compacted"], lv[v]["mean"], lv[v]["std"])
            for lv in levels
            if lv.get(v) and lv[v].get("mean") is not None
        ]
        if not pts:
            continue
        density, flops, mean, std = np.array(pts).T
        for ax_, x in ((left, 100 * density), (right, flops / 1e3)):
            (line,) = ax_.plot(x, 100 * mean, marker="o", label=LABELS.get(v, v))
            ax_.fill_between(
                x, 100 * (mean - std), 100 * (mean + std), color=line.get_color(), alpha=0.2
            )
    for ax_, label in ((left, "density of the kept weights (%)"), (right, "kFLOPs, compacted")):
        ax_.set_xscale("log")
        ax_.invert_xaxis()
        ax_.xaxis.set_major_formatter(FuncFormatter(lambda v, _: f"{v:g}"))
        ax_.set_xlabel(label)
        ax_.set_ylabel("test accuracy (%)")
        ax_.grid(True, which="major", alpha=0.4)
    left.legend()
    fig.suptitle(str(summary.get("name", "")))
    return save(fig, Path(path))
