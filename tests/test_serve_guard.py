"""`gdtui serve`'s guard, with a plain HTTP and websocket client on loopback: the token on the page and on its
websocket, the websocket's Origin, a server without a token, at most --max-tabs tabs, the options' checks, and a
tab's file reaching the client as a download through textual-serve.

The guard's tests serve a stand-in for gdtui (a process that speaks textual-serve's prelude, writes one line
naming its terminal's size, and ends when told to quit), so a tab starts in milliseconds; the last test serves
gdtui itself. Every wait is on a condition, with a deadline.
"""

from __future__ import annotations

import asyncio
import json
import os
import shlex
import signal
import subprocess
import sys
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager, suppress
from pathlib import Path
from typing import Any

import pytest

from tests.test_serve import ANSI, ROOT, TOKEN, _free_port, answering

pytest.importorskip("textual_serve.server", reason="textual-serve is not installed: pip install 'gdtui[serve]'")
aiohttp = pytest.importorskip("aiohttp", reason="aiohttp is not installed: pip install 'gdtui[serve]'")
from aiohttp.test_utils import TestClient, TestServer  # noqa: E402

from gdtui.cli.serve_web import FULL, NO_TOKEN, OTHER_ORIGIN, Guarded  # noqa: E402

DEADLINE = 30.0
FAKE_TAB = """
import os, struct, sys
out = sys.stdout.buffer
out.write(b"__GANGLION__\\n")
text = f"a tab of {os.environ['COLUMNS']}x{os.environ['ROWS']}\\r\\n".encode()
out.write(b"D" + struct.pack(">I", len(text)) + text)
out.flush()
seen = b""
while b"quit" not in seen:
    chunk = sys.stdin.buffer.read1(4096)
    if not chunk:
        break
    seen += chunk
"""


async def _until(what: str, check: Callable[[], Any], seconds: float = DEADLINE) -> Any:
    loop = asyncio.get_running_loop()
    deadline = loop.time() + seconds
    while loop.time() < deadline:
        if result := check():
            return result
        await asyncio.sleep(0.02)
    raise AssertionError(f"gave up waiting for {what} after {seconds} s")


@asynccontextmanager
async def _served(token: str = TOKEN, max_tabs: int = 20) -> AsyncIterator[tuple[Guarded, TestClient]]:
    """A guarded server of stand-in tabs on loopback, and a client of it; on the way out, every tab closed and
    its process reaped (textual-serve never waits for one: the test's loop must not close before it ends)."""
    import textual_serve.server as ts

    services: list[Any] = []

    class Recorded(ts.AppService):  # type: ignore[misc]
        def __init__(self, *args: Any, **kwargs: Any) -> None:
            super().__init__(*args, **kwargs)
            services.append(self)

    server = Guarded(
        shlex.join([sys.executable, "-c", FAKE_TAB]),
        host="127.0.0.1",
        port=0,
        title="gdtui",
        token=token,
        max_tabs=max_tabs,
    )
    real, ts.AppService = ts.AppService, Recorded
    try:
        async with TestClient(TestServer(await server._make_app(), host="127.0.0.1")) as client:
            yield server, client
            await _until("every tab to close", lambda: server.tabs == 0)
        for service in services:
            await asyncio.wait_for(service._process.wait(), DEADLINE)
    finally:
        ts.AppService = real


async def _tab_text(ws: Any) -> str:
    """The first thing the tab wrote to its terminal."""
    message = await asyncio.wait_for(ws.receive(), DEADLINE)
    assert message.type == aiohttp.WSMsgType.BINARY, message
    return str(message.data.decode())


async def _refused(client: TestClient, url: str, **kwargs: Any) -> int:
    with pytest.raises(aiohttp.WSServerHandshakeError) as refused:
        await client.ws_connect(url, **kwargs)
    return int(refused.value.status)


# the token ---------------------------------------------------------------------------------------------------


async def test_the_page_and_its_websocket_ask_for_the_token() -> None:
    async with _served() as (server, client):
        for url in ("/", "/?token=", "/?token=wrong", f"/?token={TOKEN}x", f"/?tok={TOKEN}"):
            response = await client.get(url)
            assert response.status == 403 and NO_TOKEN in await response.text(), url
        page = await client.get(f"/?token={TOKEN}")
        assert page.status == 200
        host = f"127.0.0.1:{client.port}"
        assert f'data-session-websocket-url="ws://{host}/ws?token={TOKEN}"' in await page.text()
        for url in ("/ws", "/ws?token=wrong", "/ws?width=80&height=24"):
            assert await _refused(client, url) == 403
        assert server.tabs == 0  # no app started for them
        # the page's script appends "?width=...&height=..." to the URL it was given, "?token=" already on it
        async with client.ws_connect(f"/ws?token={TOKEN}?width=100&height=30") as ws:
            assert await _tab_text(ws) == "a tab of 100x30\r\n"
            assert server.tabs == 1


async def test_static_files_and_downloads_keep_their_own_rules() -> None:
    """textual-serve's page script is the same for everyone; a download's URL is its random key."""
    async with _served() as (_, client):
        assert (await client.get("/static/js/textual.js")).status == 200
        assert (await client.get("/download/no-such-key")).status == 404


