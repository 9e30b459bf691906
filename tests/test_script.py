"""The exported script: `python FILE` prints `gdtui run`'s epoch lines bit for bit.

Every preset, and a matrix over every optimizer, loss, model, initial values, batch size and shuffle, test
split, accumulated gradients, dtype, CSV data, stop rules and divergence, is exported with `gdtui
export-script`, run by a separate Python (its own process, importing only torch), and compared line by line
with `gdtui run` with the same options. Runs changed along the way (an lr set at epochs 5 and 12, a switch of
optimizer, momentum, loss or gradient accumulation, a branch) are exported from the trainer's own record of
its changes and compared with the trainer's history.
"""

from __future__ import annotations

import ast
import json
import os
import subprocess
import sys

import pytest

from gdtui.cli import main
from gdtui.cli.common import epoch_line
from gdtui.engine import resolve
from gdtui.engine.lanes import Race
from gdtui.engine.script import phases, script
from gdtui.engine.trainer import Trainer
from tests.script_runner import run_script

PRESET_CASES = [
    ["--preset", "fastai-quadratic"],
    ["--preset", "qiita-quadratic"],
    ["--preset", "linear-module"],
    ["--preset", "linear-manual"],
]
SINE = ["--data", "sine", "--points", "24", "--noise", "0.3"]
MATRIX = [
    # optimizers
    ["--preset", "qiita-quadratic", "--optimizer", "sgd", "--lr", "1e-4", "--momentum", "0.9"],
    ["--preset", "qiita-quadratic", "--optimizer", "nesterov", "--lr", "1e-4"],
    ["--preset", "qiita-quadratic", "--optimizer", "adam", "--lr", "0.1", "--epochs", "30"],
    ["--preset", "qiita-quadratic", "--optimizer", "adamw", "--lr", "0.1", "--epochs", "30"],
    ["--preset", "linear-manual", "--optimizer", "rmsprop", "--lr", "0.01", "--momentum", "0.5"],
    ["--preset", "linear-manual", "--optimizer", "adagrad", "--lr", "0.5"],
    # losses
    ["--preset", "linear-manual", "--loss", "sse", "--lr", "0.002"],
    ["--preset", "qiita-quadratic", "--loss", "l1", "--lr", "0.01"],
    ["--preset", "fastai-quadratic", "--loss", "huber", "--lr", "0.001", "--epochs", "15"],
    # models, with and without a bias, and initial values
    ["--data", "linear", "--model", "linear", "--lr", "0.05", "--epochs", "30"],
    ["--data", "linear", "--model", "linear", "--no-bias", "--init", "0.5", "--lr", "0.05"],
    ["--data", "quadratic", "--model", "nn-linear", "--lr", "0.1", "--optimizer", "sgd", "--seed", "7"],
    ["--data", "quadratic", "--model", "nn-linear", "--no-bias", "--init", "weight=-1.5", "--lr", "0.1"],
    ["--data", "cubic", "--model", "poly", "--degree", "3", "--lr", "0.002", "--epochs", "25"],
    ["--data", "cubic", "--model", "poly", "--degree", "3", "--no-bias", "--lr", "0.002"],
    ["--preset", "fastai-quadratic", "--init", "a=1,b=-2,c=0.5", "--epochs", "12"],
    ["--preset", "linear-manual", "--init", "w=0.5,b=-1"],
    ["--preset", "linear-module", "--init", "0.2,-0.4", "--epochs", "20"],
    [*SINE, "--model", "mlp", "--hidden", "8", "--optimizer", "adam", "--lr", "0.02", "--epochs", "25"],
    [*SINE, "--model", "mlp", "--hidden", "4,3", "--activation", "relu", "--optimizer", "sgd", "--lr", "0.05"],
    [*SINE, "--model", "mlp", "--hidden", "2", "--activation", "sigmoid", "--init", "1,-1,0.5,0.2,0.3,-0.7,0.1"],
    # mini-batches, shuffled and not, with and without a test split
    ["--preset", "qiita-quadratic", "--batch-size", "4", "--lr", "1e-4"],
    ["--preset", "qiita-quadratic", "--batch-size", "4", "--no-shuffle", "--lr", "1e-4"],
    ["--preset", "linear-manual", "--batch-size", "1", "--optimizer", "sgd", "--momentum", "0.5"],
    ["--preset", "linear-module", "--batch-size", "8", "--epochs", "20"],
    [*SINE, "--model", "mlp", "--hidden", "6", "--batch-size", "5", "--optimizer", "adam", "--lr", "0.01"],
    # test split, accumulated gradients, float64, device auto, x range
    ["--preset", "linear-module", "--accumulate-grad", "--epochs", "30"],
    ["--preset", "fastai-quadratic", "--test-fraction", "0.25", "--loss", "l1", "--lr", "1e-3"],
    ["--preset", "qiita-quadratic", "--accumulate-grad", "--optimizer", "adam", "--lr", "0.05"],
    ["--preset", "fastai-quadratic", "--dtype", "float64"],
    ["--data", "sine", "--dtype", "float64", "--model", "poly", "--degree", "5", "--lr", "1e-3"],
    ["--data", "quadratic", "--x-range", "0,4", "--points", "30", "--noise", "0", "--device", "auto"],
    # stop rules and divergence
    ["--preset", "linear-manual", "--target-rmse", "0.5", "--epochs", "500"],
    ["--preset", "fastai-quadratic", "--patience", "3", "--loss", "l1", "--lr", "0.01", "--epochs", "400"],
    ["--preset", "fastai-quadratic", "--lr", "1e-3", "--epochs", "50"],
    ["--preset", "linear-manual", "--optimizer", "sgd", "--lr", "5", "--momentum", "0.9", "--batch-size", "2"],
    # a batch size as large as the training set: the whole set at once, in the data's order, as gdtui trains it
    ["--batch-size", "20"],
    ["--preset", "linear-module", "--batch-size", "40", "--epochs", "20"],
    ["--preset", "linear-manual", "--batch-size", "9"],
    # an article's names with a model that has no `params` (its step function is the loop's then)
    ["--model", "linear", "--lr", "1e-4"],
    ["--preset", "qiita-quadratic", "--model", "nn-linear", "--lr", "1e-3"],
    ["--model", "mlp", "--hidden", "3", "--lr", "1e-4", "--epochs", "5"],
]


