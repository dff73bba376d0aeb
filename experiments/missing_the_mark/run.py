"""Missing the mark (Frankle, Dziugaite, Roy & Carbin 2021 analogue) on the MNIST-1D
MLP: for each pruning-at-initialization method, the shuffle, reinit and invert
ablations against the unablated mask, and the same controls for IMP tickets.

    python experiments/missing_the_mark/run.py [--workdir DIR] [--out DIR]

PaI: ``configs/mnist1d_mlp_pai.py`` with magnitude, SNIP, GraSP and SynFlow at four
densities (10^-0.5 to 10^-2 in half decades) and the three ablations (shuffle:
positions permuted within each layer; reinit: a fresh initialization; invert: the
lowest-scoring weights kept instead). IMP: ``configs/mnist1d_mlp_imp.py`` (rewinding
to init) for 11 levels (to 11.3%) with the reinit, shuffle and invert controls.
3 replicates each. Writes ``results.md`` (metrics only: a rerun rewrites it byte
for byte), ``pai_ablations.png``, ``imp_controls.png`` and ``timing.json``.
"""

from __future__ import annotations

import sys
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE.parent))
import common  # noqa: E402

from lottery import report  # noqa: E402

METHODS = ("magnitude", "snip", "grasp", "synflow")
ABLATIONS = ("shuffle", "reinit", "invert")
DENSITIES = (10**-0.5, 10**-1.0, 10**-1.5, 10**-2.0)
CONTROLS = ("reinit", "shuffle", "invert")
LEVELS = 11


def _imp_table(summary: dict) -> list[str]:
    """Returns markdown rows: a row per IMP level, the ticket and each control."""
    names = ["ticket", *CONTROLS]
    lines = ["| level | density | " + " | ".join(names) + " |", "|---|---|" + "---|" * len(names)]
    for level in range(1, LEVELS):
        lv = summary["levels"][level]
        cells = [common.pct(lv[b]["mean"], lv[b]["std"]) for b in names]
        lines.append(f"| {level} | {100 * lv['density']:.1f}% | " + " | ".join(cells) + " |")
    return lines


def main() -> int:
    """Runs the PaI sweep and the IMP run, writes the outputs; returns 0."""
    workdir, out, began = common.start(__doc__, HERE)
    pai_cfg = common.load(
        "mnist1d_mlp_pai.py", pai__methods=METHODS, pai__densities=DENSITIES,
        pai__ablations=ABLATIONS,
    )  # fmt: skip
    pai_cfg.name = "missing_the_mark_pai"
    pai_summary = common.run_pai(pai_cfg, workdir)
    imp_cfg = common.load("mnist1d_mlp_imp.py", imp__levels=LEVELS, imp__controls=CONTROLS)
    imp_cfg.name = "missing_the_mark_imp"
    imp_summary = common.run_imp(imp_cfg, workdir)
    dense = imp_summary["levels"][0]["ticket"]
    lines = [
        "# Missing the mark on the MNIST-1D MLP: results",
        "",
        "Final test accuracy (%, mean ± std over 3 replicates). Dense network (IMP",
        f"level 0): {common.pct(dense['mean'], dense['std'])}. † = some layer collapsed;",
        "‡ = no input-to-output path survives (effective density 0).",
        "",
        "## Pruning at initialization: unablated masks",
        "",
        *common.pai_table(pai_summary, list(METHODS)),
    ]
    for ablation in ABLATIONS:
        lines += ["", f"## Pruning at initialization: {ablation}", ""]
        lines += common.pai_table(pai_summary, list(METHODS), ablation)
    lines += ["", "## IMP tickets (rewinding to init) and their controls", ""]
    lines += _imp_table(imp_summary)
    report.plot_pai_accuracy(pai_summary, out / "pai_ablations.png")
    report.plot_accuracy(imp_summary, out / "imp_controls.png")
    return common.finish(out, lines, began)


if __name__ == "__main__":
    sys.exit(main())
