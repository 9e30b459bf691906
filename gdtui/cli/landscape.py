"""`gdtui landscape` and `gdtui lr-find`: the loss landscape and the LR range test, headless.

Why: the grid, the minimum, the curvature limit 2/λmax and the LR ramp the engine computes for the TUI are
numbers a script or a notebook wants too, written plainly (a CSV grid, JSON lines) with the exit codes of
`gdtui run`: 0 done, 2 bad usage (one line naming the option), 3 diverged. Torch loads inside the commands.
"""

from __future__ import annotations

import json
import math
from typing import TYPE_CHECKING, Any

import click

from gdtui.cli.common import (
    EXIT_DIVERGED,
    build_trainer,
    check_data,
    check_outputs,
    config_from,
    run_options,
    unused,
)
from gdtui.engine.config import MAX_LR
from gdtui.engine.history import write_atomic

if TYPE_CHECKING:
    from gdtui.engine.landscape import Curvature, Landscape
    from gdtui.engine.trainer import Trainer

SIZE_MIN, SIZE_MAX = 2, 1000  # grid columns and rows
STEPS_MAX = 10_000
RULE = "the lr of the lowest raw loss, divided by 10"


class Size(click.ParamType):
    """WxH: columns x rows of the grid, each an integer in SIZE_MIN..SIZE_MAX."""

    name = "WxH"

    def convert(self, value: object, param: click.Parameter | None, ctx: click.Context | None) -> object:
        if not isinstance(value, str):
            return value
        parts = value.lower().split("x")
        if len(parts) == 2 and all(p.strip().isdigit() for p in parts):
            cols, rows = int(parts[0]), int(parts[1])
            if SIZE_MIN <= cols <= SIZE_MAX and SIZE_MIN <= rows <= SIZE_MAX:
                return cols, rows
        self.fail(f"{value!r} is not WxH with W and H integers from {SIZE_MIN} to {SIZE_MAX}", param, ctx)


def _clean(value: Any) -> Any:
    """`value` with every non-finite float as None, for strict JSON."""
    if isinstance(value, float):
        return value if math.isfinite(value) else None
    if isinstance(value, (list, tuple)):
        return [_clean(v) for v in value]
    if isinstance(value, dict):
        return {k: _clean(v) for k, v in value.items()}
    return value


def _json(value: dict[str, Any]) -> str:
    return json.dumps(_clean(value), allow_nan=False)


def _pairs(names: list[str] | tuple[str, ...], values: list[float]) -> str:
    return "  ".join(f"{name}={value!r}" for name, value in zip(names, values))


def _start(options: dict[str, Any]) -> Trainer:
    """The run's trainer, with `gdtui run`'s notes and data warnings on stderr."""
    config = config_from(options)
    for note in unused(options, config):
        click.echo(f"gdtui: note: {note}", err=True)
    trainer = build_trainer(config, check_data(config))
    for warning in trainer.data.warnings:
        click.echo(f"gdtui: warning: {warning}", err=True)
    return trainer


def _limit_text(found: Curvature, lr: float) -> str:
    if not found.computed:
        return f"curvature not computed (its time budget ran out)  run's lr: {lr!r}"
    eigenvalues = ", ".join(repr(e) for e in found.eigenvalues)
    what = "Hessian eigenvalues" if found.every else "Hessian eigenvalues (the smallest and the largest, by Lanczos)"
    if found.lr_limit is None:
        return f"{what} {eigenvalues}  lr limit 2/λmax: unknown (λmax not positive)  run's lr: {lr!r}"
    side = "above the limit: plain gradient descent diverges" if lr > found.lr_limit else "not above the limit"
    return f"{what} {eigenvalues}  lr limit 2/λmax: {found.lr_limit!r}  run's lr: {lr!r} ({side})"


