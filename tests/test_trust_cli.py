"""Trust what you see (issue 24): no silent changes, nothing half-written, every input and every computation
bounded. `--every` in races, one lane limit checked up front, --init in the run's dtype, outputs that are the
data file, --out on a full disk, TOML files of any shape, data files that are not files, and the exit status
after SIGTERM / SIGHUP."""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest

from gdtui.cli import main
from gdtui.engine import resolve

ROOT = str(Path(__file__).resolve().parent.parent)
LANE_LINE = re.compile(r"^lane (\d+) \((.*?)\)  epoch (\d+)  RMSE: ")


def cli(capsys, *args):
    """`gdtui ARGS` in-process: (exit code, stdout, stderr)."""
    code = main(list(args))
    captured = capsys.readouterr()
    return code, captured.out, captured.err


@pytest.fixture
def no_session(monkeypatch):
    """The TUI's session process and app may not start: a refusal must come before them."""
    import gdtui.tui.client

    def refuse(*args, **kwargs):
        raise AssertionError("the session was started")

    monkeypatch.setattr(gdtui.tui.client, "SessionClient", refuse)


def nine_lane_toml(tmp_path):
    path = tmp_path / "nine.toml"
    path.write_text("lr = 1e-5\n" + "".join(f"\n[[lane]]\nlr = {n + 1}e-5\n" for n in range(1, 9)))
    return str(path)


# --every N in races ---------------------------------------------------------------------------------------


def test_every_applies_to_a_vary_race_each_lane_as_its_solo_run(capsys):
    code, out, _ = cli(capsys, "run", "--epochs", "10", "--every", "4", "--vary", "lr=1e-5,2e-5")
    assert code == 0
    epochs = {}
    for line in out.splitlines():
        if m := LANE_LINE.match(line):
            epochs.setdefault(int(m[1]), []).append(int(m[3]))
    assert epochs == {1: [4, 8, 10], 2: [4, 8, 10]}
    _, solo, _ = cli(capsys, "run", "--epochs", "10", "--every", "4", "--lr", "2e-5")
    lane2 = [line.split("  ", 1)[1] for line in out.splitlines() if line.startswith("lane 2 ")]
    assert lane2 == [line for line in solo.splitlines() if line.startswith("epoch ")]


def test_every_applies_to_a_config_files_lanes_and_json(capsys, tmp_path):
    path = tmp_path / "race.toml"
    path.write_text("epochs = 7\nlr = 1e-5\n\n[[lane]]\nlr = 2e-5\nepochs = 5\n")
    code, out, _ = cli(capsys, "run", "--config", str(path), "--every", "3", "--json")
    assert code == 0
    records = [json.loads(line) for line in out.splitlines()]
    seen = [(r["lane"]["number"], r["epoch"]) for r in records if r["event"] == "epoch"]
    assert sorted(seen) == [(1, 3), (1, 6), (1, 7), (2, 3), (2, 5)]


# one lane limit, checked up front ---------------------------------------------------------------------------


def test_a_vary_product_is_counted_before_any_lane_is_built(capsys, monkeypatch):
    import gdtui.engine.vary

    built = []
    monkeypatch.setattr(gdtui.engine.vary, "check_combination", lambda config: built.append(config) or config)
    lrs = ",".join(f"{n}e-6" for n in range(1, 1001))
    momenta = ",".join(f"{n / 1001:.6f}" for n in range(1000))
    code, _, err = cli(capsys, "run", "--optimizer", "sgd", "--vary", f"lr={lrs}", "--vary", f"momentum={momenta}")
    assert code == 2 and built == []
    assert "'--vary'" in err and "1,000,000 lanes" in err and "at most 8" in err
    assert len(err.strip().splitlines()) == 1


def test_vary_values_past_the_limit_are_refused_before_they_are_checked(capsys):
    code, _, err = cli(capsys, "run", "--vary", "lr=abc," + ",".join(f"{n}e-5" for n in range(1, 9)))
    assert code == 2 and "9 lanes" in err and "abc" not in err


@pytest.mark.parametrize("command", [[], ["serve"], ["run"]])
def test_a_toml_file_of_nine_lanes_is_refused_at_start_naming_the_file(capsys, tmp_path, no_session, command):
    path = nine_lane_toml(tmp_path)
    code, out, err = cli(capsys, *command, "--config", path)
    assert code == 2 and out == ""
    assert "'--config'" in err and "--vary" not in err and path in err and "9 lanes" in err


