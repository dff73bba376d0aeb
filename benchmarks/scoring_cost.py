"""Cost of one scoring pass of SNIP, GraSP and SynFlow, relative to one training step.

    python benchmarks/scoring_cost.py [--repeats 50] [--out FILE]

For the MNIST-1D MLP (40-300-100-10) and CNN (cnn1d, 32 channels): one jitted
training step (forward, backward, Adam update, masking) on a class-balanced batch
of 100 examples, and one jitted scoring pass of each method on the same batch
(SynFlow: one of its iterations, data-free). Each time is the median of
``--repeats`` calls after compilation; the ratio is scoring time / step time.
Writes ``benchmarks/results/scoring_cost-<device>.md``.
"""

from __future__ import annotations

import argparse
import statistics
import sys
import time
from pathlib import Path

import jax
import jax.numpy as jnp
import numpy as np

sys.path.insert(0, str(Path(__file__).parent))
from report import write_table  # noqa: E402

from lottery import config as config_lib  # noqa: E402
from lottery import experiment, masks, pai, scores  # noqa: E402
from lottery import train as train_lib  # noqa: E402

CONFIGS = {"mlp": "configs/mnist1d_mlp_pai.py", "cnn1d": "configs/mnist1d_cnn_pai.py"}


def _median_time(fn, repeats: int) -> float:
    jax.block_until_ready(fn())  # compile
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        jax.block_until_ready(fn())
        times.append(time.perf_counter() - start)
    return statistics.median(times)


def measure(config_path: str, repeats: int) -> dict[str, float]:
    """Returns ``{"step": seconds, method: seconds, ...}`` for one config."""
    cfg = config_lib.load(config_path)
    trainer, dataset = experiment.build(cfg)
    key = jax.random.key(0)
    params, model_state = trainer.model.init(key)
    mask = masks.ones(params)
    x, y = pai.balanced_sample(
        key, np.asarray(dataset.x_train), np.asarray(dataset.y_train), 10, 10, 1
    )
    x, y = jnp.asarray(x), jnp.asarray(y)
    state = train_lib.state_from_params(trainer, params, model_state, mask)
    step = jax.jit(lambda s, m, xb, yb: train_lib.train_step(trainer, s, m, xb, yb))
    out = {"step": _median_time(lambda: step(state, mask, x[0], y[0])[1]["loss"], repeats)}
    for name in ("snip", "grasp", "synflow"):
        scorer = scores.get(name)
        fn = jax.jit(
            lambda p, st, m, xs, ys, k, scorer=scorer: scorer(trainer.model, p, st, m, xs, ys, k)
        )
        out[name] = _median_time(lambda fn=fn: fn(params, model_state, mask, x, y, key), repeats)
    return out


def main() -> int:
    """Measures both models and writes the table; returns 0."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeats", type=int, default=50)
    parser.add_argument("--out", default=None)
    args = parser.parse_args()
    rows = []
    for model, path in CONFIGS.items():
        t = measure(path, args.repeats)
        methods = ("snip", "grasp", "synflow")
        cells = [f"{t[m] * 1e3:.2f} ms ({t[m] / t['step']:.2f}x)" for m in methods]
        rows.append(f"| {model} | {t['step'] * 1e3:.2f} ms | " + " | ".join(cells) + " |")
        print(rows[-1])
    notes = [
        "",
        "One jitted scoring pass on a class-balanced batch of 100 examples (SynFlow: one",
        "data-free iteration), against one jitted Adam training step on the same batch;",
        f"medians of {args.repeats} calls after compilation. `python benchmarks/scoring_cost.py`.",
    ]
    header = ["model", "train step", "SNIP", "GraSP", "SynFlow (1 iteration)"]
    write_table("scoring_cost", "Scoring cost of pruning at initialization", notes, header,
                rows, args.out)  # fmt: skip
    return 0


if __name__ == "__main__":
    sys.exit(main())
