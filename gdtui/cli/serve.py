"""`gdtui serve`: the same app in a browser, through textual-serve.

Why: a GPU box that a browser reaches (over an SSH tunnel, or on a trusted network) can show gdtui to someone
without a terminal, and each browser tab gets a whole gdtui of its own: textual-serve runs one `gdtui` command
line per tab, and that app spawns its own training process exactly as in a terminal. The run options are
checked here first, as `gdtui` checks them, so a bad value exits 2 with one line before any server starts
instead of failing later in every tab; the child's command line is the user's own options, passed on verbatim.

A class shares one server, so it is guarded (gdtui.cli.serve_web): a token in the URL it prints, the websocket's
Origin checked, at most --max-tabs tabs. Each tab runs under the server's rules (gdtui.engine.served), handed to
it in its environment: data from --data-dir only (and serve's own --data), models of at most --max-params
parameters, errors about a file that never quote its content, and its files as downloads.
"""

from __future__ import annotations

import os
import secrets
import shlex
import sys
from collections.abc import Sequence
from typing import Any

import click

from gdtui.cli.common import EXIT_USAGE, run_options, tui_lanes
from gdtui.engine.config import DATA_ARTICLE, SYNTHETIC, ConfigError
from gdtui.engine.served import DEFAULT_MAX_PARAMS, ENV, Served, is_loopback

NEEDS_SERVE = "gdtui serve needs textual-serve: pip install 'gdtui[serve]'"
# the server's own options: not passed on to each tab's app (the tab gets their rules in its environment)
SERVE_ONLY = ("host", "port", "title", "token", "data_dir", "max_tabs", "max_params")
DEFAULT_MAX_TABS = 20
EMPTY_TOKEN = (
    "an empty token is for a loopback --host only (127.0.0.1, localhost, ::1): anyone who reaches it drives it"
)


class _KeepsArgs(click.Command):
    """A command that keeps its arguments as given (in ctx.meta), so the child gets them verbatim."""

    def parse_args(self, ctx: click.Context, args: list[str]) -> list[str]:
        ctx.meta["gdtui.serve.args"] = list(args)
        return super().parse_args(ctx, args)


@click.command(cls=_KeepsArgs)
@click.option("--host", default="127.0.0.1", show_default=True, help="Address to listen on (0.0.0.0: every one).")
@click.option("--port", type=click.IntRange(1, 65535), default=8000, show_default=True, help="Port to listen on.")
@click.option("--title", help="The page's title (default: gdtui).")
@click.option("--token", help="The token the page asks for (default: a new random one, printed in the URL).")
@click.option(
    "--data-dir",
    type=click.Path(exists=True, file_okay=False, resolve_path=True),
    help="The folder a tab reads CSV data from (default: the folder the server starts in).",
)
@click.option(
    "--max-tabs",
    type=click.IntRange(1),
    default=DEFAULT_MAX_TABS,
    show_default=True,
    help="Tabs (each an app and a training process) at once; past it, a page says so.",
)
@click.option(
    "--max-params",
    type=click.IntRange(1),
    default=DEFAULT_MAX_PARAMS,
    show_default=True,
    help="The largest model a tab may build, in parameters (an mlp of 256,256 has 66,305).",
)
@run_options
@click.option("--run", "start", is_flag=True, help="Start training at once, in each tab.")
@click.option("--vary", multiple=True, metavar="FIELD=V1,V2,...", help="Open with a lane per combination (see run).")
@click.pass_context
def serve(
    ctx: click.Context,
    host: str,
    port: int,
    title: str | None,
    token: str | None,
    data_dir: str | None,
    max_tabs: int,
    max_params: int,
    start: bool,
    vary: tuple[str, ...],
    **options: Any,
) -> None:
    """Serve the TUI in a browser (textual-serve): each tab gets its own app and its own training process."""
    lanes, _ = tui_lanes(options, vary)  # gdtui's checks, before any server starts
    data = lanes[0].data
    rules = Served(
        data_dir or os.path.realpath(os.getcwd()),
        None if data in (DATA_ARTICLE, *SYNTHETIC) else os.path.realpath(data),
        max_params,
    )
    for lane in lanes:  # the server's own lanes keep to its bound too
        try:
            rules.check_params(lane)
        except ConfigError as error:
            raise click.BadParameter(error.message, param_hint="'--max-params'") from None
    if token is None:
        token = secrets.token_urlsafe(24)
    elif not token and not is_loopback(host):
        raise click.BadParameter(EMPTY_TOKEN, param_hint="'--token'")
    command = child_command(ctx.meta["gdtui.serve.args"], rules)
    try:
        import textual_serve.server  # noqa: F401  # checked by name: serve_web may be imported already

        from gdtui.cli import serve_web
    except ImportError:
        click.echo(NEEDS_SERVE, err=True)
        ctx.exit(EXIT_USAGE)

    server = serve_web.Serving(command, host=host, port=port, title=title or "gdtui", token=token, max_tabs=max_tabs)
    server.serve()
    if server.ended_by is not None:
        ctx.exit(128 + server.ended_by)


def child_command(args: Sequence[str], rules: Served | None = None) -> str:
    """The shell command line of each tab's app: `python -m gdtui` with `args` (serve's arguments as given)
    less the server's own options (--host, --port, --title...), under `rules` (GDTUI_SERVED=... before it)."""
    command = shlex.join([sys.executable, "-m", "gdtui", *_run_args(args)])
    return command if rules is None else f"{ENV}={shlex.quote(rules.env())} {command}"


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
