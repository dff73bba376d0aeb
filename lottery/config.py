"""Experiment configs: defaults, loading a config file, overrides, validation, hash.

A config file is a Python file with ``get_config() -> ml_collections.ConfigDict``;
it starts from ``base()`` and changes what it needs. ``model`` and ``data`` take
extra fields, passed as options to the model and dataset factories; every other
field must exist in ``base()``. The run hash covers the config minus the fields
at their defaults, so adding a new field with a default never changes old hashes.
"""

from __future__ import annotations

import ast
import hashlib
import importlib.util
import json
import math
from pathlib import Path
from typing import Any

import ml_collections

from lottery import kinds
from lottery.errors import LotteryError
from lottery.schedules import OPTIMIZERS, SCHEDULES, parse_duration

# blocks whose fields are free-form (factory options, per-layer rates, per-method counts)
OPEN_BLOCKS = ("model", "data", "imp.rates", "pai.rates", "pai.iterations")
NOT_HASHED = ("name",)  # the name is already in the run directory's name
# how a run executes, not what it computes: left out of the hash and of the
# config.json comparison, so a run can resume with another chunk size or mesh
EXECUTION_BLOCKS = ("parallel",)
MESH_AXES = ("data", "replicates")  # parallel.mesh: what the devices split


def base() -> ml_collections.ConfigDict:
    """Returns the default config; every field a config file may set is here."""
    return ml_collections.ConfigDict(
        {
            "name": "run",
            "kind": "train",
            "seed": 0,
            "replicates": 1,
            "model": {"name": "mlp"},
            "data": {"name": "mnist1d"},
            "train": {
                "batch_size": 100,
                "duration": "60ep",
                "eval_every": 1,
                "eval_batch_size": 1000,
                "dtype": "float32",
                "optimizer": {
                    "name": "adam",
                    "learning_rate": 1e-3,
                    "momentum": 0.9,
                    "nesterov": False,
                    "weight_decay": 0.0,
                    "b1": 0.9,
                    "b2": 0.999,
                    "eps": 1e-8,
                },
                "schedule": {
                    "name": "constant",
                    "warmup": "0it",
                    "milestones": (),
                    "gamma": 0.1,
                },
            },
            "imp": {
                "levels": 16,
                "target_density": 0.0,
                "fraction": 0.2,
                "scope": "global",
                "rates": {},
                "leaves": ("kernel",),
                "exclude": (),
                "rewind": "init",
                "controls": ("reinit", "random_prune"),
                "checkpoint_every": "10ep",
                "structure": "weights",
                "group_score": "l1",
                "criterion": "magnitude",
            },
            "structured": {
                "variants": ("weights", "channels", "refill"),
            },
            "pai": {
                "methods": ("random", "magnitude", "snip", "grasp", "synflow"),
                "densities": (),
                "scope": "global",
                "rates": {},
                "leaves": ("kernel",),
                "exclude": (),
                "iterations": {"synflow": 100},
                "samples_per_class": 10,
                "scoring_batches": 1,
                "temperature": 200.0,
                "synflow_float64": False,
                "ablations": (),
                "checkpoint_every": "10ep",
            },
            "parallel": {
                "max_vmap": 0,
                "devices": 1,
                "mesh": "data",
            },
        }
    )


def load(path: str | Path) -> ml_collections.ConfigDict:
    """Returns ``get_config()`` of the Python config file at ``path``."""
    path = Path(path)
    if not path.is_file():
        raise LotteryError("config", f"cannot read config file '{path}': no such file")
    try:
        spec = importlib.util.spec_from_file_location(f"lottery_config_{path.stem}", path)
        module = importlib.util.module_from_spec(spec)
        spec.loader.exec_module(module)
        cfg = module.get_config()
    except LotteryError:
        raise
    except Exception as exc:  # a broken user file: report it in one line
        msg = str(exc).splitlines()[0] if str(exc) else ""
        raise LotteryError("config", f"cannot load '{path}': {type(exc).__name__}: {msg}") from None
    if not isinstance(cfg, ml_collections.ConfigDict):
        raise LotteryError("config", f"get_config() in '{path}' must return a ConfigDict")
    return cfg


