"""`gdtui resume [FILE]` and `gdtui replay FILE`: the TUI on a record (a journal, or a TOML snapshot).

Why: a record is the run (gdtui.engine.record). `resume` brings every lane back to the epoch it had reached,
bit for bit, and goes on writing the same journal; `replay` plays the record from its start, each change at
its epoch, for a class or a recording, and stops where the recorded run stood.
"""

from __future__ import annotations

from dataclasses import replace

import click

from gdtui.cli.common import SPEED, TUI_READS_UP_TO, check_data
from gdtui.engine.record import Record, RecordError


def _record(path: str) -> Record:
    from gdtui.engine.journal import read

    try:
        return read(path)
    except RecordError as error:
        raise click.BadParameter(str(error), param_hint="'FILE'") from None


@click.command()
@click.argument("file", required=False, type=click.Path(dir_okay=False))
def resume(file: str | None) -> None:
    """Open the TUI where a run stood (default: the latest journal): every lane at the epoch it had reached."""
    from gdtui.cli.journals import latest, new_journal

    path = file or latest()
    if path is None:
        raise click.BadParameter("no journal to resume: name a journal or a saved record", param_hint="'FILE'")
    record = _record(path)
    journal = path if not path.lower().endswith(".toml") else new_journal()  # a journal goes on where it was
    from gdtui.cli.tui import launch

    launch(record, check_data(record.lanes[0].start, read_up_to=TUI_READS_UP_TO), resume=True, journal=journal)


@click.command()
@click.argument("file", type=click.Path(dir_okay=False))
@click.option("--speed", type=SPEED, help="Play at most N epochs a second (< and > halve and double it).")
def replay(file: str, speed: float | None) -> None:
    """Play a record in the TUI: every lane from its start, each change at its epoch, to where it stood."""
    record = _record(file)
    from gdtui.cli.tui import launch

    csv = check_data(record.lanes[0].start, read_up_to=TUI_READS_UP_TO)
    bare = replace(record, checkpoints={}, snapshots={})  # from the start: not from where its checkpoints stood
    launch(bare, csv, start=True, resume=True, speed=speed)
