"""Shared by the resume tests: run ``lottery run`` in a subprocess and SIGKILL it."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest


def command(config_path: Path, workdir: Path, *overrides: str) -> list[str]:
    """Returns the argv of `python -m lottery run CONFIG --workdir W --no-progress
    [--config.a.b=v ...]`."""
    return [
        sys.executable, "-m", "lottery", "run", str(config_path),
        "--workdir", str(workdir), "--no-progress", *overrides,
    ]  # fmt: skip


def chunk_steps(folder: Path, first_label: str = "") -> dict[Path, list[int]]:
    """Returns ``{chunk folder: saved steps}`` for the training-state folders of
    the chunks under ``folder`` (e.g. ``<run>/resume/level_1``) whose first
    member's label starts with ``first_label``."""
    if not folder.is_dir():
        return {}
    return {
        chunk: [int(p.name) for p in chunk.iterdir() if p.name.isdigit()]
        for chunk in folder.iterdir()
        if chunk.is_dir() and chunk.name.startswith(first_label)
    }


def max_step(folder: Path, first_label: str = "") -> int:
    """Returns the latest step saved by any chunk under ``folder`` (0 if none)."""
    return max((max(s) for s in chunk_steps(folder, first_label).values() if s), default=0)


def kill_when(cmd: list[str], ready, timeout: float = 240.0) -> None:
    """Starts ``cmd`` and SIGKILLs it as soon as ``ready()`` is true."""
    proc = subprocess.Popen(cmd, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    deadline = time.monotonic() + timeout
    try:
        while not ready():
            if proc.poll() is not None:
                err = proc.stderr.read().decode()[-2000:]
                pytest.fail(f"the run ended (status {proc.returncode}) before the kill: {err}")
            if time.monotonic() > deadline:
                pytest.fail("the kill point was never reached")
            time.sleep(0.01)
        os.kill(proc.pid, signal.SIGKILL)
    finally:
        proc.wait()
    assert proc.returncode == -signal.SIGKILL
