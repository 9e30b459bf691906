"""`gdtui serve`: its checks before any server starts, the command line of each tab's app, a training process
that keeps off the stream textual-serve reads, and the app itself in headless Chromium: its steps and restarts,
a served tab's data folder and its errors that never show a file's content, and its record as a download.

The browser tests drive Chromium over the DevTools protocol (aiohttp's websocket client, no playwright). They
wait on what the app wrote to the page (the websocket frames the page received, read through the Network
domain: the status line's `paused  │  epoch 1/`, a notice's text; the same frames played on a grid give the
screen, where a field is to click), on screenshots that change and then settle, and on the browser's download
events, each wait with a deadline, so no step has to win a race. `GDTUI_SCREENSHOTS=1` also writes
screenshots/serve.png.
"""

from __future__ import annotations

import asyncio
import base64
import codecs
import json
import os
import re
import shlex
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import tomllib
import unicodedata
from collections.abc import AsyncIterator, Awaitable, Callable, Sequence
from contextlib import asynccontextmanager, suppress
from multiprocessing.connection import Connection
from pathlib import Path
from typing import Any

import pytest

from gdtui.cli import main
from gdtui.cli.serve import NEEDS_SERVE, child_command
from gdtui.engine import protocol as p
from gdtui.engine.presets import PRESETS
from gdtui.engine.served import DEFAULT_MAX_PARAMS, ENV, Served
from gdtui.engine.tomlconfig import load_record
from gdtui.tui.client import SessionClient, _child_env

ROOT = Path(__file__).resolve().parent.parent
DEADLINE = 30.0  # seconds any one wait of the browser test may take
TOKEN = "browser-test-token"


# the checks, before any server starts ------------------------------------------------------------------------


@pytest.fixture
def servers(monkeypatch: pytest.MonkeyPatch) -> list[dict[str, Any]]:
    """textual-serve's Server replaced by a recorder: each server started, as what it was given."""
    pytest.importorskip("textual_serve.server", reason="textual-serve is not installed: pip install 'gdtui[serve]'")
    started: list[dict[str, Any]] = []

    class Recorder:
        ended_by = None

        def __init__(self, command: str, **kwargs: Any) -> None:
            self.given = {"command": command, **kwargs}

        def serve(self) -> None:
            started.append(self.given)

    monkeypatch.setattr("gdtui.cli.serve_web.Serving", Recorder)
    return started


