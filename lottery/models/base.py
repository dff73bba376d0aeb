"""The model contract: a Flax Linen module plus what the library needs to know.

Decision (see docs/decisions.md): the functional core uses Flax Linen. A Linen
module is a pure description; ``init`` gives ``{"params": ..., "batch_stats": ...}``
and ``apply`` is a pure function, so masks, ``jax.grad``, ``vmap`` over replicates
and compaction need no ``split``/``merge`` bookkeeping.
"""

from __future__ import annotations

import dataclasses
from typing import Any

import flax.linen as nn
import jax
import jax.numpy as jnp

Params = Any
State = Any


@dataclasses.dataclass(frozen=True)
class Model:
    """A Linen module whose ``__call__(x, train: bool)`` returns logits.

    Attributes:
      name: registry name (or a user's label).
      module: the Linen module.
      input_shape: shape of one example, no batch axis.
      num_classes: number of logits.
      output_layer: top-level key in ``params`` of the output (classifier) layer,
        so rules such as "prune the output layer at half rate" can name it.
    """

    name: str
    module: nn.Module
    input_shape: tuple[int, ...]
    num_classes: int
    output_layer: str

    def init(self, key: jax.Array) -> tuple[Params, State]:
        """Returns ``(params, state)``; ``state`` holds every non-param collection
        (BatchNorm ``batch_stats``), and is ``{}`` for models without one."""
        x = jnp.zeros((1, *self.input_shape), jnp.float32)
        variables = self.module.init(key, x, train=False)
        params = variables["params"]
        state = {k: v for k, v in variables.items() if k != "params"}
        return params, state

    def apply(
        self,
        params: Params,
        state: State,
        x: jax.Array,
        train: bool,
        rng: jax.Array | None = None,
    ) -> tuple[jax.Array, State]:
        """Returns ``(logits, new_state)``. In train mode BatchNorm uses batch
        statistics and updates its running averages; in eval mode it uses them."""
        variables = {"params": params, **state}
        rngs = {"dropout": rng} if rng is not None else None
        if train and state:
            logits, updates = self.module.apply(
                variables, x, train=True, mutable=list(state.keys()), rngs=rngs
            )
            return logits, {**state, **updates}
        logits = self.module.apply(variables, x, train=train, rngs=rngs)
        return logits, state


def param_count(params: Params) -> int:
    """Returns the number of scalars in a params tree."""
    return int(sum(x.size for x in jax.tree.leaves(params)))
