"""Reports for an IMP run or a pruning-at-init sweep: a text table, CSV/JSON rows
and two PNG plots.

Everything here reads the summary dict of a run (the one stored at
``<run_dir>/summary.json``) and nothing else. The public entry points
(``format_table``, ``table_rows``, ``plot_accuracy``, ``plot_layer_density``,
``write``) dispatch on ``summary["kind"]``: ``"imp"`` (levels of iterative
magnitude pruning) or ``"pai"`` (methods x target densities of a
pruning-at-initialization sweep; ``plot_pai_accuracy`` and
``plot_pai_layer_density`` draw its plots). Accuracies and densities are
fractions in the summary and in the CSV/JSON rows; the text table and the plots
show them as percentages (a PaI target density is written ``10^-2.50``, as the
sweep's grid is). Plots are drawn on a bare
``matplotlib.figure.Figure`` (Agg canvas), so pyplot and the user's chosen
backend are never touched. Every file is written whole: to a temporary name in
the same directory, then renamed into place.
"""

from __future__ import annotations

import csv
import io
import json
import math
import os
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np

from lottery import faults, report_structured, runs
from lottery.errors import LotteryError

MAX_LABELLED_LEVELS = 20
MAX_LABELLED_DENSITIES = 10  # PaI accuracy plot: one tick per target density up to this many
KINDS = ("imp", "pai", "structured")
ABLATION_STYLES = ("--", ":", "-.", (0, (5, 1, 1, 1, 1, 1)), (0, (8, 3)))


def _kind(summary: Any) -> str:
    """Returns ``summary["kind"]`` if it is one this module reports; raises LotteryError."""
    kind = summary.get("kind") if isinstance(summary, dict) else None
    if kind not in KINDS:
        raise LotteryError(
            "summary",
            f"expected an IMP, PaI or structured summary (kind 'imp', 'pai' or "
            f"'structured'), got kind {kind!r}",
        )
    return kind


def _check(summary: dict) -> list[dict]:
    """Returns the summary's levels, sorted by level; raises LotteryError if it is not IMP."""
    kind = summary.get("kind") if isinstance(summary, dict) else None
    if kind != "imp":
        raise LotteryError("summary", f"expected an IMP summary (kind 'imp'), got kind {kind!r}")
    levels = summary.get("levels") or []
    if not levels:
        raise LotteryError("summary", "the IMP summary has no levels (nothing was trained)")
    return sorted(levels, key=lambda lv: lv["level"])


def _branches(summary: dict, levels: list[dict]) -> list[str]:
    """Returns ``summary["branches"]``, or the branches seen in ``levels`` (ticket first)."""
    if summary.get("branches"):
        return list(summary["branches"])
    seen = ["ticket"] + [
        k for lv in levels for k, v in lv.items() if isinstance(v, dict) and "mean" in v
    ]
    return list(dict.fromkeys(seen))


def _pct(x: float) -> str:
    return f"{100 * x:.2f}"


def accuracy_cell(mean: float | None, std: float | None, diverged: list | None = None) -> str:
    """Returns ``mean ± std`` in %, then ``(k diverged)`` if replicates diverged;
    "diverged" if all did (mean None with a diverged list), "-" where there is
    nothing. Every report table (IMP, PaI, structured) writes accuracy this way."""
    if mean is None:
        return "diverged" if diverged else "-"
    cell = f"{_pct(mean)} ± {_pct(std or 0.0)}"
    return f"{cell} ({len(diverged)} diverged)" if diverged else cell


def _left_out(branch: dict | None) -> list[int]:
    """Returns the replicates an IMP branch summary leaves out of its mean: those
    that diverged and those whose masks descend from a diverged ticket."""
    branch = branch or {}
    return [*(branch.get("diverged") or []), *(branch.get("after_divergence") or [])]


