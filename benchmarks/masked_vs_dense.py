"""Masked versus dense training speed on MNIST-1D (MLP and CNN), and compile time.

    python benchmarks/masked_vs_dense.py [--repeats 31] [--epochs-per-sample 5] [--out FILE]

For each model: compile one epoch (a ``lax.scan`` over 40 steps) dense and masked
(10% density, magnitude mask), then time ``--epochs-per-sample`` epochs at a time,
alternating dense and masked, ``--repeats`` times, in the same process. Prints the
median masked/dense epoch-time ratio and the compile times, and writes them as a
markdown table (default ``benchmarks/results/masked_vs_dense-<device>.md``).
"""

from __future__ import annotations

import argparse
import statistics
import sys
import time
from pathlib import Path

import jax
import jax.numpy as jnp

from lottery import config as config_lib
from lottery import experiment, masks, scores, select
from lottery import train as train_lib
from lottery.prune import Target, prune

sys.path.insert(0, str(Path(__file__).parent))
from report import write_table  # noqa: E402

CONFIGS = {"mlp": "configs/mnist1d_mlp.py", "cnn1d": "configs/mnist1d_cnn.py"}


def bench(config_path: str, repeats: int, epochs_per_sample: int) -> dict:
    """Returns compile times (s), median epoch times (s) and the masked/dense ratio."""
    cfg = config_lib.load(config_path)
    trainer, dataset = experiment.build(cfg)
    x, y = jnp.asarray(dataset.x_train), jnp.asarray(dataset.y_train)
    key = jax.random.key(0)
    params, _ = trainer.model.init(key)
    flags = select.prunable(params)
    mask = prune(scores.magnitude(params), masks.ones(params), Target.density(0.1), prunable=flags)
    spe = trainer.steps_per_epoch
    fns, states, compile_s = {}, {}, {}
    for kind, m in (("dense", None), ("masked", mask)):
        state = train_lib.init_state(trainer, key, m)
        jitted = train_lib.compile_epoch(trainer)
        start = time.perf_counter()
        compiled = jitted.lower(state, m, x, y, key, jnp.int32(0), jnp.int32(0), spe).compile()
        compile_s[kind] = time.perf_counter() - start
        fns[kind] = lambda s, e, c=compiled, m=m: c(s, m, x, y, key, e, jnp.int32(0))
        states[kind] = state
    for kind in fns:  # warm up
        states[kind], _ = fns[kind](states[kind], jnp.int32(0))
    times = {"dense": [], "masked": []}
    epoch = 1
    for _ in range(repeats):
        for kind in ("dense", "masked"):
            start = time.perf_counter()
            for _ in range(epochs_per_sample):
                states[kind], metrics = fns[kind](states[kind], jnp.int32(epoch))
                epoch += 1
            jax.block_until_ready(metrics)
            times[kind].append((time.perf_counter() - start) / epochs_per_sample)
    med = {k: statistics.median(v) for k, v in times.items()}
    return {
        "compile_dense_s": compile_s["dense"],
        "compile_masked_s": compile_s["masked"],
        "epoch_dense_ms": 1e3 * med["dense"],
        "epoch_masked_ms": 1e3 * med["masked"],
        "ratio": med["masked"] / med["dense"],
        "steps_per_epoch": spe,
    }


def main() -> None:
    """Runs the benchmark for both models and prints and writes the table."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeats", type=int, default=31)
    parser.add_argument("--epochs-per-sample", type=int, default=5)
    parser.add_argument("--out", default=None)
    args = parser.parse_args()
    rows = []
    for name, path in CONFIGS.items():
        r = bench(path, args.repeats, args.epochs_per_sample)
        rows.append(
            f"| {name} | {r['steps_per_epoch']} | {r['epoch_dense_ms']:.2f} | "
            f"{r['epoch_masked_ms']:.2f} | **{r['ratio']:.3f}** | {r['compile_dense_s']:.2f} | "
            f"{r['compile_masked_s']:.2f} |"
        )
        print(
            f"{name}: masked/dense epoch time {r['ratio']:.3f} "
            f"(dense {r['epoch_dense_ms']:.2f} ms, masked {r['epoch_masked_ms']:.2f} ms); "
            f"compile dense {r['compile_dense_s']:.2f} s, masked {r['compile_masked_s']:.2f} s"
        )
    write_table(
        "masked_vs_dense",
        "Masked versus dense epoch time (MNIST-1D)",
        [
            f"Command: `python benchmarks/masked_vs_dense.py --repeats {args.repeats} "
            f"--epochs-per-sample {args.epochs_per_sample}`.",
            "Median over repeats of the mean epoch time; the mask keeps 10% of the kernels.",
        ],
        [
            "model",
            "steps/epoch",
            "dense epoch (ms)",
            "masked epoch (ms)",
            "masked/dense",
            "compile dense (s)",
            "compile masked (s)",
        ],
        rows,
        args.out,
    )


if __name__ == "__main__":
    main()
