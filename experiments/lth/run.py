"""LTH on MNIST-1D: IMP tickets versus `reinit` and `random_prune` across 16
levels, 5 replicates (Frankle & Carbin 2019, Figure 3 analogue).

    python experiments/lth/run.py [--workdir DIR]

Runs the main job's protocol (configs/mnist1d_mlp_imp.py: MLP 40-300-100-10, Adam
1.2e-3, batch 100, 3000 steps per level, 20% pruned per level, output layer 10%,
rewinding to init) with 5 replicates, then writes ``results.md`` (accuracy per
level and branch, mean ± std over replicates), ``accuracy_vs_density.png``,
``mask_overlap.png`` (the mask report's seed-overlap heat map) and ``timing.json``.
"""

from __future__ import annotations

import shutil
import sys
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE.parent))
import common  # noqa: E402

from lottery import mask_report  # noqa: E402


def main() -> int:
    """Runs the reproduction and writes its outputs next to this script; returns 0."""
    workdir, out, began = common.start(__doc__, HERE)
    cfg = common.load("mnist1d_mlp_imp.py", replicates=5)
    summary = common.run_imp(cfg, workdir)
    masks = mask_report.analyze_run(summary["run_dir"])
    written = mask_report.write(masks, Path(summary["run_dir"]) / "report")
    shutil.copy(Path(summary["run_dir"]) / "report" / "accuracy_vs_density.png", out)
    shutil.copy(written["jaccard"], out / "mask_overlap.png")
    dense = summary["levels"][0]["ticket"]
    lines = [
        "# LTH on MNIST-1D: results",
        "",
        "Test accuracy (%, mean ± std over 5 replicates) at the end of training.",
        f"Dense network: {common.pct(dense['mean'], dense['std'])}.",
        "",
        "| level | density | ticket | reinit | random_prune | ticket - reinit |"
        " effective density (ticket / random) | seed overlap (random) |",
        "|---|---|---|---|---|---|---|---|",
    ]
    for lv, m in zip(summary["levels"][1:], masks["levels"][1:], strict=True):
        t, r, rp = lv["ticket"], lv["reinit"], lv["random_prune"]
        lines.append(
            f"| {lv['level']} | {100 * lv['density']:.1f}% | {common.pct(t['mean'], t['std'])} | "
            f"{common.pct(r['mean'], r['std'])} | {common.pct(rp['mean'], rp['std'])} | "
            f"{100 * (t['mean'] - r['mean']):+.2f} | "
            f"{100 * m['ticket']['effective']:.2f}% / "
            f"{100 * m['random_prune']['effective']:.2f}% | "
            f"{100 * m['replicate_jaccard']:.1f}% ({100 * m['random_jaccard']:.1f}%) |"
        )
    return common.finish(out, lines, began)


if __name__ == "__main__":
    sys.exit(main())
