"""Bad input, table-driven: each malformed command line, config file or library
call gives one line naming the field and what is allowed, a non-zero exit (the
command line) or a ``LotteryError`` (the library), and writes no run directory."""

from __future__ import annotations

from pathlib import Path

import jax
import jax.numpy as jnp
import numpy as np
import pytest
from tiny_configs import tiny_mlp

from lottery import checkpoint, cli, config, data, imp, masks, pai, runs, scores, train
from lottery.errors import LotteryError
from lottery.prune import Target

pytestmark = pytest.mark.faults

MLP = "configs/mnist1d_mlp.py"
IMP = "configs/mnist1d_mlp_imp.py"
PAI = "configs/mnist1d_mlp_pai.py"
FAST = ["--config.train.duration=2ep"]

# The command line: (argv after "run"/"report"/..., text the one line must contain).
CLI = {
    "unknown model": (
        ["run", MLP, "--config.model.name=resnet99"],
        "model.name: unknown model 'resnet99'; allowed:",
    ),
    "unknown dataset": (
        ["run", MLP, "--config.data.name=imagenet22k"],
        "data.name: unknown dataset 'imagenet22k'",
    ),
    "unknown optimizer": (
        ["run", MLP, "--config.train.optimizer.name=rmsprop"],
        "train.optimizer.name: unknown optimizer",
    ),
    "unknown field": (
        ["run", MLP, "--config.train.lr=0.1"],
        "train.lr: unknown config field; allowed here:",
    ),
    "unknown block": (
        ["run", MLP, "--config.trian.seed=1"],
        "trian: unknown config block; allowed:",
    ),
    "wrong type int": (
        ["run", MLP, "--config.train.batch_size=big"],
        "train.batch_size: expected a int, got 'big'",
    ),
    "wrong type float": (
        ["run", MLP, "--config.train.optimizer.learning_rate=fast"],
        "train.optimizer.learning_rate: expected a float",
    ),
    "negative learning rate": (
        ["run", MLP, "--config.train.optimizer.learning_rate=-0.1"],
        "learning_rate: must be a positive",
    ),
    "missing config file": (
        ["run", "configs/does_not_exist.py"],
        "config: cannot read config file",
    ),
    "malformed duration": (
        ["run", MLP, "--config.train.duration=10epochs"],
        "train.duration: must look like '500it' or",
    ),
    "batch larger than dataset": (
        ["run", MLP, "--config.train.batch_size=100000"],
        "train.batch_size: must be in [1, 4000]",
    ),
    "zero replicates": (
        ["run", MLP, "--config.replicates=0"],
        "replicates: must be a positive integer",
    ),
    "unknown schedule": (
        ["run", MLP, "--config.train.schedule.name=poly"],
        "train.schedule.name: unknown schedule",
    ),
    "misspelt option": (
        ["run", MLP, "--confg.seed=1"],
        "arguments: unrecognized argument '--confg.seed=1'",
    ),
    "negative seed": (["run", MLP, "--config.seed=-1"], "seed: must be >= 0"),
    "momentum out of range": (
        ["run", MLP, "--config.train.optimizer.name=sgd", "--config.train.optimizer.momentum=1.5"],
        "train.optimizer.momentum: must be in [0, 1)",
    ),
    "empty dataset": (["run", MLP, "--config.data.num_samples=0"], "data.num_samples"),
    "unknown kind": (["run", MLP, "--config.kind=sweep"], "kind: unknown"),
    "IMP fraction above 1": (
        ["run", IMP, *FAST, "--config.imp.fraction=1.5"],
        "imp.fraction: must be in (0, 1), got 1.5",
    ),
    "IMP fraction 0": (
        ["run", IMP, *FAST, "--config.imp.fraction=0.0"],
        "imp.fraction: must be in (0, 1), got 0.0",
    ),
    "IMP zero levels": (
        ["run", IMP, *FAST, "--config.imp.levels=0"],
        "imp.levels: must be a positive integer",
    ),
    "IMP unknown scope": (
        ["run", IMP, *FAST, "--config.imp.scope=per_layer"],
        "imp.scope: unknown scope 'per_layer'; allowed:",
    ),
    "IMP unknown control": (
        ["run", IMP, *FAST, "--config.imp.controls=('reinit','shufle')"],
        "imp.controls: unknown control 'shufle'; allowed:",
    ),
    "IMP control twice": (
        ["run", IMP, *FAST, "--config.imp.controls=('reinit','reinit')"],
        "imp.controls: lists a control twice",
    ),
    "IMP rewind past the end": (
        ["run", IMP, *FAST, "--config.imp.rewind=5ep"],
        "imp.rewind: rewind step",
    ),
    "IMP malformed rewind": (
        ["run", IMP, *FAST, "--config.imp.rewind=soon"],
        "imp.rewind: must be one of",
    ),
    "IMP unknown criterion": (
        ["run", IMP, *FAST, "--config.imp.criterion=largest"],
        "imp.criterion: unknown criterion 'largest'",
    ),
    "IMP unknown structure": (
        ["run", IMP, *FAST, "--config.imp.structure=rows"],
        "imp.structure: ",
    ),
    "IMP rate for an unknown layer": (
        ["run", IMP, *FAST, "--config.imp.rates.fc9=0.5"],
        "imp.rates",
    ),
    "PaI density above 1": (
        ["run", PAI, *FAST, "--config.pai.densities=(1.5,)"],
        "pai.densities: every density must be in (0, 1], got 1.5",
    ),
    "PaI density 0": (
        ["run", PAI, *FAST, "--config.pai.densities=(0.0,)"],
        "pai.densities: every density must be in (0, 1], got 0.0",
    ),
    "PaI unknown method": (
        ["run", PAI, *FAST, "--config.pai.methods=('snip','snap')"],
        "pai.method: unknown method 'snap'; allowed:",
    ),
    "PaI unknown ablation": (
        ["run", PAI, *FAST, "--config.pai.ablations=('flip',)"],
        "pai.ablations: unknown ablation 'flip'; allowed:",
    ),
    "channel tickets scored by BatchNorm on a model without it": (
        ["run", IMP, *FAST, "--config.imp.structure=channels", "--config.imp.group_score=bn_gamma"],
        "imp.group_score: 'bn_gamma' needs BatchNorm; group 'fc1' has none",
    ),
    "a control that channel tickets do not have": (
        [
            "run",
            IMP,
            *FAST,
            "--config.imp.structure=channels",
            "--config.imp.controls=('shuffle',)",
        ],
        "imp.controls: unknown control 'shuffle' with imp.structure 'channels'; allowed:",
    ),
    "a learning rate that makes the loss NaN": (
        [
            "run",
            MLP,
            *FAST,
            "--config.replicates=1",
            "--config.train.optimizer.name=sgd",
            "--config.train.optimizer.learning_rate=1e30",
        ],
        "train.optimizer.learning_rate: the training loss became NaN or infinite in epoch 1",
    ),
    "report of a folder that is no run": (
        ["report", "{tmp}"],
        "summary.json: no such file; is this a run directory?",
    ),
    "report with an extra argument": (
        ["report", "{tmp}", "--plots"],
        "arguments: unrecognized argument '--plots'",
    ),
}

