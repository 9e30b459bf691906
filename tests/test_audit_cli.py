"""The command line and files side of the outside audit: devices, CSV numbers, history files, the version, and
a training process reported with its real exit status."""

from __future__ import annotations

import asyncio
import os
import stat
import sys

import pytest
import torch

from gdtui import __version__
from gdtui.cli import main
from gdtui.engine import resolve
from gdtui.engine import session as session_module
from gdtui.engine.csvfile import DataError, read_xy
from gdtui.engine.trainer import Trainer
from gdtui.tui.client import SessionClient
from tests.tui_helpers import stub_tui


def run(capsys, *args):
    code = main(list(args))
    captured = capsys.readouterr()
    return code, captured.out, captured.err


def test_version(capsys):
    code, out, _ = run(capsys, "--version")
    assert code == 0 and out.strip() == f"gdtui {__version__}"
    assert __version__.count(".") == 2


@pytest.mark.parametrize("spec", ["cuda:01", "cuda:1", "cuda"])
def test_a_cuda_device_that_is_not_there_exits_2_naming_it(capsys, spec):
    if torch.cuda.is_available():
        pytest.skip("this machine has CUDA")
    code, _, err = run(capsys, "run", "--device", spec, "--epochs", "1")
    assert code == 2
    lines = err.strip().splitlines()
    assert len(lines) == 1 and "--device" in lines[0] and "no CUDA device" in lines[0]
    assert "Traceback" not in err


# --- CSV ------------------------------------------------------------------------------------------------------


def linear_manual_reference(xs, ys, epochs=3):
    """Seed 004's loop on other data: w = b = 0, MSE, w -= lr * w.grad."""
    x_data = torch.tensor(xs)
    y_data = torch.tensor(ys)
    w = torch.tensor(0.0, requires_grad=True)
    b = torch.tensor(0.0, requires_grad=True)
    log = []
    for epoch in range(epochs):
        y_pred = w * x_data + b
        loss = torch.mean((y_pred - y_data) ** 2)
        loss.backward()
        with torch.no_grad():
            w -= 0.01 * w.grad
            b -= 0.01 * b.grad
        w.grad.zero_()
        b.grad.zero_()
        log.append(loss.item())
    return log


@pytest.mark.parametrize("header", ["", "x,y\n"])
def test_a_byte_order_mark_is_accepted(tmp_path, capsys, header):
    path = tmp_path / "bom.csv"
    path.write_bytes(("\ufeff" + header + "1,2\n2,4\n3,6.5\n").encode("utf-8"))
    data = read_xy(str(path))
    assert list(data.x) == [1.0, 2.0, 3.0] and list(data.y) == [2.0, 4.0, 6.5]
    code, out, err = run(capsys, "run", "--preset", "linear-manual", "--data", str(path), "--epochs", "3")
    assert code == 0 and err == ""
    losses = [float(line.split("loss: ")[1].split()[0]) for line in out.splitlines() if line.startswith("epoch")]
    assert losses == linear_manual_reference([1.0, 2.0, 3.0], [2.0, 4.0, 6.5])


@pytest.mark.parametrize(
    "cell", ["1_0", "\u0661\u0662", "\uff11", "inf", "-inf", "nan", "0x10", "1e", "1.2.3", "\u00b2", "1,5e3"]
)
def test_a_number_is_plain_ascii_decimal_or_scientific(tmp_path, capsys, cell):
    path = tmp_path / "odd.csv"
    path.write_text(f"1,2\n{cell},3\n", encoding="utf-8")
    code, _, err = run(capsys, "run", "--data", str(path))
    assert code == 2
    lines = err.strip().splitlines()
    assert len(lines) == 1 and f"{path}:2" in lines[0], err


@pytest.mark.parametrize("cell", ["10", "-1.5", "+2", ".5", "5.", "1e3", "1E-3", "-2.5e+4", " 7 "])
def test_plain_numbers_are_read(tmp_path, cell):
    path = tmp_path / "fine.csv"
    path.write_text(f"1,{cell}\n", encoding="utf-8")
    assert list(read_xy(str(path)).y) == [float(cell)]


def test_a_value_that_overflows_float32_is_refused_with_its_line(tmp_path):
    path = tmp_path / "big.csv"
    path.write_text("1,2\n2,3.5e38\n")
    with pytest.raises(DataError, match=rf"{path}:2: too large for float32"):
        read_xy(str(path))


def test_a_value_that_underflows_to_zero_is_reported_with_its_line(tmp_path, capsys):
    path = tmp_path / "tiny.csv"
    path.write_text("x,y\n1,2\n2,1e-50\n3,6\n4,8\n")
    assert float(torch.tensor(1e-50, dtype=torch.float32)) == 0.0  # what float32 makes of it
    code, out, err = run(capsys, "run", "--preset", "linear-manual", "--data", str(path), "--epochs", "3")
    assert code == 0
    assert err.strip().splitlines() == [f"gdtui: warning: {path}:3: '2,1e-50' underflows to 0 in float32"]
    losses = [float(line.split("loss: ")[1].split()[0]) for line in out.splitlines() if line.startswith("epoch")]
    assert losses == linear_manual_reference([1.0, 2.0, 3.0, 4.0], [2.0, 0.0, 6.0, 8.0])


