"""IMP pruning criteria: how a level scores the weights it may keep, by name.

A criterion is a pure function ``fn(trained_params, initial_params) -> scores``:

* ``trained_params``: the previous level's trained params (the ticket's ``final``);
* ``initial_params``: level 0's rewind params, i.e. the initialization for
  ``imp.rewind`` ``"init"``, ``"lr"`` and ``"finetune"``, and the dense run's
  weights at step k for rewinding to a step (``"500it"``, ``"2ep"``);
* ``scores``: a float pytree with the structure of the params, higher = keep.

It sees one replicate (the caller vmaps and jits it) and is handed to
``lottery.prune`` with the level's mask, so already-pruned weights are never
revived whatever they score. ``imp.criterion`` names one; the default
``"magnitude"`` is ``|w_final|`` (Frankle & Carbin 2019; Zhou et al. 2019's
``large_final``). A fork adds its own with ``register_criterion``::

    @register_criterion("movement")
    def movement(trained, initial):
        return jax.tree.map(lambda f, i: jnp.abs(f - i), trained, initial)

Criteria apply to unstructured IMP (``imp.structure = "weights"``); structured
tickets rank whole units by ``imp.group_score``.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from lottery.errors import LotteryError
from lottery.scores.magnitude import magnitude as _abs

PyTree = Any
Criterion = Callable[[PyTree, PyTree], PyTree]
CRITERIA: dict[str, Criterion] = {}
DEFAULT = "magnitude"


def register_criterion(name: str) -> Callable[[Criterion], Criterion]:
    """Returns a decorator that records ``fn(trained_params, initial_params) ->
    scores`` under ``name`` in ``CRITERIA`` and returns ``fn`` unchanged.

    Raises ``LotteryError("imp.criterion", ...)`` if ``name`` is taken.
    """

    def decorator(fn: Criterion) -> Criterion:
        if name in CRITERIA:
            raise LotteryError("imp.criterion", f"criterion '{name}' is already registered")
        CRITERIA[name] = fn
        return fn

    return decorator


def get(name: str) -> Criterion:
    """Returns the criterion registered as ``name``; raises
    ``LotteryError("imp.criterion", ...)`` listing the registered names."""
    if not isinstance(name, str) or name not in CRITERIA:
        allowed = ", ".join(CRITERIA)
        raise LotteryError("imp.criterion", f"unknown criterion '{name}'; allowed: {allowed}")
    return CRITERIA[name]


@register_criterion(DEFAULT)
def magnitude(trained_params: PyTree, initial_params: PyTree) -> PyTree:
    """Returns ``|w_final|`` (``initial_params`` unused): the IMP rule of Frankle &
    Carbin (2019), ``large_final`` in Zhou et al. (2019)."""
    del initial_params
    return _abs(trained_params)
