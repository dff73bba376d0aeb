"""Zhou et al. (2019) on MNIST-1D: IMP with three pruning criteria (large_final,
magnitude_increase, movement), each with the reset_to_sign control (and reinit for
large_final, the standard ticket).

    python experiments/zhou_criteria/run.py [--workdir DIR] [--out DIR]

The main job's protocol (configs/mnist1d_mlp_imp.py: MLP 40-300-100-10, Adam 1.2e-3,
batch 100, 3000 steps per level, 20% pruned per level, output layer 10%, rewinding
to init, 3 replicates) for 11 levels (100% down to 10.7%), one IMP run per
criterion. The criteria and the control are registered by ``zhou.py`` through the
library's public registries. Writes ``results.md`` (metrics only: a rerun rewrites it
byte for byte), ``accuracy_vs_density.png`` and ``timing.json`` (the wall time).
"""

from __future__ import annotations

import sys
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE.parent))
sys.path.insert(0, str(HERE))
import common  # noqa: E402
import zhou  # noqa: E402  (registers the criteria and reset_to_sign)

LEVELS = 11
# reinit (a fresh initialization on the ticket's mask) only where it is the
# reference: on the standard ticket; it would cost a third more time per run
CONTROLS = {
    "large_final": ("reset_to_sign", "reinit"),
    "magnitude_increase": ("reset_to_sign",),
    "movement": ("reset_to_sign",),
}


def _config(criterion: str):
    cfg = common.load(
        "mnist1d_mlp_imp.py",
        imp__levels=LEVELS,
        imp__criterion=criterion,
        imp__controls=CONTROLS[criterion],
    )
    cfg.name = f"zhou_{criterion}"
    return cfg


def _table(summaries: dict, branch: str) -> list[str]:
    """Returns the markdown rows of one branch: a row per level, a column per
    criterion that ran the branch."""
    names = [n for n, s in summaries.items() if branch in s["branches"]]
    lines = ["| level | density | " + " | ".join(names) + " |", "|---|---|" + "---|" * len(names)]
    for level in range(1, LEVELS):
        cells = [common.pct(*_stat(summaries[n], level, branch)) for n in names]
        density = summaries[names[0]]["levels"][level]["density"]
        lines.append(f"| {level} | {100 * density:.1f}% | " + " | ".join(cells) + " |")
    return lines


def _stat(summary: dict, level: int, branch: str) -> tuple[float, float]:
    """Returns (mean, std) of ``branch``'s final test accuracy at ``level``."""
    entry = summary["levels"][level][branch]
    return entry["mean"], entry["std"]


def _plot(summaries: dict, path: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    from matplotlib.ticker import FuncFormatter

    fig, ax = plt.subplots(figsize=(7.5, 4.8))
    styles = {"ticket": "-", "reset_to_sign": "--", "reinit": ":"}
    for color, (name, summary) in zip(("C0", "C1", "C2"), summaries.items(), strict=True):
        levels = summary["levels"][1:]
        d = [100 * lv["density"] for lv in levels]
        for branch in summary["branches"]:
            style = styles[branch]
            m = [100 * lv[branch]["mean"] for lv in levels]
            s = [100 * lv[branch]["std"] for lv in levels]
            ax.errorbar(
                d, m, yerr=s, color=color, ls=style, marker="o", ms=3, capsize=2,
                label=f"{name} / {branch}",
            )  # fmt: skip
    dense = summaries["large_final"]["levels"][0]["ticket"]["mean"]
    ax.axhline(100 * dense, color="gray", lw=0.8, ls="-.", label="dense")
    ax.set_xscale("log")
    ax.invert_xaxis()
    plain = FuncFormatter(lambda v, _: f"{v:g}")
    ax.xaxis.set_major_formatter(plain)
    ax.xaxis.set_minor_formatter(plain)
    ax.set_xlabel("density (% of prunable weights kept, log scale)")
    ax.set_ylabel("test accuracy (%)")
    ax.set_title("Zhou et al. (2019) criteria and reset-to-sign, MNIST-1D MLP")
    ax.grid(alpha=0.3)
    ax.legend(fontsize=7, loc="upper left", bbox_to_anchor=(1.02, 1.0), borderaxespad=0)
    fig.savefig(path, dpi=130, bbox_inches="tight")
    plt.close(fig)


def main() -> int:
    """Runs the reproduction and writes its outputs next to this script; returns 0."""
    workdir, out, began = common.start(__doc__, HERE)
    summaries = {c: common.run_imp(_config(c), workdir) for c in zhou.CRITERIA}
    dense = _stat(summaries["large_final"], 0, "ticket")
    lines = [
        "# Zhou et al. (2019) criteria on MNIST-1D: results",
        "",
        "Final test accuracy (%, mean ± std over 3 replicates) per IMP level; MLP",
        "40-300-100-10, rewinding to init. Criteria rank the previous level's trained",
        "weights w_f against the initialization w_i: large_final |w_f|,",
        "magnitude_increase |w_f| - |w_i|, movement |w_f - w_i|.",
        f"Dense network (level 0, the same in every run): {common.pct(*dense)}.",
    ]
    for branch, title in (
        ("ticket", "Tickets (the mask on the original initialization)"),
        ("reset_to_sign", "reset_to_sign (the mask on ±std of each layer, initial signs)"),
        ("reinit", "reinit (the large_final mask on a fresh initialization)"),
    ):
        lines += ["", f"## {title}", "", *_table(summaries, branch)]
    _plot(summaries, out / "accuracy_vs_density.png")
    return common.finish(out, lines, began, levels=LEVELS, replicates=3)


if __name__ == "__main__":
    sys.exit(main())
