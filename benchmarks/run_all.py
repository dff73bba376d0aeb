"""The "Scale and speed" benchmark suite: every section, one command, one results file.

    python benchmarks/run_all.py [--quick] [--out DIR] [--only a b ...]

On a GPU machine (one line, from the repository root; use ``jax[cuda12]`` for a
CUDA 12 driver; no dataset download is needed, the LeNet run uses --synthetic):

    pip install -e . "jax[cuda13]" && python benchmarks/run_all.py

Runs each section's script in its own subprocess, one after the other (so that no
process holds the accelerator while another one needs it, and each section starts
with fresh compilation caches), each writing its own table, then writes the
combined ``benchmarks/results-<device>.md``: the device line, the date, the total
wall time, every acceptance check found in the sections (lines marked holds,
fails or not checked), each section's wall time and exit status, then the
sections' tables one after the other. Sections:

* (a) ``masked_vs_dense.py``: masked / dense epoch time (fewer repeats than alone).
* (b) ``replicates.py``: K = 1..16 replicates vmapped versus K sequential runs.
* (c) ``devices.py``: steps per second on 1, 2, 4, 8 devices, data and replicates meshes.
* (d) ``main_job.py``: the main IMP job end to end (the full run refreshes the
  README's plot in docs/images/; ``--quick`` leaves it alone).
* (d2) ``lenet300_reference.py``: the LeNet-300-100 reference run (in full on an
  accelerator, an extrapolated estimate on a CPU).
* (e) ``scoring_cost.py``: the scoring cost of SNIP, GraSP and SynFlow.
* (f) ``memory.py``: the vmapped epoch's memory, K = 1..16.
* (g) ``precision.py``: the MNIST-1D CNN in float32 and bfloat16.

Without ``--out`` each section writes ``benchmarks/results/<name>-<device>.md`` and
the suite ``benchmarks/results-<device>.md``. ``--quick`` runs every section
shortened (a few minutes on a 2-core CPU, to test the suite) and writes into a
fresh temporary folder unless ``--out`` is given, never into ``benchmarks/``.
"""

from __future__ import annotations

import argparse
import dataclasses
import datetime
import subprocess
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).parent))
from report import probe_device  # noqa: E402

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent
MARKS = ("**holds**", "**fails**", "**not checked**")  # how a section states a check


@dataclasses.dataclass(frozen=True)
class Section:
    """One benchmark: its key, results name, script, and arguments (full, quick)."""

    key: str
    name: str
    script: str
    full: tuple[str, ...] = ()
    quick: tuple[str, ...] = ()


SECTIONS = (
    Section("a", "masked_vs_dense", "masked_vs_dense.py",
            ("--repeats", "11", "--epochs-per-sample", "3"),
            ("--repeats", "3", "--epochs-per-sample", "1")),
    Section("b", "replicates", "replicates.py", (),
            ("--ks", "1", "8", "16", "--repeats", "2", "--epochs-per-sample", "1")),
    Section("c", "devices", "devices.py", (),
            ("--counts", "1", "8", "--repeats", "2", "--epochs-per-sample", "1")),
    Section("d", "main_job", "main_job.py", (), ("--no-plot", "--quick")),
    Section("d2", "lenet300_reference", "lenet300_reference.py", (), ("--steps", "100", "1000")),
    Section("e", "scoring_cost", "scoring_cost.py", ("--repeats", "20"), ("--repeats", "5")),
    Section("f", "memory", "memory.py", (), ("--models", "mlp", "--ks", "1", "16")),
    Section("g", "precision", "precision.py", (),
            ("--duration", "400it", "--repeats", "2", "--epochs-per-sample", "1")),
)  # fmt: skip


def run_section(section: Section, quick: bool, out: Path) -> tuple[float, int]:
    """Runs one section's script (output shown as it comes) writing its table to
    ``out``; returns ``(wall seconds, exit status)``."""
    args = section.quick if quick else section.full
    cmd = [sys.executable, str(HERE / section.script), *args, "--out", str(out)]
    print(f"\n=== ({section.key}) {section.name}: {' '.join(cmd[1:])}", flush=True)
    began = time.perf_counter()
    status = subprocess.run(cmd, cwd=ROOT).returncode
    return time.perf_counter() - began, status


