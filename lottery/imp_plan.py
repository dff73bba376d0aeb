"""The IMP plan: a config's ``imp`` block validated and resolved against the model.

``plan(cfg, trainer)`` checks every ``imp.*`` field (one ``LotteryError`` naming the
first bad one, before anything is written) and works out the rewinding mode, the
prunable leaves, per-layer rates and the ticket's density at every level.
``retrain_trainer`` gives the trainer of the pruned levels for each rewinding mode
(Frankle & Carbin 2019; Frankle et al. 2020; Renda et al. 2020).
"""

from __future__ import annotations

import dataclasses
from typing import Any

import jax
import jax.numpy as jnp
import ml_collections
import optax

from lottery import controls, criteria, structured
from lottery import experiment as experiment_lib
from lottery import masks as masks_lib
from lottery import train as train_lib
from lottery.errors import LotteryError
from lottery.prune import SCOPES, Target, prune
from lottery.schedules import make_optimizer, make_schedule, parse_duration
from lottery.structured import select as structured_select
from lottery.structured import ticket

REWIND_WORDS = ("init", "lr", "finetune")
MAX_LEVELS = 1000


@dataclasses.dataclass(frozen=True)
class Plan:
    """A validated IMP config resolved against the model and data.

    ``mode`` is ``"init"``, ``"step"``, ``"lr"`` or ``"finetune"``;
    ``rewind_step`` is k (0 unless ``mode == "step"``); ``densities`` are the
    ticket's prunable densities at levels 0..levels-1 (exact: counts do not
    depend on the scores); ``prunable`` is a tree of Python bools;
    ``criterion`` names the ``lottery.criteria.CRITERIA`` entry that scores the
    weights of unstructured levels.
    """

    levels: int
    densities: tuple[float, ...]
    fraction: float
    scope: str
    rates: dict
    prunable: Any
    mode: str
    rewind_step: int
    controls: tuple[str, ...]
    checkpoint_every: int
    structure: str = "weights"
    group_score: str = "l1"
    criterion: str = criteria.DEFAULT

    @property
    def control_registry(self) -> dict:
        """Returns the registry the controls come from (see ``control_registry``)."""
        return control_registry(self.structure)

    @property
    def branches(self) -> tuple[str, ...]:
        """Returns ``("ticket", *controls)``."""
        return ("ticket", *self.controls)

    @property
    def start_step(self) -> int:
        """Returns the step at which levels >= 1 start training."""
        return self.rewind_step if self.mode == "step" else 0


def control_registry(structure: str) -> dict:
    """Returns the controls of tickets of ``structure``: whole-unit controls for a
    structured ticket (``lottery.structured.ticket``), else ``controls.CONTROLS``."""
    return controls.CONTROLS if structure == "weights" else ticket.CONTROLS


def _rewind_mode(text: str, trainer: train_lib.Trainer) -> tuple[str, int]:
    if text in REWIND_WORDS:
        return text, 0
    try:
        k = parse_duration(text, trainer.steps_per_epoch, "imp.rewind")
    except LotteryError:
        raise LotteryError(
            "imp.rewind",
            f"must be one of {', '.join(REWIND_WORDS)} or a step like '500it' or '2ep', "
            f"got {text!r}",
        ) from None
    if k >= trainer.total_steps:
        raise LotteryError(
            "imp.rewind",
            f"rewind step {k} is not before the end of training ({trainer.total_steps} steps)",
        )
    return ("step", k) if k > 0 else ("init", 0)


def plan(cfg: ml_collections.ConfigDict, trainer: train_lib.Trainer) -> Plan:
    """Returns the ``Plan`` of ``cfg.imp`` for ``trainer``'s model; raises
    ``LotteryError`` naming the first bad ``imp.*`` field."""
    imp = cfg.imp
    if not isinstance(imp.levels, int) or imp.levels < 1:
        raise LotteryError("imp.levels", f"must be a positive integer, got {imp.levels!r}")
    if not 0.0 < float(imp.fraction) < 1.0:
        raise LotteryError("imp.fraction", f"must be in (0, 1), got {imp.fraction}")
    if not 0.0 <= float(imp.target_density) < 1.0:
        raise LotteryError(
            "imp.target_density", f"must be in (0, 1), or 0 for none; got {imp.target_density}"
        )
    if imp.scope not in SCOPES:
        allowed = ", ".join(SCOPES)
        raise LotteryError("imp.scope", f"unknown scope '{imp.scope}'; allowed: {allowed}")
    structure = _structure(imp, trainer)
    criterion = _criterion(imp, structure)
    registry = control_registry(structure)
    names = list(imp.controls)
    for name in names:
        if name not in registry:
            allowed = ", ".join(registry)
            what = "" if structure == "weights" else f" with imp.structure '{structure}'"
            raise LotteryError(
                "imp.controls", f"unknown control '{name}'{what}; allowed: {allowed}"
            )
    if len(set(names)) != len(names):
        raise LotteryError("imp.controls", f"lists a control twice: {names}")
    mode, k = _rewind_mode(imp.rewind, trainer)
    prunable, rates, every = experiment_lib.pruning_setup(imp, trainer, "imp")
    params, _ = jax.eval_shape(trainer.model.init, jax.random.key(0))
    densities = _densities(params, prunable, float(imp.fraction), imp.scope, rates, imp)
    return Plan(
        levels=len(densities),
        densities=tuple(densities),
        fraction=float(imp.fraction),
        scope=imp.scope,
        rates=rates,
        prunable=prunable,
        mode=mode,
        rewind_step=k,
        controls=tuple(names),
        checkpoint_every=every,
        structure=structure,
        group_score=str(imp.group_score),
        criterion=criterion,
    )


