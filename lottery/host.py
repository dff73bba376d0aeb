"""The host CPU, which CPU results depend on.

XLA's CPU kernels sum in an order that depends on the CPU model (not only on the
instruction set XLA generates code for: capping it with ``--xla_cpu_max_isa=AVX2``
on an AVX-512 Xeon keeps the Xeon's results) and the core count, so a seeded run
reproduces its metrics exactly on the same kind of CPU and moves by about the
replicates' spread on another (see ``docs/decisions.md``, "Scale"). ``describe``
names what a committed result was computed on, so a reader can tell which case a
rerun is in.
"""

from __future__ import annotations

import os
import platform
from pathlib import Path

ISAS = ("avx512f", "avx2", "avx")


def parse_cpuinfo(text: str) -> dict:
    """Returns ``{"cpu", "isa"}`` from the text of ``/proc/cpuinfo``: the first
    processor's model name with its family and model numbers where given, and the
    widest of ``ISAS`` among its flags (``"unknown"`` if none)."""
    info: dict[str, str] = {}
    for line in text.splitlines():
        key, _, value = line.partition(":")
        info.setdefault(key.strip(), value.strip())
    cpu = info.get("model name") or platform.processor() or platform.machine()
    if "cpu family" in info:
        cpu += f" (family {info['cpu family']}, model {info.get('model', '?')})"
    flags = set(info.get("flags", "").split())
    return {"cpu": cpu, "isa": next((f for f in ISAS if f in flags), "unknown")}


def describe() -> dict:
    """Returns ``{"cpu", "isa", "cores", "jax"}`` for this machine: ``parse_cpuinfo``
    of ``/proc/cpuinfo`` (the platform's processor name and ``"unknown"`` where that
    file is missing), the logical CPU count (``os.cpu_count()``) and the JAX version."""
    import jax

    try:
        text = Path("/proc/cpuinfo").read_text()
    except OSError:
        text = ""
    return {**parse_cpuinfo(text), "cores": os.cpu_count(), "jax": jax.__version__}