@pytest.mark.parametrize("command", [[], ["serve"]])
def test_the_tui_and_serve_refuse_nine_vary_lanes_at_start(capsys, no_session, command):
    code, _, err = cli(capsys, *command, "--vary", "lr=" + ",".join(f"{n}e-5" for n in range(1, 10)))
    assert code == 2 and "'--vary'" in err and "9 lanes" in err


def test_eight_lanes_in_a_file_still_race(capsys, tmp_path):
    path = tmp_path / "eight.toml"
    path.write_text("epochs = 2\n" + "".join(f"\n[[lane]]\nlr = {n}e-6\n" for n in range(1, 8)))
    code, out, _ = cli(capsys, "run", "--config", str(path), "-q")
    assert code == 0 and len(out.splitlines()) == 1 + 8


# --init in the run's dtype ------------------------------------------------------------------------------


def test_init_too_large_for_float32_is_refused_as_a_csv_value_is(capsys):
    code, _, err = cli(capsys, "run", "--init", "1e39,0,0", "--epochs", "1")
    assert code == 2 and "'--init'" in err and "float32" in err
    code, _, err = cli(capsys, "run", "--init", "a=0,b=-1e39,c=0", "--epochs", "1")
    assert code == 2 and "float32" in err
    code, out, _ = cli(capsys, "run", "--init", "1e39,0,0", "--epochs", "1", "--dtype", "float64", "-q")
    assert code in (0, 3) and out  # float64 holds it: the run runs


def test_init_too_large_for_float32_is_refused_in_vary_and_toml(capsys, tmp_path):
    code, _, err = cli(capsys, "run", "--vary", "init=1,2,3;1e39,0,0")
    assert code == 2 and "'--vary'" in err and "float32" in err
    path = tmp_path / "big.toml"
    path.write_text("init = [1e39, 0, 0]\n")
    code, _, err = cli(capsys, "run", "--config", str(path))
    assert code == 2 and "float32" in err and str(path) in err
    assert resolve(init="1e38,0,0").init == (1e38, 0.0, 0.0)


# TOML files of any shape, and --save-config that always loads back ---------------------------------------


@pytest.mark.parametrize(
    ("body", "said"),
    [
        (b"lr = 1e-5\nnote = '\xff\xfe'\n", "not UTF-8"),
        (b"init = [[1]]\n", "init"),
        (b"init = [[1, 2], [3, 4]]\n", "init"),
        (b"x-range = [[-1, 1]]\n", "x-range"),
        (b"hidden = [[8]]\n", "hidden"),
        (b"hidden = [true]\n", "hidden"),
        (b"init = [1, true, 2]\n", "init"),
        (b"lr = [1e-5]\n", "lr"),
        (b"lr = {value = 1e-5}\n", "lr"),
        (b"lr = 1979-05-27\n", "lr"),
        (b"epochs = 12:00:00\n", "epochs"),
        (b"init = {a = 1}\n", "init"),
        (b"[model]\nname = 'poly'\n", "model"),
        (b"[[lane]]\nlr = [[1]]\n", "lr"),
        (b"seed = " + b"9" * 5000 + b"\n", "not TOML"),
        (b"init = " + b"[" * 3000 + b"]" * 3000 + b"\n", "not TOML"),
    ],
)
def test_a_toml_value_of_the_wrong_shape_exits_2_naming_file_and_key(capsys, tmp_path, body, said):
    path = tmp_path / "bad.toml"
    path.write_bytes(body)
    code, out, err = cli(capsys, "run", "--config", str(path), "--epochs", "1")
    assert code == 2 and out == ""
    assert err.startswith("gdtui: error: ") and len(err.strip().splitlines()) == 1, err
    assert str(path) in err and said in err


def test_a_toml_file_that_never_ends_is_refused_not_read_forever():
    done = gdtui_bounded("run", "--config", "/dev/zero")
    assert done.returncode == 2 and "/dev/zero" in done.stderr and "not a settings file" in done.stderr