def format_table(summary: dict) -> str:
    """Returns a fixed-width table, one row per level: level, density %, per-branch
    ``mean ± std`` test accuracy in %, and the ticket's mean best step; "-" where
    missing. Replicates whose loss became NaN (or whose mask descends from such a
    ticket) are left out of the mean and counted (``(1 diverged)``); a cell where
    every replicate diverged reads "diverged".

    For a PaI summary: one row per method and target density (methods in the
    summary's order, densities descending), see ``_format_pai_table``."""
    if _kind(summary) == "pai":
        return _format_pai_table(summary)
    if _kind(summary) == "structured":
        return report_structured.format_table(summary)
    levels = _check(summary)
    branches = _branches(summary, levels)
    header = ["level", "density %", *branches, "best step"]
    rows = []
    for lv in levels:
        cells = [str(lv["level"]), _pct(lv["density"])]
        for b in branches:
            r = lv.get(b) or {}
            cells.append(accuracy_cell(r.get("mean"), r.get("std"), _left_out(r)))
        step = (lv.get("ticket") or {}).get("best_step")
        cells.append("-" if step is None else str(round(step)))
        rows.append(cells)
    widths = [max(len(c) for c in col) for col in zip(header, *rows, strict=True)]
    lines = [
        "  ".join(c.rjust(w) for c, w in zip(cells, widths, strict=True))
        for cells in [header, *rows]
    ]
    return "\n".join(lines) + "\n"


def table_rows(summary: dict) -> list[dict[str, Any]]:
    """Returns one flat dict per level: ``level``, ``density`` and, per branch,
    ``<branch>_mean``, ``<branch>_std``, ``<branch>_best_step`` (fractions; None where missing).

    For a PaI summary: one flat dict per method and target density, see ``_pai_rows``."""
    if _kind(summary) == "pai":
        return _pai_rows(summary)
    if _kind(summary) == "structured":
        return report_structured.table_rows(summary)
    levels = _check(summary)
    branches = _branches(summary, levels)
    out = []
    for lv in levels:
        row: dict[str, Any] = {"level": lv["level"], "density": lv["density"]}
        for b in branches:
            r = lv.get(b) or {}
            for key in ("mean", "std", "best_step"):
                row[f"{b}_{key}"] = r.get(key)
        out.append(row)
    return out


def _atomic(path: Path, write_fn: Callable[[Path], None]) -> Path:
    """Runs ``write_fn`` on a temporary name beside ``path``, then renames it; returns ``path``."""
    path = Path(path)
    tmp = path.with_name(f".{path.name}.tmp-{os.getpid()}")
    try:
        write_fn(tmp)
        faults.point("report_written", file=path.name)
        os.replace(tmp, path)
    finally:
        tmp.unlink(missing_ok=True)
    return path


def _save(fig: Any, path: Path) -> Path:
    return _atomic(path, lambda tmp: fig.savefig(tmp, format="png", dpi=130, bbox_inches="tight"))


def _figure(panels: int = 1) -> tuple[Any, Any]:
    """Returns a pyplot-free figure and its axes: one panel 7 x 4.5 inches, or
    ``panels`` side by side 11 x 4.5 inches (then the axes are an array)."""
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure

    fig = Figure(figsize=(7, 4.5) if panels == 1 else (11, 4.5))
    FigureCanvasAgg(fig)
    return fig, fig.add_subplot() if panels == 1 else fig.subplots(1, panels)


def plot_accuracy(summary: dict, path: str | Path) -> Path:
    """Writes a PNG of test accuracy (%) against density (%, log scale, pruning left to right):
    one line per branch with a mean ± std band, and a dashed line at the dense ticket.
    A PaI summary is drawn by ``plot_pai_accuracy``. Returns ``path``."""
    from matplotlib.ticker import FixedLocator, FuncFormatter, NullLocator

    if _kind(summary) == "pai":
        return plot_pai_accuracy(summary, path)
    levels = _check(summary)
    fig, ax = _figure()
    diverged: list[float] = []
    for b in _branches(summary, levels):
        pts = [
            (100 * lv["density"], 100 * lv[b]["mean"], 100 * (lv[b].get("std") or 0.0))
            for lv in levels
            if lv.get(b) is not None and lv[b].get("mean") is not None
        ]
        diverged += [100 * lv["density"] for lv in levels if _left_out(lv.get(b))]
        if not pts:
            continue
        x, mean, std = np.array(pts).T
        (line,) = ax.plot(x, mean, marker="o", label=b)
        ax.fill_between(x, mean - std, mean + std, color=line.get_color(), alpha=0.2)
    if not ax.lines:  # every network diverged: no accuracy to draw
        ax.set_ylim(0, 100)
    if diverged:  # along the bottom edge: where some replicate's loss became NaN
        ax.plot(
            diverged,
            [0.02] * len(diverged),
            "v",
            color="red",
            transform=ax.get_xaxis_transform(),
            label="diverged replicate(s)",
        )
    dense = next((lv for lv in levels if lv["level"] == 0 and lv.get("ticket")), None)
    if dense is not None and dense["ticket"].get("mean") is not None:
        ax.axhline(100 * dense["ticket"]["mean"], color="gray", linestyle="--", label="dense")
    ax.set_xscale("log")
    ax.invert_xaxis()
    ax.xaxis.set_major_formatter(FuncFormatter(lambda v, _: f"{round(v, 1):g}"))
    if len(levels) <= MAX_LABELLED_LEVELS:
        ax.xaxis.set_major_locator(
            FixedLocator(sorted({round(100 * lv["density"], 1) for lv in levels}))
        )
        ax.xaxis.set_minor_locator(NullLocator())
    ax.set_xlabel("density (%)")
    ax.set_ylabel("test accuracy (%)")
    ax.set_title(str(summary.get("name", "")))
    ax.grid(True, which="major", alpha=0.4)
    ax.legend()
    return _save(fig, Path(path))


