"""K replicates trained as one vmapped program versus K sequential runs (MNIST-1D).

    python benchmarks/replicates.py [--models mlp cnn1d] [--ks 1 2 4 8 16]
                                    [--repeats 15] [--epochs-per-sample 3] [--out FILE]

For the MNIST-1D MLP (``configs/mnist1d_mlp.py``) and CNN (``configs/mnist1d_cnn.py``)
and each K: K fresh replicates (``init_state`` vmapped over K keys) with all-ones
masks (``jax.vmap(masks.ones)``, so the masked path the library trains with), run
by the library's own epoch program ``train.compile_epoch(trainer, replicated=True)``
(one ``lax.scan`` over the epoch's 40 steps, vmapped over the replicates). Each
program is compiled first (compile time reported apart) and warmed up; then, in the
same process, ``--epochs-per-sample`` epochs of every K are timed in turn (to
``block_until_ready``), ``--repeats`` times, and the median epoch time is kept.

The sequential baseline is K times the K = 1 epoch time (the same program a run
with ``parallel.max_vmap=1`` uses). Reported per K: the vmapped epoch time, the
throughput in replicate-steps per second (K x steps per epoch / epoch time), the
throughput relative to K = 1 and the vmapped/sequential time ratio. Acceptance: on
a CPU, the K = 8 MLP costs at most 1.1x the time of 8 sequential runs; on an
accelerator, K = 16 reaches at least 8x the throughput of K = 1 (each model).
Writes ``benchmarks/results/replicates-<device>.md``.
"""

from __future__ import annotations

import argparse
import dataclasses
import statistics
import sys
import time
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any

import jax
import jax.numpy as jnp

from lottery import config as config_lib  # importing lottery first sets its XLA flag
from lottery import experiment, masks
from lottery import train as train_lib

sys.path.insert(0, str(Path(__file__).parent))
from report import command_line, write_table  # noqa: E402

ROOT = Path(__file__).resolve().parent.parent
CONFIGS = {"mlp": "configs/mnist1d_mlp.py", "cnn1d": "configs/mnist1d_cnn.py"}
KS = (1, 2, 4, 8, 16)
CPU_K, CPU_MAX_RATIO = 8, 1.1  # acceptance on a CPU: K=8 MLP vmapped <= 1.1x sequential
GPU_K, GPU_MIN_SPEEDUP = 16, 8.0  # acceptance on an accelerator: K=16 >= 8x K=1 throughput


def build(model: str, changes: Mapping[str, Any] | None = None) -> tuple[Any, Any]:
    """Returns ``(trainer, dataset)`` of the config of ``model`` (a key of
    ``CONFIGS``) with ``changes`` (``{"train.dtype": "bfloat16", ...}``) applied."""
    cfg = config_lib.load(ROOT / CONFIGS[model])
    for dotted, value in (changes or {}).items():
        *parents, leaf = dotted.split(".")
        node = cfg
        for part in parents:
            node = node[part]
        node[leaf] = value
    return experiment.build(cfg)


@dataclasses.dataclass
class Program:
    """A compiled epoch with its inputs; ``run`` advances ``state`` in place."""

    compiled: Callable
    state: Any
    mask: Any
    x: jax.Array
    y: jax.Array
    data_keys: jax.Array
    steps_per_epoch: int
    replicates: int
    compile_s: float
    epoch: int = 0

    def run(self, epochs: int) -> float:
        """Runs ``epochs`` epochs (waiting for the result); returns seconds per epoch."""
        start = time.perf_counter()
        for _ in range(epochs):
            self.state, metrics = self.compiled(
                self.state, self.mask, self.x, self.y, self.data_keys, jnp.int32(self.epoch),
                jnp.int32(0),
            )  # fmt: skip
            self.epoch += 1
        jax.block_until_ready((self.state, metrics))
        return (time.perf_counter() - start) / epochs


def compile_program(
    trainer: train_lib.Trainer, state, mask, x, y, data_keys, replicated: bool, replicates: int
) -> Program:
    """Returns a ``Program`` of ``train.compile_epoch(trainer, replicated)`` compiled
    (ahead of time, timed) for these inputs, which may already be laid out on a mesh."""
    spe = trainer.steps_per_epoch
    jitted = train_lib.compile_epoch(trainer, replicated)
    start = time.perf_counter()
    lowered = jitted.lower(state, mask, x, y, data_keys, jnp.int32(0), jnp.int32(0), spe)
    compiled = lowered.compile()
    compile_s = time.perf_counter() - start
    return Program(compiled, state, mask, x, y, data_keys, spe, replicates, compile_s)


def stacked_program(trainer: train_lib.Trainer, dataset, k: int, seed: int = 0) -> Program:
    """Returns the compiled vmapped epoch ``Program`` of ``k`` replicates: states
    from ``init_state`` over the first ``k`` replicate keys of ``seed``, all-ones
    masks, per-replicate data keys (as ``lottery.experiment`` draws them)."""
    keys = experiment.replicate_keys(seed, k)
    state = jax.vmap(lambda key: train_lib.init_state(trainer, key))(keys["init"])
    mask = jax.vmap(masks.ones)(state.params)
    x, y = jnp.asarray(dataset.x_train), jnp.asarray(dataset.y_train)
    return compile_program(trainer, state, mask, x, y, keys["data"], True, k)