def _criterion(imp: ml_collections.ConfigDict, structure: str) -> str:
    """Returns ``imp.criterion`` checked against ``lottery.criteria.CRITERIA``; a
    non-default criterion needs unstructured tickets (``imp.structure = "weights"``)."""
    name = imp.criterion
    criteria.get(name)
    if structure != "weights" and name != criteria.DEFAULT:
        raise LotteryError(
            "imp.criterion",
            f"criterion '{name}' needs imp.structure 'weights' (structured tickets rank "
            f"units by imp.group_score); got imp.structure '{structure}'",
        )
    return str(name)


def _structure(imp: ml_collections.ConfigDict, trainer: train_lib.Trainer) -> str:
    """Returns ``imp.structure`` checked (and, for a structured one, the model's
    groups and ``imp.group_score``)."""
    if imp.structure not in ticket.STRUCTURES:
        allowed = ", ".join(ticket.STRUCTURES)
        raise LotteryError(
            "imp.structure", f"unknown structure '{imp.structure}'; allowed: {allowed}"
        )
    if imp.group_score not in structured_select.SCORES:
        allowed = ", ".join(structured_select.SCORES)
        raise LotteryError(
            "imp.group_score", f"unknown group score '{imp.group_score}'; allowed: {allowed}"
        )
    if imp.structure != "weights":
        try:
            groups = structured.groups_of(trainer.model)
        except LotteryError as err:
            raise LotteryError("imp.structure", err.message) from None
        if imp.group_score == "bn_gamma":
            params, _ = jax.eval_shape(trainer.model.init, jax.random.key(0))
            try:  # traced on shapes only: the check is whether every group has BatchNorm
                jax.eval_shape(
                    lambda p: structured_select.group_scores(groups, p, "bn_gamma"), params
                )
            except LotteryError as err:
                raise LotteryError("imp.group_score", err.message) from None
    return str(imp.structure)


def _densities(params, prunable, fraction, scope, rates, imp) -> list[float]:
    """Returns the ticket densities per level: counts never depend on the scores,
    so pruning all-zero scores gives the exact counts of every replicate."""
    mask = jax.tree.map(lambda p: jnp.ones(p.shape, bool), params)
    zeros = jax.tree.map(lambda p: jnp.zeros(p.shape, jnp.float32), params)
    step = jax.jit(lambda m: prune(zeros, m, Target.remove(fraction), scope, rates, prunable))
    target = float(imp.target_density)
    densities = [1.0]
    while True:
        if target > 0 and densities[-1] <= target:
            break
        if target == 0 and len(densities) >= imp.levels:
            break
        if len(densities) >= MAX_LEVELS:
            raise LotteryError(
                "imp.target_density", f"not reached within {MAX_LEVELS} levels; raise imp.fraction"
            )
        new = step(mask)
        if jax.tree.all(jax.tree.map(lambda a, b: bool(jnp.all(a == b)), mask, new)):
            raise LotteryError(
                "imp.target_density",
                f"{target} cannot be reached: pruning stops at density {densities[-1]:.4g}",
            )
        mask = new
        densities.append(float(masks_lib.density(mask, prunable)))
    return densities


def retrain_trainer(
    trainer: train_lib.Trainer, cfg: ml_collections.ConfigDict, p: Plan
) -> train_lib.Trainer:
    """Returns the trainer of levels >= 1: ``trainer`` itself for rewinding to
    init and learning-rate rewinding; the schedule shifted to start at k for
    rewinding to step k; a constant schedule at the final learning rate for
    fine-tuning. Each level starts with a fresh optimizer state."""
    if p.mode in ("init", "lr"):
        return trainer
    schedule = make_schedule(cfg.train, trainer.total_steps, trainer.steps_per_epoch)
    if p.mode == "finetune":
        shifted = optax.constant_schedule(float(schedule(trainer.total_steps - 1)))
    else:
        k = p.rewind_step

        def shifted(count):
            return schedule(count + k)

    return dataclasses.replace(trainer, optimizer=make_optimizer(cfg.train, shifted))
