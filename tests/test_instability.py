"""Linear mode connectivity: the error barrier of known paths, BatchNorm
statistics recomputed along the path, and the instability analysis of an IMP run
(library and command line)."""

from __future__ import annotations

import json
from pathlib import Path

import flax.linen as nn
import jax
import jax.numpy as jnp
import numpy as np
import pytest
from tiny_configs import tiny_mlp

from lottery import cli, connectivity, imp, instability, masks, models
from lottery.errors import LotteryError


def _teacher_data(key, n=400, dim=8, classes=4):
    kx, kt = jax.random.split(key)
    x = jax.random.normal(kx, (n, dim))
    teacher = jax.random.normal(kt, (classes, dim))
    return x, jnp.argmax(x @ teacher.T, -1), teacher


def _mirrored(teacher, sign):
    """An MLP with one hidden layer of 2 * classes ReLU units computing the linear
    classifier ``teacher`` exactly: hidden ``sign * [T; -T]``, output ``sign * [I, -I]``,
    so ``relu(Tx) - relu(-Tx) = Tx`` for either sign, while the midpoint of the two
    signs is the zero network."""
    classes, _ = teacher.shape
    eye = jnp.eye(classes)
    params = {
        "fc1": {"kernel": sign * jnp.concatenate([teacher, -teacher]).T, "bias": jnp.zeros(8)},
        "out": {"kernel": sign * jnp.concatenate([eye, -eye]), "bias": jnp.zeros(classes)},
    }
    return {"params": params, "model_state": {}}


def test_identical_networks_have_zero_barrier():
    model = models.get("mlp", num_classes=4, input_shape=(8,), widths=(8,))
    x, y, _ = _teacher_data(jax.random.key(0))
    params, state = model.init(jax.random.key(1))
    w = {"params": params, "model_state": state}
    errors = connectivity.path_errors(model, w, w, masks.ones(params), x, y, points=30)
    assert errors.shape == (30,)
    assert float(connectivity.barrier(errors)) == 0.0
    assert float(errors[0]) > 0.3  # an untrained network: the zero is not from perfect ends


def test_a_bad_midpoint_gives_a_large_barrier():
    model = models.get("mlp", num_classes=4, input_shape=(8,), widths=(8,))
    x, y, teacher = _teacher_data(jax.random.key(0))
    a, b = _mirrored(teacher, 1.0), _mirrored(teacher, -1.0)
    errors = connectivity.path_errors(model, a, b, masks.ones(a["params"]), x, y, points=31)
    assert max(float(errors[0]), float(errors[-1])) < 1e-6  # both ends are the teacher
    zero_net_error = 1.0 - float(jnp.mean(y == 0))  # all-zero logits predict class 0
    assert float(errors[15]) == pytest.approx(zero_net_error)
    assert float(connectivity.barrier(errors)) == pytest.approx(zero_net_error)
    assert float(connectivity.barrier(errors)) > 0.5


def test_barrier_definition():
    errors = jnp.array([[0.1, 0.5, 0.3], [0.2, 0.2, 0.2]])
    np.testing.assert_allclose(connectivity.barrier(errors), [0.5 - 0.2, 0.0], atol=1e-7)


class _BN(nn.Module):
    @nn.compact
    def __call__(self, x, train: bool):
        h = nn.Dense(6, name="fc")(x)
        h = nn.BatchNorm(use_running_average=not train, momentum=0.7, name="bn")(h)
        return nn.Dense(3, name="out")(nn.relu(h))


def test_bn_stats_are_the_mean_batch_statistics_whatever_the_momentum():
    model = models.from_flax(_BN(), (5,), 3, "out")
    params, state = model.init(jax.random.key(0))
    batches = jax.random.normal(jax.random.key(1), (4, 16, 5)) * 3.0 + 1.0
    stats = connectivity.bn_stats(model, params, state, batches)["batch_stats"]["bn"]
    h = batches @ params["fc"]["kernel"] + params["fc"]["bias"]
    np.testing.assert_allclose(stats["mean"], h.mean(1).mean(0), rtol=1e-5, atol=1e-5)
    np.testing.assert_allclose(stats["var"], h.var(1).mean(0), rtol=1e-4, atol=1e-5)


def test_identical_bn_networks_have_zero_barrier_with_recomputed_stats():
    model = models.from_flax(_BN(), (5,), 3, "out")
    params, state = model.init(jax.random.key(0))
    x = jax.random.normal(jax.random.key(2), (64, 5))
    y = jax.random.randint(jax.random.key(3), (64,), 0, 3)
    w = {"params": params, "model_state": state}
    errors = connectivity.path_errors(
        model, w, w, masks.ones(params), x, y, points=5, bn_batches=x.reshape(4, 16, 5)
    )
    assert float(connectivity.barrier(errors)) == 0.0


@pytest.fixture(scope="module")
def imp_run(tmp_path_factory):
    cfg = tiny_mlp("tiny_instability", "imp")
    cfg.train.duration = "4ep"
    cfg.train.eval_every = 2
    cfg.imp.levels = 2
    cfg.imp.controls = ()
    cfg.imp.rewind = "1ep"
    cfg.imp.checkpoint_every = "1ep"
    summary = imp.run_imp(cfg, tmp_path_factory.mktemp("inst"), progress=False)
    return Path(summary["run_dir"])


def test_analyze_writes_barriers_per_replicate(imp_run):
    result = instability.analyze(imp_run, 1, points=7, progress=False)
    out = instability.folder(imp_run, 1)
    assert result["level"] == 1 and result["points"] == 7 and result["start_step"] == 16
    assert np.shape(result["test_error"]) == (2, 7)
    barriers = result["test_barrier"]["per_replicate"]
    for errs, bar in zip(result["test_error"], barriers, strict=True):
        assert bar == pytest.approx(max(errs) - 0.5 * (errs[0] + errs[-1]))
        assert bar >= 0.0
    # the copies differ (different data orders) and both trained
    a, b = result["copy_test_accuracy"]
    assert a != b and min(a + b) > 0.2
    assert (out / "instability.png").is_file() and (out / "table.txt").is_file()
    assert not (out / "resume").exists()
    on_disk = json.loads((out / instability.RESULT).read_text())
    assert on_disk["test_barrier"] == result["test_barrier"]
    # a rerun reads the finished result back
    assert (
        instability.analyze(imp_run, 1, points=7, progress=False)["test_error"]
        == (result["test_error"])
    )


def test_cli_instability_and_its_bad_input(imp_run, capsys):
    assert cli.main(["instability", str(imp_run), "--level", "0", "--points", "5", "--json"]) == 0
    out = capsys.readouterr().out
    result = json.loads(out.strip().splitlines()[-1])
    assert result["level"] == 0 and result["start_step"] == 16  # the dense rewind point
    assert "test barrier" in out
    assert cli.main(["instability", str(imp_run), "--level", "7"]) == 2
    assert "level: must be an integer in [0, 1], got 7" in capsys.readouterr().err
    assert cli.main(["instability", str(imp_run), "--level", "1", "--points", "1"]) == 2
    assert "points: must be an integer >= 2" in capsys.readouterr().err


def test_analyze_refuses_a_non_imp_directory(tmp_path):
    with pytest.raises(LotteryError, match="not a run directory"):
        instability.analyze(tmp_path, 0)
