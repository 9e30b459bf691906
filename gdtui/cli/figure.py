"""`gdtui figure`: the articles' figures as PNG, SVG or an animated GIF, for slides.

Why: the seed articles show their runs with matplotlib (the data in blue and the predictions in red at each
step, the loss over the epochs); a class wants the same figures made from gdtui's exact numbers, for any run
`gdtui run` takes (presets, --data, --vary and --config races, every lane in its gdtui colour). The trainers run
here, on the engine `gdtui run` drives, and each lane's predictions are captured as it passes each epoch shown
(its history is not read back), so a figure's epoch k is `gdtui run`'s epoch k. Drawing is gdtui.figures'
(matplotlib, the `figures` extra), imported once the options are checked.
"""

from __future__ import annotations

import importlib
import math
import os
import tempfile
from typing import TYPE_CHECKING, Any

import click

from gdtui.cli.common import (
    BOTH_LANES,
    EXIT_DIVERGED,
    EXIT_USAGE,
    build_trainer,
    check_data,
    check_outputs,
    check_vary,
    record_from,
    run_options,
    unused,
)
from gdtui.colours import LANE_RGB
from gdtui.engine.config import DATA_ARTICLE, RunConfig
from gdtui.engine.record import Record

if TYPE_CHECKING:
    import torch

    from gdtui.engine.trainer import Trainer
    from gdtui.figures import Lane, Scene, Surface

NEEDS_FIGURES = "gdtui figure needs matplotlib and Pillow: pip install 'gdtui[figures]'"
KINDS = ("preds", "loss", "landscape")
FORMATS = ("png", "svg", "gif")
MAX_PANELS = 24  # epochs shown as panels of one figure
MAX_FRAMES = 1000  # epochs shown as frames of a GIF
DEFAULT_PANELS = 6  # the fastai article's six steps
DEFAULT_FRAMES = 101
LINE_POINTS = 400  # the fitted function's x, across the data
DATA_POINTS = 2000  # the data drawn: beyond this, a faithful sample (gdtui.engine.data.plot_sample)
GRID = (160, 120)  # the landscape's columns x rows
LOSS_NAMES = {"mse": "MSE", "sse": "SSE", "l1": "L1", "huber": "Huber"}


def axis_names(config: RunConfig) -> tuple[str, str]:
    """The data's axes as the article names them: fastai's time and speed, x and y elsewhere."""
    if config.preset == "fastai-quadratic" and config.data == DATA_ARTICLE:
        return "time", "speed"
    return "x", "y"


def parse_epochs(text: str, budget: int, most: int) -> list[int]:
    """--epochs-shown's epochs, ascending, each between 0 and the run's budget, at most `most` of them."""
    epochs: set[int] = set()
    for part in text.split(","):
        part = part.strip()
        if not part.isdigit():
            raise click.BadParameter(f"{part!r} is not an epoch (0, 1, 2...)", param_hint="'--epochs-shown'")
        if int(part) > budget:
            raise click.BadParameter(f"{part} is past the run's {budget} epochs", param_hint="'--epochs-shown'")
        epochs.add(int(part))
    if len(epochs) > most:
        raise click.BadParameter(f"{len(epochs)} epochs: at most {most} here", param_hint="'--epochs-shown'")
    return sorted(epochs)


def default_epochs(budget: int, count: int) -> list[int]:
    """`count` epochs spread evenly from 0 to `budget` (every epoch where there are fewer)."""
    if budget < count:
        return list(range(budget + 1))
    return sorted({round(k * budget / (count - 1)) for k in range(count)})


def _lanes(options: dict[str, Any], vary: tuple[str, ...]) -> tuple[list[tuple[str, RunConfig]], Record]:
    """The lanes drawn, labelled, and the record they come from (a --config record's changes are taken at
    their epochs, as `gdtui run --config` takes them)."""
    record = record_from(options)
    return _labelled([lane.start for lane in record.lanes], vary), record


def _labelled(configs: list[RunConfig], vary: tuple[str, ...]) -> list[tuple[str, RunConfig]]:
    if vary:
        if len(configs) > 1:
            raise click.BadParameter(BOTH_LANES, param_hint="'--vary'")
        return check_vary(configs[0], vary)
    if len(configs) > 1:
        from gdtui.cli.race_run import file_lanes

        return file_lanes(configs)
    return [("", configs[0])]


