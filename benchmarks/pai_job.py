"""The MNIST-1D MLP pruning-at-initialization sweep, end to end: wall time and table.

    python benchmarks/pai_job.py [--config configs/mnist1d_mlp_pai.py] [--workdir DIR]

Runs ``lottery run CONFIG`` in a fresh work directory as a subprocess (start-up,
data generation, scoring and compilation included), then writes
``benchmarks/results/<config name>-<device>.md``: the wall time, the rows at
density 10^-2.5 (direct and effective density, accuracy, collapsed layers for every
method) and the whole report table; copies the accuracy plot to ``docs/images/``.
"""

from __future__ import annotations

import argparse
import math
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).parent))
from report import device_slug, run_job, write_table  # noqa: E402

ROOT = Path(__file__).resolve().parent.parent


def main() -> int:
    """Runs the sweep and writes the results; returns 0."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--config", default="configs/mnist1d_mlp_pai.py")
    parser.add_argument("--workdir", default=None, help="default: a fresh temporary folder")
    args = parser.parse_args()
    summary, wall, table = run_job(args.config, args.workdir, f"{Path(args.config).stem}.png")
    at = [r for r in summary["results"] if abs(math.log10(r["density"]) + 2.5) < 1e-6]
    rows = [
        f"| {r['method']} | {100 * r['direct_density']:.3f} | {100 * r['effective_density']:.3f}"
        f" | {100 * r['accuracy_mean']:.2f} ± {100 * r['accuracy_std']:.2f}"
        f" | {', '.join(r['collapsed_layers']) or '-'} |"
        for r in at
    ]
    notes = [
        "",
        f"Command: `lottery run {args.config}` (fresh work directory, progress bar off).",
        f"Wall time: **{wall:.0f} s** ({wall / 60:.2f} min), start-up and compilation included.",
        "",
        "Whole report table (test accuracy %, mean ± std over replicates):",
        "",
        "```",
        *table,
        "```",
        "",
        "At density 10^-2.5:",
    ]
    header = ["method", "direct density %", "effective density %", "accuracy %", "collapsed"]
    out = ROOT / f"benchmarks/results/{summary['name']}-{device_slug()}.md"
    write_table(summary["name"], f"Pruning at initialization: {summary['name']}", notes, header,
                rows, str(out))  # fmt: skip
    print(f"wall {wall:.1f} s")
    return 0


if __name__ == "__main__":
    sys.exit(main())
