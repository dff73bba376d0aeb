"""The structured comparison run (kind "structured") and structured IMP configs."""

from __future__ import annotations

import json

import jax
import numpy as np
import pytest
from tiny_configs import tiny_mlp, with_fields

from lottery import (
    cli,
    config,
    experiment,
    imp,
    imp_files,
    imp_plan,
    masks,
    models,
    report,
    runs,
    structured_run,
)
from lottery.errors import LotteryError
from lottery.structured import groups as groups_lib
from lottery.structured import select as sselect


def tiny(**fields) -> config.ml_collections.ConfigDict:
    """Three variants x 3 levels of a small MLP on 1000 MNIST-1D examples."""
    cfg = tiny_mlp("tiny_structured", "structured")
    cfg.train.duration = "3ep"
    cfg.train.eval_every = 3
    cfg.imp.levels = 3
    cfg.imp.fraction = 0.3
    cfg.imp.controls = ("reinit", "random_prune")
    return with_fields(cfg, fields)


@pytest.fixture(scope="module")
def finished(tmp_path_factory):
    work = tmp_path_factory.mktemp("structured")
    cfg = tiny()
    summary = structured_run.run_structured(cfg, work, progress=False)
    return cfg, work, summary


def test_summary_compares_the_variants_per_level(finished):
    cfg, _, summary = finished
    assert summary["kind"] == "structured" and summary["complete"]
    assert summary["variants"] == ["weights", "channels", "refill"]
    dense = summary["dense"]
    assert dense["params"] == 40 * 32 + 32 + 32 * 16 + 16 + 16 * 10 + 10
    levels = summary["levels"]
    assert [lv["level"] for lv in levels] == [0, 1, 2]
    # level 0 is one dense training, copied: identical in every variant
    accs = {v: levels[0][v]["per_replicate"] for v in summary["variants"]}
    assert accs["weights"] == accs["channels"] == accs["refill"]
    for lv in levels[1:]:
        for v in summary["variants"]:
            assert abs(lv[v]["density"] - lv["target_density"]) < 0.08
            assert set(lv[v]["controls"]) == {"reinit", "random_prune"}
        # unstructured tickets do not compact; channel tickets do, exactly
        assert lv["weights"]["params_compacted"] == dense["params"]
        assert lv["weights"]["flops_masked"] < dense["flops"]
        for v in ("channels", "refill"):
            assert lv[v]["params_compacted"] < dense["params"]
            assert lv[v]["flops_compacted"] == lv[v]["flops_masked"]


def test_structured_masks_are_whole_units_and_controls_keep_unit_counts(finished):
    cfg, work, _ = finished
    run = runs.run_dir(work, cfg)
    trainer, _ = experiment.build(cfg)
    model = trainer.model
    groups = groups_lib.groups_of(model)
    template = imp_files.templates(trainer).mask
    for variant in ("channels", "refill"):
        for level in (1, 2):
            ticket = imp_files.load(run / variant, level, "ticket", "mask", template, 2)
            rand = imp_files.load(run / variant, level, "random_prune", "mask", template, 2)
            prev = imp_files.load(run / variant, level - 1, "ticket", "mask", template, 2)
            for r in range(2):
                t, c, p = (jax.tree.map(lambda a, r=r: a[r], m) for m in (ticket, rand, prev))
                alive_t, alive_c = groups_lib.alive(groups, t), groups_lib.alive(groups, c)
                again = groups_lib.expand(groups, alive_t, t)
                assert all(
                    bool((a == b).all())
                    for a, b in zip(jax.tree.leaves(again), jax.tree.leaves(t), strict=True)
                )
                for name in alive_t:
                    assert int(alive_t[name].sum()) == int(alive_c[name].sum())
                # no revival
                assert not any(
                    bool((a & ~b).any())
                    for a, b in zip(jax.tree.leaves(t), jax.tree.leaves(p), strict=True)
                )