def _format(out: str, gif: bool) -> str:
    ext = os.path.splitext(out)[1].lower().lstrip(".")
    if ext not in FORMATS:
        raise click.BadParameter(f"{out}: the format comes from the name: .png, .svg or .gif", param_hint="'--out'")
    if gif != (ext == "gif"):
        raise click.BadParameter(f"{out}: --gif writes a .gif, and a .gif needs --gif", param_hint="'--out'")
    return ext


def _pair(text: str | None, names: tuple[str, ...], model: str) -> tuple[int, int]:
    chosen = [p.strip() for p in text.split(",")] if text is not None else list(names[:2])
    if len(chosen) != 2 or chosen[0] == chosen[1] or not set(chosen) <= set(names):
        raise click.BadParameter(
            f"{text!r} is not two distinct parameters of the {model} model: it has {', '.join(names)}",
            param_hint="'--pair'",
        )
    return names.index(chosen[0]), names.index(chosen[1])


def _values(tensor: torch.Tensor) -> list[float]:
    return [float(v) for v in tensor.detach().cpu().double().tolist()]


def drive(trainer: Trainer, shown: list[int], line_x: torch.Tensor, pair: tuple[int, int] | None) -> Lane:
    """Run `trainer` to its end, capturing its predictions on `line_x` after each epoch of `shown` (0: the
    initial parameters) and at its last epoch, its loss by epoch and, with `pair`, its path through those two
    parameters (every epoch's, read from the model as it goes)."""
    from gdtui.figures import Lane

    preds: dict[int, list[float]] = {}
    loss: list[float] = []
    test: list[float] = []
    path: list[tuple[float, float]] = []
    held = _values(trainer.model.flat())

    def capture() -> None:
        nonlocal held
        if trainer.epoch in shown:
            preds[trainer.epoch] = _values(trainer.predict(line_x))
        if pair is not None:
            flat = _values(trainer.model.flat())
            path.append((flat[pair[0]], flat[pair[1]]))
            if all(math.isfinite(v) for v in flat):
                held = flat

    capture()
    while not trainer.done and trainer.status == "ok":
        after = [e for e in shown if e > trainer.epoch]
        target = 1 if pair is not None else min(after, default=trainer.config.epochs) - trainer.epoch
        chunk = trainer.run_chunk(max(target, 1))
        if chunk is None:
            break
        loss += chunk.loss
        if chunk.test_loss is not None:
            test += chunk.test_loss
        capture()
    if trainer.epoch not in preds:
        preds[trainer.epoch] = _values(trainer.predict(line_x))
    return Lane(
        "",
        "",
        preds,
        loss,
        test if trainer.data.has_test else None,
        trainer.epoch,
        trainer.status == "diverged",
        path,
        held,
    )


def _scene(first: Trainer, lanes: list[tuple[str, RunConfig]], captured: list[Lane], line_x: torch.Tensor) -> Scene:
    from gdtui.engine.data import plot_sample
    from gdtui.figures import Scene

    config = first.config
    x, y = first.data.x.cpu(), first.data.y.cpu()
    keep = plot_sample(x, y, DATA_POINTS)
    train = keep[keep < first.data.n_train]
    order = [*train.tolist(), *keep[keep >= first.data.n_train].tolist()]
    for n, (lane, (label, _)) in enumerate(zip(captured, lanes)):
        r, g, b = LANE_RGB[n % len(LANE_RGB)]
        lane.label, lane.color = f"lane {n + 1} ({label})" if label else f"lane {n + 1}", f"#{r:02x}{g:02x}{b:02x}"
    losses = {c.loss for _, c in lanes}
    loss_label = f"loss ({LOSS_NAMES[config.loss]})" if len(losses) == 1 else "loss"
    x_name, y_name = axis_names(config)
    return Scene(
        title=config.preset if config.data == DATA_ARTICLE else f"{config.model} on {os.path.basename(config.data)}",
        x_label=x_name,
        y_label=y_name,
        loss_label=loss_label,
        data_x=_values(x[order]),
        data_y=_values(y[order]),
        n_train=len(train),
        line_x=_values(line_x),
        lanes=captured,
    )


