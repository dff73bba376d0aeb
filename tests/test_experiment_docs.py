"""The reproductions' READMEs quote only numbers their committed outputs contain.

Every two-decimal number in a table row of ``experiments/<name>/README.md`` must
appear in that folder's ``results.md``, and every one in a row of the index
``experiments/README.md`` (above its "Reruns on another CPU" section, which quotes
older outputs from git history) in the ``results.md`` of the reproduction that row
links to. A rerun that moves a number and leaves the prose behind fails here.
"""

import re
from pathlib import Path

import pytest

EXPERIMENTS = Path(__file__).resolve().parent.parent / "experiments"
NAMES = sorted(p.parent.name for p in EXPERIMENTS.glob("*/results.md"))
NUMBER = re.compile(r"(?<![\d.])\d+\.\d\d(?![\d.])")


def _table_numbers(text: str) -> list[str]:
    """Returns the two-decimal numbers of ``text``'s markdown table rows."""
    return [n for line in text.splitlines() if line.startswith("|") for n in NUMBER.findall(line)]


def _missing(numbers: list[str], name: str) -> list[str]:
    results = set(NUMBER.findall((EXPERIMENTS / name / "results.md").read_text()))
    return [n for n in numbers if n not in results]


def test_every_reproduction_has_outputs():
    assert NAMES == [
        "lth",
        "missing_the_mark",
        "pai",
        "rewinding",
        "structured",
        "zhou_criteria",
    ]


@pytest.mark.parametrize("name", NAMES)
def test_readme_tables_quote_results(name):
    numbers = _table_numbers((EXPERIMENTS / name / "README.md").read_text())
    assert len(numbers) >= 10
    assert _missing(numbers, name) == []


def test_index_quotes_results():
    index = (EXPERIMENTS / "README.md").read_text().split("## Reruns on another CPU")[0]
    rows = [line for line in index.splitlines() if line.startswith("| [`")]
    assert len(rows) == len(NAMES)
    for row in rows:
        name = re.match(r"\| \[`([a-z_]+)/`\]", row).group(1)
        numbers = NUMBER.findall(row)
        assert len(numbers) >= 3, name
        assert _missing(numbers, name) == [], name
