"""`gdtui serve`: the same app in a browser, through textual-serve.

Why: a GPU box that a browser reaches (over an SSH tunnel, or on a trusted network) can show gdtui to someone
without a terminal, and each browser tab gets a whole gdtui of its own: textual-serve runs one `gdtui` command
line per tab, and that app spawns its own training process exactly as in a terminal. The run options are
checked here first, as `gdtui` checks them, so a bad value exits 2 with one line before any server starts
instead of failing later in every tab; the child's command line is the user's own options, passed on verbatim.
"""

from __future__ import annotations

import asyncio
import shlex
import sys
from collections.abc import Sequence
from typing import Any

import click

from gdtui.cli.common import ENDING_SIGNALS, EXIT_USAGE, run_options, tui_lanes

NEEDS_SERVE = "gdtui serve needs textual-serve: pip install 'gdtui[serve]'"
SERVE_ONLY = ("host", "port", "title")  # the server's own options: not passed on to each tab's app


class _KeepsArgs(click.Command):
    """A command that keeps its arguments as given (in ctx.meta), so the child gets them verbatim."""

    def parse_args(self, ctx: click.Context, args: list[str]) -> list[str]:
        ctx.meta["gdtui.serve.args"] = list(args)
        return super().parse_args(ctx, args)


@click.command(cls=_KeepsArgs)
@click.option("--host", default="127.0.0.1", show_default=True, help="Address to listen on (0.0.0.0: every one).")
@click.option("--port", type=click.IntRange(1, 65535), default=8000, show_default=True, help="Port to listen on.")
@click.option("--title", help="The page's title (default: gdtui).")
@run_options
@click.option("--run", "start", is_flag=True, help="Start training at once, in each tab.")
@click.option("--vary", multiple=True, metavar="FIELD=V1,V2,...", help="Open with a lane per combination (see run).")
@click.pass_context
def serve(
    ctx: click.Context, host: str, port: int, title: str | None, start: bool, vary: tuple[str, ...], **options: Any
) -> None:
    """Serve the TUI in a browser (textual-serve): each tab gets its own app and its own training process."""
    tui_lanes(options, vary)  # gdtui's checks, before any server starts
    command = child_command(ctx.meta["gdtui.serve.args"])
    try:
        from textual_serve.server import Server
    except ImportError:
        click.echo(NEEDS_SERVE, err=True)
        ctx.exit(EXIT_USAGE)

    class Serving(Server):
        """textual-serve's server, ended by SIGTERM or SIGHUP as by ctrl+c (its tabs closed, their apps ended),
        remembering which ended it: the exit status is 128 + its number, not 0."""

        ended_by: int | None = None

        async def _make_app(self) -> Any:  # runs in the server's loop, after textual-serve set its own handlers
            loop = asyncio.get_running_loop()
            for signum in ENDING_SIGNALS:
                loop.add_signal_handler(signum, self.end, signum)
            return await super()._make_app()

        def end(self, signum: int) -> None:
            self.ended_by = signum
            self.request_exit()

    server = Serving(command, host=host, port=port, title=title or "gdtui")
    server.serve()
    if server.ended_by is not None:
        ctx.exit(128 + server.ended_by)


def child_command(args: Sequence[str]) -> str:
    """The shell command line of each tab's app: `python -m gdtui` with `args` (serve's arguments as given)
    less the server's own options (--host, --port, --title)."""
    return shlex.join([sys.executable, "-m", "gdtui", *_run_args(args)])


def _run_args(args: Sequence[str]) -> list[str]:
    """`args` without the server's options and their values, read as click reads them: `--host X` or
    `--host=X`; the value of any option that takes one is skipped over, whatever it looks like."""
    takes_value, server = set(), set()
    for param in serve.params:
        if isinstance(param, click.Option):
            names = [*param.opts, *param.secondary_opts]
            if not param.is_flag:
                takes_value.update(names)
            if param.name in SERVE_ONLY:
                server.update(names)
    kept: list[str] = []
    rest = list(args)
    while rest:
        arg = rest.pop(0)
        name = arg.split("=", 1)[0] if arg.startswith("--") else arg
        group = [arg]
        if name == arg and arg in takes_value and rest:
            group.append(rest.pop(0))
        if name not in server:
            kept.extend(group)
    return kept
