"""Concurrency: two processes started at once on the same run directory: one
runs, the other exits at once with one line naming the lock's holder. (A lock
left by a killed process is taken over by the next run: every case of
``test_kill.py`` leaves one, and ``tests/test_runs.py`` races two takeovers.)"""

from __future__ import annotations

import socket
import subprocess

import pytest
from subprocess_runs import command

from lottery import config, runs

pytestmark = pytest.mark.faults

CONFIG = """
from lottery.config import base


def get_config():
    cfg = base()
    cfg.name = "locked"
    cfg.kind = "imp"
    cfg.model.name = "mlp"
    cfg.model.widths = (32, 16)
    cfg.data.name = "mnist1d"
    cfg.data.num_samples = 1000
    cfg.train.batch_size = 50
    cfg.train.duration = "2ep"
    cfg.imp.levels = 2
    return cfg
"""


def test_second_process_on_the_same_run_exits_naming_the_holder(tmp_path):
    path = tmp_path / "locked.py"
    path.write_text(CONFIG)
    cmd = command(path, tmp_path / "w")
    procs = [subprocess.Popen(cmd, stderr=subprocess.PIPE, text=True) for _ in range(2)]
    errs = [p.communicate(timeout=600)[1] for p in procs]
    codes = [p.returncode for p in procs]
    assert sorted(codes) == [0, 2], (codes, errs)
    winner, loser = (0, 1) if codes[0] == 0 else (1, 0)
    line = errs[loser].strip().splitlines()
    assert len(line) == 1, line
    assert f"is locked by pid {procs[winner].pid} on host {socket.gethostname()}" in line[0]
    run = runs.run_dir(tmp_path / "w", config.load(path))
    assert runs.read_json(run / "summary.json")["complete"] and not (run / "lock").exists()
