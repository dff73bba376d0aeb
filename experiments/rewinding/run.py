"""Rewinding on the MNIST-1D CNN: instability (error barrier) versus the rewind
step k, and IMP accuracy with rewinding to init, to step k, learning-rate
rewinding and fine-tuning (Frankle et al. 2020; Renda et al. 2020 analogue).

    python experiments/rewinding/run.py [--workdir DIR]

For each k in {0, 1, 2, 5, 10, 20} epochs: IMP on cnn1d (32 channels, Adam 1e-2
with cosine decay, batch 100, 3000 steps = 75 epochs), half the remaining weights pruned per level
(global over all kernels) for 4 levels (100% down to 12.5%), 4 replicates, no
controls; then the instability analysis of the sparsest level (two copies from
the rewind point, 30 points). Learning-rate rewinding (``lr``) and fine-tuning
(``finetune``) run the same levels. Writes ``results.md``,
``barrier_vs_k.png``, ``accuracy_vs_density.png`` and ``timing.json``.
"""

from __future__ import annotations

import sys
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE.parent))
import common  # noqa: E402

from lottery import instability, report  # noqa: E402

KS = (0, 1, 2, 5, 10, 20)
LEVEL = 3
FIELDS = {
    "kind": "imp",
    "replicates": 4,
    "train__duration": "3000it",
    "train__schedule__name": "cosine",
    "train__eval_every": 25,
    "imp__levels": LEVEL + 1,
    "imp__fraction": 0.5,
    "imp__controls": (),
    "imp__checkpoint_every": "25ep",
}


def _config(rewind: str):
    cfg = common.load("mnist1d_cnn.py", **FIELDS, imp__rewind=rewind)
    cfg.name = f"rewind_{rewind}"
    return cfg


def _plot_barrier(rows: list[tuple], path: Path) -> None:
    fig, ax = report._figure()
    ks = [max(k, 0.5) for k, *_ in rows]
    means = [100 * b["mean"] for _, b, _ in rows]
    stds = [100 * b["std"] for _, b, _ in rows]
    ax.errorbar(ks, means, yerr=stds, marker="o", capsize=3)
    ax.set_xscale("log")
    ax.set_xticks(ks, [str(k) for k, *_ in rows])
    ax.set_xlabel("rewind step k (epochs; 0 = initialization)")
    ax.set_ylabel("test error barrier (points)")
    ax.set_title(f"Instability of the {100 * 0.5**LEVEL:.1f}% ticket, MNIST-1D CNN")
    ax.grid(alpha=0.3)
    report._save(fig, path)


def _plot_modes(summaries: dict, path: Path) -> None:
    fig, (full, zoom) = report._figure(2)
    for i, (label, summary) in enumerate(summaries.items()):
        d = [100 * lv["density"] for lv in summary["levels"]]
        m = [100 * lv["ticket"]["mean"] for lv in summary["levels"]]
        s = [100 * lv["ticket"]["std"] for lv in summary["levels"]]
        axes = (full,) if label == "fine-tuning" else (full, zoom)
        for ax in axes:
            ax.errorbar(d, m, yerr=s, marker="o", capsize=3, label=label, color=f"C{i}")
    for ax, title in ((full, "all modes"), (zoom, "without fine-tuning (zoomed)")):
        ax.set_xscale("log")
        ax.invert_xaxis()
        ax.set_xticks(d, [f"{x:g}" for x in d])
        ax.minorticks_off()
        ax.set_xlabel("density (% of weights kept)")
        ax.set_ylabel("test accuracy (%)")
        ax.set_title(title)
        ax.grid(alpha=0.3)
    full.legend(fontsize="small")
    fig.suptitle("IMP on the MNIST-1D CNN by rewinding mode")
    report._save(fig, path)


def main() -> int:
    """Runs the reproduction and writes its outputs next to this script; returns 0."""
    workdir, out, began = common.start(__doc__, HERE)
    rows, summaries = [], {}
    for k in KS:
        rewind = "init" if k == 0 else f"{k}ep"
        summary = common.run_imp(_config(rewind), workdir)
        result = instability.analyze(summary["run_dir"], LEVEL, progress=True)
        rows.append((k, result["test_barrier"], summary["levels"][LEVEL]["ticket"]))
        summaries[f"rewind to {rewind}"] = summary
    for mode in ("lr", "finetune"):
        summaries[{"lr": "learning-rate rewinding", "finetune": "fine-tuning"}[mode]] = (
            common.run_imp(_config(mode), workdir)
        )
    n = FIELDS["replicates"]
    lines = [
        "# Rewinding on the MNIST-1D CNN: results",
        "",
        f"Instability of level {LEVEL} ({100 * 0.5**LEVEL:.1f}% density): test error barrier",
        f"(points, mean ± std over {n} replicates) between two copies trained from the",
        "rewind point with different data orders, and the ticket's test accuracy (%).",
        "",
        "| rewind k (epochs) | error barrier | ticket accuracy |",
        "|---|---|---|",
    ]
    for k, b, t in rows:
        lines.append(
            f"| {k} | {common.pct(b['mean'], b['std'])} | {common.pct(t['mean'], t['std'])} |"
        )
    lines += ["", "Ticket test accuracy (%) per level and rewinding mode:", ""]
    names = list(summaries)
    lines.append("| level | density | " + " | ".join(names) + " |")
    lines.append("|---|---|" + "---|" * len(names))
    for level in range(LEVEL + 1):
        cells = [
            common.pct(*(summaries[n]["levels"][level]["ticket"][f] for f in ("mean", "std")))
            for n in names
        ]
        density = summaries[names[0]]["levels"][level]["density"]
        lines.append(f"| {level} | {100 * density:.1f}% | " + " | ".join(cells) + " |")
    _plot_barrier(rows, out / "barrier_vs_k.png")
    _plot_modes(summaries, out / "accuracy_vs_density.png")
    return common.finish(out, lines, began)


if __name__ == "__main__":
    sys.exit(main())
