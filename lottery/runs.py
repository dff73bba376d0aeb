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
import re
import shutil
import socket
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import ml_collections

from lottery import config as config_lib
from lottery import faults
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
    try:
        with open(tmp, "w") as f:
            json.dump(obj, f, indent=2, sort_keys=True)
            f.write("\n")
            f.flush()
            os.fsync(f.fileno())
        faults.point("json_written", file=path.name)
        os.replace(tmp, path)
    except BaseException:
        tmp.unlink(missing_ok=True)  # a full disk leaves no half-written file
        raise


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
    renamed to ``final``, on an exception it is removed. Staging folders of
    ``final`` left by processes no longer running (SIGKILL) are removed first.

    Raises ``LotteryError`` if ``final`` exists but holds no finished run.
    """
    final = Path(final)
    if final.exists():
        raise LotteryError(
            "workdir", f"'{final}' exists but holds no finished run; remove it to rerun"
        )
    final.parent.mkdir(parents=True, exist_ok=True)
    for old in final.parent.glob(f".{final.name}.partial-*"):  # left by a killed process
        pid = old.name.rsplit("-", 1)[-1]
        if not pid.isdigit() or not _alive(int(pid)):
            shutil.rmtree(old, ignore_errors=True)
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
_TMP_FILE = re.compile(r"^\..+\.tmp-(\d+)$")  # write_json's and the report's temporary names
_ORBAX_TMP = ".orbax-checkpoint-tmp"  # orbax's not-yet-finalized checkpoint folders


def sweep(directory: str | Path, *, orbax: bool = True) -> list[Path]:
    """Removes what killed processes left half-written under ``directory``:
    temporary files ``.<name>.tmp-<pid>`` of processes no longer running and,
    with ``orbax``, orbax's unfinished ``*.orbax-checkpoint-tmp*`` folders (call
    it with ``orbax`` only while holding the directory's lock: no other process
    can then be saving there). Returns the removed paths."""
    removed = []
    root = Path(directory)
    if not root.is_dir():
        return removed
    for path in sorted(root.rglob("*")):
        match = _TMP_FILE.match(path.name)
        stale = bool(match) and not _alive(int(match.group(1)))
        if stale or (orbax and _ORBAX_TMP in path.name and path.is_dir()):
            if path.is_dir():
                shutil.rmtree(path, ignore_errors=True)
            else:
                path.unlink(missing_ok=True)
            removed.append(path)
    return removed


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
    (renamed aside atomically first, so two processes cannot both take it), and
    what such a process left half-written in ``directory`` is removed (``sweep``).
    """
    path = Path(directory) / LOCK_FILE
    me = {"pid": os.getpid(), "host": socket.gethostname(), "started": time.time()}
    for _ in range(3):
        try:
            fd = os.open(path, os.O_CREAT | os.O_EXCL | os.O_WRONLY, 0o644)
        except FileExistsError:
            holder = _holder(path)
            for _ in range(40):  # just created: its holder may not have written it yet
                if holder.get("pid") or not path.exists():
                    break
                time.sleep(0.05)
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
        sweep(directory)
        break
    else:
        raise LotteryError("workdir", f"could not take the lock {path}")
    try:
        yield path
    finally:
        with contextlib.suppress(FileNotFoundError):
            os.remove(path)
