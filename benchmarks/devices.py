"""Training steps per second on 1, 2, 4 and 8 devices, both meshes (MNIST-1D MLP).

    python benchmarks/devices.py [--counts 1 2 4 8] [--replicates 8] [--batch 80]
                                 [--repeats 9] [--epochs-per-sample 3] [--out FILE]

For each device count N and each ``parallel.mesh`` a fresh subprocess (this file
with ``--worker``) builds the MNIST-1D MLP (``configs/mnist1d_mlp.py``, batch
``--batch`` so that it splits evenly) with ``parallel.devices=N``, lays its inputs
out as ``train.fit`` does (``lottery.mesh.place``), compiles the library's epoch
program ``train.compile_epoch`` and times it as ``benchmarks/replicates.py`` does
(median epoch time after a warm-up, compilation excluded):

* ``data``: one network, every batch split over the N devices (gradients
  all-reduced); reported in steps per second.
* ``replicates``: ``--replicates`` networks vmapped, the replicate axis split over
  the N devices (no communication); reported in replicate-steps per second.

On a CPU the N devices are simulated (``XLA_FLAGS=--xla_force_host_platform_device_count=N``
in the worker's environment): they share the same cores, so no speed-up is
expected; the point is that the same program runs on a mesh. On an accelerator
the real devices are used, N up to ``jax.device_count()``. Writes
``benchmarks/results/devices-<device>.md``.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
from pathlib import Path

MARK = "DEVICES_RESULT "  # prefix of the worker's one result line


def worker(mesh: str, n: int, replicates: int, batch: int, repeats: int, epochs: int) -> dict:
    """Returns the measurement of one (mesh, N) point in this process: ``epoch_s``,
    ``throughput`` (network-steps/s), ``steps_per_epoch``, ``networks``,
    ``state_devices`` (devices holding the trained state), ``platform`` and
    ``device_count`` (devices JAX sees)."""
    import jax
    import jax.numpy as jnp
    import replicates as rep  # imports lottery (its XLA flag) before JAX starts

    from lottery import experiment, masks
    from lottery import mesh as mesh_lib
    from lottery import train as train_lib

    changes = {"train.batch_size": batch, "parallel.devices": n, "parallel.mesh": mesh}
    trainer, dataset = rep.build("mlp", changes)
    stacked = mesh == "replicates"
    k = replicates if stacked else 1
    if stacked and k % n:
        raise SystemExit(f"--replicates {k} does not split over {n} devices")
    keys = experiment.replicate_keys(0, k)
    if stacked:
        state = jax.vmap(lambda key: train_lib.init_state(trainer, key))(keys["init"])
        mask = jax.vmap(masks.ones)(state.params)
        data_keys = keys["data"]
    else:
        state = train_lib.init_state(trainer, keys["init"][0])
        mask = masks.ones(state.params)
        data_keys = keys["data"][0]
    x, y = jnp.asarray(dataset.x_train), jnp.asarray(dataset.y_train)
    layout = trainer.layout
    if layout is not None:
        state, mask, data_keys = train_lib.lay_out(layout, stacked, (state, mask, data_keys))
        x, y = mesh_lib.place((x, y), layout.replicated())
    prog = rep.compile_program(trainer, state, mask, x, y, data_keys, stacked, k)
    epoch_s = rep.median_epoch_times({0: prog}, repeats, epochs)[0]
    leaf = jax.tree.leaves(prog.state.params)[0]
    return {
        "mesh": mesh,
        "n": n,
        "epoch_s": epoch_s,
        "throughput": k * trainer.steps_per_epoch / epoch_s,
        "steps_per_epoch": trainer.steps_per_epoch,
        "networks": k,
        "state_devices": len(leaf.sharding.device_set),
        "compile_s": prog.compile_s,
        "platform": jax.devices()[0].platform,
        "device_count": jax.device_count(),
    }


def run_worker(args: argparse.Namespace, mesh: str, n: int, simulate: bool) -> dict:
    """Returns ``worker``'s result for (mesh, n), run in a fresh subprocess (with
    n simulated CPU devices when ``simulate``)."""
    env = dict(os.environ)
    if simulate:
        flag = f"--xla_force_host_platform_device_count={n}"
        env["XLA_FLAGS"] = f"{env.get('XLA_FLAGS', '')} {flag}".strip()
    cmd = [sys.executable, __file__, "--worker", mesh, str(n)]
    cmd += ["--replicates", str(args.replicates), "--batch", str(args.batch)]
    cmd += ["--repeats", str(args.repeats), "--epochs-per-sample", str(args.epochs_per_sample)]
    root = Path(__file__).resolve().parent.parent
    done = subprocess.run(cmd, cwd=root, env=env, capture_output=True, text=True)
    if done.returncode:
        print(done.stdout + done.stderr, file=sys.stderr)
        done.check_returncode()
    line = next(ln for ln in done.stdout.splitlines() if ln.startswith(MARK))
    return json.loads(line[len(MARK) :])


def main() -> int:
    """Runs every (mesh, N) point in its own subprocess and writes the table;
    returns 0 (or runs one point with ``--worker MESH N`` and prints its result)."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--counts", nargs="+", type=int, default=[1, 2, 4, 8])
    parser.add_argument("--meshes", nargs="+", default=["data", "replicates"])
    parser.add_argument("--replicates", type=int, default=8)
    parser.add_argument("--batch", type=int, default=80)
    parser.add_argument("--repeats", type=int, default=9)
    parser.add_argument("--epochs-per-sample", type=int, default=3)
    parser.add_argument("--out", default=None)
    parser.add_argument("--worker", nargs=2, metavar=("MESH", "N"), help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.worker:
        mesh, n = args.worker[0], int(args.worker[1])
        result = worker(mesh, n, args.replicates, args.batch, args.repeats, args.epochs_per_sample)
        print(MARK + json.dumps(result))
        return 0

    sys.path.insert(0, str(Path(__file__).parent))
    from report import command_line, probe_device, write_table  # no JAX backend started here yet

    probe = probe_device()
    simulate = probe["platform"] == "cpu"
    counts = sorted(set(args.counts) | {1})
    if not simulate:
        counts = [n for n in counts if n <= probe["device_count"]]
    results = {}
    for mesh in args.meshes:
        for n in counts:
            r = run_worker(args, mesh, n, simulate)
            results[mesh, n] = r
            unit = "replicate-steps/s" if mesh == "replicates" else "steps/s"
            print(
                f"{mesh:>10} N={n}: epoch {1e3 * r['epoch_s']:.2f} ms, "
                f"{r['throughput']:,.0f} {unit}, state on {r['state_devices']} device(s)"
            )
    rows = []
    for (mesh, n), r in results.items():
        base = results[mesh, 1]["throughput"]
        per = f"{args.replicates // n} nets" if mesh == "replicates" else f"batch {args.batch // n}"
        rows.append(
            f"| {mesh} | {n} | {r['state_devices']} | {per} | {1e3 * r['epoch_s']:.2f}"
            f" | {r['throughput']:,.0f} | **{r['throughput'] / base:.2f}x**"
            f" | {r['compile_s']:.2f} |"
        )
    if simulate:
        where = (
            "Devices are **simulated** CPU devices "
            "(`XLA_FLAGS=--xla_force_host_platform_device_count=N`): they all share the same "
            "CPU cores, so **no speed-up is expected here** (at most what running the "
            "devices as parallel threads gains on cores one device leaves idle); the point "
            "is that the same program runs, split over N devices."
        )
    else:
        where = (
            f"Real devices: N up to `jax.device_count()` = {probe['device_count']} on this "
            "machine (larger N not run)."
        )
    notes = [
        f"Command: `{command_line()}`.",
        "",
        f"MNIST-1D MLP (`configs/mnist1d_mlp.py`) at batch {args.batch}, "
        f"{results[args.meshes[0], 1]['steps_per_epoch']} steps per epoch, all-ones masks; "
        "one subprocess per point with `parallel.devices=N`.",
        "`data`: one network, each batch split over the devices (throughput in steps/s);",
        f"`replicates`: {args.replicates} networks vmapped, the replicate axis split over the "
        "devices (throughput in replicate-steps/s).",
        f"Median epoch time over {args.repeats} samples of {args.epochs_per_sample} epoch(s) "
        "after a warm-up, compilation excluded; the ratio is throughput / N = 1's (same mesh).",
        "",
        where,
    ]
    header = [
        "mesh",
        "N",
        "state on devices",
        "per device",
        "epoch (ms)",
        "throughput",
        "vs N=1",
        "compile (s)",
    ]
    title = "Steps per second on 1 to 8 devices (MNIST-1D MLP)"
    write_table("devices", title, notes, header, rows, args.out)
    return 0


if __name__ == "__main__":
    sys.exit(main())
