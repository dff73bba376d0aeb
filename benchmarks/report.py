"""Shared by the benchmark scripts: the device line and the results file."""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
import tempfile
import time
from collections.abc import Sequence
from pathlib import Path

import jax

from lottery import host


def device_slug() -> str:
    """Returns ``cpu`` or the accelerator's kind with spaces as underscores."""
    dev = jax.devices()[0]
    return "cpu" if dev.platform == "cpu" else dev.device_kind.replace(" ", "_")


def device_line() -> str:
    """Returns a one-line description of the device and the jax version."""
    dev = jax.devices()[0]
    if dev.platform == "cpu":
        cpu = host.describe()
        kind = f"{cpu['cpu']}, {cpu['isa']}, {cpu['cores']} cores"
    else:
        kind = dev.device_kind
    return f"{dev.platform} ({kind}, {jax.local_device_count()} device); jax {jax.__version__}"


def command_line() -> str:
    """Returns the running script's command line as typed from the repository root
    (``python benchmarks/NAME.py ARGS``), without its ``--out FILE``."""
    args, skip = [], False
    for arg in sys.argv[1:]:
        if skip or arg == "--out" or arg.startswith("--out="):
            skip = arg == "--out"
            continue
        args.append(arg)
    script = Path(sys.argv[0]).resolve()
    root = Path(__file__).resolve().parent.parent
    name = script.relative_to(root) if script.is_relative_to(root) else script
    return " ".join(["python", str(name), *args])


def write_table(
    name: str, title: str, notes: list[str], header: list[str], rows: list[str], out: str | None
) -> Path:
    """Writes a markdown results table to ``out`` (default
    ``benchmarks/results/<name>-<device>.md``) and returns its path."""
    lines = [f"# {title}", "", f"Device: {device_line()}.", *notes, ""]
    lines += ["| " + " | ".join(header) + " |", "|" + "---|" * len(header), *rows, ""]
    path = Path(out or f"benchmarks/results/{name}-{device_slug()}.md")
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text("\n".join(lines))
    print(f"wrote {path}")
    return path


def run_job(
    config: str,
    workdir: str | None,
    image: str | None,
    plot: str = "accuracy_vs_density.png",
    extra_args: Sequence[str] = (),
) -> tuple[dict, float, list[str]]:
    """Runs ``lottery run CONFIG [extra_args...]`` (e.g. ``--synthetic`` or
    ``--config.imp.levels=3``) as a subprocess of this Python from the repository
    root (in ``workdir``, default a fresh temporary folder), copies the run's
    ``plot`` (from its report folder) to ``docs/images/<image>`` unless ``image``
    is None, and returns ``(summary, wall seconds, report table lines)``. A
    failing run prints its stderr and raises ``CalledProcessError``."""
    root = Path(__file__).resolve().parent.parent
    workdir = workdir or tempfile.mkdtemp(prefix="lottery_job_")
    cmd = [sys.executable, "-m", "lottery", "run", config, *extra_args]
    cmd += ["--workdir", str(workdir), "--no-progress", "--json"]
    began = time.perf_counter()
    done = subprocess.run(cmd, cwd=root, capture_output=True, text=True)
    wall = time.perf_counter() - began
    if done.returncode:
        print(done.stdout + done.stderr, file=sys.stderr)
        done.check_returncode()
    summary = json.loads(done.stdout.strip().splitlines()[-1])
    report = Path(summary["run_dir"]) / "report"
    table = (report / "table.txt").read_text().rstrip("\n").splitlines()
    if image is not None:
        images = root / "docs" / "images"
        images.mkdir(parents=True, exist_ok=True)
        shutil.copy(report / plot, images / image)
    return summary, wall, table


def network_steps(run_dir: str | Path) -> int:
    """Returns the training steps summed over every network of a finished run
    (the ``steps`` of each ``metrics.json`` under ``run_dir``): its network-steps."""
    total = 0
    for path in Path(run_dir).rglob("metrics.json"):
        total += int(json.loads(path.read_text()).get("steps", 0))
    return total


def probe_device() -> dict:
    """Returns ``{"platform", "slug", "line", "device_count"}`` of the default JAX
    backend, read in a short subprocess, so that the caller does not start the
    backend itself (on a GPU, a process that has started it holds most of the
    device's memory while it lives, and the benchmarks' own subprocesses need it)."""
    code = (
        "import json, sys; import lottery; sys.path.insert(0, sys.argv[1]); import report, jax; "
        "print(json.dumps({'platform': jax.devices()[0].platform, 'slug': report.device_slug(), "
        "'line': report.device_line(), 'device_count': jax.device_count()}))"
    )
    here = str(Path(__file__).resolve().parent)
    done = subprocess.run([sys.executable, "-c", code, here], capture_output=True, text=True)
    if done.returncode:
        print(done.stderr, file=sys.stderr)
        done.check_returncode()
    return json.loads(done.stdout.strip().splitlines()[-1])
