"""Configs: defaults, overrides with type checks, validation, the pinned hash."""

from pathlib import Path

import pytest

from lottery import config as config_lib
from lottery.errors import LotteryError

ROOT = Path(__file__).resolve().parent.parent


def test_reference_hash_is_pinned():
    cfg = config_lib.load("configs/mnist1d_mlp.py")
    assert config_lib.non_default(cfg) == {
        "model.widths": [100, 100],
        "train.duration": "6000it",
        "train.eval_every": 10,
        "train.optimizer.learning_rate": 0.01,
    }
    # changing this pin orphans every existing run directory: do it on purpose only
    assert config_lib.config_hash(cfg) == "3f5262bae5"


def test_reference_imp_config_hash_is_pinned():
    """The main job's hash; setting fields to their defaults does not change it."""
    cfg = config_lib.load(ROOT / "configs" / "mnist1d_mlp_imp.py")
    assert config_lib.non_default(cfg) == {
        "imp.rates.out": 0.5,
        "kind": "imp",
        "model.widths": [300, 100],
        "replicates": 3,
        "train.duration": "3000it",
        "train.eval_every": 5,
        "train.optimizer.learning_rate": 0.0012,
    }
    # changing this pin orphans every existing run directory: do it on purpose only
    assert config_lib.config_hash(cfg) == "ac08e08fcf"
    for dotted, default in [
        ("imp.scope", "global"),
        ("imp.fraction", "0.2"),
        ("imp.rewind", "init"),
        ("imp.controls", "('reinit', 'random_prune')"),
        ("imp.checkpoint_every", "10ep"),
        ("train.optimizer.name", "adam"),
        ("seed", "0"),
    ]:
        config_lib.override(cfg, dotted, default)
    assert config_lib.config_hash(cfg) == "ac08e08fcf"
    config_lib.override(cfg, "imp.fraction", "0.25")
    assert config_lib.config_hash(cfg) != "ac08e08fcf"


def test_hash_ignores_defaults_and_name():
    a = config_lib.base()
    b = config_lib.base()
    b.train.optimizer.learning_rate = 1e-3  # the default, set explicitly
    b.name = "other"
    assert config_lib.config_hash(a) == config_lib.config_hash(b)
    b.seed = 1
    assert config_lib.config_hash(a) != config_lib.config_hash(b)


def test_override_parses_and_type_checks():
    cfg = config_lib.base()
    config_lib.override(cfg, "train.optimizer.learning_rate", "0.5")
    config_lib.override(cfg, "train.optimizer.name", "sgd")
    config_lib.override(cfg, "train.schedule.milestones", "['2ep', '4ep']")
    config_lib.override(cfg, "seed", "3")
    assert cfg.train.optimizer.learning_rate == 0.5 and cfg.train.optimizer.name == "sgd"
    assert cfg.train.schedule.milestones == ("2ep", "4ep") and cfg.seed == 3
    with pytest.raises(LotteryError, match="train.optimizer.learning_rate: expected a float"):
        config_lib.override(cfg, "train.optimizer.learning_rate", "fast")
    with pytest.raises(LotteryError, match="train.optimzer: unknown config block"):
        config_lib.override(cfg, "train.optimzer.name", "sgd")
    with pytest.raises(LotteryError, match="train.lr: unknown config field"):
        config_lib.override(cfg, "train.lr", "0.1")


@pytest.mark.parametrize(
    "field,value,message",
    [
        ("replicates", 0, "replicates: must be a positive integer"),
        ("train.batch_size", -5, "train.batch_size: must be a positive integer"),
        ("train.optimizer.learning_rate", -0.1, "learning_rate: must be a positive number"),
        ("train.optimizer.name", "rmsprop", "unknown optimizer 'rmsprop'; allowed: adam"),
        ("train.optimizer.momentum", 1.5, "train.optimizer.momentum: must be in"),
        ("train.schedule.name", "poly", "unknown schedule 'poly'; allowed"),
        ("train.duration", "ten epochs", "train.duration: must look like"),
        ("name", "a/b", "name: must be a plain word"),
    ],
)
def test_validate_names_the_field(field, value, message):
    cfg = config_lib.base()
    node = cfg
    *parents, leaf = field.split(".")
    for p in parents:
        node = node[p]
    node[leaf] = value
    with pytest.raises(LotteryError, match=message):
        config_lib.validate(cfg)


def test_validate_rejects_unknown_and_mistyped_fields():
    cfg = config_lib.base()
    cfg.train.unknown = 1
    with pytest.raises(LotteryError, match="train.unknown: unknown config field"):
        config_lib.validate(cfg)
    cfg = config_lib.base()
    cfg.model.widths = (10, 10)  # model options are free: checked by the factory
    config_lib.validate(cfg)
    cfg.train.optimizer.nesterov = True
    config_lib.validate(cfg)


def test_load_errors(tmp_path):
    with pytest.raises(LotteryError, match="cannot read config file"):
        config_lib.load(tmp_path / "missing.py")
    bad = tmp_path / "bad.py"
    bad.write_text("def get_config(:\n")
    with pytest.raises(LotteryError, match="cannot load .*SyntaxError"):
        config_lib.load(bad)
    none = tmp_path / "none.py"
    none.write_text("def get_config():\n    return {'a': 1}\n")
    with pytest.raises(LotteryError, match="must return a ConfigDict"):
        config_lib.load(none)
