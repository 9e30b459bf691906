"""A served tab's app (GDTUI_SERVED in its environment, as `gdtui serve` starts it): data only from the served
folder, errors about a file that never quote its content, files as downloads, and the largest model it builds.

The rules themselves (gdtui.engine.served) are checked directly; the app is driven with Pilot, its training
process inheriting the environment as under textual-serve.
"""

from __future__ import annotations

import io
import os
from pathlib import Path
from typing import Any

import pytest

from gdtui.engine.config import ConfigError
from gdtui.engine.csvfile import DataError, read_xy
from gdtui.engine.served import ENV, Served
from gdtui.tui.app import GdtuiApp
from tests.tui_helpers import config, ready, wait_for

SIZE = (120, 36)
SECRET = "hunter2-secret"


def notices(app: GdtuiApp) -> list[str]:
    return [f"{n.title}: {n.message}" for n in app._notifications]


@pytest.fixture
def folder(tmp_path: Path) -> Path:
    """The served data folder: a good CSV, a folder, a FIFO, and links out of it; a secret file beside it."""
    served = tmp_path / "class"
    served.mkdir()
    (served / "points.csv").write_text("x,y\n1,2\n2,4\n3,6\n")
    (served / "sub").mkdir()
    (served / "sub" / "more.csv").write_text("x,y\n1,1\n2,2\n")
    os.mkfifo(served / "pipe.csv")
    (tmp_path / "secret.csv").write_text(f"user,password\n{SECRET},2\n")
    (served / "link.csv").symlink_to(tmp_path / "secret.csv")
    (served / "inner.csv").symlink_to(served / "points.csv")
    return served


# the rules --------------------------------------------------------------------------------------------------


def test_a_served_tab_reads_regular_files_of_its_folder_only(folder: Path, tmp_path: Path) -> None:
    rules = Served(str(folder))
    assert rules.check_data("points.csv") == str(folder / "points.csv")  # relative to the folder
    assert rules.check_data(str(folder / "sub" / "more.csv")) == str(folder / "sub" / "more.csv")
    assert rules.check_data("inner.csv") == str(folder / "points.csv")  # a link that stays inside: its real path
    assert rules.check_data("sine") == "sine" and rules.check_data("article") == "article"
    refused = {
        str(tmp_path / "secret.csv"): "outside the served data folder",
        "../secret.csv": "outside the served data folder",
        "link.csv": "outside the served data folder",  # a link out of the folder
        "/etc/passwd": "outside the served data folder",
        "/dev/zero": "outside the served data folder",
        "~/secret.csv": "no such file",  # no ~: a name inside the folder
        "missing.csv": "no such file",
        "sub": "not a regular file",
        "pipe.csv": "not a regular file",
    }
    for value, why in refused.items():
        with pytest.raises(ConfigError, match=why) as error:
            rules.check_data(value)
        assert error.value.field == "data"


def test_the_server_s_own_data_is_allowed_wherever_it_lies(folder: Path, tmp_path: Path) -> None:
    own = str(tmp_path / "secret.csv")
    rules = Served(str(folder), data=own)
    assert rules.check_data(own) == own
    with pytest.raises(ConfigError, match="outside"):
        Served(str(folder), data=str(folder / "points.csv")).check_data(own)


def test_the_rules_travel_in_the_environment(folder: Path) -> None:
    rules = Served(str(folder), data="/srv/x.csv", max_params=123)
    assert Served.from_env({ENV: rules.env()}) == rules
    assert Served.from_env({}) is None


def test_a_served_model_is_bounded_by_its_parameters() -> None:
    rules = Served("/", max_params=4_353)
    rules.check_params(config(model="mlp", hidden=(64, 64)))  # 4,353 parameters: the bound itself
    with pytest.raises(ConfigError, match=r"4,355 parameters: gdtui serve builds at most 4,353 \(--max-params\)"):
        rules.check_params(config(model="mlp", hidden=(64, 64, 1)), "hidden")