def median_epoch_times(
    programs: Mapping[Any, Program], repeats: int, epochs_per_sample: int
) -> dict[Any, float]:
    """Returns ``{key: median seconds per epoch}``: after one warm-up epoch each,
    the programs run ``epochs_per_sample`` epochs in turn, ``repeats`` times."""
    for prog in programs.values():
        prog.run(1)
    times: dict[Any, list[float]] = {key: [] for key in programs}
    for _ in range(repeats):
        for key, prog in programs.items():
            times[key].append(prog.run(epochs_per_sample))
    return {key: statistics.median(v) for key, v in times.items()}


def measure(model: str, ks: list[int], repeats: int, epochs_per_sample: int) -> list[dict]:
    """Returns one dict per K for ``model``: ``k``, ``steps_per_epoch``, ``epoch_s``
    (vmapped), ``sequential_s`` (K x the K = 1 epoch), ``ratio`` (vmapped /
    sequential), ``throughput`` (replicate-steps/s), ``speedup`` (throughput / K = 1's)
    and ``compile_s``. K = 1 is always measured (it is the baseline)."""
    trainer, dataset = build(model)
    ks = sorted(set(ks) | {1})
    programs = {k: stacked_program(trainer, dataset, k) for k in ks}
    med = median_epoch_times(programs, repeats, epochs_per_sample)
    spe = trainer.steps_per_epoch
    base = med[1]
    rows = []
    for k in ks:
        throughput = k * spe / med[k]
        rows.append(
            {
                "k": k,
                "steps_per_epoch": spe,
                "epoch_s": med[k],
                "sequential_s": k * base,
                "ratio": med[k] / (k * base),
                "throughput": throughput,
                "speedup": throughput / (spe / base),
                "compile_s": programs[k].compile_s,
            }
        )
    return rows


def checks(results: Mapping[str, list[dict]], platform: str) -> list[str]:
    """Returns the acceptance lines (markdown) for ``results`` (``{model: rows}``)
    measured on ``platform``: the CPU rule on a CPU, the accelerator rule elsewhere."""
    by_k = {model: {r["k"]: r for r in rows} for model, rows in results.items()}
    if platform == "cpu":
        row = by_k.get("mlp", {}).get(CPU_K)
        rule = (
            f"on a CPU, K = {CPU_K} MLP vmapped costs at most {CPU_MAX_RATIO}x {CPU_K} sequential"
        )
        if row is None:
            return [f"Acceptance ({rule}): **not checked** (not measured)."]
        ok = row["ratio"] <= CPU_MAX_RATIO
        verdict = "**holds**" if ok else "**fails**"
        return [f"Acceptance ({rule} runs): {verdict} ({row['ratio']:.3f}x)."]
    lines = []
    for model, rows in by_k.items():
        rule = f"on an accelerator, K = {GPU_K} {model} reaches >= {GPU_MIN_SPEEDUP:g}x K = 1"
        row = rows.get(GPU_K)
        if row is None:
            lines.append(f"Acceptance ({rule} throughput): **not checked** (not measured).")
            continue
        verdict = "**holds**" if row["speedup"] >= GPU_MIN_SPEEDUP else "**fails**"
        lines.append(f"Acceptance ({rule} throughput): {verdict} ({row['speedup']:.2f}x).")
    return lines


def main() -> int:
    """Measures the models, prints and writes the table; returns 0."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--models", nargs="+", default=list(CONFIGS), choices=list(CONFIGS))
    parser.add_argument("--ks", nargs="+", type=int, default=list(KS))
    parser.add_argument("--repeats", type=int, default=15)
    parser.add_argument("--epochs-per-sample", type=int, default=3)
    parser.add_argument("--out", default=None)
    args = parser.parse_args()
    results, rows = {}, []
    for model in args.models:
        results[model] = measure(model, args.ks, args.repeats, args.epochs_per_sample)
        for r in results[model]:
            rows.append(
                f"| {model} | {r['k']} | {1e3 * r['epoch_s']:.2f} | {1e3 * r['sequential_s']:.2f}"
                f" | **{r['ratio']:.3f}** | {r['throughput']:,.0f} | {r['speedup']:.2f}x"
                f" | {r['compile_s']:.2f} |"
            )
            print(
                f"{model} K={r['k']:>2}: epoch {1e3 * r['epoch_s']:8.2f} ms, "
                f"vmapped/sequential {r['ratio']:.3f}, {r['throughput']:,.0f} replicate-steps/s "
                f"({r['speedup']:.2f}x K=1), compile {r['compile_s']:.2f} s"
            )
    spe = results[args.models[0]][0]["steps_per_epoch"]
    lines = checks(results, jax.devices()[0].platform)
    for line in lines:
        print(line)
    notes = [
        f"Command: `{command_line()}`.",
        "",
        f"One epoch = {spe} steps of batch 100 (`lax.scan`), all-ones masks (the masked path).",
        "Vmapped: the K-replicate program `train.compile_epoch(trainer, replicated=True)`;",
        "sequential: K x the epoch time of the K = 1 program, measured in the same process,",
        f"interleaved with the others; medians over {args.repeats} samples of "
        f"{args.epochs_per_sample} epoch(s), compilation excluded (its time is the last column).",
        "Throughput is replicate-steps per second; 'vs K=1' is throughput / K = 1's.",
        "",
        *lines,
    ]
    header = [
        "model",
        "K",
        "vmapped epoch (ms)",
        "sequential K x K=1 (ms)",
        "vmapped/sequential",
        "replicate-steps/s",
        "vs K=1",
        "compile (s)",
    ]
    title = "K replicates vmapped versus K sequential runs (MNIST-1D)"
    write_table("replicates", title, notes, header, rows, args.out)
    return 0


if __name__ == "__main__":
    sys.exit(main())
