"""Extension points (docs/extending.md): IMP criteria, controls, scorers and kinds
registered from outside the package, through the worked example
experiments/zhou_criteria/zhou.py (Zhou et al. 2019)."""

from __future__ import annotations

import dataclasses
import importlib.util
import json
import re
from pathlib import Path

import jax
import jax.numpy as jnp
import numpy as np
import pytest
from tiny_configs import tiny_mlp, with_fields

from lottery import (
    checkpoint,
    cli,
    controls,
    criteria,
    experiment,
    imp,
    imp_files,
    kinds,
    models,
    pai,
)
from lottery import scores as scores_lib
from lottery.errors import LotteryError
from lottery.prune import Target, prune

ZHOU = Path(__file__).resolve().parent.parent / "experiments" / "zhou_criteria" / "zhou.py"


def _cleanup(registry: dict, before: dict) -> None:
    for name in set(registry) - set(before):
        del registry[name]


@pytest.fixture(scope="module")
def zhou():
    """The example module, imported from its path; its registrations are removed
    afterwards so that the rest of the suite sees the library's registries only."""
    before = dict(criteria.CRITERIA), dict(controls.CONTROLS)
    spec = importlib.util.spec_from_file_location("zhou_example", ZHOU)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    spec.loader.exec_module(module)  # a second import registers nothing twice
    yield module
    _cleanup(criteria.CRITERIA, before[0])
    _cleanup(controls.CONTROLS, before[1])


def tiny(**fields):
    """Two IMP levels (one pruning), one replicate, two epochs."""
    cfg = tiny_mlp("tiny_extending", "imp")
    cfg.replicates = 1
    cfg.train.duration = "2ep"
    cfg.train.eval_every = 2
    cfg.imp.levels = 2
    cfg.imp.rates.out = 0.5
    cfg.imp.controls = ("reset_to_sign",)
    return with_fields(cfg, fields)


def _load(run: Path, level: int, branch: str, item: str, template):
    folder = imp.branch_dir(imp.level_dir(run, 0, level), branch)
    return checkpoint.restore_tree(folder / item, template)


# the criteria by hand, in numpy: final and initial weights of one leaf
BY_HAND = {
    "large_final": lambda f, i: np.abs(f),
    "magnitude_increase": lambda f, i: np.abs(f) - np.abs(i),
    "movement": lambda f, i: np.abs(f - i),
}


@pytest.fixture(scope="module")
def runs(zhou, tmp_path_factory):
    workdir = tmp_path_factory.mktemp("zhou")
    out = {}
    for name in zhou.CRITERIA:
        cfg = tiny(imp__criterion=name)
        out[name] = (cfg, Path(imp.run_imp(cfg, workdir, progress=False)["run_dir"]))
    return out


@pytest.mark.parametrize("name", list(BY_HAND))
def test_criterion_mask_matches_one_computed_by_hand(runs, name):
    cfg, run = runs[name]
    trainer, _ = experiment.build(cfg)
    p = imp.plan(cfg, trainer)
    assert p.criterion == name
    t = imp_files.templates(trainer)
    final = _load(run, 0, "ticket", "final", t.weights)["params"]
    rewind = _load(run, 0, "ticket", "rewind", t.weights)["params"]
    scores = jax.tree.map(
        lambda f, i: jnp.asarray(BY_HAND[name](np.asarray(f), np.asarray(i))), final, rewind
    )
    ones = jax.tree.map(lambda w: jnp.ones(w.shape, bool), final)
    want = prune(scores, ones, Target.remove(p.fraction), p.scope, p.rates, p.prunable)
    got = _load(run, 1, "ticket", "mask", t.mask)
    assert jax.tree.all(jax.tree.map(np.array_equal, got, want))


def test_criteria_choose_different_tickets(runs):
    masks = []
    for cfg, run in runs.values():
        trainer, _ = experiment.build(cfg)
        masks.append(_load(run, 1, "ticket", "mask", imp_files.templates(trainer).mask))
    kernel = [np.asarray(m["fc1"]["kernel"]) for m in masks]
    assert not np.array_equal(kernel[0], kernel[2])  # large_final vs movement


def test_reset_to_sign_keeps_the_mask_and_only_the_signs(runs):
    cfg, run = runs["movement"]
    trainer, _ = experiment.build(cfg)
    t = imp_files.templates(trainer)
    rewind = _load(run, 0, "ticket", "rewind", t.weights)["params"]
    ticket_mask = _load(run, 1, "ticket", "mask", t.mask)
    assert jax.tree.all(
        jax.tree.map(np.array_equal, _load(run, 1, "reset_to_sign", "mask", t.mask), ticket_mask)
    )
    start = _load(run, 1, "reset_to_sign", "init", t.weights)["params"]
    for layer in ("fc1", "fc2", "out"):
        w, w0 = np.asarray(start[layer]["kernel"]), np.asarray(rewind[layer]["kernel"])
        kept = np.asarray(ticket_mask[layer]["kernel"])
        alpha = np.float32(np.std(w0))
        magnitudes = np.unique(np.abs(w))  # exactly two: 0 (pruned) and alpha (kept)
        assert magnitudes.shape == (2,) and magnitudes[0] == 0.0
        assert magnitudes[1] == pytest.approx(alpha, rel=1e-5)
        assert np.array_equal(w[kept] > 0, w0[kept] > 0)  # the initial signs, kept weights only
        assert not np.any(w[~kept])
        # biases are not prunable: the ticket's own starting values
        assert np.array_equal(start[layer]["bias"], rewind[layer]["bias"])


