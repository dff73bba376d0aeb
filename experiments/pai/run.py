"""Pruning at initialization on MNIST-1D (Tanaka et al. 2020 analogue): random,
magnitude, SNIP, GraSP and SynFlow across densities on the MLP and the CNN, with
layer collapse marked.

    python experiments/pai/run.py [--workdir DIR] [--out DIR]

Runs ``configs/mnist1d_mlp_pai.py`` as it is and ``configs/mnist1d_cnn_pai.py`` with
1500 training steps instead of 3000 (as ``configs/mnist1d_cnn_structured.py`` trains
the same CNN; at 3000 the CNN sweep alone took 11 of the 20 minutes), both with 3
replicates, densities 10^-0.5 to 10^-3 in quarter decades, global scope.
Writes ``results.md`` (metrics only: a rerun rewrites it byte for byte),
``accuracy_mlp.png``, ``accuracy_cnn.png`` and ``timing.json``.
"""

from __future__ import annotations

import sys
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE.parent))
import common  # noqa: E402

from lottery import report  # noqa: E402

CONFIGS = {"mlp": "mnist1d_mlp_pai.py", "cnn": "mnist1d_cnn_pai.py"}
OVERRIDES = {"mlp": {}, "cnn": {"train__duration": "1500it"}}


def main() -> int:
    """Runs both sweeps and writes the outputs next to this script; returns 0."""
    workdir, out, began = common.start(__doc__, HERE)
    lines = [
        "# Pruning at initialization on MNIST-1D: results",
        "",
        "Final test accuracy (%, mean ± std over 3 replicates) of networks pruned once",
        "at initialization to each density (fraction of prunable weights kept, global",
        "ranking over all kernels) and trained for 3000 steps (the MLP) or 1500 (the CNN).",
        "† = some layer collapsed",
        "(pruned entirely) in at least one replicate; ‡ = no layer empty, but no path",
        "from input to output survives (effective density 0).",
    ]
    for name, config_file in CONFIGS.items():
        summary = common.run_pai(common.load(config_file, **OVERRIDES[name]), workdir)
        methods = summary["methods"]
        lines += ["", f"## {name} (`configs/{config_file}`)", ""]
        lines += common.pai_table(summary, methods)
        report.plot_pai_accuracy(summary, out / f"accuracy_{name}.png")
    return common.finish(out, lines, began)


if __name__ == "__main__":
    sys.exit(main())
