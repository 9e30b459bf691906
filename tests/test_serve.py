"""`gdtui serve`: its checks before any server starts, the command line of each tab's app, a training process
that keeps off the stream textual-serve reads, and the app itself in headless Chromium.

The browser test drives Chromium over the DevTools protocol (aiohttp's websocket client, no playwright). It
waits on what the app wrote to the page (the websocket frames the page received, read through the Network
domain: the status line's `paused  │  epoch 1/`) and on screenshots that change and then settle, each wait
with a deadline, so no step has to win a race. `GDTUI_SCREENSHOTS=1` also writes screenshots/serve.png.
"""

from __future__ import annotations

import asyncio
import base64
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
from collections.abc import AsyncIterator, Awaitable, Callable
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


def _chromium() -> list[str] | None:
    """The command of a headless Chromium on this machine, or None."""
    if path := shutil.which("chromium-headless-shell"):
        return [path]
    for name in ("chromium", "chromium-browser", "google-chrome"):
        if path := shutil.which(name):
            return [path, "--headless"]
    return None


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


class Page:
    """A Chromium tab over the DevTools protocol: calls, screenshots, keys, and the text the page was sent."""

    def __init__(self, ws: Any) -> None:
        self.ws = ws
        self.calls = 0
        self.waiting: dict[int, asyncio.Future[dict[str, Any]]] = {}
        self.text = bytearray()  # what the server sent the page's websocket, escape sequences left out
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
        """Type `key` into the terminal; returns where the page's text stood, to wait for what follows."""
        mark = len(self.text)
        await self.call("Runtime.evaluate", expression="document.querySelector('.xterm-helper-textarea').focus()")
        code = {"type": "keyDown", "key": key, "code": f"Key{key.upper()}", "windowsVirtualKeyCode": ord(key.upper())}
        await self.call("Input.dispatchKeyEvent", **code, text=key)
        await self.call("Input.dispatchKeyEvent", **{**code, "type": "keyUp"})
        return mark

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
async def _processes(port: int, profile: str) -> AsyncIterator[tuple[subprocess.Popen[bytes], str]]:
    """`gdtui serve` on `port` and a headless Chromium, each in its own process group, killed on the way out;
    yields the server and the DevTools port."""
    chromium = _chromium()
    assert chromium is not None
    log = Path(profile) / "server.log"
    started: list[subprocess.Popen[bytes]] = []
    try:
        with log.open("wb") as out:
            server = subprocess.Popen(
                [sys.executable, "-m", "gdtui", "serve", "--port", str(port), "--token", TOKEN],
                cwd=ROOT,
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
    if _chromium() is None:
        pytest.skip("no headless Chromium (chromium-headless-shell or chromium) on this machine")
    pytest.importorskip("textual_serve.server", reason="textual-serve is not installed: pip install 'gdtui[serve]'")
    aiohttp = pytest.importorskip("aiohttp", reason="aiohttp is not installed: pip install 'gdtui[serve]'")
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
