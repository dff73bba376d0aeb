"""Scoring rules, one module each, and pruning at initialization.

* ``magnitude(params)``: the ``|w|`` scores IMP prunes by.
* Scorers (frozen dataclasses, ``scorer(model, params, model_state, mask, x, y,
  key) -> scores``): ``Magnitude``, ``Random``, ``Snip`` (Lee et al. 2019),
  ``Grasp`` (Wang et al. 2020), ``Synflow`` (Tanaka et al. 2020); by name with
  ``get(name, **options)`` from ``SCORERS``.
* ``prune_at_init``: score and prune, one-shot or iteratively.
* ``erk_densities``: Erdős–Rényi-Kernel layer densities (Evci et al. 2020).
"""

from __future__ import annotations

import dataclasses

from lottery.errors import LotteryError
from lottery.scores.base import Scorer
from lottery.scores.grasp import Grasp, hessian_vector_product
from lottery.scores.iterate import prune_at_init
from lottery.scores.magnitude import Magnitude, magnitude
from lottery.scores.random import Random, erk_densities
from lottery.scores.snip import Snip
from lottery.scores.synflow import Synflow

SCORERS: dict[str, type[Scorer]] = {
    "magnitude": Magnitude,
    "random": Random,
    "snip": Snip,
    "grasp": Grasp,
    "synflow": Synflow,
}


def get(name: str, **options: object) -> Scorer:
    """Returns the scorer ``name`` (a key of ``SCORERS``) built with ``options``
    (its dataclass fields, e.g. ``get("grasp", temperature=200.0)``).

    Raises ``LotteryError("pai.method", ...)`` for an unknown name and
    ``LotteryError("pai.<option>", ...)`` for an option the scorer lacks or a
    bad option value.
    """
    try:
        cls = SCORERS[name]
    except (KeyError, TypeError):
        raise LotteryError(
            "pai.method", f"unknown method '{name}'; allowed: {', '.join(SCORERS)}"
        ) from None
    allowed = [f.name for f in dataclasses.fields(cls)]
    for opt in options:
        if opt not in allowed:
            listed = ", ".join(allowed) if allowed else "(none)"
            raise LotteryError(f"pai.{opt}", f"not an option of method '{name}'; allowed: {listed}")
    return cls(**options)


__all__ = [
    "SCORERS",
    "Grasp",
    "Magnitude",
    "Random",
    "Scorer",
    "Snip",
    "Synflow",
    "erk_densities",
    "get",
    "hessian_vector_product",
    "magnitude",
    "prune_at_init",
]
