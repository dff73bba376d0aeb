"""Tests for lottery.report: the text table, the CSV/JSON rows and the PNG plots."""

import csv
import json
import re

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


# --- pruning-at-initialization sweeps (kind "pai") -------------------------------

PAI_DENSITIES = (10**-0.5, 10**-1.5, 10**-2.5)
LAYERS = ("fc1/kernel", "fc2/kernel", "out/kernel")


def _pai_result(method, density, acc, std, *, collapsed=(), ablations=None, direct=None):
    direct = density if direct is None else direct
    layer_density = {n: direct * f for n, f in zip(LAYERS, (0.8, 1.0, 3.0), strict=True)}
    for n in collapsed:
        layer_density[n] = 0.0
    return {
        "method": method,
        "density": density,
        "direct_density": direct,
        "effective_density": 0.9 * direct,
        "accuracy_mean": acc,
        "accuracy_std": std,
        "accuracy_per_replicate": [acc - std, acc, acc + std],
        "collapsed_layers": list(collapsed),
        "layer_density": layer_density,
        "ablations": ablations or {},
    }


@pytest.fixture
def pai_summary() -> dict:
    hi, mid, lo = PAI_DENSITIES
    results = [
        # deliberately out of order: the report sorts by method order, then density descending
        _pai_result("snip", lo, 0.41, 0.02, collapsed=["fc2/kernel"], direct=0.00316),
        _pai_result("snip", hi, 0.70, 0.01, ablations={"shuffle": {"mean": 0.68, "std": 0.015}}),
        _pai_result("snip", mid, 0.60, 0.005, ablations={"shuffle": {"mean": 0.5, "std": 0.0}}),
        _pai_result("random", hi, 0.65, 0.01),
        _pai_result("random", mid, 0.5, 0.03),
        _pai_result("random", lo, 0.2, 0.0),
        _pai_result("synflow", hi, 0.71, 0.004),
        _pai_result("synflow", mid, 0.63, 0.006),
        _pai_result("synflow", lo, 0.5, 0.01, ablations={"shuffle": {"mean": 0.45, "std": 0.02}}),
    ]
    return {
        "kind": "pai",
        "run_dir": "/tmp/runs/mnist1d_mlp_pai_0123456789",
        "name": "mnist1d_mlp_pai",
        "wall_seconds": 300.1,
        "replicates": 3,
        "methods": ["random", "snip", "synflow"],
        "ablations": ["shuffle"],
        "complete": True,
        "results": results,
    }


def _split(line: str) -> list[str]:
    return re.split(r"\s{2,}", line.strip())


def test_pai_format_table_cells(pai_summary):
    lines = report.format_table(pai_summary).strip("\n").split("\n")
    assert len(lines) == 1 + 9
    assert _split(lines[0]) == [
        "method",
        "density",
        "direct %",
        "effective %",
        "accuracy %",
        "collapsed",
        "shuffle",
    ]
    rows = [_split(ln) for ln in lines[1:]]
    assert [(r[0], r[1]) for r in rows] == [
        ("random", "10^-0.50"),
        ("random", "10^-1.50"),
        ("random", "10^-2.50"),
        ("snip", "10^-0.50"),
        ("snip", "10^-1.50"),
        ("snip", "10^-2.50"),
        ("synflow", "10^-0.50"),
        ("synflow", "10^-1.50"),
        ("synflow", "10^-2.50"),
    ]
    assert rows[0] == ["random", "10^-0.50", "31.6", "28.5", "65.00 ± 1.00", "-", "-"]
    assert rows[3] == ["snip", "10^-0.50", "31.6", "28.5", "70.00 ± 1.00", "-", "68.00 ± 1.50"]
    assert rows[4][-1] == "50.00 ± 0.00"
    assert rows[5] == [
        "snip",
        "10^-2.50",
        "0.316",
        "0.284",
        "41.00 ± 2.00",
        "fc2/kernel",
        "-",
    ]
    assert rows[8][2:] == ["0.316", "0.285", "50.00 ± 1.00", "-", "45.00 ± 2.00"]
    # the columns line up: each cell of the last column ends at the same place
    assert len({len(ln) for ln in lines}) == 1


def test_pai_format_table_without_ablations(pai_summary):
    pai_summary["ablations"] = []
    for r in pai_summary["results"]:
        r["ablations"] = {}
        r["collapsed_layers"] = []
    lines = report.format_table(pai_summary).strip("\n").split("\n")
    assert _split(lines[0])[-1] == "collapsed"
    assert all(_split(ln)[-1] == "-" for ln in lines[1:])
    assert all(ln == ln.rstrip() for ln in lines)  # no trailing blanks


