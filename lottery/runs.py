"""Run directories: ``<workdir>/<name>_<hash>/`` with config, metrics and summary.

A run is built in a hidden staging folder beside its final place and renamed
into place only when complete, so a run directory either holds a finished run
or does not exist (a crash or bad input leaves nothing half-written; the
staging folder is removed on any Python exception). Files are written whole:
to a temporary name, flushed, then renamed.
"""

from __future__ import annotations

import contextlib
import json
import os
import shutil
import socket
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import ml_collections

from lottery import config as config_lib
from lottery.errors import LotteryError

CONFIG_FILE = "config.json"
SUMMARY_FILE = "summary.json"
METRICS_FILE = "metrics.jsonl"


def run_dir(workdir: str | Path, cfg: ml_collections.ConfigDict) -> Path:
    """Returns ``<workdir>/<name>_<hash>`` for ``cfg``."""
    return Path(workdir) / f"{cfg.name}_{config_lib.config_hash(cfg)}"


def write_json(path: Path, obj: Any) -> None:
    """Writes ``obj`` as JSON to ``path`` atomically (temp file, fsync, rename)."""
    path = Path(path)
    tmp = path.with_name(f".{path.name}.tmp-{os.getpid()}")
    with open(tmp, "w") as f:
        json.dump(obj, f, indent=2, sort_keys=True)
        f.write("\n")
        f.flush()
        os.fsync(f.fileno())
    os.replace(tmp, path)


def append_jsonl(path: Path, record: dict) -> None:
    """Appends ``record`` as one JSON line to ``path``."""
    with open(path, "a") as f:
        f.write(json.dumps(record, sort_keys=True) + "\n")


def read_json(path: Path) -> Any:
    """Returns the parsed JSON in ``path``."""
    with open(path) as f:
        return json.load(f)


def finished_summary(final: Path) -> dict | None:
    """Returns the summary of a finished run at ``final``, or None if there is none."""
    summary = Path(final) / SUMMARY_FILE
    return read_json(summary) if summary.is_file() else None


@contextlib.contextmanager
def staged(final: Path, cfg: ml_collections.ConfigDict) -> Iterator[Path]:
    """Yields a fresh staging folder holding ``config.json``; on a clean exit it is
    renamed to ``final``, on an exception it is removed.

    Raises ``LotteryError`` if ``final`` exists but holds no finished run.
    """
    final = Path(final)
    if final.exists():
        raise LotteryError(
            "workdir", f"'{final}' exists but holds no finished run; remove it to rerun"
        )
    final.parent.mkdir(parents=True, exist_ok=True)
    stage = final.with_name(f".{final.name}.partial-{os.getpid()}")
    shutil.rmtree(stage, ignore_errors=True)
    stage.mkdir()
    try:
        write_json(stage / CONFIG_FILE, cfg.to_dict())
        yield stage
        os.rename(stage, final)
    except BaseException:
        shutil.rmtree(stage, ignore_errors=True)
        raise


LOCK_FILE = "lock"


def open_run(workdir: str | Path, cfg: ml_collections.ConfigDict) -> Path:
    """Returns the run directory of ``cfg`` under ``workdir``, creating it with
    ``config.json`` as its first file; a resumable run (IMP) writes into it level
    by level.

    Raises ``LotteryError`` naming ``config.json`` if the directory already holds
    a different config (edited by hand, or a hash collision): two configs are
    never mixed in one directory. The ``parallel`` block (chunk size, devices) is
    not compared: it changes how a run executes, not its results; a field added to
    ``config.base()`` after the file was written compares as its default.
    """
    final = run_dir(workdir, cfg)
    final.mkdir(parents=True, exist_ok=True)
    config_path = final / CONFIG_FILE
    wanted = json.loads(json.dumps(cfg.to_dict()))
    if config_path.is_file():
        try:
            saved = read_json(config_path)
        except (OSError, ValueError) as exc:
            raise LotteryError(
                str(config_path), f"cannot be read ({exc}); remove the run"
            ) from None
        if isinstance(saved, dict):  # fields added to base() since it was written
            saved = json.loads(json.dumps(config_lib.with_defaults(saved)))
        if config_lib.result_fields(saved) != config_lib.result_fields(wanted):
            raise LotteryError(
                str(config_path),
                "holds a different config than the one being run; "
                "remove the directory or restore the file",
            )
    else:
        write_json(config_path, wanted)
    return final


def _holder(path: Path) -> dict:
    try:
        return read_json(path)
    except (OSError, ValueError):
        return {}


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


@contextlib.contextmanager
def lock(directory: str | Path) -> Iterator[Path]:
    """Holds ``directory/lock`` (created exclusively, holding pid, host and
    start time) while the block runs; yields the lock path.

    Raises ``LotteryError`` naming the holder if another live process holds it.
    A lock left by a process that no longer runs on this host is taken over
    (renamed aside atomically first, so two processes cannot both take it).
    """
    path = Path(directory) / LOCK_FILE
    me = {"pid": os.getpid(), "host": socket.gethostname(), "started": time.time()}
    for _ in range(3):
        try:
            fd = os.open(path, os.O_CREAT | os.O_EXCL | os.O_WRONLY, 0o644)
        except FileExistsError:
            holder = _holder(path)
            pid, host = holder.get("pid"), holder.get("host")
            stale = host == me["host"] and isinstance(pid, int) and not _alive(pid)
            if not stale:
                who = f"pid {pid} on host {host}" if pid else "an unknown process"
                raise LotteryError(
                    "workdir",
                    f"'{directory}' is locked by {who} ({path}); wait for it to finish, "
                    "or remove the lock file if that process is gone",
                ) from None
            aside = path.with_name(f".{LOCK_FILE}.stale-{pid}-{os.getpid()}")
            with contextlib.suppress(FileNotFoundError):
                os.rename(path, aside)
                if _holder(aside).get("pid") != pid:  # another process took over first
                    with contextlib.suppress(FileExistsError):
                        os.link(aside, path)
                os.remove(aside)
            continue
        with os.fdopen(fd, "w") as f:
            json.dump(me, f)
        break
    else:
        raise LotteryError("workdir", f"could not take the lock {path}")
    try:
        yield path
    finally:
        with contextlib.suppress(FileNotFoundError):
            os.remove(path)