def plot_layer_density(summary: dict, path: str | Path) -> Path:
    """Writes a PNG of each layer's ticket density (%, log scale) against IMP level.
    A PaI summary is drawn by ``plot_pai_layer_density``. Returns ``path``."""
    from matplotlib.ticker import FuncFormatter, LogFormatter, MaxNLocator

    if _kind(summary) == "pai":
        return plot_pai_layer_density(summary, path)
    levels = _check(summary)
    fig, ax = _figure()
    names = list(dict.fromkeys(n for lv in levels for n in lv.get("layer_density", {})))
    x = [lv["level"] for lv in levels]
    for name in names:
        y = [100 * lv.get("layer_density", {}).get(name, np.nan) for lv in levels]
        ax.plot(x, y, marker="o", label=name)
    ax.set_yscale("log")
    ax.yaxis.set_major_formatter(FuncFormatter(lambda v, _: f"{v:g}"))
    ax.yaxis.set_minor_formatter(LogFormatter(labelOnlyBase=False, minor_thresholds=(2, 0.5)))
    ax.xaxis.set_major_locator(MaxNLocator(integer=True))
    ax.set_xlabel("IMP level")
    ax.set_ylabel("layer density (%)")
    ax.set_title(f"{summary.get('name', '')}: per-layer density")
    ax.grid(True, which="both", alpha=0.4)
    if names:
        ax.legend(fontsize="small")
    return _save(fig, Path(path))


# --- pruning-at-initialization sweeps (kind "pai") -------------------------------


def _check_pai(summary: dict) -> list[dict]:
    """Returns the PaI summary's results sorted by method (the order of
    ``summary["methods"]``, unlisted methods after in order of appearance), then
    target density descending; raises LotteryError if it is not a usable PaI summary."""
    kind = summary.get("kind") if isinstance(summary, dict) else None
    if kind != "pai":
        raise LotteryError("summary", f"expected a PaI summary (kind 'pai'), got kind {kind!r}")
    results = summary.get("results") or []
    if not isinstance(results, list) or not results:
        raise LotteryError("summary", "the PaI summary has no results (nothing was trained)")
    for i, r in enumerate(results):
        if not isinstance(r, dict) or not isinstance(r.get("method"), str):
            raise LotteryError("summary", f"PaI result {i} has no method name")
        d = r.get("density")
        if isinstance(d, bool) or not isinstance(d, int | float) or not 0 < d <= 1:
            raise LotteryError(
                "summary", f"PaI result {i} ({r['method']}): density must be in (0, 1], got {d!r}"
            )
        if not isinstance(r.get("accuracy_mean"), int | float):
            raise LotteryError("summary", f"PaI result {i} ({r['method']}) has no accuracy_mean")
    order = {m: i for i, m in enumerate(_pai_methods(summary, results))}
    return sorted(results, key=lambda r: (order[r["method"]], -r["density"]))


def _pai_methods(summary: dict, results: list[dict]) -> list[str]:
    """Returns ``summary["methods"]`` followed by any other method seen in ``results``."""
    return list(dict.fromkeys([*(summary.get("methods") or []), *(r["method"] for r in results)]))


