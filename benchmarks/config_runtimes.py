"""Estimated wall time of each shipped config on this machine, from measured steps.

    python benchmarks/config_runtimes.py [--steps 20] [--out FILE]

The tfds datasets cannot be downloaded here, so each config is trained on random
arrays of its dataset's shapes and sizes (same model, optimizer, batch size and
augmentation). One compiled scan of ``--steps`` steps is timed after a warm-up; the
estimate is that step time times the config's total steps (evaluation and the
first compilation excluded). MNIST-1D configs are also run for real by
``lottery run``; their full wall time is in the README. Writes a markdown table
(default ``benchmarks/results/config_runtimes-<device>.md``).
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

import jax
import jax.numpy as jnp
import numpy as np

from lottery import config as config_lib
from lottery import data as data_lib
from lottery import models as models_lib
from lottery import train as train_lib

sys.path.insert(0, str(Path(__file__).parent))
from report import write_table  # noqa: E402

# name -> (train size, test size, example shape, classes, default augmentation)
SHAPES = {
    "mnist1d": (4000, 1000, (40,), 10, "none"),
    "mnist": (60000, 10000, (28, 28, 1), 10, "none"),
    "cifar10": (50000, 10000, (32, 32, 3), 10, "cifar"),
}
CONFIGS = [
    "configs/mnist1d_mlp.py",
    "configs/mnist1d_cnn.py",
    "configs/mnist_lenet300.py",
    "configs/cifar10_conv2.py",
    "configs/cifar10_resnet20.py",
    "configs/cifar10_vgg16.py",
]


def _fake(name: str, augment: str | None) -> data_lib.Dataset:
    n_train, n_test, shape, classes, default_aug = SHAPES[name]
    rng = np.random.default_rng(0)
    return data_lib.from_arrays(
        rng.normal(size=(n_train, *shape)).astype(np.float32),
        rng.integers(0, classes, n_train).astype(np.int32),
        rng.normal(size=(n_test, *shape)).astype(np.float32),
        rng.integers(0, classes, n_test).astype(np.int32),
        num_classes=classes,
        name=name,
        augment=augment or default_aug,
    )


def estimate(path: str, steps: int) -> dict:
    """Returns ``{"step_ms", "total_steps", "estimate_s"}`` for the config at ``path``."""
    cfg = config_lib.load(path)
    options = {k: v for k, v in cfg.model.to_dict().items() if k != "name"}
    dataset = _fake(cfg.data.name, cfg.data.to_dict().get("augment"))
    model = models_lib.get(
        cfg.model.name, num_classes=dataset.num_classes, input_shape=dataset.input_shape, **options
    )
    trainer = train_lib.make_trainer(model, dataset, cfg.train)
    steps = min(steps, trainer.steps_per_epoch)
    x, y = jnp.asarray(dataset.x_train), jnp.asarray(dataset.y_train)
    key = jax.random.key(0)
    state = train_lib.init_state(trainer, key)
    epoch = train_lib.compile_epoch(trainer)
    state, m = epoch(state, None, x, y, key, jnp.int32(0), jnp.int32(0), steps)  # compile, warm up
    jax.block_until_ready(m)
    start = time.perf_counter()
    state, m = epoch(state, None, x, y, key, jnp.int32(1), jnp.int32(0), steps)
    jax.block_until_ready(m)
    step_s = (time.perf_counter() - start) / steps
    return {
        "step_ms": 1e3 * step_s,
        "total_steps": trainer.total_steps,
        "estimate_s": step_s * trainer.total_steps,
    }


def _human(seconds: float) -> str:
    if seconds < 120:
        return f"{seconds:.0f} s"
    if seconds < 7200:
        return f"{seconds / 60:.0f} min"
    return f"{seconds / 3600:.1f} h"


def main() -> None:
    """Measures every config and prints and writes the table."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--steps", type=int, default=20)
    parser.add_argument("--out", default=None)
    args = parser.parse_args()
    rows = []
    for path in CONFIGS:
        r = estimate(path, args.steps)
        row = f"| `{path}` | {r['step_ms']:.1f} | {r['total_steps']} | {_human(r['estimate_s'])} |"
        print(row, flush=True)
        rows.append(row)
    write_table(
        "config_runtimes",
        "Estimated training time per config",
        [
            f"Command: `python benchmarks/config_runtimes.py --steps {args.steps}`. Random",
            "arrays of each dataset's shape; step time times total steps (no evaluation).",
        ],
        ["config", "ms / step", "steps", "estimated training time"],
        rows,
        args.out,
    )


if __name__ == "__main__":
    main()
