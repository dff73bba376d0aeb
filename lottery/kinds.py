"""Experiment kinds: what ``lottery run`` does with a config, by its ``kind`` field.

A kind is ``run_fn(cfg, workdir, progress) -> summary``: it validates ``cfg``,
runs (or resumes) the experiment under ``workdir`` and returns its summary dict,
which holds at least ``kind`` and ``run_dir``. Built in: ``train``
(``lottery.experiment.run_train``), ``imp`` (``lottery.imp.run_imp``), ``pai``
(``lottery.pai.run_pai``), ``structured`` (``lottery.structured_run``). The
built-ins import their modules when called, so ``config.validate`` can read this
registry cheaply. A fork adds its own with ``register_kind(name, run_fn)`` before
the config is validated; ``lottery run`` prints the report table of a summary whose
``kind`` the report knows (``lottery.report.KINDS``) and the run directory otherwise.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

from lottery.errors import LotteryError

RunFn = Callable[[Any, str | Path, bool], dict]
KINDS: dict[str, RunFn] = {}


def register_kind(name: str, run_fn: RunFn) -> RunFn:
    """Records ``run_fn(cfg, workdir, progress) -> summary`` as kind ``name`` and
    returns it; raises ``LotteryError("kind", ...)`` if ``name`` is taken."""
    if name in KINDS:
        raise LotteryError("kind", f"kind '{name}' is already registered")
    KINDS[name] = run_fn
    return run_fn


def get(name: str) -> RunFn:
    """Returns the run function of kind ``name``; raises ``LotteryError("kind", ...)``
    listing the registered kinds."""
    if not isinstance(name, str) or name not in KINDS:
        raise LotteryError("kind", f"unknown kind '{name}'; allowed: {', '.join(KINDS)}")
    return KINDS[name]


def _train(cfg, workdir, progress):
    from lottery import experiment

    return experiment.run_train(cfg, workdir, progress=progress)


def _imp(cfg, workdir, progress):
    from lottery import imp

    return imp.run_imp(cfg, workdir, progress=progress)


def _pai(cfg, workdir, progress):
    from lottery import pai

    return pai.run_pai(cfg, workdir, progress=progress)


def _structured(cfg, workdir, progress):
    from lottery import structured_run

    return structured_run.run_structured(cfg, workdir, progress=progress)


register_kind("train", _train)
register_kind("imp", _imp)
register_kind("pai", _pai)
register_kind("structured", _structured)