def test_pai_table_rows(pai_summary):
    rows = report.table_rows(pai_summary)
    assert len(rows) == 9
    keys = {
        "method",
        "density",
        "direct_density",
        "effective_density",
        "accuracy_mean",
        "accuracy_std",
        "collapsed_layers",
        "shuffle_mean",
        "shuffle_std",
    }
    assert all(set(r) == keys for r in rows)
    assert [r["method"] for r in rows] == ["random"] * 3 + ["snip"] * 3 + ["synflow"] * 3
    assert [r["density"] for r in rows[:3]] == list(PAI_DENSITIES)
    snip_lo = rows[5]
    assert snip_lo["density"] == PAI_DENSITIES[2]
    assert snip_lo["direct_density"] == 0.00316
    assert snip_lo["effective_density"] == pytest.approx(0.9 * 0.00316)
    assert snip_lo["accuracy_mean"] == 0.41 and snip_lo["accuracy_std"] == 0.02
    assert snip_lo["collapsed_layers"] == "fc2/kernel"
    assert snip_lo["shuffle_mean"] is None and snip_lo["shuffle_std"] is None
    assert rows[3]["collapsed_layers"] == ""
    assert rows[3]["shuffle_mean"] == 0.68 and rows[3]["shuffle_std"] == 0.015


def test_pai_ablations_inferred_when_not_listed(pai_summary):
    del pai_summary["ablations"]
    assert report.table_rows(pai_summary)[3]["shuffle_mean"] == 0.68
    pai_summary["results"][0]["collapsed_layers"] = ["fc1/kernel", "fc2/kernel"]
    assert report.table_rows(pai_summary)[5]["collapsed_layers"] == "fc1/kernel,fc2/kernel"


def test_pai_write_creates_all_files(pai_summary, tmp_path):
    out = tmp_path / "report"
    paths = report.write(pai_summary, out)
    assert set(paths) == {"csv", "json", "txt", "accuracy_plot", "layer_plot"}
    names = {
        "table.csv",
        "table.json",
        "table.txt",
        "accuracy_vs_density.png",
        "layer_density.png",
    }
    assert {p.name for p in paths.values()} == names
    assert sorted(p.name for p in out.iterdir()) == sorted(names)
    for key in ("accuracy_plot", "layer_plot"):
        assert paths[key].read_bytes()[:8] == PNG_SIGNATURE
        img = mpimg.imread(paths[key])
        assert img.ndim == 3 and img.shape[0] > 100 and img.shape[1] > 100
        assert np.ptp(img[..., :3]) > 0

    with open(paths["csv"], newline="") as f:
        rows = list(csv.DictReader(f))
    assert len(rows) == len(pai_summary["results"])
    assert rows[5]["method"] == "snip" and rows[5]["collapsed_layers"] == "fc2/kernel"
    assert rows[5]["shuffle_mean"] == "" and float(rows[3]["shuffle_mean"]) == 0.68
    assert json.loads(paths["json"].read_text()) == report.table_rows(pai_summary)
    assert paths["txt"].read_text() == report.format_table(pai_summary)


def test_pai_plots_standalone_and_through_dispatch(pai_summary, tmp_path):
    a = report.plot_pai_accuracy(pai_summary, tmp_path / "a.png")
    b = report.plot_pai_layer_density(pai_summary, tmp_path / "b.png")
    c = report.plot_accuracy(pai_summary, tmp_path / "c.png")  # dispatches on kind
    d = report.plot_layer_density(pai_summary, tmp_path / "d.png")
    for p in (a, b, c, d):
        assert p.read_bytes()[:8] == PNG_SIGNATURE
    assert sorted(p.name for p in tmp_path.iterdir()) == ["a.png", "b.png", "c.png", "d.png"]
    with pytest.raises(LotteryError):
        report.plot_pai_accuracy({"kind": "imp", "levels": [{"level": 0}]}, tmp_path / "e.png")


@pytest.mark.parametrize(
    "bad",
    [
        {"kind": "pai", "results": []},
        {"kind": "pai"},
        {"kind": "pai", "results": [{"density": 0.1, "accuracy_mean": 0.5}]},
        {"kind": "pai", "results": [{"method": "snip", "density": 0.0, "accuracy_mean": 0.5}]},
        {"kind": "pai", "results": [{"method": "snip", "density": 0.1}]},
    ],
)
def test_bad_pai_summary_raises(bad, tmp_path):
    with pytest.raises(LotteryError) as err:
        report.write(bad, tmp_path / "out")
    assert err.value.field == "summary"
    assert "\n" not in str(err.value)
    assert not (tmp_path / "out").exists()
    with pytest.raises(LotteryError):
        report.format_table(bad)
    with pytest.raises(LotteryError):
        report.table_rows(bad)
