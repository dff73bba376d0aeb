"""Shared by the resume tests: run ``lottery run`` in a subprocess and SIGKILL it."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest


def command(config_path: Path, workdir: Path) -> list[str]:
    """Returns the argv of `python -m lottery run CONFIG --workdir W --no-progress`."""
    return [
        sys.executable, "-m", "lottery", "run", str(config_path),
        "--workdir", str(workdir), "--no-progress",
    ]  # fmt: skip


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
