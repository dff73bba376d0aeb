"""Mask analysis: Jaccard matrices, effective density on hand-built masks, sign
flips, and the mask report of an IMP run (library and command line)."""

from __future__ import annotations

import json
from pathlib import Path

import jax
import jax.numpy as jnp
import numpy as np
import pytest
from tiny_configs import tiny_mlp

from lottery import cli, imp, mask_analysis, mask_report, masks, models, select


def _mlp():
    model = models.get("mlp", num_classes=3, input_shape=(4,), widths=(5, 6))
    params, state = model.init(jax.random.key(0))
    return model, params, state, select.prunable(params)


def test_dense_mask_is_fully_effective():
    model, params, state, prunable = _mlp()
    assert mask_analysis.effective_density(model, masks.ones(params), prunable, state) == 1.0


def test_dead_units_make_their_other_side_ineffective():
    model, params, state, prunable = _mlp()
    mask = masks.ones(params)
    fc1 = np.ones((4, 5), bool)
    fc1[:, 2] = False  # hidden unit 2 of fc1 receives nothing ...
    fc2 = np.ones((5, 6), bool)
    fc2[:, 4] = True
    out = np.ones((6, 3), bool)
    out[4, :] = False  # ... and unit 4 of fc2 feeds nothing
    mask["fc1"]["kernel"], mask["fc2"]["kernel"], mask["out"]["kernel"] = (
        jnp.asarray(a) for a in (fc1, fc2, out)
    )
    eff = mask_analysis.effective_mask(model, mask, prunable, state)
    expect_fc2 = fc2.copy()
    expect_fc2[2, :] = False  # reads the dead unit 2
    expect_fc2[:, 4] = False  # writes to the useless unit 4
    expect_fc1 = fc1.copy()  # every fc1 unit but 2 reaches the output
    np.testing.assert_array_equal(eff["fc2"]["kernel"], expect_fc2)
    np.testing.assert_array_equal(eff["fc1"]["kernel"], expect_fc1)
    np.testing.assert_array_equal(eff["out"]["kernel"], out)
    kept = fc1.sum() + fc2.sum() + out.sum()
    effective = expect_fc1.sum() + expect_fc2.sum() + out.sum()
    total = fc1.size + fc2.size + out.size
    direct = float(masks.density(mask, prunable))
    assert direct == pytest.approx(kept / total)
    assert mask_analysis.effective_density(model, mask, prunable, state) == pytest.approx(
        effective / total
    )


def test_a_dead_conv_channel_disconnects_what_reads_it():
    model = models.get("cnn1d", num_classes=3, input_shape=(40,), channels=4)
    params, state = model.init(jax.random.key(0))
    prunable = select.prunable(params)
    mask = masks.ones(params)
    conv1 = np.ones((5, 1, 4), bool)
    conv1[..., 1] = False  # channel 1 of conv1 is never computed from the input
    mask["conv1"]["kernel"] = jnp.asarray(conv1)
    eff = mask_analysis.effective_mask(model, mask, prunable, state)
    conv2 = np.asarray(eff["conv2"]["kernel"])
    assert not conv2[:, 1, :].any() and conv2[:, [0, 2, 3], :].all()
    assert np.asarray(eff["out"]["kernel"]).all()


def test_sign_flips_and_jaccard_matrix():
    start = {"w": jnp.array([1.0, -1.0, 2.0, -3.0])}
    final = {"w": jnp.array([-1.0, -2.0, 2.0, 3.0])}
    keep = {"w": jnp.array([True, True, True, False])}
    assert mask_analysis.sign_flips(start, final, keep, {"w": True}) == pytest.approx(1 / 3)
    a = {"w": jnp.array([True, True, False, False])}
    b = {"w": jnp.array([True, False, True, False])}
    m = mask_analysis.jaccard_matrix([a, b, a], {"w": True})
    np.testing.assert_allclose(m, [[1, 1 / 3, 1], [1 / 3, 1, 1 / 3], [1, 1 / 3, 1]])
    assert mask_analysis.mean_pairwise(m) == pytest.approx((1 / 3 * 4 + 2) / 6)
    assert mask_report.random_overlap(0.5) == pytest.approx(1 / 3)


@pytest.fixture(scope="module")
def imp_run(tmp_path_factory):
    cfg = tiny_mlp("tiny_masks", "imp")
    cfg.train.duration = "2ep"
    cfg.imp.levels = 4
    cfg.imp.fraction = 0.5
    cfg.imp.controls = ("random_prune",)
    summary = imp.run_imp(cfg, tmp_path_factory.mktemp("masks"), progress=False)
    return Path(summary["run_dir"])


def test_mask_report_of_an_imp_run(imp_run, capsys):
    assert cli.main(["masks", str(imp_run), "--json"]) == 0
    out = capsys.readouterr().out
    result = json.loads(out.strip().splitlines()[-1])
    levels = result["levels"]
    assert [lv["level"] for lv in levels] == [0, 1, 2, 3]
    assert levels[0]["ticket"]["effective"] == 1.0 and levels[0]["replicate_jaccard"] == 1.0
    for lv in levels[1:]:
        for branch in ("ticket", "random_prune"):
            assert lv[branch]["effective"] <= lv[branch]["direct"] + 1e-9
        # the ticket keeps weights large after training: fewer flip than in a random net
        assert lv["ticket"]["sign_flips"] < lv["random_prune"]["sign_flips"] < 0.5
        assert 0.0 < lv["replicate_jaccard"] < 1.0  # different seeds, different tickets
    labels = result["jaccard"]["labels"]
    assert labels[:2] == ["L0.r0", "L0.r1"] and len(result["jaccard"]["matrix"]) == len(labels)
    for name in ("masks.json", "masks.txt", "masks_jaccard.png", "effective_density.png"):
        assert (imp_run / "report" / name).is_file()


def test_masks_refuses_a_non_run(tmp_path, capsys):
    assert cli.main(["masks", str(tmp_path)]) == 2
    assert "not a run directory" in capsys.readouterr().err