def _last_finite(trainer: Trainer, epoch: int) -> int:
    """The latest epoch up to `epoch` whose parameters are all finite (0, the start, at worst)."""
    from gdtui.engine.landscape import params_at

    while epoch > 0 and not all(math.isfinite(v) for v in params_at(trainer, epoch)):
        epoch -= 1
    return epoch


def _summary(
    trainer: Trainer, grid: Landscape, epoch: int, found: Curvature, path: list[list[float]]
) -> dict[str, Any]:
    """Everything but the grid, as the JSON summary holds it."""
    import torch

    from gdtui.engine.landscape import conditioning, losses_at

    names, (p1, p2) = list(trainer.names), grid.pair
    best = grid.minimum
    best_loss = None
    if best is not None:
        best_loss = float(losses_at(trainer, torch.tensor([best], dtype=torch.float64))[0])
    lr = trainer.config.lr
    kappa = conditioning(trainer)
    return {
        "event": "summary",
        "pair": [p1, p2],
        "epoch": epoch,
        "epochs": trainer.config.epochs,
        "status": trainer.status,
        "size": [len(grid.xs), len(grid.ys)],
        "span": [[grid.xs[0], grid.xs[-1]], [grid.ys[0], grid.ys[-1]]],
        "held": {n: v for n, v in zip(names, grid.held) if n not in grid.pair},
        "minimum": None if best is None else dict(zip(names, best)),
        "minimum_loss": best_loss,
        "lowest": {p1: grid.lowest[0], p2: grid.lowest[1], "loss": grid.lowest[2]},
        "hessian_eigenvalues": found.eigenvalues,
        "curvature_computed": found.computed,
        "lr_limit": found.lr_limit,
        "lr": lr,
        "lr_exceeds_limit": None if found.lr_limit is None else lr > found.lr_limit,
        "standardize": trainer.config.standardize,
        "kappa": None if kappa is None else {"raw": kappa[0], "standardized": kappa[1]},
        "path": path,
        "points": grid.points,
        "data_points": len(trainer.data.x_train),
        "subsampled": grid.subsampled,
    }


def _summary_lines(trainer: Trainer, s: dict[str, Any], found: Curvature) -> list[str]:
    p1, p2 = s["pair"]
    (x0, x1), (y0, y1) = s["span"]
    held = _pairs(list(s["held"]), list(s["held"].values())) or "none (the model has only these two)"
    if s["minimum"] is None:
        minimum = f"minimum: none (loss {trainer.config.loss}): the lowest grid point stands in"
    else:
        minimum = f"minimum (least squares): {_pairs(list(s['minimum']), list(s['minimum'].values()))}"
        minimum += f"  loss: {s['minimum_loss']!r}"
    lowest = s["lowest"]
    where = "" if found.constant else " (at the held point)"
    path = s["path"]
    if s["subsampled"]:
        data = f"data: computed on a fixed subsample of {s['points']:,} of {s['data_points']:,} points, drawn "
        data += "from the seed"
    else:
        data = f"data: {s['points']:,} training points"
    scaled = " of the standardized model (--standardize)" if s["standardize"] else ""
    lines = [
        f"landscape{scaled}: {p1} x {p2}, {s['size'][0]}x{s['size'][1]} grid, {p1} in [{x0!r}, {x1!r}], "
        f"{p2} in [{y0!r}, {y1!r}], at epoch {s['epoch']} of {s['epochs']}",
        f"held: {held}",
        minimum,
        f"lowest grid point: {p1}={lowest[p1]!r}  {p2}={lowest[p2]!r}  loss: {lowest['loss']!r}",
        f"curvature{where}: {_limit_text(found, s['lr'])}",
    ]
    if s["kappa"] is not None:
        lines.append(_kappa_text(s["kappa"], s["standardize"]))
    lines += [f"path: epochs 0..{s['epoch']}, from {_pairs((p1, p2), path[0])} to {_pairs((p1, p2), path[-1])}", data]
    return lines


