"""Shared helpers of the reproductions: run a config through the library, time it,
and write results that a rerun with the same seed reproduces exactly.

Each reproduction writes ``results.md`` (metrics only, printed to a fixed
precision, so a rerun rewrites it byte for byte), its PNG plots, and
``timing.json`` (the wall time of that invocation, which naturally varies).
"""

from __future__ import annotations

import argparse
import json
import math
import time
from pathlib import Path

import lottery  # noqa: F401  (sets the XLA flag before any JAX computation)
from lottery import config as config_lib
from lottery import host, imp, report

ROOT = Path(__file__).resolve().parent.parent


def load(config_file: str, **fields) -> config_lib.ml_collections.ConfigDict:
    """Returns the config in ``configs/<config_file>`` with each ``a__b=value``
    of ``fields`` set as ``a.b`` (as ``--config.a.b=value`` would)."""
    cfg = config_lib.load(ROOT / "configs" / config_file)
    for dotted, value in fields.items():
        config_lib.override(cfg, dotted.replace("__", "."), repr(value))
    return cfg


def run_imp(cfg, workdir: Path) -> dict:
    """Returns the IMP summary of ``cfg`` run (or resumed) under ``workdir``,
    with the standard report written into the run directory."""
    summary = imp.run_imp(cfg, workdir, progress=True)
    report.write(summary, report.report_dir(summary["run_dir"]))
    return summary


def pct(mean: float, std: float) -> str:
    """Returns ``"mm.mm ± s.ss"`` of a mean and std given as fractions."""
    return f"{100 * mean:.2f} ± {100 * std:.2f}"


def write_timing(out: Path, began: float, **extra) -> float:
    """Writes ``out/timing.json`` (wall seconds since ``began``, ``extra`` and the
    machine it ran on, ``lottery.host.describe()``); returns the seconds."""
    seconds = round(time.perf_counter() - began, 1)
    record = {"wall_seconds": seconds, **extra, "machine": host.describe()}
    (out / "timing.json").write_text(json.dumps(record) + "\n")
    return seconds


def run_pai(cfg, workdir: Path) -> dict:
    """Returns the pruning-at-initialization summary of ``cfg`` run (or resumed)
    under ``workdir``, with the standard report written into the run directory."""
    from lottery import pai

    summary = pai.run_pai(cfg, workdir, progress=True)
    report.write(summary, report.report_dir(summary["run_dir"]))
    return summary


def pai_table(summary: dict, methods: list[str], variant: str | None = None) -> list[str]:
    """Returns markdown rows of a PaI summary: a row per density, a column per
    method, ``mean ± std`` accuracy (%) of the unablated masks (``variant`` None)
    or of one ablation; a ``†`` marks points where some layer collapsed (the
    unablated mask pruned a whole layer in some replicate), a ``‡`` points where no
    layer is empty but no input-to-output path survives (effective density 0)."""
    by = {(r["method"], r["density"]): r for r in summary["results"]}
    densities = sorted({r["density"] for r in summary["results"]}, reverse=True)
    lines = ["| density | " + " | ".join(methods) + " |", "|---|" + "---|" * len(methods)]
    for d in densities:
        cells = []
        for m in methods:
            r = by.get((m, d))
            if r is None:
                cells.append("")
                continue
            stat = (
                (r["accuracy_mean"], r["accuracy_std"])
                if variant is None
                else (r["ablations"][variant]["mean"], r["ablations"][variant]["std"])
            )
            mark = " †" if r["collapsed_layers"] else (" ‡" if not r["effective_density"] else "")
            cells.append(pct(*stat) + mark)
        lines.append(f"| 10^{math.log10(d):.2f} | " + " | ".join(cells) + " |")
    return lines


def start(doc: str, here: Path) -> tuple[Path, Path, float]:
    """Parses a reproduction's command line (``--workdir``, default ``here/runs``;
    ``--out``, default ``here``; ``doc``'s first line is the help) and creates the
    output folder; returns ``(workdir, out, began)``, ``began`` the start time."""
    parser = argparse.ArgumentParser(description=doc.splitlines()[0])
    parser.add_argument("--workdir", default=str(here / "runs"))
    parser.add_argument("--out", default=str(here))
    args = parser.parse_args()
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    return Path(args.workdir), out, time.perf_counter()


def finish(out: Path, lines: list[str], began: float, **extra) -> int:
    """Writes ``lines`` as ``out/results.md`` and ``out/timing.json`` (with
    ``extra``), prints them and the wall time; returns 0 (the exit status)."""
    (out / "results.md").write_text("\n".join(lines) + "\n")
    seconds = write_timing(out, began, **extra)
    print("\n".join(lines))
    print(f"wall time {seconds} s")
    return 0