def _pai_ablations(summary: dict, results: list[dict]) -> list[str]:
    """Returns ``summary["ablations"]`` followed by any other ablation seen in ``results``."""
    seen = [a for r in results for a in (r.get("ablations") or {})]
    return list(dict.fromkeys([*(summary.get("ablations") or []), *seen]))


def _ablation(result: dict, name: str) -> dict:
    """Returns ``{"mean", "std"}`` of ablation ``name`` at ``result``; ``{}`` if it never ran."""
    return (result.get("ablations") or {}).get(name) or {}


def density_label(density: float) -> str:
    """Returns ``10^-x.xx`` for a target density (how a PaI sweep's grid is written)."""
    return f"10^{math.log10(density):.2f}"


def _pct3(x: float | None) -> str:
    """A fraction as a percentage to 3 significant digits (``0.316``, ``31.6``, ``100``)."""
    if x is None:
        return "-"
    if x == 0:
        return "0"
    return f"{100 * x:#.3g}".rstrip(".")


def _format_pai_table(summary: dict) -> str:
    """A fixed-width table, one row per method and target density: ``method``,
    ``density`` (``10^-2.50``), ``direct %`` and ``effective %`` (3 significant
    digits), ``accuracy %`` (``mean ± std``), ``collapsed`` (comma-joined layer
    names, "-" if none), then per ablation its ``mean ± std`` accuracy in % ("-"
    where it did not run). Text columns are left-aligned, numbers right-aligned."""
    results = _check_pai(summary)
    ablations = _pai_ablations(summary, results)
    header = ["method", "density", "direct %", "effective %", "accuracy %", "collapsed"]
    header += ablations
    left = {0, 5}  # method, collapsed
    rows = []
    for r in results:
        cells = [
            r["method"],
            density_label(r["density"]),
            _pct3(r.get("direct_density")),
            _pct3(r.get("effective_density")),
            accuracy_cell(r["accuracy_mean"], r.get("accuracy_std"), r.get("diverged")),
            ",".join(r.get("collapsed_layers") or []) or "-",
        ]
        for a in ablations:
            ab = _ablation(r, a)
            cells.append(accuracy_cell(ab.get("mean"), ab.get("std"), ab.get("diverged")))
        rows.append(cells)
    widths = [max(len(c) for c in col) for col in zip(header, *rows, strict=True)]
    lines = [
        "  ".join(
            c.ljust(w) if i in left else c.rjust(w)
            for i, (c, w) in enumerate(zip(cells, widths, strict=True))
        ).rstrip()
        for cells in [header, *rows]
    ]
    return "\n".join(lines) + "\n"


def _pai_rows(summary: dict) -> list[dict[str, Any]]:
    """One flat dict per method and target density, in table order: ``method``,
    ``density``, ``direct_density``, ``effective_density``, ``accuracy_mean``,
    ``accuracy_std``, ``collapsed_layers`` (comma-joined, "" if none) and, per
    ablation, ``<ablation>_mean`` and ``<ablation>_std`` (fractions; None where missing)."""
    results = _check_pai(summary)
    ablations = _pai_ablations(summary, results)
    out = []
    for r in results:
        row: dict[str, Any] = {
            "method": r["method"],
            "density": r["density"],
            "direct_density": r.get("direct_density"),
            "effective_density": r.get("effective_density"),
            "accuracy_mean": r["accuracy_mean"],
            "accuracy_std": r.get("accuracy_std"),
            "collapsed_layers": ",".join(r.get("collapsed_layers") or []),
        }
        for a in ablations:
            row[f"{a}_mean"] = _ablation(r, a).get("mean")
            row[f"{a}_std"] = _ablation(r, a).get("std")
        out.append(row)
    return out


def _exponent_label(v: float, _pos: Any = None) -> str:
    """A tick label ``10^-2.5`` (mathtext) for a positive density."""
    if v <= 0:
        return ""
    return f"$10^{{{round(math.log10(v), 2):g}}}$"


