"""The web server of `gdtui serve`: textual-serve's, guarded as Jupyter guards its own.

Why: a class opens gdtui in browsers on a shared machine, and the server runs a whole gdtui (and a training
process) for whoever opens its websocket. So the page and the websocket want the token printed at start (`?token=`
on their URLs, compared in constant time; 403 without it), the websocket's Origin must be the server's own (a page
of another site, open in the same browser, cannot drive a tab even when it guesses the URL), a server without a
token answers loopback names only (a DNS name rebound to 127.0.0.1 is another site), and past `max_tabs` tabs a
page says so instead of starting one more app. textual-serve's download route keeps its own random key, and its
static files (its page's script and styles) are the same for everyone: neither asks for the token.
"""

from __future__ import annotations

import asyncio
import hmac
import socket
from collections.abc import Awaitable, Callable
from typing import Any

import aiohttp_jinja2
import click
from aiohttp import web
from textual_serve.server import Server, to_int
from yarl import URL

from gdtui.cli.common import ENDING_SIGNALS
from gdtui.engine.served import is_loopback

GUARDED = ("index", "websocket")  # textual-serve's routes that ask for the token: the page and its websocket
NO_TOKEN = (
    "gdtui serve: this page needs the token the server printed when it started: open the URL it printed, "
    "http://HOST:PORT/?token=..."
)
OTHER_ORIGIN = "gdtui serve: a page of another site may not open a tab of this server"
NOT_LOOPBACK = "gdtui serve without a token answers on a loopback address only (127.0.0.1, localhost, ::1)"
FULL = """<!DOCTYPE html>
<html><head><title>{title}: full</title></head>
<body style="background:#0c181f;color:#eee;font-family:monospace;padding:3em">
<h1>{title}: all {tabs} tabs are in use</h1>
<p>This gdtui serves at most {tabs} tabs at once (--max-tabs). Reload this page once a tab has closed.</p>
</body></html>
"""

Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]


class Guarded(Server):
    """textual-serve's Server with a token, an Origin check and at most `max_tabs` tabs at once."""

    def __init__(self, command: str, *, host: str, port: int, title: str, token: str, max_tabs: int) -> None:
        super().__init__(command, host=host, port=port, title=title)
        self.token = token
        self.max_tabs = max_tabs
        self.tabs = 0  # websockets open: each one a tab's app

    @property
    def url(self) -> str:
        """The URL to open, with the token: what the server prints at start."""
        host = socket.gethostname() if self.host in ("", "0.0.0.0", "::") else self.host
        host = f"[{host}]" if ":" in host else host
        return f"http://{host}:{self.port}/" + (f"?token={self.token}" if self.token else "")

    async def _make_app(self) -> web.Application:
        app: web.Application = await super()._make_app()

        @web.middleware
        async def guard(request: web.Request, handler: Handler) -> web.StreamResponse:
            if request.match_info.route.name in GUARDED:
                if "?" in request.query_string:  # textual-serve's page adds "?width=..." to a URL with "?token="
                    request = request.clone(rel_url=request.rel_url.with_query(request.query_string.replace("?", "&")))
                if (refusal := self.refusal(request)) is not None:
                    return web.Response(status=403, text=refusal + "\n")
            return await handler(request)

        app.middlewares.append(guard)
        return app

    def refusal(self, request: web.Request) -> str | None:
        """Why `request` (for the page or its websocket) is refused, or None."""
        if self.token:
            given = request.query.get("token", "")
            if not hmac.compare_digest(given.encode(), self.token.encode()):
                return NO_TOKEN
        elif not is_loopback(URL(f"http://{request.host}").host or ""):
            return NOT_LOOPBACK
        origin = request.headers.get("Origin")
        if origin is not None and origin.lower() != f"{request.scheme}://{request.host}".lower():
            return OTHER_ORIGIN  # a browser always names the page's site; another client may name none
        return None

    async def on_startup(self, app: web.Application) -> None:
        click.echo(f"gdtui serve: open {self.url}")
        click.echo(f"(at most {self.max_tabs} tabs at once; ctrl+c ends the server and every tab)")

    def _full(self) -> web.Response | None:
        if self.tabs < self.max_tabs:
            return None
        return web.Response(
            status=503, text=FULL.format(title=self.title, tabs=self.max_tabs), content_type="text/html"
        )

    async def handle_index(self, request: web.Request) -> web.StreamResponse:
        """textual-serve's page, its websocket URL carrying the token, both URLs on the host the browser asked
        for (so a page reached over an SSH tunnel or by the machine's name connects back the same way)."""
        if (full := self._full()) is not None:
            return full
        scheme = "wss" if request.scheme == "https" else "ws"
        query = f"?token={self.token}" if self.token else ""
        context = {
            "font_size": to_int(request.query.get("fontsize", "16"), 16),
            "app_websocket_url": f"{scheme}://{request.host}/ws{query}",
            "config": {"static": {"url": f"{request.scheme}://{request.host}/static/"}},
            "application": {"name": self.title},
        }
        response: web.StreamResponse = aiohttp_jinja2.render_template("app_index.html", request, context)
        return response

    async def handle_websocket(self, request: web.Request) -> web.StreamResponse:  # type: ignore[override]
        """A tab: its app runs while its websocket is open; past `max_tabs`, 503 and no app."""
        if (full := self._full()) is not None:
            return full
        self.tabs += 1
        try:
            response: web.StreamResponse = await super().handle_websocket(request)
            return response
        finally:
            self.tabs -= 1


class Serving(Guarded):
    """The server as `gdtui serve` runs it: ended by SIGTERM or SIGHUP as by ctrl+c (its tabs closed, their apps
    ended), remembering which ended it: the exit status is 128 + its number, not 0."""

    ended_by: int | None = None

    async def _make_app(self) -> Any:  # runs in the server's loop, after textual-serve set its own handlers
        loop = asyncio.get_running_loop()
        for signum in ENDING_SIGNALS:
            loop.add_signal_handler(signum, self.end, signum)
        return await super()._make_app()

    def end(self, signum: int) -> None:
        self.ended_by = signum
        self.request_exit()
