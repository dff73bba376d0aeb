"""Storage faults: a full disk while a run writes its files. The write fails
with one line naming the file and what to do, nothing half-written remains, and
rerunning the same command finishes with exactly an uninterrupted run's results.
(Damaged and deleted checkpoints, a training state truncated mid-run and an
edited ``config.json`` are tested beside the code they exercise and carry this
suite's marker: ``tests/test_imp.py``, ``tests/test_imp_resume.py``,
``tests/test_runs.py``.)"""

from __future__ import annotations

import errno
import os
from pathlib import Path

import jax
import numpy as np
import pytest

from lottery import checkpoint, cli, config, experiment, imp, imp_files, runs

pytestmark = pytest.mark.faults


def _config_file(folder: Path) -> Path:
    path = folder / "disk.py"
    path.write_text(
        "from lottery.config import base\n\n\ndef get_config():\n"
        "    cfg = base()\n    cfg.name = 'disk'\n    cfg.kind = 'imp'\n    cfg.replicates = 2\n"
        "    cfg.model.name = 'mlp'\n    cfg.model.widths = (32, 16)\n"
        "    cfg.data.name = 'mnist1d'\n    cfg.data.num_samples = 1000\n"
        "    cfg.train.batch_size = 50\n    cfg.train.duration = '2ep'\n"
        "    cfg.imp.levels = 2\n    cfg.imp.controls = ('reinit',)\n    return cfg\n"
    )
    return path


@pytest.fixture(scope="module")
def reference(tmp_path_factory):
    folder = tmp_path_factory.mktemp("disk")
    path = _config_file(folder)
    assert cli.main(["run", str(path), "--workdir", str(folder / "ref"), "--no-progress"]) == 0
    cfg = config.load(path)
    return path, cfg, runs.run_dir(folder / "ref", cfg)


def _full_disk_at(monkeypatch, target, name: str, after: int = 0):
    """Makes the ``after``-th call of ``target`` (module, attribute) on a path
    named ``name`` raise ENOSPC, as a full disk would."""
    module, attr = target
    real = getattr(module, attr)
    calls = []

    def fake(*args, **kwargs):
        path = Path(args[-1] if attr == "replace" else args[0])
        if path.name == name:
            calls.append(path)
            if len(calls) == after + 1:
                raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC), str(path))
        return real(*args, **kwargs)

    monkeypatch.setattr(module, attr, fake)
    return calls


def _same_results(a: Path, b: Path, cfg) -> None:
    template = imp_files.templates(experiment.build(cfg)[0]).mask
    for level, branches in ((0, ("ticket",)), (1, ("ticket", "reinit"))):
        for r in range(2):
            for name in branches:
                da = imp.branch_dir(imp.level_dir(a, r, level), name)
                db = imp.branch_dir(imp.level_dir(b, r, level), name)
                ma, mb = runs.read_json(da / "metrics.json"), runs.read_json(db / "metrics.json")
                ma.pop("seconds"), mb.pop("seconds")
                assert ma == mb
                ta = checkpoint.restore_tree(da / "mask", template)
                tb = checkpoint.restore_tree(db / "mask", template)
                assert jax.tree.all(jax.tree.map(np.array_equal, ta, tb))
    assert (
        runs.read_json(a / "summary.json")["levels"] == runs.read_json(b / "summary.json")["levels"]
    )


@pytest.mark.parametrize(
    "target,name,after",
    [
        ((os, "replace"), "metrics.json", 2),  # a member's metrics, in level 1
        ((os, "replace"), "summary.json", 0),  # the summary after level 0
        ((checkpoint, "save_tree"), "final", 3),  # trained weights, in level 1
    ],
    ids=["metrics", "summary", "checkpoint"],
)
def test_full_disk_is_one_line_and_the_rerun_completes(
    tmp_path, capsys, monkeypatch, reference, target, name, after
):
    path, cfg, ref = reference
    workdir = tmp_path / "w"
    argv = ["run", str(path), "--workdir", str(workdir), "--no-progress"]
    calls = _full_disk_at(monkeypatch, target, name, after)
    status = cli.main(argv)
    err = capsys.readouterr().err.strip().splitlines()
    assert status == cli.EXIT_OS_ERROR and len(calls) == after + 1
    assert len(err) == 1 and err[0].startswith("lottery: error: ") and name in err[0], err
    assert "No space left on device" in err[0]
    run = runs.run_dir(workdir, cfg)
    assert not (run / "lock").exists() and list(run.rglob(".*tmp*")) == []
    monkeypatch.undo()
    assert cli.main(argv) == 0
    _same_results(ref, run, cfg)