async def test_the_url_printed_at_start_carries_the_token(capsys: pytest.CaptureFixture[str]) -> None:
    async with _served() as (server, _):
        await server.on_startup(None)
    assert f"http://127.0.0.1:0/?token={TOKEN}" in capsys.readouterr().out


# the origin ----------------------------------------------------------------------------------------------------


async def test_a_page_of_another_site_cannot_drive_a_tab_with_or_without_the_token() -> None:
    async with _served() as (server, client):
        for origin in ("http://evil.example", f"http://evil.example:{client.port}", "null", "https://127.0.0.1"):
            for query in (f"?token={TOKEN}", ""):
                assert await _refused(client, f"/ws{query}", origin=origin) == 403, (origin, query)
        response = await client.get("/ws", params={"token": TOKEN}, headers={"Origin": "http://evil.example"})
        assert OTHER_ORIGIN in await response.text()
        assert server.tabs == 0
        async with client.ws_connect(f"/ws?token={TOKEN}", origin=f"http://127.0.0.1:{client.port}") as ws:
            assert (await _tab_text(ws)).startswith("a tab of ")


async def test_without_a_token_the_server_answers_loopback_names_only() -> None:
    """An empty token: the page needs none, but a name rebound to 127.0.0.1 (another site's) is refused."""
    async with _served(token="") as (_, client):
        assert (await client.get("/")).status == 200
        assert (await client.get("/", headers={"Host": f"localhost:{client.port}"})).status == 200
        for host in (f"evil.example:{client.port}", "evil.example"):
            assert (await client.get("/", headers={"Host": host})).status == 403
        assert await _refused(client, "/ws", origin="http://evil.example") == 403
        async with client.ws_connect("/ws", origin=f"http://127.0.0.1:{client.port}") as ws:
            assert (await _tab_text(ws)).startswith("a tab of ")


# the limit of tabs -----------------------------------------------------------------------------------------------


async def test_past_max_tabs_a_page_says_so_and_no_app_starts() -> None:
    async with _served(max_tabs=2) as (server, client):
        first = await client.ws_connect(f"/ws?token={TOKEN}")
        await _tab_text(first)
        async with client.ws_connect(f"/ws?token={TOKEN}") as second:
            await _tab_text(second)
            page = await client.get(f"/?token={TOKEN}")
            assert page.status == 503
            assert await page.text() == FULL.format(title="gdtui", tabs=2)
            assert "all 2 tabs are in use" in FULL.format(title="gdtui", tabs=2)
            assert await _refused(client, f"/ws?token={TOKEN}") == 503
            assert (await client.get("/")).status == 403  # the token first: a stranger learns nothing
            await first.close()
            await _until("the first tab to close", lambda: server.tabs == 1)
            assert (await client.get(f"/?token={TOKEN}")).status == 200
            async with client.ws_connect(f"/ws?token={TOKEN}") as third:
                assert (await _tab_text(third)).startswith("a tab of ")
        await _until("every tab to close", lambda: server.tabs == 0)


# a download, through textual-serve ---------------------------------------------------------------------------------


async def test_a_tab_s_settings_reach_the_client_as_a_download_and_nothing_is_written(tmp_path: Path) -> None:
    """`gdtui serve` itself: W in a tab hands its TOML to the browser (a deliver_file_start naming a key that
    /download/ serves), and the server's folder stays empty."""
    port = _free_port()
    log = tmp_path / "server.log"
    work = tmp_path / "work"
    work.mkdir()
    with log.open("wb") as out:
        server = subprocess.Popen(
            [sys.executable, "-m", "gdtui", "serve", "--port", str(port), "--token", TOKEN],
            cwd=work,
            env={**os.environ, "PYTHONPATH": str(ROOT)},
            stdin=subprocess.DEVNULL,
            stdout=out,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
    try:
        async with aiohttp.ClientSession() as http:
            base = f"http://127.0.0.1:{port}"
            await answering(http, port)
            async with http.ws_connect(f"ws://127.0.0.1:{port}/ws?token={TOKEN}&width=120&height=36") as ws:
                text = bytearray()
                while b"ready  \xe2\x94\x82  epoch 0/" not in text:
                    message = await asyncio.wait_for(ws.receive(), DEADLINE)
                    if message.type == aiohttp.WSMsgType.BINARY:
                        text += ANSI.sub(b"", message.data)
                await ws.send_json(["stdin", "W"])
                while True:
                    message = await asyncio.wait_for(ws.receive(), DEADLINE)
                    if message.type == aiohttp.WSMsgType.TEXT and json.loads(message.data)[0] == "deliver_file_start":
                        key = json.loads(message.data)[1]
                        break
                async with http.get(f"{base}/download/{key}") as download:
                    assert download.status == 200
                    assert "attachment; filename=gdtui-fastai-quadratic-" in download.headers["Content-Disposition"]
                    body = await download.text()
                assert 'preset = "fastai-quadratic"' in body and "lr = " in body
                assert os.listdir(work) == []
    except BaseException:
        print(log.read_text(errors="replace")[-4000:], file=sys.stderr)
        raise
    finally:
        for how in (signal.SIGTERM, signal.SIGKILL):
            with suppress(ProcessLookupError):
                os.killpg(server.pid, how)
            with suppress(subprocess.TimeoutExpired):
                server.wait(5)