# Config files: (file text, text the one line must contain).
FILES = {
    "syntax error": ("def get_config(:\n", "config: cannot load"),
    "no get_config": ("x = 1\n", "config: cannot load"),
    "returns a dict": ("def get_config():\n    return {'a': 1}\n", "must return a ConfigDict"),
    "field of a wrong type": (
        "from lottery.config import base\n\ndef get_config():\n    cfg = base()\n"
        "    cfg.train.batch_size = 'many'\n    return cfg\n",
        "TypeError: Could not override field 'batch_size'",
    ),
    "field out of range": (
        "from lottery.config import base\n\ndef get_config():\n    cfg = base()\n"
        "    cfg.train.batch_size = 0\n    return cfg\n",
        "train.batch_size: must be a positive integer",
    ),
}


def _params():
    return {"fc": {"kernel": jnp.ones((4, 3)), "bias": jnp.ones(3)}}


def _mask(**leaves):
    base = {"kernel": jnp.ones((4, 3), bool), "bias": jnp.ones(3, bool)}
    return {"fc": {**base, **leaves}}


def _dataset():
    x = np.zeros((8, 5), np.float32)
    y = np.arange(8) % 2
    return data.from_arrays(x, y, x, y)


def _fit_with(mask):
    cfg = tiny_mlp("bad_fit", "train")
    trainer, dataset = config_to_trainer(cfg)
    state = train.init_state(trainer, jax.random.key(0))
    return train.fit(trainer, state, mask(state.params), dataset, jax.random.key(1), progress=False)


def config_to_trainer(cfg):
    from lottery import experiment

    return experiment.build(cfg)


def _saved_then_restored(tmp: Path, template):
    checkpoint.save_tree(tmp / "tree", {"w": jnp.ones(3)})
    checkpoint.restore_tree(tmp / "tree", template)


def _locked_twice(tmp: Path):
    with runs.lock(tmp), runs.lock(tmp):
        pass


def _other_config(tmp: Path):
    cfg = tiny_mlp("twice", "imp")
    run = runs.open_run(tmp / "runs", cfg)
    runs.write_json(run / "config.json", {**cfg.to_dict(), "seed": 7})
    runs.open_run(tmp / "runs", cfg)


