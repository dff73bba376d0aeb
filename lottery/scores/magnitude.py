"""Magnitude scores: ``|w|`` (Han et al. 2015; the IMP rule of Frankle & Carbin 2019,
applied to trained weights; "magnitude at init" when applied to initial weights)."""

from __future__ import annotations

import dataclasses
from typing import Any, ClassVar

import jax
import jax.numpy as jnp

from lottery.scores.base import Scorer


def magnitude(params: Any) -> Any:
    """Returns a scores pytree ``|w|`` with the structure of ``params``."""
    return jax.tree.map(jnp.abs, params)


@dataclasses.dataclass(frozen=True)
class Magnitude(Scorer):
    """Magnitude pruning as a scorer: scores ``|w|``, the highest kept.

    Data-free. Scores of already pruned weights are their unmasked ``|w|``; they
    do not matter, since ``prune`` never revives a weight.
    """

    needs_data: ClassVar[bool] = False

    def __call__(self, model, params, model_state, mask, x, y, key):
        """Returns ``|w|`` as float32, with the structure of ``params``."""
        return jax.tree.map(lambda p: jnp.abs(p).astype(jnp.float32), params)
