"""Tests for lottery.report: the text table, the CSV/JSON rows and the PNG plots."""

import csv
import json

import numpy as np
import pytest
from matplotlib import image as mpimg

from lottery import report
from lottery.errors import LotteryError

PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"


def _result(mean: float, std: float, best_step: float) -> dict:
    return {
        "mean": mean,
        "std": std,
        "per_replicate": [mean - std, mean, mean + std],
        "best_step": best_step,
        "best_accuracy": mean + std,
    }


def _layers(density: float) -> dict:
    return {"fc1/kernel": density, "fc2/kernel": density * 0.9, "out/kernel": min(1.0, density * 2)}


@pytest.fixture
def summary() -> dict:
    return {
        "kind": "imp",
        "run_dir": "/tmp/runs/mnist1d_mlp_imp_3f5262bae5",
        "name": "mnist1d_mlp_imp",
        "replicates": 3,
        "complete": False,
        "wall_seconds": 12.5,
        "branches": ["ticket", "reinit"],
        "levels": [
            {
                "level": 0,
                "density": 1.0,
                "layer_density": _layers(1.0),
                "ticket": _result(0.63, 0.01, 2400.0),
            },
            {
                "level": 1,
                "density": 0.8,
                "layer_density": _layers(0.8),
                "ticket": _result(0.655, 0.0125, 2200.4),
                "reinit": _result(0.6, 0.02, 1800.0),
            },
            {
                "level": 2,
                "density": 0.64,
                "layer_density": _layers(0.64),
                "ticket": _result(0.671, 0.005, 2000.6),
                "reinit": _result(0.55, 0.03, 1600.0),
            },
            {  # incomplete: the reinit control never ran at this level
                "level": 3,
                "density": 0.512,
                "layer_density": _layers(0.512),
                "ticket": _result(0.64, 0.0, 1900.0),
            },
        ],
    }


def test_format_table_percentages_and_missing(summary):
    text = report.format_table(summary)
    lines = text.strip("\n").split("\n")
    assert len(lines) == 1 + 4  # header + one row per level
    header = lines[0].split()
    assert header[:4] == ["level", "density", "%", "ticket"]
    assert "reinit" in lines[0] and "best step" in lines[0]
    assert "63.00 ± 1.00" in lines[1]
    assert "100.00" in lines[1]
    assert "65.50 ± 1.25" in lines[2] and "60.00 ± 2.00" in lines[2] and "80.00" in lines[2]
    assert "67.10 ± 0.50" in lines[3] and "55.00 ± 3.00" in lines[3] and "64.00" in lines[3]
    assert "51.20" in lines[4] and "64.00 ± 0.00" in lines[4]
    # level 0 and level 3 have no reinit: the reinit column shows "-"
    assert lines[1].split()[-2] == "-" and lines[4].split()[-2] == "-"
    # best step: the ticket's, rounded to an integer
    assert [ln.split()[-1] for ln in lines[1:]] == ["2400", "2200", "2001", "1900"]
    # fixed width: every line has the same length
    assert len({len(ln) for ln in lines}) == 1


def test_table_rows(summary):
    rows = report.table_rows(summary)
    assert [r["level"] for r in rows] == [0, 1, 2, 3]
    assert [r["density"] for r in rows] == [1.0, 0.8, 0.64, 0.512]
    expected_keys = {"level", "density"} | {
        f"{b}_{k}" for b in ("ticket", "reinit") for k in ("mean", "std", "best_step")
    }
    assert all(set(r) == expected_keys for r in rows)
    assert rows[1]["ticket_mean"] == 0.655 and rows[1]["ticket_std"] == 0.0125
    assert rows[2]["reinit_mean"] == 0.55 and rows[2]["reinit_best_step"] == 1600.0
    for i in (0, 3):
        assert rows[i]["reinit_mean"] is None
        assert rows[i]["reinit_std"] is None
        assert rows[i]["reinit_best_step"] is None


def test_branches_inferred_when_not_listed(summary):
    del summary["branches"]
    assert report.table_rows(summary)[1]["reinit_mean"] == 0.6
    assert "60.00 ± 2.00" in report.format_table(summary)


def test_write_creates_all_files(summary, tmp_path):
    out = tmp_path / "nested" / "report"
    paths = report.write(summary, out)
    assert set(paths) == {"csv", "json", "txt", "accuracy_plot", "layer_plot"}
    names = {p.name for p in paths.values()}
    assert names == {
        "table.csv",
        "table.json",
        "table.txt",
        "accuracy_vs_density.png",
        "layer_density.png",
    }
    assert all(p.parent == out and p.is_file() for p in paths.values())
    # atomic writes leave no temporary files behind
    assert sorted(p.name for p in out.iterdir()) == sorted(names)

    for key in ("accuracy_plot", "layer_plot"):
        assert paths[key].read_bytes()[:8] == PNG_SIGNATURE
        img = mpimg.imread(paths[key])
        assert img.ndim == 3 and img.shape[0] > 100 and img.shape[1] > 100
        assert np.ptp(img[..., :3]) > 0  # something was drawn

    with open(paths["csv"], newline="") as f:
        rows = list(csv.DictReader(f))
    assert len(rows) == 4
    assert [r["level"] for r in rows] == ["0", "1", "2", "3"]
    assert float(rows[1]["ticket_mean"]) == pytest.approx(0.655)
    assert rows[0]["reinit_mean"] == ""

    assert json.loads(paths["json"].read_text()) == report.table_rows(summary)
    assert paths["txt"].read_text() == report.format_table(summary)


def test_plot_accuracy_standalone(summary, tmp_path):
    path = report.plot_accuracy(summary, tmp_path / "acc.png")
    assert path.read_bytes()[:8] == PNG_SIGNATURE
    assert [p.name for p in tmp_path.iterdir()] == ["acc.png"]


@pytest.mark.parametrize(
    "bad",
    [
        {"kind": "train", "levels": [{"level": 0, "density": 1.0}]},
        {"levels": []},
        {"kind": "imp", "levels": []},
        {"kind": "imp"},
    ],
)
def test_not_an_imp_summary_raises(bad, tmp_path):
    with pytest.raises(LotteryError) as err:
        report.write(bad, tmp_path / "out")
    assert err.value.field == "summary"
    assert "\n" not in str(err.value)
    assert not (tmp_path / "out").exists()
    with pytest.raises(LotteryError):
        report.format_table(bad)