def _kappa_text(kappa: dict[str, float | None], standardized: bool) -> str:
    """κ of the raw and the standardised design, the run's marked."""
    raw, scaled = kappa["raw"], kappa["standardized"]
    marks = ("", " (the run's)") if standardized else (" (the run's)", "")
    text = f"condition number κ = λmax/λmin of XᵀX: raw design {raw!r}{marks[0]}"
    if scaled is None:
        return text + "  standardized: none (--standardize takes quadratic, linear, nn-linear, poly with a bias)"
    return text + f"  standardized design {scaled!r}{marks[1]}"


def _grid_text(grid: Landscape, as_json: bool) -> str:
    p1, p2 = grid.pair
    if as_json:
        lines = [
            _json({p1: x, p2: y, "loss": loss}) for y, row in zip(grid.ys, grid.loss) for x, loss in zip(grid.xs, row)
        ]
    else:
        lines = [f"{p1},{p2},loss"]
        lines += [f"{x!r},{y!r},{loss!r}" for y, row in zip(grid.ys, grid.loss) for x, loss in zip(grid.xs, row)]
    return "\n".join(lines) + "\n"


@click.command()
@run_options
@click.option("--pair", metavar="P1,P2", help="The two parameters on the axes.  [default: the model's first two]")
@click.option(
    "--size", type=Size(), metavar="WxH", default="120x72", show_default=True, help="Grid columns x rows (2 to 1000)."
)
@click.option("--epoch", type=int, help="Train this many epochs first (0 to --epochs).  [default: --epochs]")
@click.option("--out", type=click.Path(dir_okay=False, writable=True), help="Write the grid to this file, not stdout.")
@click.option("--json", "as_json", is_flag=True, help="The grid as JSON lines, then a JSON summary.")
def landscape(
    pair: str | None, size: tuple[int, int], epoch: int | None, out: str | None, as_json: bool, **options: Any
) -> None:
    """The training loss over a grid of two parameters, its minimum and its curvature.

    Trains the run --epoch epochs, then writes the grid (CSV `P1,P2,loss`, a row per grid point; with --json,
    a JSON object per point) to --out or stdout, the other parameters held at their values after --epoch; the
    span holds the path from the start and the least-squares minimum.

    Then a summary (with --json, one JSON object): the held parameters, the minimum, the lowest grid point,
    the curvature (Hessian eigenvalues, the lr limit 2/λmax beside the run's lr), the path and the data
    (beyond 10,000 points, a fixed subsample drawn from the seed), on stderr when a CSV grid goes to stdout,
    else on stdout. A run that diverges before --epoch is gridded at its last epoch with finite parameters,
    then exits 3.
    """
    config = config_from(options)
    epoch = config.epochs if epoch is None else epoch
    if not 0 <= epoch <= config.epochs:
        raise click.BadParameter(
            f"must be between 0 and the run's {config.epochs} epochs (got {epoch})", param_hint="'--epoch'"
        )
    check_outputs(config, options.get("config_file"), [("--out", out)] if out else [])
    trainer = _start(options)
    names = list(trainer.names)
    chosen = tuple(p.strip() for p in pair.split(",")) if pair is not None else tuple(names[:2])
    if len(chosen) != 2 or chosen[0] == chosen[1] or not set(chosen) <= set(names):
        raise click.BadParameter(
            f"{pair!r} is not two distinct parameters of the {config.model} model: it has {', '.join(names)}",
            param_hint="'--pair'",
        )
    from gdtui.engine import landscape as land

    trainer.run_chunk(epoch)
    at = _last_finite(trainer, min(epoch, trainer.epoch))
    grid = land.landscape(trainer, (chosen[0], chosen[1]), size=size, epoch=at)
    found = land.curvature(trainer, grid.held)
    epochs, xs, ys = land.pair_path(trainer, (chosen[0], chosen[1]))
    path = [[float(x), float(y)] for e, x, y in zip(epochs, xs, ys) if e <= at]
    summary = _summary(trainer, grid, at, found, path)
    text = _grid_text(grid, as_json)
    if out:
        try:
            write_atomic(out, text)
        except OSError as error:
            raise click.BadParameter(f"{out}: {error.strerror or error}", param_hint="'--out'") from None
    else:
        click.echo(text, nl=False)
    if as_json:
        click.echo(_json(summary))
    else:
        click.echo("\n".join(_summary_lines(trainer, summary, found)), err=not out)
    if trainer.status == "diverged":
        click.echo(
            f"gdtui: diverged at epoch {trainer.epoch} (lr {config.lr:g}): the landscape is at epoch {at}, "
            "the last with finite parameters; try a smaller lr",
            err=True,
        )
        click.get_current_context().exit(EXIT_DIVERGED)