def plot_pai_accuracy(summary: dict, path: str | Path) -> Path:
    """Writes a PNG of test accuracy (%) against target density (log scale, sparser
    to the right, ticks ``10^-x``): one line with markers and a mean ± std band per
    method; an ``x`` on points where some layer collapsed (legend "layer
    collapse"); each ablation as a dashed line (one dash pattern per ablation) in
    its method's colour (legend "<method> <ablation>"). Returns ``path``."""
    from matplotlib.ticker import FixedLocator, FuncFormatter, NullLocator

    results = _check_pai(summary)
    fig, ax = _figure()
    fig.set_size_inches(8.5, 5)
    ablations = _pai_ablations(summary, results)
    collapsed: list[tuple[float, float]] = []
    for method in _pai_methods(summary, results):
        mine = sorted(
            (r for r in results if r["method"] == method and r["accuracy_mean"] is not None),
            key=lambda r: r["density"],
        )
        if not mine:
            continue
        x = np.array([r["density"] for r in mine])
        mean = np.array([100 * r["accuracy_mean"] for r in mine])
        std = np.array([100 * (r.get("accuracy_std") or 0.0) for r in mine])
        (line,) = ax.plot(x, mean, marker="o", label=method)
        color = line.get_color()
        ax.fill_between(x, mean - std, mean + std, color=color, alpha=0.2)
        collapsed += [
            (d, m) for r, d, m in zip(mine, x, mean, strict=True) if r.get("collapsed_layers")
        ]
        for j, a in enumerate(ablations):
            pts = [
                (r["density"], 100 * _ablation(r, a)["mean"])
                for r in mine
                if _ablation(r, a).get("mean") is not None
            ]
            if pts:
                bx, by = np.array(pts).T
                style = ABLATION_STYLES[j % len(ABLATION_STYLES)]
                ax.plot(bx, by, linestyle=style, marker=".", color=color, label=f"{method} {a}")
    if collapsed:
        cx, cy = np.array(collapsed).T
        ax.scatter(
            cx,
            cy,
            marker="x",
            s=70,
            color="black",
            linewidths=1.5,
            zorder=3,
            label="layer collapse",
        )
    ax.set_xscale("log")
    ax.invert_xaxis()
    densities = sorted({r["density"] for r in results})
    if len(densities) <= MAX_LABELLED_DENSITIES:
        ax.xaxis.set_major_locator(FixedLocator(densities))
        ax.xaxis.set_minor_locator(NullLocator())
    ax.xaxis.set_major_formatter(FuncFormatter(_exponent_label))
    ax.set_xlabel("target density (fraction of weights kept)")
    ax.set_ylabel("test accuracy (%)")
    ax.set_title(str(summary.get("name", "")))
    ax.grid(True, which="major", alpha=0.4)
    ax.legend(fontsize="small", loc="upper left", bbox_to_anchor=(1.02, 1.0), borderaxespad=0)
    return _save(fig, Path(path))


def plot_pai_layer_density(summary: dict, path: str | Path) -> Path:
    """Writes a PNG of each method's per-layer density (%, log scale) at the lowest
    target density of the sweep: a grouped bar chart, one group per layer and one
    bar per method. A layer at zero density (collapsed) is drawn as a hatched stub
    up to a floor below the smallest nonzero bar and labelled "0". Returns ``path``."""
    from matplotlib.patches import Patch
    from matplotlib.ticker import FuncFormatter, LogFormatter

    results = _check_pai(summary)
    lowest = min(r["density"] for r in results)
    at = {
        r["method"]: r.get("layer_density") or {}
        for r in results
        if math.isclose(r["density"], lowest, rel_tol=1e-9)
    }
    methods = [m for m in _pai_methods(summary, results) if m in at]
    layers = list(dict.fromkeys(n for m in methods for n in at[m]))
    fig, ax = _figure()
    fig.set_size_inches(max(7.0, 1.2 * len(layers) + 2.5), 4.5)
    values = np.array(
        [[100 * float(at[m].get(n, np.nan)) for n in layers] for m in methods], dtype=float
    ).reshape(len(methods), len(layers))
    positive = values[np.isfinite(values) & (values > 0)]
    floor = float(positive.min()) / 10 if positive.size else 1e-3
    base = floor / 3  # bars rise from here, so a zero's stub (base..floor) stays visible
    width = 0.8 / max(len(methods), 1)
    xs = np.arange(len(layers))
    for i, m in enumerate(methods):
        color = f"C{i % 10}"
        pos = xs - 0.4 + width * (i + 0.5)
        row = values[i]
        ok = np.isfinite(row) & (row > 0)
        if ok.any():
            ax.bar(pos[ok], row[ok] - base, width, bottom=base, color=color, label=m)
        zero = np.isfinite(row) & (row == 0)
        if zero.any():
            ax.bar(
                pos[zero],
                floor - base,
                width,
                bottom=base,
                facecolor="white",
                edgecolor=color,
                hatch="///",
                linewidth=1.0,
                label=None if ok.any() else m,
            )
            for xz in pos[zero]:
                ax.annotate(
                    "0",
                    (xz, floor),
                    xytext=(0, 2),
                    textcoords="offset points",
                    ha="center",
                    va="bottom",
                    fontsize="small",
                )
    ax.set_yscale("log")
    ax.set_ylim(bottom=base)
    ax.yaxis.set_major_formatter(FuncFormatter(lambda v, _: f"{v:g}"))
    ax.yaxis.set_minor_formatter(LogFormatter(labelOnlyBase=False, minor_thresholds=(2, 0.5)))
    ax.set_xticks(
        xs,
        layers,
        rotation=30 if len(layers) > 5 else 0,
        ha="right" if len(layers) > 5 else "center",
    )
    ax.set_xlabel("layer")
    ax.set_ylabel("layer density (%)")
    ax.set_title(
        f"{summary.get('name', '')}: per-layer density at density "
        f"{density_label(lowest)} ({_pct3(lowest)} %)"
    )
    ax.grid(True, axis="y", which="both", alpha=0.4)
    handles, labels = ax.get_legend_handles_labels()
    if (values == 0).any():
        handles.append(Patch(facecolor="white", edgecolor="black", hatch="///"))
        labels.append("0 (layer collapse)")
    if handles:
        ax.legend(
            handles,
            labels,
            fontsize="small",
            loc="upper left",
            bbox_to_anchor=(1.02, 1.0),
            borderaxespad=0,
        )
    return _save(fig, Path(path))


