"""Mixed precision: the MNIST-1D CNN trained in float32 and in bfloat16.

    python benchmarks/precision.py [--replicates 3] [--duration 6000it] [--repeats 9]
                                   [--epochs-per-sample 2] [--out FILE]

Accuracy: the full run of ``configs/mnist1d_cnn.py`` (6000 steps) with
``--replicates`` replicates (one vmapped program), once with ``train.dtype =
"float32"`` and once with ``"bfloat16"`` (forward and backward passes in bfloat16,
params, gradients and optimizer state in float32), each through
``lottery.experiment.run_train`` in a temporary folder; same seeds, so the two
differ only by the compute dtype. Reported: the mean (and per-replicate) final
test accuracy of each, their difference, and each run's wall time. Acceptance:
bfloat16's mean test accuracy within 1 point of float32's.

Speed: the two ``--replicates``-wide vmapped epoch programs, timed as in
``benchmarks/replicates.py`` (interleaved, median, compilation excluded); the
ratio is bfloat16 / float32 epoch time. Writes
``benchmarks/results/precision-<device>.md``.
"""

from __future__ import annotations

import argparse
import sys
import tempfile
from pathlib import Path

import jax

from lottery import config as config_lib  # importing lottery first sets its XLA flag
from lottery import experiment

sys.path.insert(0, str(Path(__file__).parent))
import replicates as rep  # noqa: E402
from report import command_line, write_table  # noqa: E402

ROOT = Path(__file__).resolve().parent.parent
CONFIG = "configs/mnist1d_cnn.py"
DTYPES = ("float32", "bfloat16")
MAX_POINTS = 1.0  # acceptance: |bf16 - fp32| mean test accuracy <= 1 point


def accuracy_run(dtype: str, replicates: int, duration: str | None) -> dict:
    """Returns the ``run_train`` summary of the CNN config in ``dtype`` with
    ``replicates`` replicates (and ``duration`` if given), run in a temporary folder."""
    cfg = config_lib.load(ROOT / CONFIG)
    cfg.replicates = replicates
    cfg.train.dtype = dtype
    if duration:
        cfg.train.duration = duration
    with tempfile.TemporaryDirectory(prefix="lottery_precision_") as tmp:
        return experiment.run_train(cfg, tmp, progress=False)


def epoch_times(replicates: int, repeats: int, epochs_per_sample: int) -> dict[str, float]:
    """Returns ``{dtype: median seconds per epoch}`` of the ``replicates``-wide
    vmapped CNN epoch in each dtype, timed in turn in this process."""
    programs = {}
    for dtype in DTYPES:
        trainer, dataset = rep.build("cnn1d", {"train.dtype": dtype})
        programs[dtype] = rep.stacked_program(trainer, dataset, replicates)
    return rep.median_epoch_times(programs, repeats, epochs_per_sample)


def main() -> int:
    """Runs both dtypes, prints and writes the table; returns 0."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--replicates", type=int, default=3)
    parser.add_argument("--duration", default=None, help="default: the config's (6000it)")
    parser.add_argument("--repeats", type=int, default=9)
    parser.add_argument("--epochs-per-sample", type=int, default=2)
    parser.add_argument("--out", default=None)
    args = parser.parse_args()
    accuracy_run("float32", 1, "1it")  # one-time start-up (data, JAX) outside the timed runs
    runs = {d: accuracy_run(d, args.replicates, args.duration) for d in DTYPES}
    times = epoch_times(args.replicates, args.repeats, args.epochs_per_sample)
    acc = {d: 100 * runs[d]["test_accuracy"] for d in DTYPES}
    diff = acc["bfloat16"] - acc["float32"]
    ratio = times["bfloat16"] / times["float32"]
    steps = runs["float32"]["steps"]
    verdict = "**holds**" if abs(diff) <= MAX_POINTS else "**fails**"
    short = "" if args.duration is None else f"; shortened run of {steps} steps, not the 6000"
    check = (
        f"Acceptance (bfloat16 mean test accuracy within {MAX_POINTS:g} point of float32's, "
        f"{args.replicates} replicates{short}): {verdict} ({diff:+.2f} points)."
    )
    rows = []
    for d in DTYPES:
        per = ", ".join(f"{100 * a:.2f}" for a in runs[d]["test_accuracy_per_replicate"])
        rows.append(
            f"| {d} | {acc[d]:.2f} ± {100 * runs[d]['test_accuracy_std']:.2f} | {per}"
            f" | {acc[d] - acc['float32']:+.2f} | {1e3 * times[d]:.2f}"
            f" | **{times[d] / times['float32']:.3f}** | {runs[d]['wall_seconds']:.1f} |"
        )
        print(rows[-1])
    print(check)
    notes = [
        f"Command: `{command_line()}`.",
        "",
        f"`{CONFIG}` ({steps} steps, batch 100), {args.replicates} replicates vmapped, trained by",
        "`lottery.experiment.run_train` with `train.dtype` float32 and bfloat16 (same seeds).",
        "Test accuracy in % (mean ± std over replicates, then each replicate); the epoch time is",
        f"the median over {args.repeats} samples of {args.epochs_per_sample} epoch(s) of the "
        f"{args.replicates}-replicate vmapped epoch (40 steps), compilation excluded; 'run wall' "
        "is `run_train`'s wall time (compilation and evaluation included; one-time start-up",
        "taken by a 1-step run before).",
        f"bfloat16/float32 epoch-time ratio: **{ratio:.3f}**.",
        "",
        check,
    ]
    header = [
        "dtype",
        "test accuracy %",
        "per replicate",
        "vs float32 (points)",
        "epoch (ms)",
        "epoch vs float32",
        "run wall (s)",
    ]
    title = "Mixed precision: MNIST-1D CNN in float32 and bfloat16"
    write_table("precision", title, notes, header, rows, args.out)
    print(f"device {jax.devices()[0].platform}: bf16/fp32 epoch time {ratio:.3f}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
