"""Shared by the benchmark scripts: the device line and the results file."""

from __future__ import annotations

import json
import platform
import shutil
import subprocess
import tempfile
import time
from pathlib import Path

import jax


def device_slug() -> str:
    """Returns ``cpu`` or the accelerator's kind with spaces as underscores."""
    dev = jax.devices()[0]
    return "cpu" if dev.platform == "cpu" else dev.device_kind.replace(" ", "_")


def device_line() -> str:
    """Returns a one-line description of the device and the jax version."""
    dev = jax.devices()[0]
    kind = platform.processor() or platform.machine() if dev.platform == "cpu" else dev.device_kind
    return f"{dev.platform} ({kind}, {jax.local_device_count()} device); jax {jax.__version__}"


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
    config: str, workdir: str | None, image: str, plot: str = "accuracy_vs_density.png"
) -> tuple[dict, float, list[str]]:
    """Runs ``lottery run CONFIG`` as a subprocess from the repository root (in
    ``workdir``, default a fresh temporary folder), copies the run's ``plot`` (from
    its report folder) to ``docs/images/<image>``, and returns ``(summary, wall
    seconds, report table lines)``."""
    root = Path(__file__).resolve().parent.parent
    workdir = workdir or tempfile.mkdtemp(prefix="lottery_job_")
    cmd = ["lottery", "run", config, "--workdir", str(workdir), "--no-progress", "--json"]
    began = time.perf_counter()
    done = subprocess.run(cmd, cwd=root, capture_output=True, text=True, check=True)
    wall = time.perf_counter() - began
    summary = json.loads(done.stdout.strip().splitlines()[-1])
    report = Path(summary["run_dir"]) / "report"
    table = (report / "table.txt").read_text().rstrip("\n").splitlines()
    images = root / "docs" / "images"
    images.mkdir(parents=True, exist_ok=True)
    shutil.copy(report / plot, images / image)
    return summary, wall, table
