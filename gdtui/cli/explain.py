"""`gdtui explain --epoch K [--batch B]`: one step of a run, explained with its numbers.

Why: what a step did (each parameter's gradient, the optimizer's state, the update) is what a learner checks by
hand against the tutorial's formula; this prints it for any epoch of any run (any batch of it, with
mini-batches), or of a lane of a --config record.
"""

from __future__ import annotations

import json
from typing import Any

import click

from gdtui.cli.common import lane_of, race_of, record_from, run_options
from gdtui.engine.steps import step_lines


@click.command()
@run_options
@click.option("--epoch", "epoch", type=click.IntRange(1), required=True, help="The epoch whose step is explained.")
@click.option(
    "--batch",
    type=int,
    default=None,
    help="With mini-batches: the batch of the epoch whose step is explained (1-based).  [default: the last]",
)
@click.option("--lane", type=click.IntRange(1), default=1, show_default=True, help="The lane of a --config race.")
@click.option("--json", "as_json", is_flag=True, help="One JSON object instead of the table.")
@click.option("--check", is_flag=True, help="Check the gradient by central differences of the loss.")
def explain(epoch: int, batch: int | None, lane: int, as_json: bool, check: bool, **options: Any) -> None:
    """Explain one step (with mini-batches, one batch of the epoch: the last unless --batch says): every
    parameter's value before it, its gradient, the optimizer's state, the update and its value after; the loss
    before and after (on the step's data), beside the change the gradient promised (gradient · update)."""
    from gdtui.engine.explain import ExplainError, check_batch
    from gdtui.engine.explain import explain as explained

    record = record_from(options)
    kept = lane_of(record, lane)
    if epoch > kept.start.epochs:
        raise click.BadParameter(f"the run has {kept.start.epochs} epochs, not {epoch}", param_hint="'--epoch'")
    trainer = race_of(record).lanes[lane - 1].trainer
    try:
        check_batch(trainer, batch)  # before the run is trained
        while trainer.epoch < epoch and trainer.status == "ok" and trainer.run_chunk(epoch - trainer.epoch):
            pass
        step = explained(trainer, epoch, check, batch)
    except ExplainError as error:
        raise click.BadParameter(str(error), param_hint=f"'--{error.field}'") from None
    if as_json:
        click.echo(json.dumps(step.record()))
        return
    for line in step_lines(step):
        click.echo(line)
