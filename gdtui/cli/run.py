"""`gdtui run`: train headless and print a line per epoch, then a summary.

Why: the numbers the TUI draws, in a script or a log, at full precision and in the seeds' style, with the exit
codes a script can trust (0 completed, 2 bad usage, 3 diverged). With lanes (--vary or a file's [[lane]]
tables) the race is `race_run`'s. Torch loads inside the command, in build_trainer.
"""

from __future__ import annotations

import json
from typing import TYPE_CHECKING, Any

import click

from gdtui.cli.common import (
    BOTH_LANES,
    EXIT_DIVERGED,
    build_trainer,
    check_data,
    check_outputs,
    check_vary,
    epoch_line,
    open_out,
    record_from,
    run_options,
    unused,
    write_out,
)
from gdtui.engine.history import params_text

if TYPE_CHECKING:
    from gdtui.engine.trainer import Trainer

STOPS = {  # why a stop rule ended a run, as the summary says it
    "target-rmse": "the RMSE reached --target-rmse {config.target_rmse:g}",
    "patience": "the loss did not improve for --patience {config.patience} epochs",
}


@click.command()
@run_options
@click.option("--json", "as_json", is_flag=True, help="One JSON object per epoch, then a summary object.")
@click.option("--quiet", "-q", is_flag=True, help="Print only the final summary.")
@click.option(
    "--out",
    type=click.Path(dir_okay=False, writable=True),
    help="Write the run's history to this file (.json, otherwise CSV), also after divergence; with --vary, "
    "one file per lane (FILE-lane1.csv, FILE-lane2.csv...).",
)
@click.option(
    "--vary",
    multiple=True,
    metavar="FIELD=V1,V2,...",
    help="Race one lane per combination of the values (repeat for more fields): lr, momentum, optimizer, loss, "
    "epochs, model, degree, accumulate-grad, bias, standardize, batch-size, shuffle, target-rmse, patience, hidden, "
    "activation, init, betas, eps, alpha, centered, dampening, weight-decay, lr-decay, initial-accumulator; list "
    "values are separated by ';' (init=1,2,3;0,0,0). Lines are tagged with the lane; the "
    "lanes are ranked at the end.",
)
@click.option(
    "--save-config",
    type=click.Path(dir_okay=False),
    metavar="FILE.toml",
    help="Write the run's settings (every lane's) as TOML that --config loads back to the same run.",
)
@click.option(
    "--every",
    type=click.IntRange(min=1),
    default=1,
    metavar="N",
    help="Print every Nth epoch and the last (JSON lines too); --out still writes every epoch.",
)
def run(
    as_json: bool,
    quiet: bool,
    out: str | None,
    vary: tuple[str, ...],
    every: int,
    save_config: str | None,
    **options: Any,
) -> None:
    """Train headless and print a line per epoch, in the seeds' style, at full precision. A run stops at its
    epoch budget, at divergence, or by a stop rule (--target-rmse, --patience): the summary says which."""
    record = record_from(options)
    configs = [lane.start for lane in record.lanes]
    config = configs[0]
    lanes = None
    if vary:
        if len(configs) > 1:
            raise click.BadParameter(BOTH_LANES, param_hint="'--vary'")
        lanes = check_vary(config, vary)
    elif len(configs) > 1:
        from gdtui.cli.race_run import file_lanes

        lanes = file_lanes(configs)
    outputs = [("--save-config", save_config)] if save_config else []
    if out:
        from gdtui.cli.race_run import lane_path

        outputs += [("--out", lane_path(out, n) if lanes else out) for n in range(1, len(lanes or [None]) + 1)]
    check_outputs(config, options.get("config_file"), outputs)
    if save_config:
        from gdtui.engine.history import write_atomic
        from gdtui.engine.tomlconfig import ConfigFileError, dump, dump_record

        try:
            write_atomic(save_config, dump([lane for _, lane in lanes]) if vary and lanes else dump_record(record))
        except ConfigFileError as error:
            raise click.BadParameter(f"{save_config}: {error}", param_hint="'--save-config'") from None
        except OSError as error:
            raise click.BadParameter(
                f"{save_config}: {error.strerror or error}", param_hint="'--save-config'"
            ) from None
        click.echo(f"gdtui: settings written to {save_config}", err=True)
    for note in unused(options, config):
        click.echo(f"gdtui: note: {note}", err=True)
    if lanes is not None:
        from gdtui.cli.race_run import run_race

        run_race(lanes, vary, check_data(config), as_json, quiet, out, every, None if vary else record)
        return
    trainer = build_trainer(config, check_data(config))
    trainer.schedule((c.epoch, c.settings) for c in record.lanes[0].changes)  # a record's changes, at their epochs
    for warning in trainer.data.warnings:
        click.echo(f"gdtui: warning: {warning}", err=True)
    echo = click.echo
    scheduled = config.schedule is not None  # the log's lr column
    history = open_out(out, trainer.history) if out else None  # fails here, before the run, on a full disk
    failed = None
    try:
        while not trainer.done and trainer.status == "ok":
            chunk = trainer.run_chunk(min(trainer.config.epochs - trainer.epoch, 1000))
            if history is not None and (failed := write_out(history, trainer.history)):
                break  # the disk filled up: the run stops here, its summary is still printed
            if quiet:
                continue
            assert chunk is not None  # at least one epoch to run, no time budget: an epoch always ran
            done = trainer.epoch if trainer.done else None
            results = [r for r in chunk.results() if r.epoch % every == 0 or r.epoch == done]
            if results:
                lines = (
                    json.dumps({"event": "epoch", **r.record()}) if as_json else epoch_line(r, scheduled)
                    for r in results
                )
                echo("\n".join(lines))
        if history is not None and failed is None:
            failed = write_out(history, trainer.history, commit=True)
    finally:
        if history is not None:
            history.discard()  # what was not committed: nothing half-written stays
    last = trainer.history.result(trainer.epoch - 1)
    diverged = trainer.status == "diverged"
    if as_json:
        echo(
            json.dumps(
                {
                    "event": "summary",
                    "epochs": trainer.epoch,
                    "status": trainer.status,
                    "rmse": last.record()["rmse"],
                    "params": last.record()["params"],
                    "device": str(trainer.device),
                    "preset": config.preset,
                    "stopped": trainer.stop_reason,
                    **_scale_record(trainer),
                    **(
                        {
                            "batches": "an update per batch; an epoch's loss is the mean of its batch losses, each "
                            "taken before its own update, its RMSE the root of the mean of their mean squared errors"
                        }
                        if trainer.config.batch_size is not None
                        else {}
                    ),
                }
            )
        )
    else:
        params = params_text(last, "", "  ")  # repr precision (":" with no spec): every digit
        echo(f"{trainer.status}: {trainer.epoch} epochs on {trainer.device}  RMSE: {last.rmse!r}  params: {params}")
        if trainer.stopped is not None:
            echo(f"stopped: {STOPS[trainer.stopped].format(config=config)} at epoch {trainer.epoch}")
        if trainer.model.scale is not None:
            scale = _scale_record(trainer)["standardized"]
            columns = "  ".join(f"{n}: mean={m!r} std={scale['std'][n]!r}" for n, m in scale["mean"].items())
            echo(f"standardized: the params are the model's on its columns (column - mean) / std: {columns}")
    if failed is not None:
        raise click.BadParameter(f"{out}: {failed}; the run stopped at epoch {trainer.epoch}", param_hint="'--out'")
    if diverged:
        click.echo(f"gdtui: diverged at epoch {last.epoch} (lr {config.lr:g}): try a smaller lr", err=True)
        click.get_current_context().exit(EXIT_DIVERGED)


def _scale_record(trainer: Trainer) -> dict[str, Any]:
    """--standardize: the statistics of each standardised column, by the parameter it multiplies (the constant
    columns, kept as they are, left out); nothing for a raw run."""
    scale = trainer.model.scale
    if scale is None:
        return {}
    pairs = [(n, float(m), float(s)) for n, m, s in zip(trainer.names, scale.mean.tolist(), scale.std.tolist())]
    kept = [(n, m, s) for n, m, s in pairs if (m, s) != (0.0, 1.0)]
    return {"standardized": {"mean": {n: m for n, m, _ in kept}, "std": {n: s for n, _, s in kept}}}