def run_lines(*args: str) -> list[str]:
    """`gdtui run ARGS`'s epoch lines (its summary left out), in-process."""
    import contextlib
    import io

    out = io.StringIO()
    with contextlib.redirect_stdout(out), contextlib.redirect_stderr(io.StringIO()):
        code = main(["run", *args])
    assert code in (0, 3), out.getvalue()
    return [line for line in out.getvalue().splitlines() if line.startswith("epoch ")]


def export(path: str, *args: str) -> str:
    assert main(["export-script", *args, "-o", path]) == 0
    return path


def run_scripts(paths: list[str]) -> list[list[str]]:
    """Each script's epoch lines, from one fresh Python that runs them one after another in isolated mode
    (-I: no PYTHONPATH, no user site, not this directory) so that only what the scripts import is used."""
    runner = (
        "import contextlib, io, json, runpy, sys\n"
        "out = []\n"
        "for path in sys.argv[1:]:\n"
        "    buffer = io.StringIO()\n"
        "    with contextlib.redirect_stdout(buffer):\n"
        "        runpy.run_path(path, run_name='__main__')\n"
        "    out.append(buffer.getvalue())\n"
        "print(json.dumps(out))\n"
    )
    done = subprocess.run(
        [sys.executable, "-I", "-c", runner, *paths], capture_output=True, text=True, timeout=600, cwd="/"
    )
    assert done.returncode == 0, done.stderr
    return [[line for line in text.splitlines() if line.startswith("epoch ")] for text in json.loads(done.stdout)]


