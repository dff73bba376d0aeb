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