def _write_text(path: Path, text: str) -> Path:
    def write_fn(tmp: Path) -> None:
        with open(tmp, "w", newline="") as f:
            f.write(text)
            f.flush()
            os.fsync(f.fileno())

    return _atomic(path, write_fn)


def write(summary: dict, out_dir: str | Path) -> dict[str, Path]:
    """Writes ``table.csv``, ``table.json``, ``table.txt``, ``accuracy_vs_density.png`` and
    ``layer_density.png`` into ``out_dir`` (created if needed), each atomically, for an
    IMP or a PaI summary (``kind`` "imp" or "pai"; the plots as drawn by
    ``plot_accuracy``/``plot_layer_density`` or ``plot_pai_accuracy``/``plot_pai_layer_density``).
    Returns their paths keyed ``csv``, ``json``, ``txt``, ``accuracy_plot``, ``layer_plot``.
    A structured summary gets the three tables and ``accuracy_vs_cost.png``
    (``report_structured.plot``, key ``accuracy_plot``)."""
    rows = table_rows(summary)  # validates before anything is created
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    runs.sweep(out, orbax=False)  # temporary files of a killed earlier writer
    buf = io.StringIO()
    writer = csv.DictWriter(buf, fieldnames=list(rows[0]), lineterminator="\n")
    writer.writeheader()
    writer.writerows(rows)
    files = {
        "csv": _write_text(out / "table.csv", buf.getvalue()),
        "json": _write_text(out / "table.json", json.dumps(rows, indent=2) + "\n"),
        "txt": _write_text(out / "table.txt", format_table(summary)),
    }
    if _kind(summary) == "structured":
        path = out / "accuracy_vs_cost.png"
        files["accuracy_plot"] = report_structured.plot(summary, path, _save, _figure)
        return files
    files["accuracy_plot"] = plot_accuracy(summary, out / "accuracy_vs_density.png")
    files["layer_plot"] = plot_layer_density(summary, out / "layer_density.png")
    return files


def report_dir(run_dir: str | Path) -> Path:
    """Returns ``<run_dir>/report``, where ``lottery report`` writes its files."""
    return Path(run_dir) / "report"


def load_summary(run_dir: str | Path) -> dict:
    """Returns the summary in ``<run_dir>/summary.json``; raises ``LotteryError``
    naming the file if it is missing or unreadable."""
    path = Path(run_dir) / "summary.json"
    try:
        with open(path) as f:
            return json.load(f)
    except FileNotFoundError:
        raise LotteryError(str(path), "no such file; is this a run directory?") from None
    except (OSError, ValueError) as exc:
        raise LotteryError(str(path), f"cannot be read: {exc}") from None