def _parse_value(text: str) -> Any:
    try:
        return ast.literal_eval(text)
    except (ValueError, SyntaxError):
        return text  # a bare word is a string: --config.model.name=mlp


def override(cfg: ml_collections.ConfigDict, dotted: str, text: str) -> None:
    """Sets ``cfg.<dotted> = value`` parsed from ``text`` (Python literal or a bare
    string); an unknown field or a value of the wrong type raises ``LotteryError``."""
    *parents, leaf = dotted.split(".")
    node = cfg
    for i, part in enumerate(parents):
        if part not in node or not isinstance(node[part], ml_collections.ConfigDict):
            where = ".".join(parents[: i + 1])
            raise LotteryError(where, f"unknown config block; allowed: {', '.join(sorted(node))}")
        node = node[part]
    if leaf not in node:
        allowed = ", ".join(sorted(node.keys()))
        raise LotteryError(dotted, f"unknown config field; allowed here: {allowed}")
    value = _parse_value(text)
    old = node[leaf]
    if isinstance(old, tuple) and isinstance(value, list):
        value = tuple(value)
    if isinstance(old, str) and not isinstance(value, str):
        value = text
    try:
        node[leaf] = value
    except TypeError:
        raise LotteryError(dotted, f"expected a {type(old).__name__}, got {text!r}") from None


def _check_fields(cfg: Any, ref: Any, prefix: str) -> None:
    for key in cfg.keys():
        path = f"{prefix}{key}"
        if key not in ref:
            if prefix.rstrip(".") in OPEN_BLOCKS:
                continue
            raise LotteryError(path, f"unknown config field; allowed: {', '.join(sorted(ref))}")
        val, default = cfg[key], ref[key]
        if isinstance(default, ml_collections.ConfigDict):
            if not isinstance(val, ml_collections.ConfigDict):
                raise LotteryError(path, "must be a block of fields")
            _check_fields(val, default, path + ".")
        elif not _same_kind(val, default):
            raise LotteryError(path, f"expected a {type(default).__name__}, got {val!r}")


def _same_kind(value: Any, default: Any) -> bool:
    if isinstance(default, bool) or isinstance(value, bool):
        return type(value) is type(default)
    if isinstance(default, float):
        return isinstance(value, int | float)
    if isinstance(default, tuple | list):
        return isinstance(value, tuple | list)
    return isinstance(value, type(default))


def _positive(cfg, path: str, integer: bool = False) -> None:
    value = cfg
    for part in path.split("."):
        value = value[part]
    ok = isinstance(value, int) if integer else math.isfinite(float(value))
    if not ok or value <= 0:
        kind = "a positive integer" if integer else "a positive number"
        raise LotteryError(path, f"must be {kind}, got {value!r}")


def validate(cfg: ml_collections.ConfigDict) -> None:
    """Returns None for a well-formed config; raises ``LotteryError`` naming the
    first bad field and what it allows. Model and data options are checked when
    their factories are called, ``train.dtype`` by ``train.make_trainer``
    (``experiment.build``)."""
    _check_fields(cfg, base(), "")
    if not str(cfg.name) or any(c in str(cfg.name) for c in "/\\ ") or str(cfg.name)[0] == ".":
        raise LotteryError(
            "name", f"must be a plain word (no '/', spaces or leading '.'), got {cfg.name!r}"
        )
    kinds.get(cfg.kind)  # a registered kind (lottery.kinds.KINDS)
    if cfg.seed < 0:
        raise LotteryError("seed", f"must be >= 0, got {cfg.seed}")
    _positive(cfg, "replicates", integer=True)
    _positive(cfg, "train.batch_size", integer=True)
    _positive(cfg, "train.eval_every", integer=True)
    _positive(cfg, "train.eval_batch_size", integer=True)
    _positive(cfg, "train.optimizer.learning_rate")
    _positive(cfg, "train.schedule.gamma")
    opt = cfg.train.optimizer
    if opt.name not in OPTIMIZERS:
        raise LotteryError(
            "train.optimizer.name",
            f"unknown optimizer '{opt.name}'; allowed: {', '.join(OPTIMIZERS)}",
        )
    if not 0 <= opt.momentum < 1:
        raise LotteryError("train.optimizer.momentum", f"must be in [0, 1), got {opt.momentum}")
    if opt.weight_decay < 0:
        raise LotteryError("train.optimizer.weight_decay", f"must be >= 0, got {opt.weight_decay}")
    if cfg.train.schedule.name not in SCHEDULES:
        raise LotteryError(
            "train.schedule.name",
            f"unknown schedule '{cfg.train.schedule.name}'; allowed: {', '.join(SCHEDULES)}",
        )
    _check_parallel(cfg.parallel)
    parse_duration(cfg.train.duration, 1, "train.duration")
    parse_duration(cfg.train.schedule.warmup, 1, "train.schedule.warmup")
    for i, m in enumerate(cfg.train.schedule.milestones):
        parse_duration(m, 1, f"train.schedule.milestones[{i}]")