def section_body(path: Path, key: str) -> tuple[list[str], list[str]]:
    """Returns ``(body, checks)`` of a section's markdown file: its lines with the
    title demoted to ``## (key) title`` and the device line dropped, and the lines
    stating an acceptance check (``MARKS``)."""
    lines = path.read_text().splitlines()
    body = []
    for line in lines:
        if line.startswith("# "):
            body.append(f"## ({key}) {line[2:]}")
        elif not line.startswith("Device: "):
            body.append(line)
    checks = [line.strip() for line in lines if any(m in line for m in MARKS)]
    return body, list(dict.fromkeys(checks))


def main() -> int:
    """Runs the suite and writes the combined results; returns 0 if every section
    ran (a failed acceptance check is reported, not an error), else 1."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="shortened runs, to test the suite")
    parser.add_argument("--out", default=None, help="folder for every results file")
    parser.add_argument("--only", nargs="+", choices=[s.key for s in SECTIONS], default=None)
    args = parser.parse_args()
    began = time.perf_counter()
    started = datetime.datetime.now(datetime.UTC)
    device = probe_device()  # in a subprocess: this process never holds the device
    slug = device["slug"]
    if args.out:
        sections_dir = combined_dir = Path(args.out).resolve()
    elif args.quick:
        sections_dir = combined_dir = Path(tempfile.mkdtemp(prefix="lottery_bench_quick_"))
    else:
        sections_dir, combined_dir = HERE / "results", HERE
    sections_dir.mkdir(parents=True, exist_ok=True)
    chosen = [s for s in SECTIONS if args.only is None or s.key in args.only]
    ran = []
    for section in chosen:
        out = sections_dir / f"{section.name}-{slug}.md"
        wall, status = run_section(section, args.quick, out)
        # a file left from an earlier run must not pass for this run's
        written = out.exists() and out.stat().st_mtime >= started.timestamp()
        ran.append((section, out, wall, status, written))
    total = time.perf_counter() - began

    checks, bodies, times = [], [], []
    for section, out, wall, status, written in ran:
        times.append(
            f"| ({section.key}) | `{section.script}` | {wall:.1f} | {status} | "
            + (f"`{out.name}`" if written else "**not written**")
            + " |"
        )
        if not written:
            checks.append(f"- ({section.key}) {section.name}: **failed to run** (exit {status}).")
            continue
        body, found = section_body(out, section.key)
        checks += [f"- ({section.key}) {line}" for line in found]
        bodies += ["", *body]
    mode = (
        "**quick** (every section shortened to test the suite: not figures for the record)"
        if args.quick
        else "full"
    )
    command = "python benchmarks/run_all.py" + (" --quick" if args.quick else "")
    if args.only:
        command += " --only " + " ".join(args.only)
    lines = [
        "# Scale and speed: benchmark results",
        "",
        f"Device: {device['line']}.",
        f"Date: {started.strftime('%Y-%m-%d %H:%M')} UTC. Mode: {mode}.",
        f"Total wall time: **{total:.0f} s** ({total / 60:.1f} min). Command: `{command}`.",
        "Every figure below is measured in this run; ratios are against the baseline named in",
        "each section, measured in the same run (same process or same machine, minutes apart).",
        "",
        "## Acceptance checks",
        "",
        *(checks or ["- none found"]),
        "",
        "## Sections",
        "",
        "| section | script | wall (s) | exit | table |",
        "|---|---|---|---|---|",
        *times,
        *bodies,
        "",
    ]
    path = combined_dir / f"results-{slug}.md"
    path.write_text("\n".join(lines))
    print(f"\nwrote {path} ({total:.0f} s)")
    for line in checks:
        print(line)
    return 0 if all(written for *_, written in ran) else 1


if __name__ == "__main__":
    sys.exit(main())
