"""The README: its library example runs as written; CI runs its test command."""

import re
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
README = (ROOT / "README.md").read_text()


def _blocks(lang: str) -> list[str]:
    return re.findall(rf"```{lang}\n(.*?)```", README, flags=re.S)


def test_library_example_runs(capsys):
    (example,) = [b for b in _blocks("python") if "import lottery" in b]
    assert len(example.strip().splitlines()) <= 45
    exec(compile(example, "README.md", "exec"), {"__name__": "readme_example"})
    out = capsys.readouterr().out
    accuracy = float(re.search(r"test accuracy ([0-9.]+)", out).group(1))
    assert accuracy > 0.6  # 3 linearly separable classes, 20% of the weights
    densities = eval(out.strip().splitlines()[-1])
    assert set(densities) == {"fc1/kernel", "out/kernel"}
    # density 0.2 for the base-rate layers; the output layer at half rate loses
    # half as much: 1 - 0.5 * 0.8 = 0.6 (round(0.6 * 192) = 115 of 192 weights)
    assert densities == {"fc1/kernel": 0.2, "out/kernel": round(115 / 192, 3)}


def test_ci_runs_the_readme_commands():
    bash = _blocks("bash")
    main_cmd, test_cmd = bash[0].strip(), bash[1].strip()
    assert main_cmd.endswith("lottery run configs/mnist1d_mlp_imp.py")
    assert test_cmd.endswith("pytest")
    ci = (ROOT / ".ci" / "run").read_text()
    assert test_cmd in ci, "CI must run exactly the README's test command"
    assert "ruff check" in ci