@pytest.mark.parametrize(
    "name", ["new\nline.csv", "tab\there.csv", "bell\x07\x1b[31m\x7f.csv", 'quote"back\\slash.csv']
)
def test_save_config_escapes_every_string_so_the_file_loads_back(capsys, tmp_path, monkeypatch, name):
    monkeypatch.chdir(tmp_path)
    (tmp_path / name).write_text("x,y\n1,2\n2,4\n3,6\n")
    saved = tmp_path / "saved.toml"
    code, first, _ = cli(capsys, "run", "--data", name, "--model", "linear", "--save-config", str(saved))
    assert code == 0
    from gdtui.engine.tomlconfig import load

    assert load(str(saved))[0]["data"] == name
    code, again, _ = cli(capsys, "run", "--config", str(saved))
    assert code == 0 and again == first


def test_save_config_refuses_a_string_toml_cannot_hold(capsys, tmp_path):
    from gdtui.engine.tomlconfig import ConfigFileError, dump

    with pytest.raises(ConfigFileError, match="TOML cannot hold"):
        dump([resolve(data="bad\udcff.csv")])


# data files: regular files only, lines and memory bounded ------------------------------------------------


def gdtui_bounded(*args, memory=2 << 30, timeout=120):
    """`python -m gdtui ARGS` in a child held to `memory` bytes of address space and `timeout` seconds, so a
    read that never ends fails the test instead of the machine."""
    import resource
    import subprocess
    import sys

    def limit():
        resource.setrlimit(resource.RLIMIT_AS, (memory, memory))

    return subprocess.run(
        [sys.executable, "-m", "gdtui", *args], capture_output=True, text=True, timeout=timeout, preexec_fn=limit
    )


@pytest.mark.parametrize("kind", ["dev-zero", "fifo", "directory"])
def test_a_data_path_that_is_not_a_regular_file_is_refused_at_once(tmp_path, kind):
    import os

    path = {"dev-zero": "/dev/zero", "fifo": str(tmp_path / "pipe"), "directory": str(tmp_path)}[kind]
    if kind == "fifo":
        os.mkfifo(path)  # nobody writes: opening it to read would wait for ever
    done = gdtui_bounded("run", "--data", path, "--epochs", "1")
    assert done.returncode == 2, done.stderr
    assert done.stderr.startswith("gdtui: error: Invalid value for '--data': " + path + ": ")
    assert ("directory" if kind == "directory" else "not a regular file") in done.stderr
    assert done.stdout == ""


def test_a_line_of_absurd_length_is_refused_by_its_number(capsys, tmp_path):
    path = tmp_path / "long.csv"
    path.write_text("x,y\n1,2\n" + " " * 10_000 + "3,4\n5,6\n")
    code, _, err = cli(capsys, "run", "--data", str(path), "--epochs", "1")
    assert code == 2 and f"{path}:3: " in err and "longer than" in err


def test_reading_an_endless_line_is_bounded_in_memory(tmp_path):
    path = tmp_path / "sparse.csv"
    with open(path, "wb") as handle:
        handle.write(b"x,y\n1,2\n")
        handle.truncate(8 << 30)  # 8 GiB of NULs on one line, sparse on disk
    done = gdtui_bounded("run", "--data", str(path), "--epochs", "1", memory=1 << 30)
    assert done.returncode == 2, done.stderr[-2000:]
    assert f"{path}:3: " in done.stderr and "longer than" in done.stderr


def test_rows_past_the_points_limit_are_refused_by_line(capsys, tmp_path, monkeypatch):
    import gdtui.engine.csvfile

    monkeypatch.setattr(gdtui.engine.csvfile, "MAX_POINTS", 3)
    path = tmp_path / "rows.csv"
    path.write_text("x,y\n1,2\n2,3\n\n3,4\n4,5\n")
    code, _, err = cli(capsys, "run", "--data", str(path), "--epochs", "1")
    assert code == 2 and f"{path}:6: more than 3 rows" in err


def test_a_regular_file_through_a_symlink_is_still_read(capsys, tmp_path):
    (tmp_path / "real.csv").write_text("x,y\n1,2\n2,4\n3,6\n")
    (tmp_path / "link.csv").symlink_to(tmp_path / "real.csv")
    code, out, _ = cli(capsys, "run", "--data", str(tmp_path / "link.csv"), "--model", "linear", "--epochs", "2")
    assert code == 0 and out.startswith("epoch 1  RMSE: ")