@click.command("lr-find")
@run_options
@click.option("--start", type=float, default=1e-8, show_default=True, help="The ramp's first lr, > 0.")
@click.option(
    "--end", type=float, default=10.0, show_default=True, help=f"Its last lr, above --start, at most {MAX_LR:g}."
)
@click.option("--steps", type=int, default=100, show_default=True, help=f"Steps of the ramp, 2 to {STEPS_MAX:,}.")
@click.option("--json", "as_json", is_flag=True, help="A JSON object per step, then a JSON summary.")
def lr_find(start: float, end: float, steps: int, as_json: bool, **options: Any) -> None:
    """An LR range test: ramp the lr from --start to --end and suggest one.

    The lr grows geometrically from --start to --end, one step of the run's optimizer each, from the run's
    initial parameters, stopping once the loss passes 4x its lowest (the run itself is not trained).

    Prints the ramp (step, lr, loss before the step, smoothed loss), the suggestion (the lr of the lowest raw
    loss, divided by 10), the curvature limit 2/λmax at the initial parameters with the Hessian's eigenvalues,
    and the run's lr.
    """
    if not (0 < start < MAX_LR):  # also refuses nan
        raise click.BadParameter(f"must be > 0 and below {MAX_LR:g} (got {start!r})", param_hint="'--start'")
    if not (start < end <= MAX_LR):
        raise click.BadParameter(
            f"must be above --start ({start:g}) and at most {MAX_LR:g} (got {end!r})", param_hint="'--end'"
        )
    if not 2 <= steps <= STEPS_MAX:
        raise click.BadParameter(f"must be between 2 and {STEPS_MAX:,} (got {steps})", param_hint="'--steps'")
    trainer = _start(options)
    from gdtui.engine import landscape as land

    found = land.lr_find(trainer, start, end, steps)
    curve = found.curvature if found.curvature is not None else land.curvature(trainer, land.params_at(trainer, 0))
    lr = trainer.config.lr
    rows = list(zip(range(1, len(found.lrs) + 1), found.lrs, found.losses, found.smoothed))
    if as_json:
        lines = [_json({"step": k, "lr": r, "loss": loss, "smoothed": s}) for k, r, loss, s in rows]
        summary = {
            "event": "summary",
            "suggestion": found.suggestion,
            "rule": RULE,
            "lr_limit": found.lr_limit,
            "hessian_eigenvalues": curve.eigenvalues,
            "curvature_computed": curve.computed,
            "lr": lr,
            "steps": len(rows),
            "start": start,
            "end": end,
        }
        click.echo("\n".join([*lines, _json(summary)]))
        return
    lines = [f"{'step':>5}  {'lr':<24}  {'loss':<24}  smoothed"]
    lines += [f"{k:>5}  {r!r:<24}  {loss!r:<24}  {s!r}" for k, r, loss, s in rows]
    if len(rows) < steps:
        lines.append(f"stopped after {len(rows)} of {steps} steps: the loss passed 4x its lowest or was not finite")
    suggestion = "none (no finite loss)" if found.suggestion is None else repr(found.suggestion)
    lines.append(f"suggestion: {suggestion} ({RULE})")
    lines.append(f"curvature at the initial parameters: {_limit_text(curve, lr)}")
    click.echo("\n".join(lines))