def _check_parallel(block: ml_collections.ConfigDict) -> None:
    for field in ("max_vmap", "devices"):
        value = block[field]
        if isinstance(value, bool) or not isinstance(value, int) or value < 0:
            raise LotteryError(
                f"parallel.{field}", f"must be an integer >= 0 (0: no cap / all), got {value!r}"
            )
    if block.mesh not in MESH_AXES:
        allowed = ", ".join(MESH_AXES)
        raise LotteryError("parallel.mesh", f"unknown mesh axis '{block.mesh}'; allowed: {allowed}")


def result_fields(cfg_dict: dict) -> dict:
    """Returns a config dict without its ``EXECUTION_BLOCKS`` (what two runs must
    share to write into one run directory)."""
    return {k: v for k, v in cfg_dict.items() if k not in EXECUTION_BLOCKS}


def _flat(d: Any, prefix: str = "") -> dict[str, Any]:
    out: dict[str, Any] = {}
    for key, val in d.items():
        if isinstance(val, dict):
            out.update(_flat(val, f"{prefix}{key}."))
        else:
            out[f"{prefix}{key}"] = list(val) if isinstance(val, tuple) else val
    return out


def non_default(cfg: ml_collections.ConfigDict) -> dict[str, Any]:
    """Returns ``{dotted.field: value}`` for every field that differs from ``base()``,
    leaving out ``NOT_HASHED`` fields and ``EXECUTION_BLOCKS``."""
    defaults = _flat(base().to_dict())
    return {
        k: v
        for k, v in sorted(_flat(result_fields(cfg.to_dict())).items())
        if k not in NOT_HASHED and (k not in defaults or defaults[k] != v)
    }


def config_hash(cfg: ml_collections.ConfigDict) -> str:
    """Returns a 10-hex-digit hash of ``non_default(cfg)`` (stable across runs,
    machines and the order of fields)."""
    text = json.dumps(non_default(cfg), sort_keys=True, separators=(",", ":"))
    return hashlib.sha256(text.encode()).hexdigest()[:10]


def with_defaults(d: dict) -> dict:
    """Returns the config dict ``d`` (``cfg.to_dict()``, e.g. a run's ``config.json``)
    merged over ``base().to_dict()``: fields added to ``base()`` since ``d`` was
    written get their defaults, so an older run compares equal to the same config
    today (its hash, over non-default fields only, is unchanged too)."""

    def merged(default: dict, given: dict) -> dict:
        out = dict(default)
        for k, v in given.items():
            both = isinstance(v, dict) and isinstance(default.get(k), dict)
            out[k] = merged(default[k], v) if both else v
        return out

    return merged(base().to_dict(), d)


def from_dict(d: dict) -> ml_collections.ConfigDict:
    """Returns the config a run's ``config.json`` holds (``cfg.to_dict()`` as
    JSON) over ``base()`` (fields added since keep their defaults), with lists
    turned back into tuples, validated; raises ``LotteryError``
    naming the first bad field."""

    def tuples(value: Any) -> Any:
        if isinstance(value, dict):
            return {k: tuples(v) for k, v in value.items()}
        if isinstance(value, list):
            return tuple(tuples(v) for v in value)
        return value

    if not isinstance(d, dict):
        raise LotteryError("config", f"expected a JSON object, got {type(d).__name__}")
    cfg = ml_collections.ConfigDict(tuples(with_defaults(d)))
    validate(cfg)
    return cfg