# an output that is an input file ----------------------------------------------------------------------------

DATA = "x,y\n1,2\n2,4\n3,6\n"


@pytest.mark.parametrize("via", ["name", "symlink", "hard link"])
@pytest.mark.parametrize(
    ("command", "option"),
    [
        (["run", "--out"], "--out"),
        (["run", "--json", "--out"], "--out"),
        (["run", "--save-config"], "--save-config"),
        (["export-script", "-o"], "--output"),
        (["landscape", "--out"], "--out"),
    ],
)
def test_an_output_that_is_the_data_file_is_refused_before_anything_runs(capsys, tmp_path, via, command, option):
    import os

    data = tmp_path / "mine.csv"
    data.write_text(DATA)
    target = {"name": data, "symlink": tmp_path / "link.csv", "hard link": tmp_path / "hard.csv"}[via]
    if via == "symlink":
        target.symlink_to(data)
    elif via == "hard link":
        os.link(data, target)
    code, out, err = cli(capsys, *command, str(target), "--data", str(data), "--model", "linear", "--epochs", "3")
    assert code == 2 and out == ""
    assert f"'{option}'" in err and "is the data file" in err and len(err.strip().splitlines()) == 1
    assert data.read_text() == DATA


def test_a_race_lane_file_that_is_the_data_file_is_refused(capsys, tmp_path):
    data = tmp_path / "runs-lane2.csv"
    data.write_text(DATA)
    code, out, err = cli(
        capsys,
        "run",
        "--data",
        str(data),
        "--model",
        "linear",
        "--vary",
        "lr=0.01,0.02",
        "--out",
        str(tmp_path / "runs.csv"),
    )
    assert code == 2 and out == "" and "is the data file" in err
    assert data.read_text() == DATA and not (tmp_path / "runs-lane1.csv").exists()


def test_an_output_that_is_the_config_file_is_refused(capsys, tmp_path):
    path = tmp_path / "run.toml"
    path.write_text("epochs = 2\n")
    code, _, err = cli(capsys, "run", "--config", str(path), "--save-config", str(path))
    assert code == 2 and "is the --config file" in err and path.read_text() == "epochs = 2\n"


# SIGTERM and SIGHUP: 128 + the signal's number ------------------------------------------------------------


def started(args, ready):
    """`python -m gdtui ARGS` in a child, returned once a line of its stdout satisfies `ready` (no fixed sleep)."""
    import subprocess
    import sys

    child = subprocess.Popen(
        [sys.executable, "-m", "gdtui", *args], stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True
    )
    for line in child.stdout:
        if ready(line):
            return child
    child.wait(60)
    raise AssertionError(f"it ended first, status {child.returncode}: {child.stderr.read()[-2000:]}")


@pytest.mark.parametrize(("signum", "status"), [("SIGTERM", 143), ("SIGHUP", 129)])
def test_a_headless_run_ended_by_a_signal_exits_128_plus_its_number(tmp_path, signum, status):
    import signal

    out = tmp_path / "history.csv"
    child = started(["run", "--epochs", "1000000000", "--out", str(out)], lambda line: line.startswith("epoch 1 "))
    child.send_signal(getattr(signal, signum))
    child.communicate(timeout=120)
    assert child.returncode == status
    assert sorted(p.name for p in tmp_path.iterdir()) == []  # nothing half-written left behind


@pytest.mark.parametrize(("signum", "status"), [("SIGTERM", 143), ("SIGHUP", 129)])
def test_serve_ended_by_a_signal_exits_128_plus_its_number(signum, status):
    import signal
    import socket

    pytest.importorskip("textual_serve")
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    child = started(["serve", "--port", str(port)], lambda line: line.startswith("gdtui serve: open http"))
    child.send_signal(getattr(signal, signum))
    child.communicate(timeout=120)
    assert child.returncode == status


TUI_STUB = """
import os, signal, sys
import gdtui.tui.app, gdtui.tui.client
from gdtui.cli import main

class Session:
    def spawn(self, config, csv, **start):
        print("spawned", flush=True)
    def stop(self):
        print("stopped", flush=True)

class App:
    def __init__(self, *args, **kwargs):
        self.return_code = None
        if sys.argv[1] == "while-starting":
            os.kill(os.getpid(), signal.SIGTERM)
    def run(self):
        if sys.argv[1] == "app-ended":  # as the app ends itself on SIGHUP
            self.return_code = 128 + signal.SIGHUP

gdtui.tui.client.SessionClient = Session
gdtui.tui.app.GdtuiApp = App
sys.exit(main([]))
"""


