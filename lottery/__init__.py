"""lottery: lottery-ticket research in JAX.

The public API, importable from ``lottery`` directly:

* masks: ``ones``, ``apply_mask``, ``count``, ``density``, ``layer_density``,
  ``intersect``, ``jaccard``, ``validate_mask``; ``prunable``, ``layer_rates``.
* pruning: ``prune``, ``Target``, ``magnitude_scores``.
* models: ``get_model``, ``from_flax``, ``Model``, ``param_count``.
* data: ``load_data``, ``from_arrays``, ``Dataset``.
* training: ``make_trainer``, ``init_state``, ``state_from_params``, ``fit``,
  ``evaluate``, ``train_step``, ``TrainState``, ``Trainer``.
* configs: ``default_config`` (every field and its default).
* extension points (docs/extending.md): ``register_criterion`` (IMP pruning
  criteria), ``register_control`` (control branches), ``register_kind``
  (experiment kinds), ``register_model``; scorers go into ``lottery.scores.SCORERS``.
* errors: ``LotteryError``.

Importing the package sets one XLA flag for the CPU backend (``lottery.xla_flags``)
so that vmapped replicates train bit for bit as they would alone.
"""

from lottery import xla_flags

xla_flags.configure()

# ruff: noqa: E402  (the flag must be set before anything below imports jax)

from lottery.config import base as default_config
from lottery.controls import register_control
from lottery.criteria import register_criterion
from lottery.data import Dataset, from_arrays
from lottery.data import load as load_data
from lottery.errors import LotteryError
from lottery.kinds import register_kind
from lottery.masks import apply as apply_mask
from lottery.masks import count, density, intersect, jaccard, layer_density, ones
from lottery.masks import validate as validate_mask
from lottery.models import Model, from_flax, param_count
from lottery.models import get as get_model
from lottery.models import register as register_model
from lottery.prune import Target, prune
from lottery.scores import magnitude as magnitude_scores
from lottery.select import layer_rates, prunable
from lottery.train import (
    Trainer,
    TrainState,
    evaluate,
    fit,
    init_state,
    make_trainer,
    state_from_params,
    train_step,
)

__version__ = "0.1.0"
__all__ = [
    "Dataset",
    "LotteryError",
    "Model",
    "Target",
    "TrainState",
    "Trainer",
    "apply_mask",
    "count",
    "default_config",
    "density",
    "evaluate",
    "fit",
    "from_arrays",
    "from_flax",
    "get_model",
    "init_state",
    "intersect",
    "jaccard",
    "layer_density",
    "layer_rates",
    "load_data",
    "magnitude_scores",
    "make_trainer",
    "ones",
    "param_count",
    "prunable",
    "prune",
    "register_control",
    "register_criterion",
    "register_kind",
    "register_model",
    "state_from_params",
    "train_step",
    "validate_mask",
]
