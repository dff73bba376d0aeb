"""The common interface of the scoring rules used for pruning at initialization.

A scorer is a small frozen dataclass (hashable, so it can be a static argument of
``jax.jit``) whose call maps a network and a batch of scoring data to a scores
pytree with the structure of the params::

    scores = scorer(model, params, model_state, mask, x, y, key)

``x`` has shape ``(num_batches, batch_size, *input_shape)`` and ``y``
``(num_batches, batch_size)`` (int32 labels); data-free rules (``needs_data =
False``) ignore both, and accept ``None``. ``mask`` is the current boolean mask
(all True for one-shot pruning). Scores are float32 unless a rule documents
otherwise. ``keep_highest`` says which end of the ranking the rule keeps: the
library's ``prune`` keeps the highest scores, so a rule with ``keep_highest =
False`` (GraSP) is negated before it is passed to ``prune``
(``lottery.scores.iterate.prune_at_init`` does this).

Data-driven rules evaluate the loss as the *sum over the scoring batches* of the
mean cross-entropy of each batch, which is what the reference PyTorch code does
when it accumulates ``loss.backward()`` over a data loader. A model with state
(BatchNorm ``batch_stats``) is run in train mode: each batch is normalized by its
own statistics (at initialization the running statistics are just the defaults,
mean 0 and variance 1), and the updated statistics are discarded. This is a
choice: Tanaka et al.'s Synaptic-Flow code scores every rule in eval mode unless
its ``train_mode`` flag is set. A model without state runs in eval mode (the
same function). SynFlow always runs in eval mode, as in its paper.
"""

from __future__ import annotations

import abc
import dataclasses
from typing import Any, ClassVar

import jax
import jax.numpy as jnp
import optax

from lottery.models.base import Model

PyTree = Any


@dataclasses.dataclass(frozen=True)
class Scorer(abc.ABC):
    """Base class of the scoring rules; subclasses override ``__call__``.

    Class attributes:
      keep_highest: True if the rule keeps its highest scores; False if it
        removes them (GraSP).
      needs_data: False for data-free rules (magnitude, random, SynFlow).
    """

    keep_highest: ClassVar[bool] = True
    needs_data: ClassVar[bool] = True

    @abc.abstractmethod
    def __call__(
        self,
        model: Model,
        params: PyTree,
        model_state: PyTree,
        mask: PyTree,
        x: jax.Array | None,
        y: jax.Array | None,
        key: jax.Array,
    ) -> PyTree:
        """Returns the scores pytree (structure of ``params``)."""


def cross_entropy(logits: jax.Array, labels: jax.Array) -> jax.Array:
    """Returns the mean softmax cross-entropy of ``logits`` against integer ``labels``."""
    return optax.softmax_cross_entropy_with_integer_labels(logits, labels).mean()


def apply_mask(params: PyTree, mask: PyTree) -> PyTree:
    """Returns ``params * mask`` leaf by leaf (pruned entries become exactly 0).

    A multiplication rather than a select, so that the gradient with respect to
    a float mask ``c`` at ``c = mask`` is ``w * dL/d(w * c)`` (SNIP's ``dL/dc``).
    """
    return jax.tree.map(lambda p, m: p * m.astype(p.dtype), params, mask)


def batch_loss(
    model: Model,
    model_state: PyTree,
    x: jax.Array,
    y: jax.Array,
    temperature: float = 1.0,
):
    """Returns ``loss(params)``: the sum over the ``num_batches`` scoring batches of
    each batch's mean cross-entropy of ``logits / temperature``.

    The batches go through ``lax.scan`` (one compiled body). A model with state
    runs in train mode (batch statistics) and its state updates are discarded.
    """
    train = bool(jax.tree.leaves(model_state))

    def loss(params: PyTree) -> jax.Array:
        def body(total, batch):
            xb, yb = batch
            logits, _ = model.apply(params, model_state, xb, train=train)
            return total + cross_entropy(logits / temperature, yb), None

        zero = jnp.zeros((), jax.tree.leaves(params)[0].dtype)
        total, _ = jax.lax.scan(body, zero, (x, y))
        return total

    return loss
