"""Real speed of a compacted channel ticket versus the dense network.

    python benchmarks/compaction_speed.py [--batch 256] [--repeats 15] [--out FILE]

For ResNet-20 (CIFAR-10 shapes, option A shortcuts) and the MNIST-1D CNN: keep
half of the units of every group (inner channels and residual streams; the
filters with the largest L1 norm), compact, and time, in the same process and
interleaved, the jitted eval-mode forward pass on a batch of ``--batch`` and one
SGD training step (forward, backward, update), dense versus compacted. Prints
the speed-up (dense time / compacted time, median over ``--repeats``) next to
the FLOP ratio, checks the compacted forward pass equals the masked one, and
writes a markdown table (default ``benchmarks/results/compaction_speed-<device>.md``).
"""

from __future__ import annotations

import argparse
import statistics
import sys
import time
from pathlib import Path

import jax
import jax.numpy as jnp
import optax

from lottery import masks, models
from lottery.structured import compact, expand, groups_of
from lottery.structured import flops as flops_lib
from lottery.structured import select as sselect

sys.path.insert(0, str(Path(__file__).parent))
from report import write_table  # noqa: E402

CASES = {
    "resnet20": ((32, 32, 3), {}),
    "cnn1d": ((40,), {"channels": 32}),
}


def half_ticket(model, params):
    """Returns the mask keeping, in every group, the half of the units with the
    largest filter L1 norm."""
    groups = groups_of(model)
    scores = sselect.group_scores(groups, params, "l1")
    counts = {g.name: g.size // 2 for g in groups}
    alive = {g.name: jnp.ones(g.size, bool) for g in groups}
    return expand(groups, sselect.select_units(scores, counts, alive), params)


def _median_time(fn, args, repeats: int) -> float:
    jax.block_until_ready(fn(*args))  # compile and warm up
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        jax.block_until_ready(fn(*args))
        times.append(time.perf_counter() - start)
    return statistics.median(times)


def _train_step(model):
    opt = optax.sgd(0.1, momentum=0.9)

    def step(params, state, opt_state, x, y):
        def loss_fn(p):
            logits, new_state = model.apply(p, state, x, train=True)
            loss = optax.softmax_cross_entropy_with_integer_labels(logits, y).mean()
            return loss, new_state

        (_, new_state), grads = jax.value_and_grad(loss_fn, has_aux=True)(params)
        updates, opt_state = opt.update(grads, opt_state, params)
        return optax.apply_updates(params, updates), new_state, opt_state

    return opt, jax.jit(step)


def bench(name: str, batch: int, repeats: int) -> dict:
    """Returns the timings (s), ratios and counts of one model."""
    shape, opts = CASES[name]
    model = models.get(name, num_classes=10, input_shape=shape, **opts)
    params, state = model.init(jax.random.key(0))
    mask = half_ticket(model, params)
    small, small_params, small_state = compact(model, params, state, mask)
    x = jax.random.normal(jax.random.key(1), (batch, *shape))
    y = jax.random.randint(jax.random.key(2), (batch,), 0, 10)
    nets = {
        "dense": (model, params, state),
        "compacted": (small, small_params, small_state),
    }
    forward = {
        k: jax.jit(lambda p, s, x, m=m: m.apply(p, s, x, False)[0]) for k, (m, _, _) in nets.items()
    }
    masked_out = forward["dense"](masks.apply(params, mask), state, x)
    small_out = forward["compacted"](small_params, small_state, x)
    max_diff = float(jnp.max(jnp.abs(masked_out - small_out)))
    infer = {k: [] for k in nets}
    train = {k: [] for k in nets}
    steps = {}
    for k, (m, p, s) in nets.items():
        opt, step = _train_step(m)
        steps[k] = (step, (p, s, opt.init(p), x, y))
    for _ in range(3):  # interleave dense and compacted to share any machine noise
        for k, (_, p, s) in nets.items():
            infer[k].append(_median_time(forward[k], (p, s, x), repeats))
            train[k].append(_median_time(steps[k][0], steps[k][1], max(3, repeats // 3)))
    out = {
        "infer": {k: min(v) for k, v in infer.items()},
        "train": {k: min(v) for k, v in train.items()},
        "flops": {
            "dense": flops_lib.flops(model, params),
            "compacted": flops_lib.flops(small, small_params),
        },
        "params": {
            "dense": models.param_count(params),
            "compacted": models.param_count(small_params),
        },
        "max_diff": max_diff,
    }
    out["infer_speedup"] = out["infer"]["dense"] / out["infer"]["compacted"]
    out["train_speedup"] = out["train"]["dense"] / out["train"]["compacted"]
    out["flop_ratio"] = out["flops"]["dense"] / out["flops"]["compacted"]
    return out


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--batch", type=int, default=256)
    parser.add_argument("--repeats", type=int, default=15)
    parser.add_argument("--out", default=None)
    args = parser.parse_args(argv)
    rows = []
    for name in CASES:
        r = bench(name, args.batch, args.repeats)
        print(
            f"{name}: compacted forward {r['infer_speedup']:.2f}x faster "
            f"(dense {1e3 * r['infer']['dense']:.1f} ms, compacted "
            f"{1e3 * r['infer']['compacted']:.1f} ms, batch {args.batch}); training step "
            f"{r['train_speedup']:.2f}x; FLOPs {r['flop_ratio']:.2f}x fewer; "
            f"max |masked - compacted| {r['max_diff']:.1e}"
        )
        rows.append(
            f"| {name} | {r['params']['dense']:,} | {r['params']['compacted']:,} "
            f"| {r['flops']['dense'] / 1e6:.2f} | {r['flops']['compacted'] / 1e6:.2f} "
            f"| {r['flop_ratio']:.2f}x "
            f"| {1e3 * r['infer']['dense']:.1f} | {1e3 * r['infer']['compacted']:.1f} "
            f"| **{r['infer_speedup']:.2f}x** "
            f"| {1e3 * r['train']['dense']:.1f} | {1e3 * r['train']['compacted']:.1f} "
            f"| **{r['train_speedup']:.2f}x** | {r['max_diff']:.1e} |"
        )
    header = [
        "model",
        "params dense",
        "params compacted",
        "MFLOPs dense",
        "MFLOPs compacted",
        "FLOP ratio",
        "forward dense (ms)",
        "forward compacted (ms)",
        "forward speed-up",
        "train step dense (ms)",
        "train step compacted (ms)",
        "train speed-up",
        "max abs diff",
    ]
    notes = [
        f"Command: `python benchmarks/compaction_speed.py --batch {args.batch} "
        f"--repeats {args.repeats}`.",
        "Half of the units of every group kept (largest filter L1 norm), compacted; "
        f"eval-mode forward pass and one SGD training step on a batch of {args.batch}, "
        "jitted; the best of three interleaved medians. FLOPs per example "
        "(2 x kernel multiply-accumulates); max abs diff: compacted versus masked logits.",
    ]
    write_table(
        "compaction_speed", "Compacted channel tickets versus dense", notes, header, rows, args.out
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