def surface(trainer: Trainer, scene: Scene, pair: tuple[int, int], held: list[float]) -> Surface:
    """The loss over `pair` around every lane's path (while its loss stays within SANE times its first) and the
    least-squares minimum, the other parameters at `held`; computed by the engine's own loss of the grid."""
    import torch

    from gdtui.engine import landscape as land
    from gdtui.figures import Surface

    i, j = pair
    best = land.minimum(trainer)
    points = [(best[i], best[j])] if best is not None else []
    for lane in scene.lanes:
        if lane.path and lane.loss:  # path[k] is after epoch k; the loss there is epoch k+1's (the last: its own)
            there = [*lane.loss, lane.loss[-1]]
            points += [p for p, loss in zip(lane.path, there) if loss <= land.SANE * lane.loss[0]]
        points += lane.path[:1]
    (x0, x1), (y0, y1) = land.default_span(points)
    cols, rows = GRID
    xs = torch.linspace(x0, x1, cols, dtype=torch.float64)
    ys = torch.linspace(y0, y1, rows, dtype=torch.float64)
    flats = torch.tensor(held, dtype=torch.float64).repeat(rows * cols, 1)
    flats[:, i] = xs.repeat(rows)
    flats[:, j] = ys.repeat_interleave(cols)
    loss = land.losses_at(trainer, flats).view(rows, cols)
    at = int(torch.nan_to_num(loss, nan=math.inf).argmin())
    names = trainer.names
    others = [f"{n}={v:.4g}" for k, (n, v) in enumerate(zip(names, held)) if k not in pair]
    return Surface(
        (names[i], names[j]),
        xs.tolist(),
        ys.tolist(),
        loss.tolist(),
        f"\n{', '.join(others[:4])}{' ...' if len(others) > 4 else ''} held" if others else "",
        None if best is None else (best[i], best[j]),
        (float(xs[at % cols]), float(ys[at // cols])),
    )


def write_file(path: str, data: bytes) -> None:
    """`data` to a temporary file beside `path`, renamed over it, so an interrupted write leaves no half a file
    (a symlink's target is replaced, the link stays; what is not a regular file, /dev/null say, is written to)."""
    path = os.path.realpath(path)
    if os.path.exists(path) and not os.path.isfile(path):
        with open(path, "wb") as handle:
            handle.write(data)
        return
    fd, tmp = tempfile.mkstemp(prefix=".gdtui-", suffix=".tmp", dir=os.path.dirname(path))
    try:
        with os.fdopen(fd, "wb") as handle:
            os.fchmod(handle.fileno(), 0o666 & ~_umask())  # as open() would make it, not mkstemp's 0600
            handle.write(data)
        os.replace(tmp, path)
    except BaseException:
        os.unlink(tmp)
        raise


def _umask() -> int:
    mask = os.umask(0)
    os.umask(mask)
    return mask


@click.command()
@run_options
@click.option(
    "--kind",
    type=click.Choice(KINDS),
    default="preds",
    show_default=True,
    help="preds: the predictions against the data at each epoch shown, a panel each; loss: the loss curve; "
    "landscape: the loss over two parameters with every lane's path.",
)
@click.option(
    "--epochs-shown",
    metavar="E1,E2,...",
    help=f"The epochs drawn (0: the start), at most {MAX_PANELS} panels or {MAX_FRAMES} GIF frames.  "
    f"[default: {DEFAULT_PANELS} from 0 to the last; a GIF: every epoch, or {DEFAULT_FRAMES} spread out]",
)
@click.option(
    "--out",
    type=click.Path(dir_okay=False),
    help="The file written: .png, .svg, or .gif with --gif.  [default: KIND.png; fit.gif]",
)
@click.option("--gif", is_flag=True, help="An animation of the fit over the epochs (frames of --epochs-shown).")
@click.option("--pair", metavar="P1,P2", help="landscape: the two parameters on the axes.  [default: the first two]")
@click.option("--dpi", type=click.IntRange(20, 600), default=100, show_default=True, help="Pixels per inch.")
@click.option("--vary", multiple=True, metavar="FIELD=V1,V2,...", help="Race a lane per combination (see run).")
def figure(
    kind: str,
    epochs_shown: str | None,
    out: str | None,
    gif: bool,
    pair: str | None,
    dpi: int,
    vary: tuple[str, ...],
    **options: Any,
) -> None:
    """The articles' figures of a run as PNG, SVG or an animated GIF (matplotlib: pip install 'gdtui[figures]').

    preds (the default) draws the predictions against the data after each epoch shown, a panel each, as the
    fastai article's show_preds; loss the loss over the epochs; landscape the loss over two parameters with the
    paths. --gif animates the fit. A race (--vary, a --config file's lanes) draws every lane in its gdtui colour.
    Exits 3 (after writing) if a lane diverged.
    """
    lanes, record = _lanes(options, vary)
    config = lanes[0][1]
    if gif and kind != "preds":
        raise click.BadParameter(f"--gif animates the fit: not with --kind {kind}", param_hint="'--gif'")
    out = out or ("fit.gif" if gif else f"{kind}.png")
    ext = _format(out, gif)
    budget = max(c.epochs for _, c in lanes)
    most = MAX_FRAMES if gif else MAX_PANELS
    shown = parse_epochs(epochs_shown, budget, most) if epochs_shown is not None else []
    if epochs_shown is None:
        shown = default_epochs(budget, DEFAULT_FRAMES if gif else DEFAULT_PANELS)
    check_outputs(config, options.get("config_file"), [("--out", out)])
    for note in unused(options, config):
        click.echo(f"gdtui: note: {note}", err=True)
    for option, value in (("--epochs-shown", epochs_shown), ("--pair", pair)):
        if value is not None and (kind == "landscape") != (option == "--pair"):
            click.echo(f"gdtui: note: {option} has no effect with --kind {kind}", err=True)
    try:
        figures = importlib.import_module("gdtui.figures")  # matplotlib: the figures extra
    except ImportError:
        click.echo(NEEDS_FIGURES, err=True)
        click.get_current_context().exit(EXIT_USAGE)
    import torch

    from gdtui.engine.landscape import same_axes

    first = build_trainer(config, check_data(config))
    for warning in first.data.warnings:
        click.echo(f"gdtui: warning: {warning}", err=True)
    trainers = [first, *(first.sibling(c) for _, c in lanes[1:])]
    if not vary:  # a record's changes, each at its epoch
        for trainer, kept in zip(trainers, record.lanes):
            trainer.schedule((c.epoch, c.settings) for c in kept.changes)
            trainer.hold = kept.reached or None  # a race recorded part way: drawn to where it stood
    at = _pair(pair, first.names, config.model) if kind == "landscape" else None
    x = first.data.x.cpu()
    line_x = torch.linspace(float(x.min()), float(x.max()), LINE_POINTS, dtype=x.dtype)
    captured = []
    for trainer in trainers:
        same = at is not None and same_axes(trainer, first)
        captured.append(drive(trainer, shown if kind == "preds" else [], line_x, at if same else None))
    scene = _scene(first, lanes, captured, line_x)
    data = _draw(figures, scene, kind, ext, shown, dpi, first, at)
    try:
        write_file(out, data)
    except OSError as error:
        raise click.BadParameter(f"{out}: {error.strerror or error}", param_hint="'--out'") from None
    click.echo(f"gdtui: figure written to {out}", err=True)
    diverged = [(n, t) for n, t in enumerate(trainers, start=1) if t.status == "diverged"]
    for n, t in diverged:
        what = f"lane {n} " if len(trainers) > 1 else ""
        click.echo(f"gdtui: {what}diverged at epoch {t.epoch} (lr {t.config.lr:g}): try a smaller lr", err=True)
    if diverged:
        click.get_current_context().exit(EXIT_DIVERGED)


def _draw(
    figures: Any, scene: Scene, kind: str, ext: str, shown: list[int], dpi: int, first: Trainer, at: Any
) -> bytes:
    """The figure's bytes in its format."""
    import io

    if ext == "gif":
        with tempfile.TemporaryDirectory(prefix="gdtui-") as folder:
            path = os.path.join(folder, "fit.gif")
            figures.fit_animation(scene, shown, dpi, path)
            with open(path, "rb") as handle:
                return handle.read()
    if kind == "preds":
        drawn = figures.preds_figure(scene, shown, dpi)
    elif kind == "loss":
        drawn = figures.loss_figure(scene, dpi)
    else:
        drawn = figures.landscape_figure(scene, surface(first, scene, at, scene.lanes[0].held), dpi)
    buffer = io.BytesIO()
    figures.save(drawn, buffer, ext)
    return buffer.getvalue()
