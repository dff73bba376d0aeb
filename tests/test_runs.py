"""Run directories: config.json first and never mixed, the lock, atomic JSON."""

from __future__ import annotations

import json
import os
import subprocess
import sys

import pytest

from lottery import config, runs
from lottery.errors import LotteryError

pytestmark = pytest.mark.faults


def _cfg(**fields):
    cfg = config.base()
    cfg.name = "locked"
    for key, value in fields.items():
        setattr(cfg, key, value)
    return cfg


def test_open_run_writes_config_first_and_refuses_another(tmp_path):
    cfg = _cfg(seed=3)
    run = runs.open_run(tmp_path, cfg)
    assert sorted(p.name for p in run.iterdir()) == ["config.json"]
    assert runs.read_json(run / "config.json") == json.loads(json.dumps(cfg.to_dict()))
    assert runs.open_run(tmp_path, cfg) == run  # the same config: reopened
    edited = runs.read_json(run / "config.json")
    edited["seed"] = 4
    (run / "config.json").write_text(json.dumps(edited))
    with pytest.raises(LotteryError) as err:
        runs.open_run(tmp_path, cfg)
    assert str(run / "config.json") in str(err.value) and "different config" in str(err.value)


def test_open_run_accepts_a_config_written_before_a_field_was_added(tmp_path):
    cfg = _cfg(seed=3)
    run = runs.open_run(tmp_path, cfg)
    older = runs.read_json(run / "config.json")
    del older["imp"]["criterion"]  # as written before imp.criterion existed
    (run / "config.json").write_text(json.dumps(older))
    assert runs.open_run(tmp_path, cfg) == run
    older["imp"]["fraction"] = 0.5  # a real difference is still refused
    (run / "config.json").write_text(json.dumps(older))
    with pytest.raises(LotteryError, match="different config"):
        runs.open_run(tmp_path, cfg)


def test_lock_is_exclusive_and_released(tmp_path):
    with runs.lock(tmp_path) as path:
        holder = json.loads(path.read_text())
        assert holder["pid"] == os.getpid()
        with pytest.raises(LotteryError) as err:
            with runs.lock(tmp_path):
                pass
        assert f"locked by pid {os.getpid()}" in str(err.value)
    assert not path.exists()
    with runs.lock(tmp_path):  # free again
        pass


def test_stale_lock_of_a_dead_process_is_taken_over(tmp_path):
    dead = subprocess.run(
        [sys.executable, "-c", "import os; print(os.getpid())"], capture_output=True, text=True
    )
    pid = int(dead.stdout)
    import socket

    (tmp_path / "lock").write_text(json.dumps({"pid": pid, "host": socket.gethostname()}))
    with runs.lock(tmp_path) as path:
        assert json.loads(path.read_text())["pid"] == os.getpid()
    assert list(tmp_path.iterdir()) == []


def test_lock_of_another_host_is_not_taken_over(tmp_path):
    (tmp_path / "lock").write_text(json.dumps({"pid": 1, "host": "elsewhere"}))
    with pytest.raises(LotteryError, match="locked by pid 1 on host elsewhere"):
        with runs.lock(tmp_path):
            pass


def test_write_json_leaves_no_temporary_file(tmp_path):
    runs.write_json(tmp_path / "a.json", {"x": 1})
    assert [p.name for p in tmp_path.iterdir()] == ["a.json"]
    assert runs.read_json(tmp_path / "a.json") == {"x": 1}


def test_sweep_removes_what_dead_processes_left_and_keeps_live_ones(tmp_path):
    dead = subprocess.Popen([sys.executable, "-c", "pass"])
    dead.wait()
    (tmp_path / "a").mkdir()
    stale = tmp_path / "a" / f".metrics.json.tmp-{dead.pid}"
    live = tmp_path / f".summary.json.tmp-{os.getpid()}"
    orbax = tmp_path / "a" / "final.orbax-checkpoint-tmp-1733000000"
    for path in (stale, live):
        path.write_text("{")
    orbax.mkdir()
    (tmp_path / "a" / "metrics.json").write_text("{}")
    assert sorted(runs.sweep(tmp_path, orbax=False)) == [stale]
    assert live.exists() and orbax.is_dir()
    assert runs.sweep(tmp_path) == [orbax]
    assert live.exists() and (tmp_path / "a" / "metrics.json").exists()
