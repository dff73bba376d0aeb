"""Named PRNG streams: one root key per replicate, split by purpose.

``streams(key)["data"]`` drives shuffling (``fold_in(data, epoch)``) and
augmentation (``fold_in(augment, step)``); ``init`` draws weights; ``prune`` and
``control`` are for pruning rules and control branches; ``instability`` orders
the data of the copies trained for linear mode connectivity. Adding a stream never
changes the others, because each is ``fold_in(root, fixed_id)``.
"""

from __future__ import annotations

import jax

STREAM_IDS = {
    "init": 0,
    "data": 1,
    "augment": 2,
    "dropout": 3,
    "prune": 4,
    "control": 5,
    "instability": 6,
}


def root_key(seed: int, replicate: int = 0) -> jax.Array:
    """Returns the root key of replicate ``replicate`` of a run seeded ``seed``."""
    return jax.random.fold_in(jax.random.key(seed), replicate)


def streams(root: jax.Array) -> dict[str, jax.Array]:
    """Returns ``{name: key}`` for every stream in ``STREAM_IDS``."""
    return {name: jax.random.fold_in(root, i) for name, i in STREAM_IDS.items()}
