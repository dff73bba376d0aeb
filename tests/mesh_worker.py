"""Run by test_devices.py in a subprocess that simulates 8 CPU devices (the
device count must be set before JAX starts): trains one small model on 1
device, on an 8-device ``data`` mesh and on an 8-device ``replicates`` mesh,
and prints one JSON line comparing the results."""

from __future__ import annotations

import json
import sys

import jax
import numpy as np

from lottery import config, experiment, masks  # importing lottery sets its XLA flag
from lottery import train as train_lib
from lottery.errors import LotteryError


def train(model: str, devices: int, mesh: str, replicates: int) -> dict:
    """Returns the final params (host arrays), the history and the sharding of
    the state after 20 steps of ``model`` on ``devices`` devices."""
    cfg = config.load(f"configs/mnist1d_{model}.py")
    cfg.train.batch_size = 80  # 8 devices split it evenly
    cfg.train.duration = "20it"
    cfg.train.eval_every = 1
    cfg.parallel.devices = devices
    cfg.parallel.mesh = mesh
    trainer, dataset = experiment.build(cfg)
    keys = experiment.replicate_keys(0, replicates)
    state = jax.vmap(lambda k: train_lib.init_state(trainer, k))(keys["init"])
    mask = jax.vmap(masks.ones)(state.params)
    state, history = train_lib.fit(
        trainer, state, mask, dataset, keys["data"], replicated=True, progress=False
    )
    leaf = jax.tree.leaves(state.params)[0]
    return {
        "params": jax.device_get(state.params),
        "history": history,
        "devices": len(leaf.sharding.device_set),
    }


def main() -> None:
    """Prints ``{"device_count", "<model>/<mesh>": {max_abs_diff, exact, ...}}``."""
    out = {"device_count": jax.device_count()}
    cfg = config.load("configs/mnist1d_mlp.py")  # batch 100 over 8 devices: refused
    cfg.parallel.devices = 8
    try:
        experiment.build(cfg)
    except LotteryError as err:
        out["uneven_batch_error"] = str(err)
    for model in sys.argv[1:]:
        one = train(model, 1, "data", 6)
        for mesh in ("data", "replicates"):
            many = train(model, 8, mesh, 6)  # 6 replicates on 8 devices: padded to 8
            pairs = zip(
                jax.tree.leaves(one["params"]), jax.tree.leaves(many["params"]), strict=True
            )
            diffs = [float(np.max(np.abs(a - b))) for a, b in pairs]
            out[f"{model}/{mesh}"] = {
                "max_abs_diff": max(diffs),
                "param_scale": max(
                    float(np.max(np.abs(a))) for a in jax.tree.leaves(one["params"])
                ),
                "replicates": len(jax.tree.leaves(many["params"])[0]),
                "state_devices": many["devices"],
                "loss_1": one["history"][-1]["train_loss"],
                "loss_8": many["history"][-1]["train_loss"],
            }
    print(json.dumps(out))


if __name__ == "__main__":
    main()
