"""`gdtui theory`: why a run converges as it does, computed from its own problem.

Why: for a model linear in its parameters with MSE or SSE, full-batch gd and heavy-ball momentum are solvable
exactly (gdtui.engine.theory): the eigen-directions of the loss, κ, the rate at the run's settings, the best lr
and momentum with their rates, the epochs to a target and the loss at any epoch, before a single step is taken.
"""

from __future__ import annotations

import json
from typing import Any

import click

from gdtui.cli.common import lane_of, race_of, record_from, run_options


def _epochs(text: str | None) -> list[int]:
    if not text:
        return []
    try:
        epochs = sorted({int(part) for part in text.split(",") if part.strip()})
    except ValueError:
        message = f"{text!r}: give epochs as whole numbers, 10,100,1000"
        raise click.BadParameter(message, param_hint="'--epochs-at'") from None
    if epochs and epochs[0] < 1:
        raise click.BadParameter("epochs start at 1", param_hint="'--epochs-at'")
    return epochs


@click.command()
@run_options
@click.option("--epochs-at", "epochs_at", default=None, help="Predict the log's loss at these epochs: 10,100,1000.")
@click.option("--lane", type=click.IntRange(1), default=1, show_default=True, help="The lane of a --config race.")
@click.option("--json", "as_json", is_flag=True, help="One JSON object instead of the text.")
def theory(epochs_at: str | None, lane: int, as_json: bool, **options: Any) -> None:
    """The theory of the run's own problem: the eigenvalues and eigen-directions of its loss, κ, the rate at its
    lr and momentum, the best lr and momentum pair with their rates, the epochs to its target RMSE, and the loss
    the log will print at --epochs-at (its loss before that epoch's step). For models linear in their
    parameters, MSE or SSE, full batch, gd or sgd (heavy-ball momentum); otherwise it says why not."""
    from gdtui.engine.dynamics import applies
    from gdtui.engine.theory import State, losses_at, of_trainer

    wanted = _epochs(epochs_at)
    record = record_from(options)
    why = applies(lane_of(record, lane).start)
    if why is not None:
        click.echo(json.dumps({"applies": False, "why": why}) if as_json else f"the theory does not apply: {why}")
        return
    trainer = race_of(record).lanes[lane - 1].trainer
    found = of_trainer(trainer)
    p = found.problem
    start = State.at(p, trainer.initial.cpu().double().numpy())
    damp = found.dampening
    losses = losses_at(p, start, found.lr, found.momentum, wanted, damp)[0].tolist() if wanted else []
    predicted = [{"epoch": e, "loss": float(loss), "rmse": p.rmse(float(loss))} for e, loss in zip(wanted, losses)]
    if as_json:
        click.echo(json.dumps({"applies": True, **found.record(), "predicted": predicted}))
        return
    click.echo(f"eigenvalues of the loss's Hessian: {', '.join(f'{v:.6g}' for v in p.eigenvalues)}  κ {p.kappa:,.6g}")
    for k in range(len(p.names)):
        click.echo(f"  λ {p.eigenvalues[k]:<12.6g} {p.direction(k)}")
    click.echo(f"least squares: RMSE {p.rmse(p.loss_min)!r}")
    click.echo(f"at lr {found.lr:g}, momentum {found.momentum:g}: rate {found.rate!r} (limit lr {found.lr_limit:.8g})")
    blr, (plr, pbeta) = found.best_lr_shown, found.best_pair_shown
    click.echo(f"best lr {blr!r}: rate {found.best_lr_rate!r} ((κ−1)/(κ+1))")
    click.echo(f"best momentum: lr {plr!r}, β {pbeta!r}: rate {found.best_pair_rate!r} ((√κ−1)/(√κ+1))")
    click.echo(found.line())
    for row in predicted:
        click.echo(f"epoch {row['epoch']}: loss {row['loss']!r}, RMSE {row['rmse']!r}")
