"""Data parallelism and replicates over devices: a training on a simulated
8-device CPU mesh agrees with the 1-device run to float tolerance."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from lottery import mesh

ROOT = Path(__file__).resolve().parent.parent


@pytest.fixture(scope="module")
def eight_devices():
    env = dict(os.environ, XLA_FLAGS="--xla_force_host_platform_device_count=8")
    worker = Path(__file__).with_name("mesh_worker.py")
    done = subprocess.run(
        [sys.executable, str(worker), "mlp", "cnn"],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=600,
    )
    assert done.returncode == 0, done.stderr[-3000:]
    return json.loads(done.stdout.strip().splitlines()[-1])


@pytest.mark.parametrize("model", ["mlp", "cnn"])
@pytest.mark.parametrize("axis", ["data", "replicates"])
def test_eight_device_mesh_agrees_with_one_device(eight_devices, model, axis):
    assert eight_devices["device_count"] == 8
    got = eight_devices[f"{model}/{axis}"]
    assert got["state_devices"] == 8  # the state really lives on the 8-device mesh
    assert got["replicates"] == 6  # the padding to 8 was dropped again
    # 20 steps: the partitioned sums differ from one device's only by rounding
    assert got["max_abs_diff"] <= 1e-5 * max(1.0, got["param_scale"])
    np.testing.assert_allclose(got["loss_8"], got["loss_1"], rtol=1e-5)


def test_multi_host_environment_is_detected_from_the_usual_variables():
    assert not mesh.multi_host_environment({})
    assert mesh.multi_host_environment({"JAX_COORDINATOR_ADDRESS": "10.0.0.1:1234"})
    assert mesh.multi_host_environment({"SLURM_JOB_ID": "7", "SLURM_NTASKS": "4"})
    assert not mesh.multi_host_environment({"SLURM_JOB_ID": "7", "SLURM_NTASKS": "1"})
    assert mesh.multi_host_environment({"OMPI_MCA_orte_hnp_uri": "1234.0;tcp://10.0.0.1:5"})
    assert not mesh.initialize_distributed({})  # one process: nothing to start
    assert not mesh.initialize_distributed(
        {"JAX_COORDINATOR_ADDRESS": "x", "LOTTERY_DISTRIBUTED": "0"}
    )


def test_one_device_means_no_mesh_and_data_layout_needs_an_even_batch(eight_devices):
    assert mesh.layout({"devices": 1, "mesh": "data"}) is None
    assert eight_devices["uneven_batch_error"] == (
        "parallel.devices: 8 devices do not split train.batch_size 100 evenly"
    )
