"""`gdtui run --vary ...`: a race of lanes, headless. A line per epoch per lane, then the lanes ranked.

Why: the same comparison the TUI races, in a script or a log: every lane's numbers are its solo run's, so
`gdtui run --vary lr=1e-5,2e-5` prints, lane by lane, what two `gdtui run --lr ...` would print.
"""

from __future__ import annotations

import json
import math
import os
from typing import Any

import click

from gdtui.cli.common import EXIT_DIVERGED, epoch_line, open_out, write_out
from gdtui.engine.config import ConfigError, RunConfig
from gdtui.engine.csvfile import CsvData
from gdtui.engine.history import HistoryFile
from gdtui.engine.record import Record
from gdtui.engine.vary import parse_vary


def file_lanes(configs: list[RunConfig]) -> list[tuple[str, RunConfig]]:
    """A config file's lanes with their labels: what sets each apart from the first."""
    from gdtui.engine.vary import VARY_FIELDS, lane_label

    first = configs[0]
    labelled = []
    for config in configs:
        apart = [lane_label(f, getattr(config, f)) for f in VARY_FIELDS if getattr(config, f) != getattr(first, f)]
        labelled.append((", ".join(apart) or "as in the file", config))
    return labelled


def varied(specs: tuple[str, ...], config: RunConfig) -> dict[str, Any]:
    """The settings the --vary options set, as this lane has them."""
    return {field: getattr(config, field) for field, _ in (parse_vary(spec) for spec in specs)}


def lane_path(out: str, number: int) -> str:
    stem, ext = os.path.splitext(out)
    return f"{stem}-lane{number}{ext or '.csv'}"


def run_race(
    lanes: list[tuple[str, RunConfig]],
    specs: tuple[str, ...],
    csv: CsvData | None,
    as_json: bool,
    quiet: bool,
    out: str | None,
    every: int = 1,
    record: Record | None = None,
) -> None:
    from gdtui.engine.csvfile import DataError
    from gdtui.engine.device import DeviceError
    from gdtui.engine.lanes import Race

    try:
        race = Race(lanes[0][1], csv=csv) if record is None else Race.of_record(record, csv=csv)
        for _, config in lanes[1:] if record is None else []:
            race.add(config)
    except DeviceError as error:
        raise click.BadParameter(str(error), param_hint="'--device'") from None
    except DataError as error:
        raise click.BadParameter(str(error), param_hint="'--data'") from None
    except ConfigError as error:  # a lane the race cannot hold (--rng single: one model, one loader)
        raise click.BadParameter(error.message, param_hint=f"'--{error.field.replace('_', '-')}'") from None
    for warning in race.lanes[0].trainer.data.warnings:
        click.echo(f"gdtui: warning: {warning}", err=True)
    numbers = {lane.id: n for n, lane in enumerate(race.lanes, start=1)}
    labels = {lane.id: label for lane, (label, _) in zip(race.lanes, lanes)}
    tags = {lane.id: {"number": numbers[lane.id], **varied(specs, lane.trainer.config)} for lane in race.lanes}
    files = {}  # each lane's --out file, opened now: a full disk fails before the race
    try:
        for lane in race.lanes:
            files[lane.id] = open_out(lane_path(out, numbers[lane.id]), lane.trainer.history) if out else None
        failed = _race(race, files, numbers, labels, tags, as_json, quiet, every)
    finally:
        for file in files.values():
            if file is not None:
                file.discard()  # what was not committed: nothing half-written stays
    ranked = sorted(race.lanes, key=lambda lane: _final_rmse(lane.trainer))
    if as_json:
        summary = []
        for rank, lane in enumerate(ranked, start=1):
            t = lane.trainer
            last = t.history.result(t.epoch - 1).record() if t.epoch else {"rmse": None, "params": {}}
            summary.append(
                {
                    "rank": rank,
                    "lane": tags[lane.id],
                    "label": labels[lane.id],
                    "epochs": t.epoch,
                    "status": t.status,
                    "rmse": last["rmse"],
                    "params": last["params"],
                }
            )
        click.echo(
            json.dumps(
                {
                    "event": "summary",
                    "lanes": summary,
                    "preset": lanes[0][1].preset,
                    "device": str(race.lanes[0].trainer.device),
                }
            )
        )
    else:
        width = max(len(label) for label in labels.values())
        click.echo(f"{'rank':<5} {'lane':<5} {'setting':<{width}}  {'status':<9} {'epochs':>8}  RMSE")
        for rank, lane in enumerate(ranked, start=1):
            t = lane.trainer
            rmse = repr(t.history.rmse[-1]) if t.epoch else "-"
            click.echo(
                f"{rank:<5} {numbers[lane.id]:<5} {labels[lane.id]:<{width}}  {t.status:<9} {t.epoch:>8}  {rmse}"
            )
    diverged = [lane for lane in race.lanes if lane.trainer.status == "diverged"]
    for lane in diverged:
        t = lane.trainer
        click.echo(
            f"gdtui: lane {numbers[lane.id]} ({labels[lane.id]}) diverged at epoch {t.epoch} "
            f"(lr {t.config.lr:g}): try a smaller lr",
            err=True,
        )
    if failed is not None:
        path, why = failed
        raise click.BadParameter(f"{path}: {why}; the race stopped there", param_hint="'--out'")
    if diverged:
        click.get_current_context().exit(EXIT_DIVERGED)


def _race(
    race: Any,
    files: dict[int, HistoryFile | None],
    numbers: dict[int, int],
    labels: dict[int, str],
    tags: dict[int, dict[str, Any]],
    as_json: bool,
    quiet: bool,
    every: int,
) -> tuple[str, str] | None:
    """Run the race to its end, printing its lines and writing each lane's --out file as it goes: None, or the
    file that failed and why (the race stops there)."""
    scheduled = any(lane.trainer.config.schedule is not None for lane in race.lanes)  # the log's lr column
    while any(lane.active for lane in race.lanes):
        chunks = race.run_chunk(max_epochs=1000)
        for lane in race.lanes:
            file = files[lane.id]
            if file is not None and (why := write_out(file, lane.trainer.history)):
                return file.path, why
        if quiet:
            continue
        done = {lane.id: lane.trainer.epoch for lane in race.lanes if lane.trainer.done}  # its last epoch: printed
        rows = sorted(
            (r.epoch, numbers[i], i, r)
            for i, chunk in chunks.items()
            for r in chunk.results()
            if r.epoch % every == 0 or r.epoch == done.get(i)
        )
        if as_json:
            lines = [json.dumps({"event": "epoch", "lane": tags[i], **r.record()}) for _, _, i, r in rows]
        else:
            lines = [f"lane {n} ({labels[i]})  {epoch_line(r, scheduled)}" for _, n, i, r in rows]
        click.echo("\n".join(lines))
    for lane in race.lanes:
        file = files[lane.id]
        if file is not None and (why := write_out(file, lane.trainer.history, commit=True)):
            return file.path, why
    return None


def _final_rmse(trainer: Any) -> float:
    if trainer.status == "diverged" or not trainer.epoch:
        return math.inf
    value = trainer.history.rmse[-1]
    return value if math.isfinite(value) else math.inf
