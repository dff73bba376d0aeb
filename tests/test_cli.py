"""The command line: a tiny real run, and malformed invocations that fail cleanly."""

import json
import os
import subprocess
import sys

import pytest

from lottery import cli

MLP = "configs/mnist1d_mlp.py"
FAST = ["--config.train.duration=2ep", "--no-progress"]

# (arguments, text the one-line message must contain: the field and what is allowed)
MALFORMED = [
    ([MLP, "--config.model.name=resnet99"], "model.name: unknown model 'resnet99'; allowed:"),
    ([MLP, "--config.data.name=imagenet22k"], "data.name: unknown dataset 'imagenet22k'"),
    ([MLP, "--config.train.optimizer.name=rmsprop"], "train.optimizer.name: unknown optimizer"),
    ([MLP, "--config.train.lr=0.1"], "train.lr: unknown config field; allowed here:"),
    ([MLP, "--config.train.batch_size=big"], "train.batch_size: expected a int, got 'big'"),
    ([MLP, "--config.train.optimizer.learning_rate=-0.1"], "learning_rate: must be a positive"),
    (["configs/does_not_exist.py"], "config: cannot read config file"),
    ([MLP, "--config.train.duration=10epochs"], "train.duration: must look like '500it' or"),
    ([MLP, "--config.train.batch_size=100000"], "train.batch_size: must be in [1, 4000]"),
    ([MLP, "--config.replicates=0"], "replicates: must be a positive integer"),
    ([MLP, "--config.model.depth=3"], "model.depth: unknown config field"),
    ([MLP, "--config.train.schedule.name=poly"], "train.schedule.name: unknown schedule"),
    ([MLP, "--confg.seed=1"], "arguments: unrecognized argument '--confg.seed=1'"),
    (
        [MLP, "--config.train.optimizer.name=sgd", "--config.train.optimizer.learning_rate=1e30"],
        "train.optimizer.learning_rate: the training loss became NaN",
    ),
]


@pytest.mark.parametrize("args,message", MALFORMED, ids=[m for _, m in MALFORMED])
def test_malformed_invocation(tmp_path, capsys, args, message):
    workdir = tmp_path / "runs"
    status = cli.main(["run", args[0], *FAST, *args[1:], "--workdir", str(workdir)])
    err = capsys.readouterr().err.strip().splitlines()
    assert status != 0
    assert len(err) == 1, err
    assert err[0].startswith("lottery: error: ")
    assert message in err[0]
    assert not workdir.exists() or not any(workdir.iterdir()), "left files behind"


def test_broken_config_file(tmp_path, capsys):
    bad = tmp_path / "bad.py"
    bad.write_text("from lottery.config import base\ndef get_config():\n    return base(\n")
    status = cli.main(["run", str(bad), "--workdir", str(tmp_path / "runs")])
    err = capsys.readouterr().err.strip().splitlines()
    assert status == 2 and len(err) == 1 and "config: cannot load" in err[0]
    assert not (tmp_path / "runs").exists()


def test_run_writes_config_metrics_summary(tmp_path, capsys):
    workdir = tmp_path / "runs"
    args = ["run", MLP, *FAST, "--config.replicates=2", "--workdir", str(workdir), "--json"]
    assert cli.main(args) == 0
    out = capsys.readouterr().out.strip().splitlines()
    summary = json.loads(out[-1])
    run_dir = workdir / os.path.basename(summary["run_dir"])
    assert sorted(os.listdir(workdir)) == [run_dir.name]
    assert sorted(os.listdir(run_dir)) == ["config.json", "metrics.jsonl", "summary.json"]
    assert json.loads((run_dir / "summary.json").read_text()) == summary
    assert summary["kind"] == "train" and summary["replicates"] == 2
    assert len(summary["test_accuracy_per_replicate"]) == 2
    assert 0.1 < summary["test_accuracy"] <= 1.0 and summary["wall_seconds"] > 0
    config = json.loads((run_dir / "config.json").read_text())
    assert config["train"]["duration"] == "2ep" and config["replicates"] == 2
    lines = (run_dir / "metrics.jsonl").read_text().splitlines()
    assert json.loads(lines[-1])["epoch"] == 2
    # a finished run is not run again
    assert cli.main(args) == 0
    assert json.loads(capsys.readouterr().out.strip().splitlines()[-1]) == summary


def test_console_script_bad_input_exits_nonzero(tmp_path):
    proc = subprocess.run(
        [
            sys.executable,
            "-m",
            "lottery",
            "run",
            MLP,
            "--config.train.optimizer.name=rmsprop",
            "--workdir",
            str(tmp_path / "runs"),
        ],
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert proc.returncode == 2
    lines = proc.stderr.strip().splitlines()
    assert lines == [
        "lottery: error: train.optimizer.name: unknown optimizer 'rmsprop'; "
        "allowed: adam, adamw, sgd"
    ]
    assert not (tmp_path / "runs").exists()