def test_report_and_rerun(finished):
    cfg, work, summary = finished
    files = report.write(summary, report.report_dir(summary["run_dir"]))
    assert files["accuracy_plot"].stat().st_size > 10_000
    text = files["txt"].read_text()
    assert "channel IMP" in text and "IMP-Refill" in text and "unstructured IMP" in text
    rows = json.loads(files["json"].read_text())
    assert rows[1]["channels_params_compacted"] < rows[0]["channels_params_compacted"]
    again = structured_run.run_structured(cfg, work, progress=False)  # finished: no training
    assert again["levels"] == summary["levels"]


def test_structured_imp_kind_runs_channel_tickets(tmp_path):
    cfg = tiny(kind="imp", imp__structure="channels", imp__levels=2)
    summary = imp.run_imp(cfg, tmp_path, progress=False)
    trainer, _ = experiment.build(cfg)
    run = runs.run_dir(tmp_path, cfg)
    mask = imp_files.load(run, 1, "ticket", "mask", imp_files.templates(trainer).mask, 2)
    one = jax.tree.map(lambda a: a[0], mask)
    assert not np.asarray(one["fc1"]["bias"]).all()  # whole neurons, biases included
    assert summary["levels"][1]["density"] == pytest.approx(float(masks.density(one)), abs=0.02)


@pytest.mark.parametrize(
    "fields, field, text",
    [
        ({"imp__structure": "filters"}, "imp.structure", "allowed: weights, channels, refill"),
        ({"imp__group_score": "l3"}, "imp.group_score", "allowed: l1, l2, bn_gamma"),
        (
            {"imp__structure": "channels", "imp__group_score": "bn_gamma"},
            "imp.group_score",
            "needs BatchNorm",
        ),
        (
            {"imp__structure": "channels", "imp__controls": ("shuffle",)},
            "imp.controls",
            "allowed: reinit, random_prune",
        ),
    ],
)
def test_bad_structured_imp_fields(fields, field, text):
    cfg = tiny(kind="imp", **fields)
    trainer, _ = experiment.build(cfg)
    with pytest.raises(LotteryError) as err:
        imp_plan.plan(cfg, trainer)
    assert err.value.field == field and text in err.value.message


def test_bad_variants_exit_cleanly(tmp_path, capsys):
    cfg_file = tmp_path / "c.py"
    cfg_file.write_text(
        "from lottery.config import base\n"
        "def get_config():\n"
        "    cfg = base()\n"
        "    cfg.kind = 'structured'\n"
        "    cfg.structured.variants = ('weights', 'blocks')\n"
        "    return cfg\n"
    )
    work = tmp_path / "work"
    for extra in ([], ["--config.structured.variants=('channels','channels')"]):
        status = cli.main(["run", str(cfg_file), "--workdir", str(work), *extra])
        err = capsys.readouterr().err.strip().splitlines()
        assert status == 2 and len(err) == 1 and "structured.variants" in err[0]
        assert not work.exists()
    assert "unknown variant 'blocks'" in cli_error(cfg_file, work, capsys)


def cli_error(cfg_file, work, capsys) -> str:
    cli.main(["run", str(cfg_file), "--workdir", str(work)])
    return capsys.readouterr().err.strip()


def test_structured_configs_load_and_plan():
    cfg = config.load("configs/mnist1d_cnn_structured.py")
    config.validate(cfg)
    trainer, _ = experiment.build(cfg)
    for v in cfg.structured.variants:
        p = imp_plan.plan(structured_run.variant_config(cfg, v), trainer)
        assert p.structure == v and p.levels == 11
    resnet = config.load("configs/cifar10_resnet20_structured.py")
    config.validate(resnet)  # CIFAR-10 itself is not available offline
    assert resnet.kind == "structured" and resnet.imp.group_score == "bn_gamma"
    model = models.get("resnet20", num_classes=10, input_shape=(32, 32, 3))
    params, _ = model.init(jax.random.key(0))
    groups = groups_lib.groups_of(model)
    gammas = sselect.group_scores(groups, params, "bn_gamma")
    assert len(gammas) == 12
