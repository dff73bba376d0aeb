"""Memory of the K-replicate vmapped epoch, K = 1 to 16 (MNIST-1D MLP and CNN).

    python benchmarks/memory.py [--models mlp cnn1d] [--ks 1 2 4 8 16] [--epochs 2] [--out FILE]

For each model and K a fresh subprocess (this file with ``--worker``) builds the
K-replicate vmapped epoch program exactly as ``benchmarks/replicates.py`` does,
compiles it ahead of time and reads XLA's ``compiled.memory_analysis()``
(argument, output, aliased and temporary buffer sizes, and XLA's peak estimate),
then trains ``--epochs`` epochs and reads the measured peaks: the device's
``peak_bytes_in_use`` where ``jax.devices()[0].memory_stats()`` reports it (GPUs;
None on the CPU) and the process's peak resident set size
(``resource.getrusage``), which on a CPU holds the arrays. One process per point,
so every peak is that point's own. Ratios are against K = 1 of the same model.
Writes ``benchmarks/results/memory-<device>.md``.
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
from pathlib import Path

MARK = "MEMORY_RESULT "  # prefix of the worker's one result line
MIB = 2**20
FIELDS = ("argument", "output", "alias", "temp")


def _peak_rss_bytes() -> int:
    import resource

    rss = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    return int(rss if sys.platform == "darwin" else rss * 1024)  # bytes on macOS, KiB on Linux


def worker(model: str, k: int, epochs: int) -> dict:
    """Returns the memory of one (model, K) point measured in this process:
    ``<field>_bytes`` for the compiled epoch's argument, output, alias and temp
    buffers, ``xla_peak_bytes`` (``peak_memory_in_bytes``, None if absent or 0),
    ``device_peak_bytes`` (None where ``memory_stats()`` is None), ``rss_before``
    and ``rss_peak`` (process peak RSS before building the program and at the end)."""
    import jax
    import replicates as rep  # imports lottery (its XLA flag) before JAX starts

    trainer, dataset = rep.build(model)
    jax.block_until_ready(jax.numpy.zeros(()))  # the backend is up: count it in rss_before
    rss_before = _peak_rss_bytes()
    prog = rep.stacked_program(trainer, dataset, k)
    stats = prog.compiled.memory_analysis()
    prog.run(epochs)
    device = jax.devices()[0].memory_stats()
    out = {f"{f}_bytes": int(getattr(stats, f"{f}_size_in_bytes", 0) or 0) for f in FIELDS}
    out["xla_peak_bytes"] = int(getattr(stats, "peak_memory_in_bytes", 0) or 0) or None
    out["device_peak_bytes"] = (device or {}).get("peak_bytes_in_use")
    out["rss_before"] = rss_before
    out["rss_peak"] = _peak_rss_bytes()
    out["platform"] = jax.devices()[0].platform
    return out


def run_worker(model: str, k: int, epochs: int) -> dict:
    """Returns ``worker(model, k, epochs)`` run in a fresh subprocess."""
    cmd = [sys.executable, __file__, "--worker", model, str(k), "--epochs", str(epochs)]
    root = Path(__file__).resolve().parent.parent
    done = subprocess.run(cmd, cwd=root, capture_output=True, text=True)
    if done.returncode:
        print(done.stdout + done.stderr, file=sys.stderr)
        done.check_returncode()
    line = next(ln for ln in done.stdout.splitlines() if ln.startswith(MARK))
    return json.loads(line[len(MARK) :])


def _mib(value: int | None) -> str:
    return "n/a" if value is None else f"{value / MIB:.2f}"


def _ratio(value: int | None, base: int | None) -> str:
    return "n/a" if value is None or not base else f"{value / base:.2f}x"


def footprint(r: dict) -> int:
    """Returns the compiled epoch's buffer total in bytes: arguments + outputs -
    aliased (donated state reused as output) + temporaries."""
    return r["argument_bytes"] + r["output_bytes"] - r["alias_bytes"] + r["temp_bytes"]


def main() -> int:
    """Measures every (model, K) point in its own subprocess and writes the table;
    returns 0 (or measures one point with ``--worker MODEL K`` and prints it)."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--models", nargs="+", default=["mlp", "cnn1d"])
    parser.add_argument("--ks", nargs="+", type=int, default=[1, 2, 4, 8, 16])
    parser.add_argument("--epochs", type=int, default=2)
    parser.add_argument("--out", default=None)
    parser.add_argument("--worker", nargs=2, metavar=("MODEL", "K"), help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.worker:
        print(MARK + json.dumps(worker(args.worker[0], int(args.worker[1]), args.epochs)))
        return 0

    sys.path.insert(0, str(Path(__file__).parent))
    from report import command_line, write_table

    ks = sorted(set(args.ks) | {1})
    rows, platform = [], "cpu"
    for model in args.models:
        results = {k: run_worker(model, k, args.epochs) for k in ks}
        base = results[1]
        for k, r in results.items():
            platform = r["platform"]
            rss_added = r["rss_peak"] - r["rss_before"]
            rows.append(
                f"| {model} | {k} | "
                + " | ".join(_mib(r[f"{f}_bytes"]) for f in FIELDS)
                + f" | {_mib(footprint(r))} | **{_ratio(footprint(r), footprint(base))}**"
                f" | {_mib(r['xla_peak_bytes'])}"
                f" | {_mib(r['device_peak_bytes'])} | "
                f"{_ratio(r['device_peak_bytes'], base['device_peak_bytes'])}"
                f" | {_mib(r['rss_peak'])} | {_ratio(r['rss_peak'], base['rss_peak'])}"
                f" | {_mib(rss_added)} |"
            )
            print(rows[-1])
    measured = (
        "The device's `memory_stats()` is None on the CPU, so no device peak is measured "
        "there: the process peak RSS (which holds the arrays on a CPU) stands in."
        if platform == "cpu"
        else "Device peak: `peak_bytes_in_use` of `jax.devices()[0].memory_stats()` after the "
        "epochs (the whole process: data, state, program)."
    )
    notes = [
        f"Command: `{command_line()}`.",
        "",
        "The K-replicate vmapped epoch of `benchmarks/replicates.py` (40 steps of batch 100,",
        "all-ones masks), one fresh process per row. Compiled sizes from",
        "`compiled.memory_analysis()` in MiB: argument, output, alias (the donated state reused",
        "as output), temp; 'buffers' = argument + output - alias + temp and its ratio to K = 1;",
        "'XLA peak' is `peak_memory_in_bytes` where the backend reports it.",
        f"Measured after {args.epochs} epoch(s): the device peak and the process peak RSS",
        "(`resource.getrusage`), with their ratios to K = 1; 'RSS added' = peak RSS at the end",
        "minus peak RSS before the program was built (imports, data and JAX start-up excluded).",
        measured,
    ]
    header = [
        "model",
        "K",
        "argument",
        "output",
        "alias",
        "temp",
        "buffers (MiB)",
        "buffers vs K=1",
        "XLA peak",
        "device peak (MiB)",
        "vs K=1",
        "peak RSS (MiB)",
        "vs K=1",
        "RSS added (MiB)",
    ]
    title = "Memory of the K-replicate vmapped epoch (MNIST-1D)"
    write_table("memory", title, notes, header, rows, args.out)
    return 0


if __name__ == "__main__":
    sys.exit(main())