@pytest.mark.parametrize(("how", "status"), [("app-ended", 129), ("while-starting", 143)])
def test_the_tui_exits_with_the_apps_code_and_its_session_is_stopped(how, status):
    import subprocess
    import sys

    done = subprocess.run([sys.executable, "-c", TUI_STUB, how], capture_output=True, text=True, timeout=120)
    assert done.returncode == status, done.stderr[-2000:]
    assert done.stdout.splitlines() == ["spawned", "stopped"]


# --out on a full disk -----------------------------------------------------------------------------------------


@pytest.mark.parametrize("extra", [[], ["--json"]])
def test_out_on_a_full_disk_fails_at_once_before_the_run(capsys, extra):
    code, out, err = cli(capsys, "run", "--epochs", "3", "--out", "/dev/full", *extra)
    assert code == 2 and out == ""  # not one epoch ran
    assert "'--out'" in err and "/dev/full" in err and "No space left on device" in err


def filling_disk(limit):
    """A child's preexec: files of at most `limit` bytes (a disk that fills up): a write past it fails with EFBIG."""
    import resource
    import signal

    def limit_files():
        signal.signal(signal.SIGXFSZ, signal.SIG_IGN)  # the write fails instead of killing the process
        resource.setrlimit(resource.RLIMIT_FSIZE, (limit, limit))

    return limit_files


@pytest.mark.parametrize("race", [False, True])
def test_a_disk_that_fills_during_the_run_stops_it_and_the_summary_is_printed(tmp_path, race):
    import os
    import subprocess
    import sys

    args = ["run", "--epochs", "20000", "--every", "1000", "--out", str(tmp_path / "history.csv")]
    args += ["--vary", "lr=1e-5,2e-5"] if race else []
    done = subprocess.run(
        [sys.executable, "-m", "gdtui", *args],
        capture_output=True,
        text=True,
        timeout=300,
        preexec_fn=filling_disk(64 << 10),
        cwd=tmp_path,  # this gdtui, from its files' folder, whatever the folder
        env={**os.environ, "PYTHONPATH": os.pathsep.join([ROOT, os.environ.get("PYTHONPATH", "")])},
    )
    assert done.returncode == 2, done.stderr[-2000:]
    assert "'--out'" in done.stderr and "File too large" in done.stderr and "stopped" in done.stderr
    lines = done.stdout.splitlines()
    if race:
        assert lines[-3].split() == ["rank", "lane", "setting", "status", "epochs", "RMSE"]
        epochs = [int(line.split()[-2]) for line in lines[-2:]]
    else:
        summary = re.match(r"ok: (\d+) epochs on cpu  RMSE: ", lines[-1])
        assert summary, done.stdout[-2000:]
        epochs = [int(summary[1])]
    assert all(0 < n < 20000 for n in epochs)  # it stopped when the disk filled, not at the end
    assert list(tmp_path.iterdir()) == []  # nothing half-written


def test_out_written_as_it_goes_holds_every_epoch_as_before(tmp_path):
    import csv

    from gdtui.engine.trainer import Trainer

    trainer = Trainer(resolve(preset="linear-module", epochs=30))
    trainer.run_chunk(30)
    records = [r.record() for r in trainer.history]
    assert main(["run", "--preset", "linear-module", "--epochs", "30", "-q", "--out", str(tmp_path / "h.json")]) == 0
    assert (tmp_path / "h.json").read_text() == json.dumps(records, indent=1) + "\n"
    assert main(["run", "--preset", "linear-module", "--epochs", "30", "-q", "--out", str(tmp_path / "h.csv")]) == 0
    with open(tmp_path / "h.csv", newline="") as handle:
        rows = list(csv.DictReader(handle))
    assert [float(row["rmse"]) for row in rows] == [r["rmse"] for r in records]
    assert [float(row["weight"]) for row in rows] == [r["params"]["weight"] for r in records]
    assert sorted(p.name for p in tmp_path.iterdir()) == ["h.csv", "h.json"]
