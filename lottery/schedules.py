"""Durations (``"500it"``, ``"2ep"``), optax schedules and optimizers from config."""

from __future__ import annotations

import re
from collections.abc import Mapping
from typing import Any

import optax

from lottery.errors import LotteryError

OPTIMIZERS = ("adam", "adamw", "sgd")
SCHEDULES = ("constant", "cosine", "step")
_DURATION = re.compile(r"^\s*(\d+)\s*(it|ep)\s*$")


def parse_duration(text: Any, steps_per_epoch: int, field: str = "train.duration") -> int:
    """Returns the number of steps in ``text``: ``"500it"`` is 500 steps,
    ``"2ep"`` is ``2 * steps_per_epoch``; a bare int counts steps."""
    if isinstance(text, int) and not isinstance(text, bool) and text >= 0:
        return text
    match = _DURATION.match(str(text)) if isinstance(text, str) else None
    if not match:
        raise LotteryError(field, f"must look like '500it' or '2ep', got {text!r}")
    n, unit = int(match.group(1)), match.group(2)
    return n if unit == "it" else n * steps_per_epoch


def make_schedule(cfg: Mapping, total_steps: int, steps_per_epoch: int) -> optax.Schedule:
    """Returns the learning-rate schedule of ``cfg`` (``train.optimizer`` and
    ``train.schedule``): constant, step decay at ``milestones`` by ``gamma``, or
    cosine to zero, each after an optional linear warmup from 0."""
    lr = float(cfg["optimizer"]["learning_rate"])
    sched = cfg["schedule"]
    name = sched["name"]
    warmup = parse_duration(sched["warmup"], steps_per_epoch, "train.schedule.warmup")
    if warmup > total_steps:
        raise LotteryError(
            "train.schedule.warmup", f"{warmup} steps is longer than the training ({total_steps})"
        )
    rest = max(total_steps - warmup, 1)
    if name == "constant":
        main = optax.constant_schedule(lr)
    elif name == "cosine":
        main = optax.cosine_decay_schedule(lr, rest)
    elif name == "step":
        bounds = {}
        for i, m in enumerate(sched["milestones"]):
            at = parse_duration(m, steps_per_epoch, f"train.schedule.milestones[{i}]")
            bounds[max(at - warmup, 0)] = float(sched["gamma"])
        main = optax.piecewise_constant_schedule(lr, bounds)
    else:
        raise LotteryError(
            "train.schedule.name", f"unknown schedule '{name}'; allowed: {', '.join(SCHEDULES)}"
        )
    if warmup == 0:
        return main
    return optax.join_schedules([optax.linear_schedule(0.0, lr, warmup), main], [warmup])


def make_optimizer(cfg: Mapping, schedule: optax.Schedule) -> optax.GradientTransformation:
    """Returns the optax optimizer of ``cfg["optimizer"]``.

    ``sgd``: momentum (0 for plain SGD), optional Nesterov, L2 weight decay added
    to the gradient (PyTorch convention). ``adam``: L2 weight decay added to the
    gradient. ``adamw``: decoupled weight decay (Loshchilov & Hutter).
    """
    opt = cfg["optimizer"]
    name, wd = opt["name"], float(opt["weight_decay"])
    if name == "sgd":
        momentum = float(opt["momentum"]) or None
        core = optax.sgd(schedule, momentum=momentum, nesterov=bool(opt["nesterov"]))
    elif name == "adam":
        core = optax.adam(schedule, b1=opt["b1"], b2=opt["b2"], eps=opt["eps"])
    elif name == "adamw":
        return optax.adamw(schedule, b1=opt["b1"], b2=opt["b2"], eps=opt["eps"], weight_decay=wd)
    else:
        raise LotteryError(
            "train.optimizer.name",
            f"unknown optimizer '{name}'; allowed: {', '.join(OPTIMIZERS)}",
        )
    if wd == 0.0:
        return core
    return optax.chain(optax.add_decayed_weights(wd), core)
