"""Slow end-to-end checks (``pytest -m slow``): the MNIST-1D configs as shipped reach
the accuracy their docstrings promise, within the time budget, on 2 CPU cores."""

import json
import time

import pytest

from lottery import cli


@pytest.mark.slow
@pytest.mark.parametrize(
    "config,min_accuracy", [("configs/mnist1d_mlp.py", 0.60), ("configs/mnist1d_cnn.py", 0.90)]
)
def test_mnist1d_config_reaches_accuracy(tmp_path, capsys, config, min_accuracy):
    start = time.perf_counter()
    status = cli.main(["run", config, "--workdir", str(tmp_path), "--json", "--no-progress"])
    elapsed = time.perf_counter() - start
    summary = json.loads(capsys.readouterr().out.strip().splitlines()[-1])
    assert status == 0
    assert summary["test_accuracy"] >= min_accuracy
    assert elapsed < 180
