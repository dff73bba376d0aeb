"""The structured-versus-unstructured comparison on the MNIST-1D CNN, end to end.

    python benchmarks/structured_job.py [--config configs/mnist1d_cnn_structured.py] [--workdir DIR]

Runs ``lottery run CONFIG`` in a fresh work directory as a subprocess (start-up,
data generation and compilation included), then writes
``benchmarks/results/<config name>-<device>.md`` with the wall time and the report
table (per level: channel IMP, IMP-Refill and unstructured IMP, with accuracy,
density, and the compacted network's parameters and FLOPs), and copies the plot
to ``docs/images/``.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).parent))
from report import device_slug, run_job, write_table  # noqa: E402

ROOT = Path(__file__).resolve().parent.parent


def main() -> int:
    """Runs the comparison and writes the results; returns 0."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--config", default="configs/mnist1d_cnn_structured.py")
    parser.add_argument("--workdir", default=None, help="default: a fresh temporary folder")
    args = parser.parse_args()
    image = f"{Path(args.config).stem}.png"
    summary, wall, table = run_job(args.config, args.workdir, image, "accuracy_vs_cost.png")
    last = summary["levels"][-1]
    rows = [
        f"| {v} | {100 * last[v]['density']:.2f} | {100 * last[v]['mean']:.2f} ± "
        f"{100 * last[v]['std']:.2f} | {round(last[v]['params_compacted'])} | "
        f"{last[v]['flops_compacted'] / 1e3:.1f} |"
        for v in summary["variants"]
    ]
    notes = [
        "",
        f"Command: `lottery run {args.config}` (fresh work directory, progress bar off).",
        f"Wall time: **{wall:.0f} s** ({wall / 60:.2f} min), start-up and compilation included.",
        "",
        "Whole report table (test accuracy %, mean ± std over replicates; params and",
        "kFLOPs of the compacted network, per example):",
        "",
        "```",
        *table,
        "```",
        "",
        f"At the last level ({last['level']}, target density {100 * last['target_density']:.2f}%):",
    ]
    header = ["variant", "density %", "accuracy %", "params (compacted)", "kFLOPs (compacted)"]
    out = ROOT / f"benchmarks/results/{summary['name']}-{device_slug()}.md"
    title = f"Structured versus unstructured tickets: {summary['name']}"
    write_table(summary["name"], title, notes, header, rows, str(out))
    print(f"wall {wall:.1f} s")
    return 0


if __name__ == "__main__":
    sys.exit(main())
