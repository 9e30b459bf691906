"""`gdtui export-script`: a run as the plain PyTorch script that prints the same numbers.

Why: the code is where a learner goes after the instrument. The script is the engine's (`engine.script`),
checked with the same options as `gdtui run`, so `python FILE` prints `gdtui run`'s epoch lines bit for bit;
exit codes as `gdtui run`'s (2: bad usage, one line naming the option).
"""

from __future__ import annotations

import shlex
import sys
from typing import Any

import click

from gdtui.cli.common import build_trainer, check_data, check_outputs, record_from, run_options, unused
from gdtui.engine.history import write_atomic
from gdtui.engine.script import script


@click.command("export-script")
@run_options
@click.option(
    "-o",
    "--output",
    type=click.Path(dir_okay=False),
    metavar="FILE",
    help="Write the script to FILE (default: print it).",
)
def export_script(output: str | None, **options: Any) -> None:
    """Write the run as a standalone PyTorch script: `python FILE` prints the RMSE and loss of every epoch as
    `gdtui run` with the same options prints them. With a --config file's lanes, its first run is written."""
    record = record_from(options)
    configs = [lane.start for lane in record.lanes]
    config = configs[0]
    check_outputs(config, options.get("config_file"), [("--output", output)] if output else [], folder_checked=False)
    trainer = build_trainer(config, check_data(config))  # gdtui run's checks: the data, its split, the device
    for note in unused(options, config):
        click.echo(f"gdtui: note: {note}", err=True)
    if len(configs) > 1:
        click.echo(f"gdtui: note: the file races {len(configs)} lanes; the script is its first run's", err=True)
    argv = sys.argv[1:]
    command = "gdtui run " + shlex.join(argv[argv.index("export-script") + 1 :]) if "export-script" in argv else None
    if len(configs) > 1:
        command = None  # `gdtui run --config FILE` would race the file's lanes
    changes = [(c.epoch, dict(c.settings)) for c in record.lanes[0].changes]  # a record's, at their epochs
    try:
        text = script(config, changes, trainer.data.n_train, _strip_output(command))
    except ValueError as error:  # what the script cannot write yet: said, no file
        raise click.BadParameter(str(error), param_hint="'--config'") from None
    if output is None:
        click.echo(text, nl=False)
        return
    try:
        write_atomic(output, text)
    except OSError as error:
        raise click.BadParameter(f"{output}: {error.strerror or error}", param_hint="'--output'") from None
    click.echo(f"gdtui: script written to {output}: python {shlex.quote(output)}", err=True)


def _strip_output(command: str | None) -> str | None:
    """The `gdtui run` command the script reproduces, without export-script's own -o FILE."""
    if command is None:
        return None
    words = shlex.split(command)
    kept: list[str] = []
    skip = False
    for word in words:
        if skip:
            skip = False
            continue
        if word in ("-o", "--output"):
            skip = True
            continue
        if word.startswith(("--output=", "-o")):  # -oFILE, --output=FILE
            continue
        kept.append(word)
    return shlex.join(kept).strip()
