"""The `gdtui` command: without a subcommand it opens the TUI; its subcommands load on demand.

Why: the one place that names every subcommand, by module and attribute, so `gdtui` itself imports none of
them (`gdtui run` loads run's module, `gdtui --help` loads each for its short help) and no command's module
imports this one back: the commands depend on `common`, this module on `common` and on the names below.
Torch and Textual load only inside the command that needs them.
"""

from __future__ import annotations

import importlib
import signal
import threading
from typing import Any

import click

from gdtui import __version__
from gdtui.cli.common import ENDING_SIGNALS, EXIT_OK, EXIT_USAGE, SPEED, run_options, served, tui_record
from gdtui.engine.config import ConfigError

COMMANDS = {  # name: "module:attribute" of its click command
    "explain": "gdtui.cli.explain:explain",
    "export-script": "gdtui.cli.export:export_script",
    "figure": "gdtui.cli.figure:figure",
    "landscape": "gdtui.cli.landscape:landscape",
    "lr-find": "gdtui.cli.landscape:lr_find",
    "presets": "gdtui.cli.presets:presets",
    "replay": "gdtui.cli.resume:replay",
    "resume": "gdtui.cli.resume:resume",
    "run": "gdtui.cli.run:run",
    "serve": "gdtui.cli.serve:serve",
    "theory": "gdtui.cli.theory:theory",
}


class LazyGroup(click.Group):
    """A group whose subcommands are imported when named (click's "Lazily Loading Subcommands")."""

    def __init__(self, *args: Any, lazy_commands: dict[str, str], **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.lazy_commands = lazy_commands

    def list_commands(self, ctx: click.Context) -> list[str]:
        return sorted({*super().list_commands(ctx), *self.lazy_commands})

    def get_command(self, ctx: click.Context, cmd_name: str) -> click.Command | None:
        if cmd_name not in self.lazy_commands:
            return super().get_command(ctx, cmd_name)
        module, _, attribute = self.lazy_commands[cmd_name].partition(":")
        command = getattr(importlib.import_module(module), attribute)
        if not isinstance(command, click.Command):
            raise TypeError(f"{self.lazy_commands[cmd_name]} is not a click command")
        return command


@click.group(
    cls=LazyGroup,
    lazy_commands=COMMANDS,
    invoke_without_command=True,
    context_settings={"help_option_names": ["-h", "--help"]},
)
@click.version_option(__version__, "--version", "-V", prog_name="gdtui", message="%(prog)s %(version)s")
@run_options
@click.option("--run", "start", is_flag=True, help="Start training at once.")
@click.option("--vary", multiple=True, metavar="FIELD=V1,V2,...", help="Open with a lane per combination (see run).")
@click.option(
    "--journal",
    type=click.Path(dir_okay=False),
    help="Append the run's record to FILE as it goes (default: a new file in the user's state folder).",
)
@click.option("--no-journal", is_flag=True, help="Keep no journal of this run (no `gdtui resume` for it).")
@click.option("--speed", type=SPEED, help="Train at most N epochs a second (< and > halve and double it).")
@click.pass_context
def cli(
    ctx: click.Context,
    start: bool,
    vary: tuple[str, ...],
    journal: str | None,
    no_journal: bool,
    speed: float | None,
    **options: Any,
) -> None:
    """Watch and steer gradient descent in the terminal. Without a command, opens the TUI."""
    if ctx.invoked_subcommand is not None:
        return
    record, csv = tui_record(options, vary)
    from gdtui.cli.journals import new_journal, resume_hint

    hint = resume_hint()
    path = None if no_journal or served() else (journal or new_journal())
    from gdtui.cli.tui import launch

    launch(record, csv, start=start, journal=path, hint=hint, speed=speed)


class Ended(BaseException):
    """SIGTERM or SIGHUP arrived: unwinds like KeyboardInterrupt (every finally runs: temporary files go, the
    session process is reaped), then `main` returns 128 + the signal's number, as a shell reports it."""

    def __init__(self, signum: int) -> None:
        super().__init__(signum)
        self.signum = signum


def _ended(signum: int, frame: object) -> None:
    raise Ended(signum)


def main(argv: list[str] | None = None) -> int:
    """Entry point: click errors become one line on stderr and exit code 2; SIGTERM and SIGHUP end the command
    with 128 + the signal's number (143, 129), after its cleanup."""
    trapped = threading.current_thread() is threading.main_thread()  # signal handlers: the main thread's only
    before = {signum: signal.signal(signum, _ended) for signum in ENDING_SIGNALS} if trapped else {}
    try:
        code = cli.main(args=argv, prog_name="gdtui", standalone_mode=False)
    except Ended as ended:
        return 128 + ended.signum
    except click.ClickException as error:
        click.echo(f"gdtui: error: {error.format_message()}", err=True)
        return EXIT_USAGE
    except ConfigError as error:  # a setting refused where it is taken: a record's change at its epoch, say
        click.echo(f"gdtui: error: {error.field.replace('_', '-')}: {error.message}", err=True)
        return EXIT_USAGE
    except click.exceptions.Abort:
        return 130
    except KeyboardInterrupt:
        return 130
    finally:
        for signum, handler in before.items():
            signal.signal(signum, handler)
    return code if isinstance(code, int) else EXIT_OK
