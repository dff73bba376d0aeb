"""Reports for an IMP run: a text table, CSV/JSON rows and two PNG plots.

Everything here reads the summary dict of an IMP run (the one stored at
``<run_dir>/summary.json``, ``kind == "imp"``) and nothing else. Accuracies and
densities are fractions in the summary and in the CSV/JSON rows; the text table
and the plots show them as percentages. Plots are drawn on a bare
``matplotlib.figure.Figure`` (Agg canvas), so pyplot and the user's chosen
backend are never touched. Every file is written whole: to a temporary name in
the same directory, then renamed into place.
"""

from __future__ import annotations

import csv
import io
import json
import os
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np

from lottery.errors import LotteryError

MAX_LABELLED_LEVELS = 20


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


def format_table(summary: dict) -> str:
    """Returns a fixed-width table, one row per level: level, density %, per-branch
    ``mean ± std`` test accuracy in %, and the ticket's mean best step; "-" where missing."""
    levels = _check(summary)
    branches = _branches(summary, levels)
    header = ["level", "density %", *branches, "best step"]
    rows = []
    for lv in levels:
        cells = [str(lv["level"]), _pct(lv["density"])]
        for b in branches:
            r = lv.get(b)
            cells.append("-" if r is None else f"{_pct(r['mean'])} ± {_pct(r.get('std') or 0.0)}")
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
    ``<branch>_mean``, ``<branch>_std``, ``<branch>_best_step`` (fractions; None where missing)."""
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
        os.replace(tmp, path)
    finally:
        tmp.unlink(missing_ok=True)
    return path


def _save(fig: Any, path: Path) -> Path:
    return _atomic(path, lambda tmp: fig.savefig(tmp, format="png", dpi=130, bbox_inches="tight"))


def _figure() -> tuple[Any, Any]:
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure

    fig = Figure(figsize=(7, 4.5))
    FigureCanvasAgg(fig)
    return fig, fig.add_subplot()


def plot_accuracy(summary: dict, path: str | Path) -> Path:
    """Writes a PNG of test accuracy (%) against density (%, log scale, pruning left to right):
    one line per branch with a mean ± std band, and a dashed line at the dense ticket.
    Returns ``path``."""
    from matplotlib.ticker import FixedLocator, FuncFormatter, NullLocator

    levels = _check(summary)
    fig, ax = _figure()
    for b in _branches(summary, levels):
        pts = [
            (100 * lv["density"], 100 * lv[b]["mean"], 100 * (lv[b].get("std") or 0.0))
            for lv in levels
            if lv.get(b) is not None
        ]
        if not pts:
            continue
        x, mean, std = np.array(pts).T
        (line,) = ax.plot(x, mean, marker="o", label=b)
        ax.fill_between(x, mean - std, mean + std, color=line.get_color(), alpha=0.2)
    dense = next((lv for lv in levels if lv["level"] == 0 and lv.get("ticket")), None)
    if dense is not None:
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
    Returns ``path``."""
    from matplotlib.ticker import FuncFormatter, LogFormatter, MaxNLocator

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


def _write_text(path: Path, text: str) -> Path:
    def write_fn(tmp: Path) -> None:
        with open(tmp, "w", newline="") as f:
            f.write(text)
            f.flush()
            os.fsync(f.fileno())

    return _atomic(path, write_fn)


def write(summary: dict, out_dir: str | Path) -> dict[str, Path]:
    """Writes ``table.csv``, ``table.json``, ``table.txt``, ``accuracy_vs_density.png`` and
    ``layer_density.png`` into ``out_dir`` (created if needed), each atomically.
    Returns their paths keyed ``csv``, ``json``, ``txt``, ``accuracy_plot``, ``layer_plot``."""
    rows = table_rows(summary)  # validates before anything is created
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    buf = io.StringIO()
    writer = csv.DictWriter(buf, fieldnames=list(rows[0]), lineterminator="\n")
    writer.writeheader()
    writer.writerows(rows)
    return {
        "csv": _write_text(out / "table.csv", buf.getvalue()),
        "json": _write_text(out / "table.json", json.dumps(rows, indent=2) + "\n"),
        "txt": _write_text(out / "table.txt", format_table(summary)),
        "accuracy_plot": plot_accuracy(summary, out / "accuracy_vs_density.png"),
        "layer_plot": plot_layer_density(summary, out / "layer_density.png"),
    }


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