def test_the_tui_command_reads_a_csv_once(tmp_path, monkeypatch):
    """The command line reads the file to check it and hands what it read to the session, which builds from it."""
    path = tmp_path / "data.csv"
    path.write_text("1,2\n2,4\n3,6\n")
    reads = []
    real = read_xy

    def counting(p):
        reads.append(p)
        return real(p)

    monkeypatch.setattr("gdtui.cli.common.read_xy", counting)
    monkeypatch.setattr("gdtui.engine.data.read_xy", counting)
    spawned = stub_tui(monkeypatch)
    main(["--preset", "linear-manual", "--data", str(path)])
    assert reads == [str(path)]

    class Pipe:
        replies = []

        def send(self, reply):
            self.replies.append(reply)

    session = session_module.Session(Pipe())
    assert session.build(spawned["config"], spawned["csv"])
    assert reads == [str(path)]  # the session built its run from what the command line read
    assert session.trainer.data.x.tolist() == [1.0, 2.0, 3.0]


# --- history files --------------------------------------------------------------------------------------------


def a_history(epochs=3):
    trainer = Trainer(resolve("fastai-quadratic"))
    trainer.run(epochs)
    return trainer.history


def test_out_through_a_symlink_writes_its_target(tmp_path, capsys):
    target = tmp_path / "real" / "history.csv"
    target.parent.mkdir()
    target.write_text("old\n")
    link = tmp_path / "link.csv"
    link.symlink_to(target)
    code, _, _ = run(capsys, "run", "--quiet", "--out", str(link))
    assert code == 0
    assert link.is_symlink() and os.readlink(link) == str(target)
    assert target.read_text().startswith("epoch,loss,rmse")
    assert [p.name for p in target.parent.iterdir()] == ["history.csv"]  # no temporary left beside it


def test_the_directory_is_synced_after_the_rename(tmp_path, monkeypatch):
    synced = []
    real = os.fsync

    def recording(fd):
        synced.append(stat.S_ISDIR(os.fstat(fd).st_mode))
        return real(fd)

    monkeypatch.setattr(os, "fsync", recording)
    a_history().write(str(tmp_path / "h.csv"))
    assert synced == [False, True]  # the file's data, then its directory


def test_write_new_never_writes_over_a_file(tmp_path):
    history = a_history()
    wanted = str(tmp_path / "gdtui-run.csv")
    (tmp_path / "gdtui-run.csv").write_text("someone else's\n")
    first = history.write_new(wanted)
    second = history.write_new(wanted)
    assert first == (str(tmp_path / "gdtui-run-2.csv"), 3) and second == (str(tmp_path / "gdtui-run-3.csv"), 3)
    assert (tmp_path / "gdtui-run.csv").read_text() == "someone else's\n"


def test_write_new_claims_its_name_exclusively(tmp_path, monkeypatch):
    """Another gdtui creates the same name between our look and our write: we take the next one, theirs stays."""
    history = a_history()
    wanted = tmp_path / "gdtui-run.csv"
    real_open = os.open

    def racing_open(path, flags, mode=0o777):
        if path == str(wanted) and not wanted.exists():
            wanted.write_text("the other gdtui's\n")  # it wins the race for the name
        return real_open(path, flags, mode)

    monkeypatch.setattr(os, "open", racing_open)
    path, rows = history.write_new(str(wanted))
    assert path == str(tmp_path / "gdtui-run-2.csv") and rows == 3
    assert wanted.read_text() == "the other gdtui's\n"


def test_write_new_gives_the_mode_open_would(tmp_path):
    umask = os.umask(0o027)
    try:
        path, _ = a_history().write_new(str(tmp_path / "h.csv"))
    finally:
        os.umask(umask)
    assert stat.S_IMODE(os.stat(path).st_mode) == 0o640


# --- a training process that dies -----------------------------------------------------------------------------

# A session that closes its end of the pipe, then takes a while to exit with status 1 (as a crash in torch's
# teardown does): the pipe closes well before the exit status exists.
SLOW_CRASH = (
    "import os, sys, time\n"
    "os.close(int(sys.argv[1]))\n"
    "time.sleep(1.0)\n"
    "sys.stderr.write('RuntimeError: the device went away\\n')\n"
    "sys.exit(1)\n"
)


async def test_a_dead_session_is_reported_with_its_real_exit_status(monkeypatch):
    from gdtui.tui import messages

    monkeypatch.setattr(SessionClient, "command", (sys.executable, "-c", SLOW_CRASH))
    posted = []

    class Target:
        def post_message(self, message):
            posted.append(message)

    client = SessionClient()
    client.spawn(resolve())
    client.attach(Target())
    try:
        for _ in range(500):
            if any(isinstance(m, messages.SessionLost) for m in posted):
                break
            await asyncio.sleep(0.02)
        lost = [m for m in posted if isinstance(m, messages.SessionLost)]
        assert [m.reason for m in lost] == ["exit status 1: RuntimeError: the device went away"]
    finally:
        client.stop()


def test_a_value_float64_already_makes_zero_is_reported_too(tmp_path):
    path = tmp_path / "tinier.csv"
    path.write_text("x,y\n1,2\n2,1e-400\n3,0.000e5\n4,-0.0\n")
    assert read_xy(str(path)).warnings == (f"{path}:3: '2,1e-400' underflows to 0 in float32",)


def test_vary_on_a_device_that_is_not_there_exits_2(capsys):
    if torch.cuda.is_available():
        pytest.skip("this machine has CUDA")
    code, _, err = run(capsys, "run", "--vary", "lr=1e-5,2e-5", "--device", "cuda", "--quiet")
    lines = err.strip().splitlines()
    assert code == 2 and len(lines) == 1 and "--device" in lines[0] and "Traceback" not in err
