"""The README's main job, end to end: wall time, the lottery-ticket check, the plot.

    python benchmarks/main_job.py [--workdir DIR] [--out FILE] [--no-plot] [--quick]

Runs ``lottery run configs/mnist1d_mlp_imp.py`` in a fresh work directory as a
subprocess (so the time includes start-up, data generation and compilation, as a
user sees it), then checks the issue's acceptance rule on its summary: at every
level with density between 9% and 15%, the ticket's mean test accuracy is at
least 4 points above ``reinit`` and at least the dense level's minus 1 point.
Writes ``benchmarks/results/main_job-<device>.md`` (the table and the check) and
copies the accuracy-versus-density plot to ``docs/images/`` for the README
(``--no-plot``: not). ``--quick`` shortens the job (``QUICK``: 3 levels of 300
steps) to test the benchmark itself; the check is then not applied.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).parent))
from report import device_slug, network_steps, run_job, write_table  # noqa: E402

ROOT = Path(__file__).resolve().parent.parent
CONFIG = "configs/mnist1d_mlp_imp.py"
QUICK = ["--config.imp.levels=3", "--config.train.duration=300it"]


def check(summary: dict) -> list[tuple[int, float, float, float, float, bool]]:
    """Returns ``(level, density, ticket, reinit, dense, ok)`` for each level with
    density in [0.09, 0.15], accuracies in percent."""
    dense = 100 * summary["levels"][0]["ticket"]["mean"]
    rows = []
    for level in summary["levels"]:
        if 0.09 <= level["density"] <= 0.15:
            ticket = 100 * level["ticket"]["mean"]
            reinit = 100 * level["reinit"]["mean"]
            ok = ticket >= reinit + 4 and ticket >= dense - 1
            rows.append((level["level"], level["density"], ticket, reinit, dense, ok))
    return rows


def main() -> int:
    """Runs the main job and writes the results; returns 0 if the check holds."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--workdir", default=None, help="default: a fresh temporary folder")
    parser.add_argument("--out", default=None)
    parser.add_argument("--no-plot", action="store_true", help="do not copy the plot to docs/")
    parser.add_argument("--quick", action="store_true", help="a shortened job; no check")
    args = parser.parse_args()
    extra = QUICK if args.quick else []
    image = None if args.no_plot or args.quick else "mnist1d_mlp_imp.png"
    summary, wall, table = run_job(CONFIG, args.workdir, image, extra_args=extra)
    steps = network_steps(summary["run_dir"])
    rows = check(summary)
    holds = bool(rows) and all(r[-1] for r in rows)
    verdict = "**holds**." if holds else "**fails**."
    if args.quick:
        verdict = "**not checked** (quick run: no level at 9-15% density)."
    notes = [
        "",
        f"Command: `lottery run {' '.join([CONFIG, *extra])}` (fresh work directory, "
        "progress bar off).",
        f"Wall time: **{wall:.0f} s** ({wall / 60:.2f} min), start-up and compilation included;",
        f"{steps:,} network-steps trained (every network's steps, all levels and branches): "
        f"{steps / wall:,.0f} network-steps/s end to end.",
        "",
        "Report table (test accuracy %, mean ± std over 3 replicates):",
        "",
        "```",
        *table,
        "```",
        "",
        "Lottery-ticket check at densities 9-15%: ticket >= reinit + 4 and >= dense - 1: "
        + verdict,
    ]
    header = ["level", "density %", "ticket %", "reinit %", "ticket - reinit", "dense %", "ok"]
    lines = [
        f"| {lv} | {100 * d:.2f} | {t:.2f} | {r:.2f} | {t - r:+.2f} | {de:.2f} | {ok} |"
        for lv, d, t, r, de, ok in rows
    ]
    out = args.out or str(ROOT / f"benchmarks/results/main_job-{device_slug()}.md")
    write_table("main_job", "The main job: IMP on the MNIST-1D MLP", notes, header, lines, out)
    word = "not checked" if args.quick else ("holds" if holds else "fails")
    print(f"wall {wall:.1f} s; {steps:,} network-steps ({steps / wall:,.0f}/s); check {word}")
    return 0 if holds or args.quick else 1


if __name__ == "__main__":
    sys.exit(main())
