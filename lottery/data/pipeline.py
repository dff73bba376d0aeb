"""Batching and augmentation in pure JAX, for use inside a jitted ``lax.scan`` epoch.

Shapes and the augmentation kind are static; keys and data are traced.
"""

from __future__ import annotations

import jax
import jax.numpy as jnp

from lottery.data.base import AUGMENTATIONS
from lottery.errors import LotteryError

CIFAR_PAD = 4  # zero padding on each side before the random crop


def epoch_indices(key: jax.Array, num_examples: int, batch_size: int) -> jax.Array:
    """Shuffles example indices for one epoch and cuts them into batches.

    Args:
      key: a PRNG key.
      num_examples: number of training examples (static Python int).
      batch_size: examples per batch (static Python int, at most
        ``num_examples``).

    Returns:
      An int32 array of shape ``(num_examples // batch_size, batch_size)``:
      row ``i`` holds the indices of batch ``i``, taken from a random
      permutation of ``range(num_examples)``; the last
      ``num_examples % batch_size`` indices of the permutation are dropped.

    Raises:
      LotteryError: ``train.batch_size`` if the batch size is not in
        ``[1, num_examples]``.
    """
    num_examples = int(num_examples)
    batch_size = int(batch_size)
    if batch_size < 1 or batch_size > num_examples:
        raise LotteryError(
            "train.batch_size",
            f"must be in [1, {num_examples}] (the number of training examples); got {batch_size}",
        )
    num_batches = num_examples // batch_size
    perm = jax.random.permutation(key, num_examples)
    return perm[: num_batches * batch_size].reshape(num_batches, batch_size).astype(jnp.int32)


def _cifar_params(key: jax.Array, batch: int) -> tuple[jax.Array, jax.Array]:
    """Draws per-example crop offsets ``(batch, 2)`` in ``[0, 2*pad]`` and flips ``(batch,)``."""
    crop_key, flip_key = jax.random.split(key)
    offsets = jax.random.randint(crop_key, (batch, 2), 0, 2 * CIFAR_PAD + 1)
    flips = jax.random.bernoulli(flip_key, 0.5, (batch,))
    return offsets, flips


def _crop_and_flip(x: jax.Array, offsets: jax.Array, flips: jax.Array) -> jax.Array:
    """Zero-pads NHWC ``x`` by ``CIFAR_PAD``, crops each example at its (row, col)
    offset back to ``H x W``, and mirrors the examples whose flip is true."""
    _, h, w, c = x.shape
    pad = CIFAR_PAD
    padded = jnp.pad(x, ((0, 0), (pad, pad), (pad, pad), (0, 0)))

    def crop(image, offset):
        return jax.lax.dynamic_slice(image, (offset[0], offset[1], 0), (h, w, c))

    cropped = jax.vmap(crop)(padded, offsets)
    return jnp.where(flips[:, None, None, None], cropped[:, :, ::-1, :], cropped)


def augment_batch(key: jax.Array, x: jax.Array, kind: str) -> jax.Array:
    """Applies the training-time augmentation ``kind`` to a batch.

    Args:
      key: a PRNG key (used only by ``"cifar"``).
      x: the batch; NHWC for ``"cifar"``.
      kind: ``"none"`` or ``"cifar"`` (static): per example, a random crop
        after 4-pixel zero padding (offsets uniform in ``[0, 8]``) and a
        horizontal flip with probability 1/2.

    Returns:
      An array of the same shape and dtype as ``x``: ``x`` itself for
      ``"none"``, the augmented batch for ``"cifar"``.

    Raises:
      LotteryError: ``data.augment`` for an unknown kind, or ``"cifar"`` on a
        batch that is not 4-D.
    """
    if kind == "none":
        return x
    if kind == "cifar":
        if x.ndim != 4:
            raise LotteryError(
                "data.augment",
                f"'cifar' needs NHWC image batches; got shape {tuple(x.shape)}",
            )
        offsets, flips = _cifar_params(key, x.shape[0])
        return _crop_and_flip(x, offsets, flips)
    raise LotteryError(
        "data.augment",
        f"unknown augmentation {kind!r}; allowed: {', '.join(AUGMENTATIONS)}",
    )
