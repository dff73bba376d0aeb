"""Magnitude scores: ``|w|`` (Han et al. 2015; the IMP rule of Frankle & Carbin 2019,
applied to trained weights; "magnitude at init" when applied to initial weights)."""

from __future__ import annotations

from typing import Any

import jax
import jax.numpy as jnp


def magnitude(params: Any) -> Any:
    """Returns a scores pytree ``|w|`` with the structure of ``params``."""
    return jax.tree.map(jnp.abs, params)
