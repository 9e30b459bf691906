"""Issue 30: the exported script prints gdtui's log for each optimizer setting and each schedule (the README's
examples), as `gdtui run` prints it, line for line.
"""

from __future__ import annotations

import pytest
from click.testing import CliRunner

from gdtui.cli.root import cli
from tests.script_runner import run_script

KNOBS = [
    ["--optimizer", "adam", "--betas", "0.9,0.99", "--eps", "1e-6"],
    ["--optimizer", "adamw", "--lr", "0.05", "--weight-decay", "0.01"],
    ["--optimizer", "rmsprop", "--lr", "0.01", "--alpha", "0.9", "--centered"],
    ["--optimizer", "sgd", "--momentum", "0.9", "--dampening", "0.1"],
    ["--optimizer", "adagrad", "--lr", "0.5", "--lr-decay", "0.01", "--initial-accumulator", "0.1"],
    ["--schedule", "step:step_size=3,gamma=0.1"],
    ["--schedule", "multistep:milestones=3/8,gamma=0.1"],
    ["--schedule", "exponential:gamma=0.9"],
    ["--schedule", "cosine:eta_min=1e-6"],
    ["--schedule", "cosine-restarts:T_0=2,T_mult=2"],
    ["--schedule", "linear-warmup:start_factor=0.1,total_iters=3+cosine"],
    ["--optimizer", "sgd", "--momentum", "0.9", "--schedule", "onecycle:max_lr=3e-5"],
    ["--schedule", "plateau:factor=0.5,patience=1"],
]


def test_every_knob_of_the_readme_is_here():
    from pathlib import Path

    readme = (Path(__file__).resolve().parent.parent / "README.md").read_text(encoding="utf-8")
    for option in ("--betas", "--eps", "--weight-decay", "--alpha", "--centered", "--dampening", "--lr-decay"):
        assert option in readme and any(option in knob for knob in KNOBS), option
    for name in ("step", "multistep", "exponential", "cosine", "cosine-restarts", "linear-warmup", "onecycle"):
        assert f"--schedule {name}:" in readme and any(f"{name}:" in " ".join(k) for k in KNOBS), name


def script_prints_the_log(args: list[str], tmp_path, epochs: int) -> None:
    """`gdtui export-script ARGS` writes a script whose epoch lines are `gdtui run ARGS`'s, line for line."""
    runner = CliRunner()
    log = runner.invoke(cli, ["run", "--epochs", str(epochs), *args]).output
    path = tmp_path / "run.py"
    result = runner.invoke(cli, ["export-script", "--epochs", str(epochs), *args, "-o", str(path)])
    assert result.exit_code == 0, result.output
    done = run_script(str(path))
    assert done.returncode == 0 and "Warning" not in done.stderr, done.stderr
    expected = [line for line in log.splitlines() if line.startswith("epoch")]
    assert done.stdout.splitlines() == expected and len(expected) == epochs


@pytest.mark.parametrize("args", KNOBS, ids=lambda args: " ".join(args[-2:]))
def test_the_exported_script_prints_gdtuis_log(args, tmp_path):
    script_prints_the_log(args, tmp_path, 10)