@pytest.mark.parametrize(
    "rows, reason",
    [
        (f"x,y\n1,2\n{SECRET},3\n", "not a plain decimal number"),
        (f"x,y\n1,2\n1e999,{SECRET}\n", "not a plain decimal number"),
        ("x,y\n1,2\n1e39,3\n", "too large for float32"),
    ],
)
def test_a_served_csv_error_names_the_file_the_line_and_the_reason_only(
    rows: str, reason: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    path = tmp_path / "bad.csv"
    path.write_text(rows)
    with pytest.raises(DataError) as terminal:
        read_xy(str(path))
    assert rows.splitlines()[2] in str(terminal.value)  # in a terminal the row is shown: the user's own file
    monkeypatch.setenv(ENV, Served(str(tmp_path)).env())
    with pytest.raises(DataError) as served:
        read_xy(str(path))
    assert str(served.value) == f"{path}:3: {reason}"


def test_a_served_underflow_warning_names_the_line_only(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    path = tmp_path / "tiny.csv"
    path.write_text("x,y\n1,2\n2,1e-50\n")
    monkeypatch.setenv(ENV, Served(str(tmp_path)).env())
    assert read_xy(str(path)).warnings == (f"{path}:3: a value underflows to 0 in float32",)


# the app ----------------------------------------------------------------------------------------------------


@pytest.fixture
def served(folder: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """The app runs as a served tab, in a working folder of its own (where nothing may be written)."""
    work = tmp_path / "work"
    work.mkdir()
    monkeypatch.chdir(work)
    monkeypatch.setenv(ENV, Served(str(folder), max_params=200).env())
    return work


async def _data(pilot: Any, value: str) -> None:
    app = pilot.app
    await wait_for(pilot, lambda: app.params.ready, what="the form")
    box = app.query_one("#f-data")
    box.focus()
    box.value = value
    await pilot.press("enter")


async def test_a_served_tab_refuses_data_outside_its_folder_and_never_shows_a_file_s_content(
    served: Path, folder: Path, tmp_path: Path
) -> None:
    (folder / "bad.csv").write_text(f"x,y\n1,2\n{SECRET},3\n")
    app = GdtuiApp(config(preset="linear-manual"))
    async with app.run_test(size=SIZE) as pilot:
        await ready(pilot)
        for outside in (str(tmp_path / "secret.csv"), "link.csv", "/etc/passwd"):
            await _data(pilot, outside)
            await wait_for(pilot, lambda o=outside: any(o in t and "outside" in t for t in notices(app)), what=outside)
        await _data(pilot, "bad.csv")
        said = f"{folder / 'bad.csv'}:3: not a plain decimal number"
        await wait_for(pilot, lambda: any(said in t for t in notices(app)), what="the session's refusal")
        await _data(pilot, "points.csv")
        await wait_for(pilot, lambda: app.config.data == str(folder / "points.csv"), what="the folder's file")
        assert not any(SECRET in t for t in notices(app)), notices(app)


async def test_a_served_tab_refuses_a_model_over_its_size(served: Path) -> None:
    app = GdtuiApp(config())
    async with app.run_test(size=SIZE) as pilot:
        await ready(pilot)
        app.apply("model", "mlp")  # 16: 49 parameters
        await wait_for(pilot, lambda: app.config.model == "mlp", what="a small mlp")
        app.apply("hidden", (16, 16))  # 321 parameters: over the 200 allowed
        said = "hidden: 321 parameters: gdtui serve builds at most 200 (--max-params)"
        await wait_for(pilot, lambda: any(said in t for t in notices(app)), what="the refusal")
        assert app.config.hidden != (16, 16) and app.query_one("#f-hidden").value == "16"


class Downloads:
    """What the app hands the browser, recorded (the headless driver would write into ~/Downloads)."""

    def __init__(self, app: GdtuiApp) -> None:
        self.got: list[tuple[str, str]] = []
        app.deliver_text = self.text  # type: ignore[method-assign]
        app.deliver_binary = self.binary  # type: ignore[method-assign]

    def text(self, file: io.StringIO, *, save_filename: str) -> str:
        self.got.append((save_filename, file.read()))
        file.close()
        return "key"

    def binary(self, file: io.BufferedReader, *, save_filename: str) -> str:
        self.got.append((save_filename, file.read().decode()))
        file.close()
        return "key"


async def test_a_served_tab_s_files_are_downloads_and_nothing_is_written(served: Path) -> None:
    app = GdtuiApp(config(epochs=3))
    async with app.run_test(size=SIZE) as pilot:
        downloads = Downloads(app)
        await ready(pilot)
        await pilot.press("W")
        await wait_for(pilot, lambda: len(downloads.got) == 1, what="the settings")
        name, text = downloads.got[0]
        assert name.startswith("gdtui-fastai-quadratic-") and name.endswith(".toml") and "lr = " in text
        assert any(f"downloaded as {name}" in t for t in notices(app))
        await pilot.press("space")
        await wait_for(pilot, lambda: app.state == "done", what="the run")
        await pilot.press("w")
        await wait_for(pilot, lambda: len(downloads.got) == 2, what="the history")
        name, text = downloads.got[1]
        assert name.endswith(".csv") and text.startswith("epoch,") and len(text.splitlines()) == 4
        await pilot.press("c")
        await wait_for(pilot, lambda: app.code.open and app.code.screen.text, what="the script")
        await pilot.press("w")
        await wait_for(pilot, lambda: len(downloads.got) == 3, what="the script")
        name, text = downloads.got[2]
        assert name.endswith(".py") and text == app.code.screen.text
    assert os.listdir(served) == []  # nothing in the server's folder
    from gdtui.tui import files

    assert files._private is not None and os.listdir(files._private.name) == []  # the history, read and removed