@pytest.mark.parametrize(
    "args, names",
    [
        (["--lr", "nope"], "'--lr'"),
        (["--epochs", "0"], "'--epochs'"),
        (["--vary", "lr=1e-5,nope"], "'--vary'"),
        (["--data", "no-such-file.csv"], "'--data'"),
        (["--port", "0"], "'--port'"),
        (["--token", "", "--host", "0.0.0.0"], "'--token'"),
        (["--token", "", "--host", "gpu-box.example"], "'--token'"),
        (["--max-params", "100", "--model", "mlp", "--hidden", "64"], "'--max-params'"),
        (["--max-params", "0"], "'--max-params'"),
        (["--max-tabs", "0"], "'--max-tabs'"),
        (["--data-dir", "no-such-folder"], "'--data-dir'"),
    ],
)
def test_a_bad_option_exits_2_with_one_line_and_no_server(
    args: list[str], names: str, servers: list[dict[str, Any]], capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(["serve", *args]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and err.startswith("gdtui: error: ") and names in err, err
    assert servers == []


def test_without_textual_serve_it_says_how_to_install_it(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setitem(sys.modules, "textual_serve", None)  # an import of it fails, as when not installed
    monkeypatch.setitem(sys.modules, "textual_serve.server", None)
    assert main(["serve", "--preset", "qiita-quadratic"]) == 2
    assert capsys.readouterr().err == NEEDS_SERVE + "\n"
    assert NEEDS_SERVE == "gdtui serve needs textual-serve: pip install 'gdtui[serve]'"


# each tab's command line ----------------------------------------------------------------------------------


def test_the_child_gets_the_run_options_as_given() -> None:
    command = child_command(["--preset", "qiita-quadratic", "--lr", "0.01"])
    assert command == shlex.join([sys.executable, "-m", "gdtui", "--preset", "qiita-quadratic", "--lr", "0.01"])
    assert shlex.split(command)[1:] == ["-m", "gdtui", "--preset", "qiita-quadratic", "--lr", "0.01"]


def test_the_server_s_own_options_stay_with_the_server() -> None:
    args = ["--host", "0.0.0.0", "--preset", "qiita-quadratic", "--port=9000", "--title", "--lr", "--run"]
    assert shlex.split(child_command(args))[3:] == ["--preset", "qiita-quadratic", "--run"]  # title "--lr"
    # a run option's value that looks like a server option is the run option's
    args = ["--data", "--port", "--vary", "lr=1e-5,2e-5", "--accumulate-grad", "--no-shuffle"]
    assert shlex.split(child_command(args))[3:] == args


def test_a_value_with_spaces_and_quotes_is_quoted_for_the_shell() -> None:
    odd = "my data's file; rm -rf $HOME.csv"
    command = child_command(["--data", odd, "--init", "a=0.5,b=-1,c=2"])
    assert shlex.split(command) == [sys.executable, "-m", "gdtui", "--data", odd, "--init", "a=0.5,b=-1,c=2"]
    program = f"{shlex.quote(sys.executable)} -m gdtui"
    assert command.startswith(program + " ")
    echo = command.replace(program, "printf '%s\\n'", 1)  # the shell's own reading of the arguments
    echoed = subprocess.run(["sh", "-c", echo], capture_output=True, text=True, check=True)
    assert echoed.stdout.splitlines() == ["--data", odd, "--init", "a=0.5,b=-1,c=2"]


def test_serve_starts_the_server_with_the_child_s_command(
    servers: list[dict[str, Any]], tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(tmp_path)
    args = ["--preset", "qiita-quadratic", "--lr", "0.01", "--vary", "optimizer=gd,adam", "--run"]
    assert main(["serve", "--port", "9001", *args, "--host", "0.0.0.0", "--token", "t0k"]) == 0
    rules = Served(str(tmp_path), None, DEFAULT_MAX_PARAMS)
    given = {"host": "0.0.0.0", "port": 9001, "title": "gdtui", "token": "t0k", "max_tabs": 20}
    assert servers == [{"command": child_command(args, rules), **given}]
    assert main(["serve", "--title", "my run", "--max-tabs", "3"]) == 0
    token = servers[1].pop("token")
    assert len(token) >= 32 and token != servers[0]["token"]  # a new random one
    given = {"host": "127.0.0.1", "port": 8000, "title": "my run", "max_tabs": 3}
    assert servers[1] == {"command": child_command([], rules), **given}


def _rules(command: str) -> Served:
    words = shlex.split(command)
    assert words[0].startswith(f"{ENV}=") and words[1:3] == [sys.executable, "-m"]
    rules = Served.from_env({ENV: words[0].split("=", 1)[1]})
    assert rules is not None
    return rules


def test_each_tab_gets_the_server_s_rules(
    servers: list[dict[str, Any]], tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    (tmp_path / "class").mkdir()
    (tmp_path / "mine.csv").write_text("x,y\n1,2\n2,4\n")
    monkeypatch.chdir(tmp_path)
    assert main(["serve", "--data-dir", "class", "--data", "mine.csv", "--max-params", "99", "--token", ""]) == 0
    assert servers[0]["token"] == "" and servers[0]["host"] == "127.0.0.1"
    assert _rules(servers[0]["command"]) == Served(str(tmp_path / "class"), str(tmp_path / "mine.csv"), 99)
    assert shlex.split(servers[0]["command"])[3:] == ["gdtui", "--data", "mine.csv"]  # the run options only
    assert main(["serve"]) == 0  # the folder it starts in, and no data of its own
    assert _rules(servers[1]["command"]) == Served(str(tmp_path), None, DEFAULT_MAX_PARAMS)


# the training process keeps off standard output --------------------------------------------------------------


def _until(conn: Connection, kind: type, seconds: float = 30.0, lane: int | None = None) -> Any:
    """The session's next reply of `kind` (of `lane`, if given; the replies before it are dropped); fails after
    `seconds`."""
    while conn.poll(seconds):
        reply = conn.recv()
        assert not isinstance(reply, p.Error) or kind is p.Error, reply
        if isinstance(reply, kind) and (lane is None or reply.lane == lane):
            return reply
    raise AssertionError(f"no {kind.__name__} reply within {seconds} s")


def test_the_training_process_never_writes_to_stdout(tmp_path: Path) -> None:
    """Under textual-serve the app's standard output is the page's stream: anything the training process
    wrote there would corrupt it. Spawned as SessionClient spawns it, but with its stdout kept in a file."""
    out, err = tmp_path / "stdout", tmp_path / "stderr"
    ours, theirs = socket.socketpair()
    with out.open("wb") as stdout, err.open("wb") as stderr:
        process = subprocess.Popen(
            [*SessionClient.command, str(theirs.fileno())],
            pass_fds=[theirs.fileno()],
            stdin=subprocess.DEVNULL,
            stdout=stdout,
            stderr=stderr,
            close_fds=True,
            env=_child_env(),
        )
    theirs.close()
    conn = Connection(ours.detach())
    try:
        conn.send(p.Start(PRESETS["fastai-quadratic"].config.replace(epochs=100_000)))
        _until(conn, p.Ready)
        seen = 0

        def obey(command: p.Command) -> None:
            nonlocal seen
            conn.send(command)
            seen += 1
            assert _until(conn, p.Seen).count == seen

        obey(p.Step())
        obey(p.Run())
        _until(conn, p.Results)
        obey(p.Pause())
        obey(p.Update({"lr": 2e-5}))
        obey(p.WatchLandscape(None, None, (16, 8)))
        _until(conn, p.LandscapeReady)
        obey(p.UnwatchLandscape())
        obey(p.FindLr(steps=20))
        obey(p.AddLane({"lr": 3e-5}))
        obey(p.Run())
        _until(conn, p.Results, lane=0)  # the lane not focused reports too
        obey(p.Export(str(tmp_path / "history.csv")))
        obey(p.Reset())
        conn.send(p.Quit())  # not acknowledged: the session ends
        assert process.wait(30) == 0
    finally:
        conn.close()
        if process.poll() is None:
            process.kill()
            process.wait()
    assert (tmp_path / "history-lane1.csv").exists()
    assert out.read_bytes() == b"", out.read_text(errors="replace")


# the app in a browser ------------------------------------------------------------------------------------------

ANSI = re.compile(rb"\x1b(\[[0-9;?<>=]*[ -/]*[@-~]|\][^\x07\x1b]*(\x07|\x1b\\)|[P^_][^\x1b]*\x1b\\|[@-Z\\-_])")
# a line of a notice (a toast, its left edge ▌): its text, up to the padding on its right
TOAST_LINE = re.compile(r"▌ (\S.*?)(?= {2}|\n|$)")
# what the app writes, token by token: a cursor move (row;column, from 1), any other escape sequence, a newline, a
# carriage return, or text
ESCAPE = re.compile(ANSI.pattern.decode())
WRITTEN = re.compile(
    rf"\x1b\[(?P<row>\d*)(?:;(?P<column>\d*))?H|(?P<escape>{ESCAPE.pattern})|(?P<newline>\n)|(?P<return>\r)"
    r"|(?P<text>[^\x1b\n\r]+)"
)


def _chromium() -> list[str] | None:
    """The command of a headless Chromium on this machine, or None."""
    if path := shutil.which("chromium-headless-shell"):
        return [path]
    for name in ("chromium", "chromium-browser", "google-chrome"):
        if path := shutil.which(name):
            return [path, "--headless"]
    return None


def _needs_a_browser() -> Any:
    """aiohttp, where a headless Chromium, textual-serve and aiohttp are all here; else the test is skipped,
    saying which is missing."""
    if _chromium() is None:
        pytest.skip("no headless Chromium (chromium-headless-shell or chromium) on this machine")
    pytest.importorskip("textual_serve.server", reason="textual-serve is not installed: pip install 'gdtui[serve]'")
    return pytest.importorskip("aiohttp", reason="aiohttp is not installed: pip install 'gdtui[serve]'")


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def _descendants(root: int) -> dict[int, list[str]]:
    """The processes under `root`, with their arguments (from /proc)."""
    parents: dict[int, int] = {}
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            with suppress(OSError):
                parents[int(entry.name)] = int((entry / "stat").read_text().rsplit(")", 1)[1].split()[1])
    found: dict[int, list[str]] = {}
    todo = [root]
    while todo:
        parent = todo.pop()
        for pid, ppid in parents.items():
            if ppid == parent and pid not in found:
                with suppress(OSError):
                    found[pid] = (Path("/proc") / str(pid) / "cmdline").read_bytes().decode().split("\0")
                    todo.append(pid)
    return found


def _sessions(root: int) -> set[int]:
    """The training processes under `root`."""
    return {pid for pid, argv in _descendants(root).items() if argv[1:3] == ["-m", "gdtui.engine.session"]}


def _apps(root: int) -> set[int]:
    """The apps under `root` (each tab's `python -m gdtui`, not the shell that textual-serve starts it with)."""
    return {pid for pid, argv in _descendants(root).items() if argv[1:3] == ["-m", "gdtui"] and "serve" not in argv}


async def _eventually(what: str, check: Callable[[], Awaitable[Any]], seconds: float = DEADLINE) -> Any:
    """Poll `check` until it returns something true; fail naming `what` after `seconds`."""
    loop = asyncio.get_running_loop()
    deadline = loop.time() + seconds
    while loop.time() < deadline:
        if result := await check():
            return result
        await asyncio.sleep(0.1)
    raise AssertionError(f"gave up waiting for {what} after {seconds} s")


async def answering(http: Any, port: int) -> None:
    """Until `gdtui serve` on `port` answers its page (given the token)."""
    import aiohttp

    async def answers() -> bool:
        with suppress(aiohttp.ClientError):
            async with http.get(f"http://127.0.0.1:{port}/?token={TOKEN}") as response:
                return bool(response.status == 200)
        return False

    await _eventually("the server to answer", answers)


class Screen:
    """What the page's terminal shows, as text: the app's output played on a grid of cells (its cursor moves,
    newlines and characters; styles and modes left out), as xterm.js plays it on the page."""

    def __init__(self) -> None:
        self.cells: dict[int, dict[int, str]] = {}
        self.row = self.column = 0
        self.decoder = codecs.getincrementaldecoder("utf-8")(errors="replace")
        self.pending = ""  # an escape sequence cut between two frames, completed by the next

    def feed(self, data: bytes) -> None:
        text = self.pending + self.decoder.decode(data)
        cut = text.rfind("\x1b")
        self.pending = ""
        if cut >= 0 and len(text) - cut < 64 and not ESCAPE.match(text, cut):
            text, self.pending = text[:cut], text[cut:]
        for token in WRITTEN.finditer(text):
            if token["text"]:
                for char in token["text"]:
                    self.cells.setdefault(self.row, {})[self.column] = char
                    self.column += 2 if unicodedata.east_asian_width(char) in "WF" else 1
            elif token["newline"]:
                self.row += 1
            elif token["return"]:
                self.column = 0
            elif not token["escape"]:
                self.row, self.column = int(token["row"] or 1) - 1, int(token["column"] or 1) - 1

    def lines(self) -> list[str]:
        """Each row of the screen, top to bottom, its cells never written left blank."""
        lines = []
        for row in range(max(self.cells, default=-1) + 1):
            cells = self.cells.get(row, {})
            lines.append("".join(cells.get(column, " ") for column in range(max(cells, default=-1) + 1)))
        return lines


class Page:
    """A Chromium tab over the DevTools protocol: calls, screenshots, keys, and the text the page was sent."""

    def __init__(self, ws: Any) -> None:
        self.ws = ws
        self.calls = 0
        self.waiting: dict[int, asyncio.Future[dict[str, Any]]] = {}
        self.text = bytearray()  # what the server sent the page's websocket, escape sequences left out
        self.screen = Screen()  # what the page shows
        self.events: list[dict[str, Any]] = []  # every other event the target sent (a download's progress...)
        self.reader = asyncio.create_task(self._read())

    async def _read(self) -> None:
        async for message in self.ws:
            reply = json.loads(message.data)
            if "id" in reply:
                self.waiting.pop(reply["id"]).set_result(reply)
            elif reply.get("method") == "Network.webSocketFrameReceived":
                frame = reply["params"]["response"]
                data = frame["payloadData"]
                self.text += ANSI.sub(b"", base64.b64decode(data) if frame["opcode"] == 2 else data.encode())
                if frame["opcode"] == 2:  # the app's output (a text frame is textual-serve's own: a pong...)
                    self.screen.feed(base64.b64decode(data))
            elif "method" in reply:
                self.events.append(reply)

    async def call(self, method: str, **params: Any) -> dict[str, Any]:
        self.calls += 1
        future = self.waiting[self.calls] = asyncio.get_running_loop().create_future()
        await self.ws.send_json({"id": self.calls, "method": method, "params": params})
        reply = await asyncio.wait_for(future, DEADLINE)
        assert "error" not in reply, (method, reply)
        return dict(reply["result"])

    async def screenshot(self) -> bytes:
        return base64.b64decode((await self.call("Page.captureScreenshot", format="png"))["data"])

    async def press(self, key: str) -> int:
        """Type `key` into the terminal (a character, or "enter"); returns where the page's text stood, to wait for
        what follows."""
        mark = len(self.text)
        await self.call("Runtime.evaluate", expression="document.querySelector('.xterm-helper-textarea').focus()")
        if key == "enter":
            code = {"type": "keyDown", "key": "Enter", "code": "Enter", "windowsVirtualKeyCode": 13}
            key = "\r"
        else:
            code = {
                "type": "keyDown",
                "key": key,
                "code": f"Key{key.upper()}",
                "windowsVirtualKeyCode": ord(key.upper()),
            }
        await self.call("Input.dispatchKeyEvent", **code, text=key)
        await self.call("Input.dispatchKeyEvent", **{**code, "type": "keyUp"})
        return mark

    async def drag(self, row: int, start: int, end: int) -> None:
        """Press the mouse on the cell at `row`, `start` (from 0), drag it to column `end` and let go."""
        box = await self.call(
            "Runtime.evaluate",
            expression="JSON.stringify(document.querySelector('.xterm-screen').getBoundingClientRect())",
            returnByValue=True,
        )
        screen = json.loads(box["result"]["value"])
        sizes = [
            e["params"]["response"]["payloadData"] for e in self.events if e["method"] == "Network.webSocketFrameSent"
        ]
        size = [json.loads(s)[1] for s in sizes if s.startswith('["resize"')][-1]  # the terminal's, as last told
        width, height = screen["width"] / size["width"], screen["height"] / size["height"]
        y = screen["top"] + (row + 0.5) * height
        for kind, column, buttons in (("mousePressed", start, 1), ("mouseMoved", end, 1), ("mouseReleased", end, 0)):
            x = screen["left"] + (column + 0.5) * width
            await self.call(
                "Input.dispatchMouseEvent", type=kind, x=x, y=y, button="left", buttons=buttons, clickCount=1
            )

    async def type(self, text: str) -> int:
        """Type `text` into the terminal at once (as a paste of plain text is typed); where the page's text stood."""
        mark = len(self.text)
        await self.call("Runtime.evaluate", expression="document.querySelector('.xterm-helper-textarea').focus()")
        await self.call("Input.insertText", text=text)
        return mark

    def notices(self, after: int = 0) -> str:
        """The text of the notices the app drew after offset `after`, each line of each one joined, spaces left out
        (a notice wraps its text where its width ends, within a word too)."""
        drawn = self.text[after:].decode(errors="replace")
        return "".join(TOAST_LINE.findall(drawn)).replace(" ", "")

    async def said(self, message: str, after: int = 0) -> None:
        """Wait until a notice drawn after offset `after` says `message`."""
        wanted = message.replace(" ", "")

        async def drawn() -> bool:
            return wanted in self.notices(after)

        await _eventually(f"a notice saying {message!r}", drawn)

    async def shown(self, text: str, after: int = 0) -> int:
        """Wait until the app has written `text` to the page (after offset `after`); where it ends."""

        async def written() -> int:
            at = self.text.find(text.encode(), after)
            return at + len(text) if at >= 0 else 0

        return int(await _eventually(f"{text!r} on the page", written))

    async def settled(self, unlike: bytes) -> bytes:
        """A screenshot unlike `unlike` and like the one just before it: the page has drawn and stopped."""
        last = await self.screenshot()

        async def changed_and_still() -> bytes | None:
            nonlocal last
            shot, last = last, await self.screenshot()
            return last if shot == last and last != unlike else None

        return bytes(await _eventually("the page to change and settle", changed_and_still))


@asynccontextmanager
async def _processes(
    port: int, profile: str, args: Sequence[str] = (), cwd: Path = ROOT
) -> AsyncIterator[tuple[subprocess.Popen[bytes], str]]:
    """`gdtui serve` on `port` (with `args`, in the folder `cwd`, gdtui imported from this checkout) and a headless
    Chromium, each in its own process group, killed on the way out; yields the server and the DevTools port."""
    chromium = _chromium()
    assert chromium is not None
    log = Path(profile) / "server.log"
    started: list[subprocess.Popen[bytes]] = []
    try:
        with log.open("wb") as out:
            server = subprocess.Popen(
                [sys.executable, "-m", "gdtui", "serve", "--port", str(port), "--token", TOKEN, *args],
                cwd=cwd,
                env={
                    **os.environ,
                    "PYTHONPATH": os.pathsep.join(filter(None, [str(ROOT), os.environ.get("PYTHONPATH")])),
                },
                stdin=subprocess.DEVNULL,
                stdout=out,
                stderr=subprocess.STDOUT,
                start_new_session=True,
            )
            started.append(server)
            browser = [
                *chromium,
                "--no-sandbox",
                "--disable-gpu",
                "--hide-scrollbars",
                "--window-size=1400,860",
                "--remote-debugging-port=0",
                f"--user-data-dir={profile}",
                "about:blank",
            ]
            started.append(
                subprocess.Popen(
                    browser, stdin=subprocess.DEVNULL, stdout=out, stderr=subprocess.DEVNULL, start_new_session=True
                )
            )
        active = Path(profile) / "DevToolsActivePort"

        async def devtools_port() -> str | None:
            lines = active.read_text().split() if active.exists() else []
            return lines[0] if len(lines) == 2 else None

        yield server, await _eventually("Chromium's DevTools port", devtools_port)
    except BaseException:
        print(log.read_text(errors="replace")[-4000:], file=sys.stderr)
        raise
    finally:
        # Chromium first (its tabs' websockets close), then the server, whose group holds each tab's app and
        # training process.
        for process in reversed(started):
            for how in (signal.SIGTERM, signal.SIGKILL):  # a chance to end cleanly, then whatever is left
                with suppress(ProcessLookupError):
                    os.killpg(process.pid, how)
                with suppress(subprocess.TimeoutExpired):
                    process.wait(5)


@asynccontextmanager
async def _tab(http: Any, devtools: str) -> AsyncIterator[Page]:
    """A new Chromium tab, its network watched (the app's frames are read from there)."""
    async with http.put(f"http://127.0.0.1:{devtools}/json/new?about:blank") as response:
        tab = json.loads(await response.read())
    async with http.ws_connect(tab["webSocketDebuggerUrl"], max_msg_size=0) as ws:
        page = Page(ws)
        try:
            await page.call("Network.enable")
            await page.call("Page.enable")
            yield page
        finally:
            page.reader.cancel()


async def _open(page: Page, port: int) -> bytes:
    """Open the app in `page`; its screenshot once the app is up and its training process has its data."""
    blank = await page.screenshot()
    await page.call("Page.navigate", url=f"http://127.0.0.1:{port}/?token={TOKEN}")
    await page.shown("ready  │  epoch 0/")
    return await page.settled(unlike=blank)


async def test_the_app_runs_steps_and_restarts_its_training_process_in_a_browser(tmp_path: Path) -> None:
    aiohttp = _needs_a_browser()
    port = _free_port()
    with tempfile.TemporaryDirectory() as profile:
        async with _processes(port, profile) as (server, devtools), aiohttp.ClientSession() as http:
            await answering(http, port)
            async with _tab(http, devtools) as page:
                shot = await _open(page, port)
                (spawned,) = _sessions(server.pid)
                await _step_reset_restart(page, server, spawned, shot, tmp_path)
                async with _tab(http, devtools) as other:  # a second tab: an app and a process of its own
                    await _open(other, port)
                    assert (len(_apps(server.pid)), len(_sessions(server.pid))) == (2, 2)
                    await other.call("Page.navigate", url="about:blank")  # leaving the page ends both

                    async def one_left() -> bool:
                        return (len(_apps(server.pid)), len(_sessions(server.pid))) == (1, 1)

                    await _eventually("the second tab's app and training process to end", one_left)
                await page.shown("paused  │  epoch 2/", after=await page.press("s"))  # the first tab's goes on


async def _step_reset_restart(
    page: Page, server: subprocess.Popen[bytes], spawned: int, shot: bytes, tmp_path: Path
) -> None:
    """Step the app three times, reset it, kill its training process `spawned` and restart it with r."""
    for epoch in (1, 2, 3):  # as the README's picture: three steps
        await page.shown(f"paused  │  epoch {epoch}/", after=await page.press("s"))
        shot = await page.settled(unlike=shot)
    (tmp_path / "serve.png").write_bytes(shot)
    if os.environ.get("GDTUI_SCREENSHOTS") == "1":
        (ROOT / "screenshots" / "serve.png").write_bytes(shot)

    await page.shown("ready  │  epoch 0/", after=await page.press("r"))  # r resets the run
    shot = await page.settled(unlike=shot)
    # The training process dies; r starts a new one, from inside the running app under Textual's web driver
    # (where a multiprocessing spawn fails: Textual issue 3593).
    mark = len(page.text)
    os.kill(spawned, signal.SIGKILL)
    await page.shown("training process ended", after=mark)
    shot = await page.settled(unlike=shot)
    await page.shown("ready  │  epoch 0/", after=await page.press("r"))
    respawned = _sessions(server.pid)
    assert len(respawned) == 1 and spawned not in respawned, (spawned, respawned)
    shot = await page.settled(unlike=shot)
    await page.shown("paused  │  epoch 1/", after=await page.press("s"))
    await page.settled(unlike=shot)


# a served tab in a browser: its data folder, errors without a file's content, its files as downloads ----------

SECRET = "hunter2-secret"  # a line of a file the person in the browser must never see
PRESET = "fastai-quadratic"


@pytest.fixture
def folders(tmp_path: Path) -> tuple[Path, Path]:
    """The served data folder (a good CSV, and one whose third line holds a secret), the server's working folder
    (empty), and beside them a file outside the data folder that holds a secret."""
    served, work = tmp_path / "class", tmp_path / "work"
    served.mkdir()
    work.mkdir()
    (served / "points.csv").write_text("x,y\n1,2\n2,4\n3,6\n4,8\n")
    (served / "bad.csv").write_text(f"x,y\n1,2\n{SECRET},3\n")
    (tmp_path / "secret.csv").write_text(f"user,password\n{SECRET},123\n")
    return served, work


@asynccontextmanager
async def _served_tab(aiohttp: Any, served: Path, work: Path, *args: str) -> AsyncIterator[tuple[Page, Page]]:
    """`gdtui serve --data-dir SERVED` started in `work` with `args`, and its app open in a Chromium tab; yields the
    tab and the browser's own DevTools connection (where its downloads are told)."""
    port = _free_port()
    with tempfile.TemporaryDirectory() as profile:
        run = ["--data-dir", str(served), "--preset", PRESET, *args]
        async with _processes(port, profile, run, cwd=work) as (_, devtools), aiohttp.ClientSession() as http:
            await answering(http, port)
            async with http.get(f"http://127.0.0.1:{devtools}/json/version") as response:
                url = json.loads(await response.read())["webSocketDebuggerUrl"]
            async with http.ws_connect(url, max_msg_size=0) as ws, _tab(http, devtools) as page:
                browser = Page(ws)
                try:
                    await _open(page, port)
                    yield page, browser
                except BaseException:
                    print("the page showed:", *page.screen.lines(), sep="\n", file=sys.stderr)
                    raise
                finally:
                    browser.reader.cancel()


async def _field(page: Page, field: str) -> tuple[int, int, int]:
    """Where the hyperparameters pane shows `field`'s box once the form is built: its row, its first column and the
    column just past the value it shows (still inside the box), from 0."""

    async def found() -> tuple[int, int, int] | None:
        lines = page.screen.lines()
        if not any("▼" in line for line in lines):  # the pane's first frame, its values as text, has no lists yet
            return None
        for row, line in enumerate(lines):
            if (at := re.match(rf"│ {field} +", line)) and "│" in line[at.end() :]:
                shown = line[at.end() : line.index("│", at.end())].rstrip()
                return row, at.end(), at.end() + len(shown)
        return None

    row, first, last = await _eventually(f"the {field} field on the page", found)
    return row, first, last


async def _data(page: Page, value: str) -> int:
    """As a user in the browser does it: select the text of the pane's data field with the mouse (press on its first
    cell, drag past its text, inside the box), type `value` over it and press enter; where the page's text stood
    before.

    The mouse, not tab: Textual hands a key to the widget focused when the key arrives, and moves the focus for a
    tab only once that key has come back up from it, so what is typed right after a tab can reach the field the
    focus left; a press of the mouse focuses the field at once, before any key that follows it."""
    row, first, last = await _field(page, "data")
    mark = len(page.text)
    await page.drag(row, first, last)
    await page.type(value)
    await page.press("enter")
    return mark


async def test_a_served_tab_in_a_browser_reads_its_data_folder_only_and_never_shows_a_file_s_content(
    folders: tuple[Path, Path], tmp_path: Path
) -> None:
    aiohttp = _needs_a_browser()
    served, work = folders
    async with _served_tab(aiohttp, served, work) as (page, _):
        outside = "data: {}: outside the served data folder; gdtui serve reads files there only"
        # Each value is answered on the page before the next is typed (enter has given the keys back to the run).
        mark = await _data(page, "../secret.csv")  # out of the folder by its parent
        await page.said("not applied", mark)
        await page.said(outside.format("../secret.csv"), mark)
        mark = await _data(page, str(tmp_path / "secret.csv"))  # by its absolute path
        await page.said(outside.format(tmp_path / "secret.csv"), mark)
        mark = await _data(page, "bad.csv")  # inside: read by the training process, its error without the row
        await page.said(f"{os.path.realpath(served / 'bad.csv')}:3: not a plain decimal number", mark)
        mark = await _data(page, "points.csv")  # inside and good: a new run on it
        await page.said("data changed: the run restarts from epoch 0", mark)
        await page.shown("ready  │  epoch 0/", mark)
        await page.shown("paused  │  epoch 1/", after=await page.press("s"))
        assert SECRET not in page.text.decode(errors="replace")  # in nothing the page was ever sent
    assert os.listdir(work) == []


async def test_a_served_tab_in_a_browser_downloads_its_record_and_writes_nothing(
    folders: tuple[Path, Path], tmp_path: Path
) -> None:
    aiohttp = _needs_a_browser()
    served, work = folders
    downloads = tmp_path / "downloads"
    downloads.mkdir()
    data = served / "points.csv"
    async with _served_tab(aiohttp, served, work, "--lr", "3e-5", "--epochs", "7", "--data", str(data)) as (
        page,
        browser,
    ):
        await browser.call(
            "Browser.setDownloadBehavior", behavior="allow", downloadPath=str(downloads), eventsEnabled=True
        )
        await page.shown("paused  │  epoch 1/", after=await page.press("s"))
        await page.press("W")

        async def downloaded() -> dict[str, Any] | None:
            done = {
                e["params"]["guid"]
                for e in browser.events
                if e["method"] == "Browser.downloadProgress" and e["params"]["state"] == "completed"
            }
            began = [e["params"] for e in browser.events if e["method"] == "Browser.downloadWillBegin"]
            return next((b for b in began if b["guid"] in done), None)

        download = await _eventually("the record's download", downloaded)
        name = download["suggestedFilename"]
        assert re.fullmatch(rf"gdtui-{PRESET}-\d{{8}}-\d{{6}}\.toml", name), name
        await page.said(f"1 lane downloaded as {name}")
        record = tomllib.loads((downloads / name).read_text())
    assert record["preset"] == PRESET and record["lr"] == 3e-5 and record["epochs"] == 7, record
    assert os.path.realpath(record["data"]) == os.path.realpath(data) and record["reached"] == 1, record
    (lane,) = load_record(str(downloads / name)).lanes  # what gdtui --config loads: the same run
    assert (lane.start.lr, lane.start.epochs, lane.reached) == (3e-5, 7, 1)
    assert os.listdir(downloads) == [name]
    assert os.listdir(work) == []  # nothing in the server's folder
    assert sorted(os.listdir(served)) == ["bad.csv", "points.csv"]