def test_unknown_or_structured_criterion_is_one_line_error(zhou):
    cfg = tiny(imp__criterion="nope")
    trainer, _ = experiment.build(cfg)
    with pytest.raises(LotteryError) as err:
        imp.plan(cfg, trainer)
    assert str(err.value).startswith("imp.criterion: unknown criterion 'nope'; allowed: ")
    assert "magnitude" in str(err.value) and "movement" in str(err.value)
    cfg = tiny(imp__criterion="movement", imp__structure="channels", imp__controls=())
    with pytest.raises(LotteryError, match="imp.criterion: criterion 'movement' needs"):
        imp.plan(cfg, trainer)


def test_registries_reject_taken_names(zhou):
    with pytest.raises(LotteryError, match="imp.criterion: criterion 'magnitude' is already"):
        criteria.register_criterion("magnitude")(zhou.large_final)
    with pytest.raises(LotteryError, match="imp.controls: control 'reinit' is already"):
        controls.register_control("reinit", zhou.reset_to_sign)
    with pytest.raises(LotteryError, match="kind: kind 'imp' is already registered"):
        kinds.register_kind("imp", kinds.KINDS["train"])
    assert list(controls.CONTROLS)[:4] == ["reinit", "random_prune", "shuffle", "invert"]


@dataclasses.dataclass(frozen=True)
class _Ones(scores_lib.Magnitude):
    """A made-up scorer (every weight scores 1) registered from outside."""

    def __call__(self, model, params, model_state, mask, x, y, key):
        return jax.tree.map(lambda p: jnp.ones(p.shape, jnp.float32), params)


def test_a_scorer_added_to_the_registry_is_a_pai_method():
    scores_lib.SCORERS["ones"] = _Ones
    try:
        cfg = tiny_mlp("tiny_scorer", "pai")
        cfg.pai.methods = ("ones", "snip")
        trainer, _ = experiment.build(cfg)
        sweep = pai.sweep_plan(cfg, trainer)
        assert isinstance(sweep.methods["ones"][0], _Ones)
        assert "ones" in pai.method_names()
    finally:
        del scores_lib.SCORERS["ones"]
    with pytest.raises(LotteryError, match="pai.method: unknown method 'ones'"):
        pai.sweep_plan(cfg, trainer)


def test_a_registered_kind_runs_from_the_command_line(tmp_path, capsys):
    seen = {}

    def echo(cfg, workdir, progress):
        seen["seed"], seen["progress"] = cfg.seed, progress
        return {"kind": "echo", "run_dir": str(Path(workdir) / cfg.name)}

    config_file = tmp_path / "echo.py"
    config_file.write_text(
        "from lottery.config import base\n\n\n"
        "def get_config():\n"
        "    cfg = base()\n"
        "    cfg.name = 'echoed'\n"
        "    cfg.kind = 'echo'\n"
        "    return cfg\n"
    )
    args = ["run", str(config_file), "--workdir", str(tmp_path), "--no-progress", "--json"]
    assert cli.main(args) == 2  # not registered yet
    assert "kind: unknown kind 'echo'; allowed: train, imp, pai, structured" in (
        capsys.readouterr().err
    )
    kinds.register_kind("echo", echo)
    try:
        assert cli.main([*args, "--config.seed=7"]) == 0
    finally:
        del kinds.KINDS["echo"]
    out = capsys.readouterr().out.splitlines()
    assert out[0] == f"run: {tmp_path / 'echoed'}"
    assert json.loads(out[-1]) == {"kind": "echo", "run_dir": str(tmp_path / "echoed")}
    assert seen == {"seed": 7, "progress": False}


def test_the_examples_in_docs_extending_register_and_work():
    """Every Python block of docs/extending.md (but the config file) runs as written."""
    text = (Path(__file__).resolve().parent.parent / "docs" / "extending.md").read_text()
    blocks = re.findall(r"```python\n(.*?)```", text, flags=re.S)
    registries = [
        scores_lib.SCORERS,
        criteria.CRITERIA,
        controls.CONTROLS,
        kinds.KINDS,
        models._REGISTRY,
    ]
    before = [dict(r) for r in registries]
    try:
        for block in blocks[1:]:  # the first is a config file importing a fork's module
            code = compile(block, "docs/extending.md", "exec", dont_inherit=True)
            exec(code, {"__name__": "extending_example"})
        assert "grad_magnitude" in scores_lib.SCORERS and "imp_instability" in kinds.KINDS
        model = models.get("bottleneck_mlp", num_classes=10, input_shape=(40,), width=64)
        params, state = model.init(jax.random.key(0))
        assert params["fc2"]["kernel"].shape == (64, 16)
        x = jax.random.normal(jax.random.key(1), (1, 8, 40))
        y = jnp.arange(8)[None] % 10
        mask = jax.tree.map(lambda p: jnp.ones(p.shape, bool), params)
        got = scores_lib.get("grad_magnitude")(model, params, state, mask, x, y, None)
        assert jax.tree.structure(got) == jax.tree.structure(params)
        large_init = criteria.get("large_init")(params, params)
        assert np.array_equal(large_init["fc1"]["kernel"], np.abs(params["fc1"]["kernel"]))
        prunable = jax.tree.map(lambda p: p.ndim == 2, params)
        start = {"params": params, "model_state": state}
        ctx = controls.Context(mask, mask, params, start, jax.random.key(2))
        _, flipped = controls.CONTROLS["flip_sign"](ctx, model, prunable)
        assert np.array_equal(flipped["params"]["fc1"]["kernel"], -params["fc1"]["kernel"])
        assert np.array_equal(flipped["params"]["fc1"]["bias"], params["fc1"]["bias"])
    finally:
        for registry, saved in zip(registries, before, strict=True):
            _cleanup(registry, saved)