def imports(text: str) -> set[str]:
    tree = ast.parse(text)
    found = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            found |= {a.name.split(".")[0] for a in node.names}
        elif isinstance(node, ast.ImportFrom):
            found.add((node.module or "").split(".")[0])
    return found


def test_every_preset_as_python_file(tmp_path):
    """`python FILE` for every preset prints gdtui run's lines; the script imports torch only (and math)."""
    for i, args in enumerate(PRESET_CASES):
        path = export(str(tmp_path / f"preset{i}.py"), *args)
        text = open(path).read()
        assert imports(text) <= {"torch", "math"}, text
        done = run_script(path)
        assert done.returncode == 0, done.stderr
        lines = [line for line in done.stdout.splitlines() if line.startswith("epoch ")]
        assert lines == run_lines(*args), args
        assert len(lines) == resolve(args[1]).epochs


def test_the_fastai_script_prints_the_article_log(tmp_path):
    """The article's published RMSE log, in the exported script's own output (not only gdtui's)."""
    published = [74.96194346966999, 36.43029986215973, 22.692756149058336, 19.006926227796704, 18.225665028268686]
    path = export(str(tmp_path / "fastai.py"))
    (lines,) = run_scripts([path])
    assert [float(line.split()[3]) for line in lines[:5]] == published