# The library: (call on a temporary folder, text the one-line LotteryError must contain).
API = {
    "mask missing a leaf": (
        lambda t: masks.validate({"fc": {"kernel": jnp.ones((4, 3), bool)}}, _params()),
        "mask/fc/bias: missing",
    ),
    "mask with an extra leaf": (
        lambda t: masks.validate(_mask(scale=jnp.ones(3, bool)), _params()),
        "mask/fc/scale: unexpected",
    ),
    "mask of another shape": (
        lambda t: masks.validate(_mask(kernel=jnp.ones((3, 4), bool)), _params()),
        "mask/fc/kernel: shape (3, 4) differs from the param's (4, 3)",
    ),
    "mask not boolean": (
        lambda t: masks.validate(_mask(bias=jnp.ones(3)), _params()),
        "mask/fc/bias: dtype float32; masks are boolean",
    ),
    "fit with a mismatched mask": (
        lambda t: _fit_with(lambda p: jax.tree.map(lambda a: jnp.ones(a.shape[:1], bool), p)),
        "mask/",
    ),
    "prune density above 1": (lambda t: Target.density(1.5), "prune.density: must be in"),
    "prune density 0": (lambda t: Target.density(0.0), "prune.density: must be in"),
    "prune fraction negative": (lambda t: Target.remove(-0.2), "prune.fraction: must be in"),
    "unknown scorer": (lambda t: scores.get("snap"), "pai.method: unknown method 'snap'"),
    "scorer option it lacks": (lambda t: scores.get("snip", temperature=2.0), "pai.temperature"),
    "empty arrays": (
        lambda t: data.from_arrays(
            np.zeros((0, 5)), np.zeros(0, int), np.zeros((2, 5)), np.zeros(2, int)
        ),
        "x_train: is empty",
    ),
    "labels and examples disagree": (
        lambda t: data.from_arrays(
            np.zeros((4, 5)), np.zeros(3, int), np.zeros((2, 5)), np.zeros(2, int)
        ),
        "y_train: has 3 labels but x_train has 4 examples",
    ),
    "features with NaN": (
        lambda t: data.from_arrays(
            np.full((4, 5), np.nan), np.zeros(4, int), np.zeros((2, 5)), np.zeros(2, int)
        ),
        "x_train: contains NaN or inf",
    ),
    "unknown dataset": (
        lambda t: data.load("imagenet22k"),
        "data.name: unknown dataset 'imagenet22k'",
    ),
    "checkpoint of another shape": (
        lambda t: _saved_then_restored(t, {"w": jax.ShapeDtypeStruct((4,), jnp.float32)}),
        "leaf ['w'] is float32[3] on disk but float32[4] in the template",
    ),
    "checkpoint that is not there": (
        lambda t: checkpoint.restore_tree(t / "none", {"w": jnp.ones(3)}),
        "no such checkpoint directory",
    ),
    "override of an unknown block": (
        lambda t: config.override(config.base(), "train.optimzer.name", "sgd"),
        "train.optimzer: unknown config block",
    ),
    "run folder locked": (_locked_twice, "is locked by pid"),
    "config.json of another config": (_other_config, "config.json: holds a different config"),
    "IMP plan with a rewind past the end": (
        lambda t: imp.plan(
            _with(tiny_mlp("p", "imp"), "imp.rewind", "'9ep'"),
            config_to_trainer(_with(tiny_mlp("p", "imp"), "train.duration", "'2ep'"))[0],
        ),
        "imp.rewind: rewind step",
    ),
    "PaI sweep with no method": (
        lambda t: pai.sweep_plan(
            _with(tiny_mlp("p", "pai"), "pai.methods", "()"),
            config_to_trainer(tiny_mlp("p", "pai"))[0],
        ),
        "pai.methods: lists no method",
    ),
}


def _with(cfg, key, text):
    config.override(cfg, key, text)
    return cfg


def _only_line(err: str) -> str:
    lines = err.strip().splitlines()
    assert len(lines) == 1, lines
    return lines[0]


@pytest.mark.parametrize("name", list(CLI))
def test_command_line(tmp_path, capsys, name):
    argv, message = CLI[name]
    argv = [a.replace("{tmp}", str(tmp_path / "empty")) for a in argv]
    (tmp_path / "empty").mkdir()
    workdir = tmp_path / "runs"
    extra = ["--workdir", str(workdir), "--no-progress"] if argv[0] == "run" else []
    status = cli.main([*argv, *extra])
    line = _only_line(capsys.readouterr().err)
    assert status != 0
    assert line.startswith("lottery: error: ") and message in line, line
    assert not workdir.exists() or not any(workdir.iterdir()), "left files behind"
    assert not any((tmp_path / "empty").iterdir())


@pytest.mark.parametrize("name", list(FILES))
def test_config_file(tmp_path, capsys, name):
    text, message = FILES[name]
    path = tmp_path / "bad_config.py"
    path.write_text(text)
    workdir = tmp_path / "runs"
    status = cli.main(["run", str(path), "--workdir", str(workdir), "--no-progress"])
    line = _only_line(capsys.readouterr().err)
    assert status != 0 and message in line, line
    assert not workdir.exists()


@pytest.mark.parametrize("name", list(API))
def test_library(tmp_path, name):
    call, message = API[name]
    with pytest.raises(LotteryError) as info:
        call(tmp_path)
    line = _only_line(str(info.value))
    assert message in line, line
    leftovers = [*tmp_path.rglob("*partial*"), *tmp_path.rglob(".*tmp*")]
    assert leftovers == []


def test_the_table_has_at_least_thirty_inputs():
    assert len(CLI) + len(FILES) + len(API) >= 30