def test_the_matrix(tmp_path):
    paths = [export(str(tmp_path / f"case{i}.py"), *args) for i, args in enumerate(MATRIX)]
    for i, args in enumerate(MATRIX):
        assert imports(open(paths[i]).read()) <= {"torch", "math"}, args
    lint = subprocess.run(
        [sys.executable, "-m", "ruff", "check", "--no-cache", "--isolated", "--select", "F,E9", *paths],
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert lint.returncode == 0, lint.stdout  # no undefined name, no unused import or variable
    got = run_scripts(paths)
    for args, lines in zip(MATRIX, got):
        expected = run_lines(*args)
        assert lines == expected, args
        assert lines, args


def test_csv_data(tmp_path):
    """A CSV is read by the script from its path, at full precision, header and blank lines as gdtui reads it."""
    data = tmp_path / "data.csv"
    rows = ["\ufeffhours, score", ""] + [f"{x / 3!r},{(x / 3) ** 2 * 0.7 - x / 9 + 1.25!r}" for x in range(12)]
    data.write_text("\n".join(rows) + "\n", encoding="utf-8")
    odd = tmp_path / 'a\\x b """ c.csv'  # a backslash and triple quotes: the script must still parse
    odd.write_text(data.read_text(encoding="utf-8"), encoding="utf-8")
    cases = [
        ["--data", str(data), "--model", "quadratic", "--lr", "0.01", "--epochs", "20"],
        ["--data", str(odd), "--model", "linear", "--lr", "0.01", "--epochs", "5", "--batch-size", "12"],
        ["--data", str(data), "--model", "linear", "--dtype", "float64", "--test-fraction", "0.25", "--lr", "0.05"],
    ]
    paths = [export(str(tmp_path / f"csv{i}.py"), *args) for i, args in enumerate(cases)]
    assert "csv" in imports(open(paths[0]).read())
    for args, lines in zip(cases, run_scripts(paths)):
        assert lines == run_lines(*args), args


def test_the_stop_and_divergence_cases_end_where_gdtui_run_ends():
    """The matrix's stop rules and divergence really stop early (else their comparison proves less)."""
    assert len(run_lines("--preset", "linear-manual", "--target-rmse", "0.5", "--epochs", "500")) < 500
    patience = ("--preset", "fastai-quadratic", "--patience", "3", "--loss", "l1", "--lr", "0.01", "--epochs", "400")
    assert len(run_lines(*patience)) < 400
    diverged = run_lines("--preset", "fastai-quadratic", "--lr", "1e-3", "--epochs", "50")
    assert len(diverged) < 50 and ("nan" in diverged[-1] or "inf" in diverged[-1])


def history_lines(trainer: Trainer) -> list[str]:
    return [epoch_line(trainer.history.result(i)) for i in range(trainer.epoch)]


def finish(t: Trainer) -> None:
    """Train to the budget, as gdtui run does."""
    while not t.done and t.status == "ok":
        t.run(t.config.epochs - t.epoch)


def changed_runs() -> list[Trainer]:
    """Runs whose settings changed along the way, as the TUI changes them (Trainer.update / switch)."""
    runs = []
    t = Trainer(resolve("fastai-quadratic", epochs=20))
    t.run(5)
    t.update(lr=2e-5)
    t.run(7)
    t.update(lr=3e-5)
    finish(t)
    runs.append(t)
    t = Trainer(resolve("qiita-quadratic", optimizer="sgd", momentum=0.9, lr=1e-4, epochs=30))
    t.run(4)
    t.update(momentum=0.0)
    t.run(5)
    t.update(momentum=0.5, lr=5e-5)
    t.run(6)
    t.switch(optimizer="adam", lr=0.1)
    t.run(5)
    t.switch(optimizer="gd", lr=1e-4, loss="l1")
    finish(t)
    runs.append(t)
    t = Trainer(resolve("linear-manual", optimizer="rmsprop", lr=0.01, epochs=12))
    t.update(lr=0.02)  # before the first epoch: part of the start
    t.run(3)
    t.update(momentum=0.5)  # RMSprop's buffer starts from zeros
    t.run(3)
    t.switch(accumulate_grad=True, loss="sse")
    t.run(3)
    t.update(epochs=15)
    t.switch(accumulate_grad=False, loss="mse")
    finish(t)
    runs.append(t)
    t = Trainer(resolve("linear-module", batch_size=10, epochs=20))
    t.run(8)
    t.update(lr=0.05, epochs=10)  # a budget lowered below the epoch it stands at: the run ends there
    finish(t)
    t.update(epochs=14)
    finish(t)
    runs.append(t)
    return runs


def test_changes_made_during_a_run(tmp_path):
    runs = changed_runs()
    assert [t.epoch for t in runs] == [20, 30, 15, 14]
    paths = []
    for i, t in enumerate(runs):
        path = tmp_path / f"changed{i}.py"
        path.write_text(script(t.start_config, t.changes, t.data.n_train))
        paths.append(str(path))
    text = open(paths[0]).read()
    assert "if epoch == 6:" in text and "if epoch == 13:" in text  # the lr changes after epochs 5 and 12
    for t, lines in zip(runs, run_scripts(paths)):
        assert lines == history_lines(t)


def test_a_branch_exports_its_whole_history(tmp_path):
    """A branch at epoch 8 with an lr of its own: the source lane up to 8, then the branch; for a branch of a
    lane whose lr changed at 5, that change too."""
    race = Race(resolve("qiita-quadratic", optimizer="adam", lr=0.05, epochs=25))
    first = race.lanes[0]
    first.trainer.run(5)
    first.trainer.update(lr=0.1)
    first.trainer.run(10)
    branch = race.branch(first.id, 8, lr=2e-4, optimizer="sgd", momentum=0.9)
    finish(branch.trainer)
    finish(first.trainer)
    for lane in (branch, first):
        assert lane.trainer.epoch == 25
    paths = []
    for i, lane in enumerate((branch, first)):
        path = tmp_path / f"lane{i}.py"
        path.write_text(script(lane.trainer.start_config, lane.trainer.changes, lane.trainer.data.n_train))
        paths.append(str(path))
    got = run_scripts(paths)
    assert got[0] == history_lines(branch.trainer)
    assert got[1] == history_lines(first.trainer)
    assert got[0][:9] == got[1][:9] and got[0][9] != got[1][9]  # epoch 9 is the loss before its update


def test_phases_fold_early_changes_and_budget():
    config = resolve("fastai-quadratic", epochs=20)
    start, later, total = phases(config, [(0, {"lr": 2e-5}), (5, {"lr": 3e-5}), (12, {"epochs": 8})])
    assert start.lr == 2e-5 and [at for at, _ in later] == [5, 12] and total == 12
    assert phases(config, [(3, {"epochs": 30})])[2] == 30


@pytest.mark.parametrize(
    ("args", "option"),
    [
        (["--lr", "nope"], "--lr"),
        (["--optimizer", "sgdd"], "--optimizer"),
        (["--init", "1,2"], "--init"),
        (["--data", "/no/such.csv"], "--data"),
        (["--batch-size", "0"], "--batch-size"),
        (["--test-fraction", "0.5", "--points", "1"], "at least 2 points"),  # gdtui run's checks of the data
        (["--device", "cuda:7"], "cuda:7"),  # and of the device (no accelerator here or in CI)
    ],
)
def test_bad_options_exit_2_with_one_line(args, option, capsys, tmp_path):
    out = tmp_path / "x.py"
    code = main(["export-script", *args, "-o", str(out)])
    err = capsys.readouterr().err.strip()
    assert code == 2 and len(err.splitlines()) == 1 and option in err, err
    assert not out.exists()


def test_export_prints_to_stdout_and_names_the_command(capsys):
    assert main(["export-script", "--preset", "linear-manual", "--lr", "0.02"]) == 0
    text = capsys.readouterr().out
    assert "learning_rate = 0.02" in text and "x_data" in text
    compile(text, "exported", "exec")


def test_an_unwritable_output_exits_2(capsys, tmp_path):
    target = tmp_path / "no" / "such" / "dir" / "x.py"
    assert main(["export-script", "-o", str(target)]) == 2
    assert "--output" in capsys.readouterr().err


def test_the_script_never_reads_gdtui(tmp_path):
    """Run with a PYTHONPATH whose gdtui fails to import: the script does not care."""
    fake = tmp_path / "fake"
    (fake / "gdtui").mkdir(parents=True)
    (fake / "gdtui" / "__init__.py").write_text("raise ImportError('the script must not import gdtui')\n")
    path = export(str(tmp_path / "s.py"), "--preset", "linear-manual", "--epochs", "3")
    env = {**os.environ, "PYTHONPATH": str(fake)}
    done = subprocess.run([sys.executable, path], capture_output=True, text=True, timeout=120, env=env)
    assert done.returncode == 0, done.stderr
    assert sum(line.startswith("epoch ") for line in done.stdout.splitlines()) == 3


def test_a_nan_test_loss_stays_a_value_in_the_history():
    """NaN once marked "no test set" in the history, so a run whose test loss became NaN lost it from its lines
    (gdtui run and the script print it): the history now knows whether the run has a test set."""
    from array import array

    from gdtui.engine.history import Chunk, History

    def chunk(first, test):
        ones = array("d", [1.0, 2.0])
        return Chunk(first, ones, ones, test, [ones], ones, 0.1, ("w",), "ok", None)

    held = History(("w",))
    held.extend(chunk(1, array("d", [0.5, float("nan")])))
    assert held.result(0).test_loss == 0.5 and epoch_line(held.result(1)).endswith("test loss: nan")
    assert held.tail(1).test_loss is not None and held.head(1).has_test
    alone = History(("w",))
    alone.extend(chunk(1, None))
    assert alone.result(1).test_loss is None and alone.tail(2).test_loss is None


def test_the_script_runner_reports_what_a_process_would(tmp_path):
    """tests.script_runner stands in for `python -I script.py`: its output, every warning (each time), a failure's
    traceback and exit status."""
    ok = tmp_path / "ok.py"
    ok.write_text("import warnings\nprint('epoch 1')\nwarnings.warn('twice')\n")
    for _ in range(2):
        done = run_script(str(ok))
        assert done.returncode == 0 and done.stdout == "epoch 1\n" and "UserWarning: twice" in done.stderr
    broken = tmp_path / "broken.py"
    broken.write_text("import no_such_module\n")
    done = run_script(str(broken))
    assert done.returncode == 1 and "ModuleNotFoundError" in done.stderr
    exits = tmp_path / "exits.py"
    exits.write_text("import sys\nsys.exit(3)\n")
    assert run_script(str(exits)).returncode == 3
