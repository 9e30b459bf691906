"""`gdtui figure`'s pictures: the seed articles' figures drawn with matplotlib from plain numbers (torch-free).

Why: a class's slides want the articles' own figures (the data in blue, the predictions in red, a panel per
step; the loss over the epochs; the valley with the paths), made from gdtui's exact numbers. Only `gdtui figure`
imports this module, so matplotlib loads with that command alone (the `figures` extra). Each figure draws on
an Agg canvas of its own: never pyplot, never a GUI backend, no global state changed.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import IO, Any

import numpy as np
from matplotlib import patheffects
from matplotlib.artist import Artist
from matplotlib.axes import Axes
from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.colors import LogNorm
from matplotlib.figure import Figure
from matplotlib.lines import Line2D
from matplotlib.ticker import FuncFormatter, MaxNLocator

DATA = "#1f77b4"  # the data, in matplotlib's first colour, as the articles' plt.scatter draws it
TEST = "#2ca02c"  # held-out data, green as in the TUI
PRED = "red"  # one run's predictions, as the articles' color='red'
OUTLINE = [patheffects.Stroke(linewidth=2.8, foreground="#222222"), patheffects.Normal()]  # light lanes on white
PANEL = (2.6, 2.3)  # inches per panel
LIGHT = 0.7  # a lane colour lighter than this (relative luminance) is outlined
CLOUD = 200  # more data points than this are drawn under the predictions, small
LETTER, HANDLE, LEGEND_ROW = 0.065, 0.8, 0.24  # inches: a legend label's letter (at 10 pt), its handle and gaps
DECADES = 3  # a loss spanning more than this many decades is drawn on a log scale


@dataclass
class Lane:
    """One run as a figure draws it: its predictions on `Scene.line_x` at the epochs captured, its loss by
    epoch (from epoch 1), its path through the landscape's pair (from epoch 0) and how it ended."""

    label: str
    color: str
    preds: dict[int, list[float]]
    loss: list[float]
    test_loss: list[float] | None
    last_epoch: int
    diverged: bool
    path: list[tuple[float, float]] = field(default_factory=list)
    held: list[float] = field(default_factory=list)  # with a path: every parameter at its last finite epoch

    def at(self, epoch: int) -> list[float] | None:
        """Its predictions after `epoch` (a run that stopped early stays where it stopped; a diverged one is gone)."""
        if epoch in self.preds:
            return self.preds[epoch]
        if epoch > self.last_epoch and not self.diverged:
            return self.preds.get(self.last_epoch)
        return None


@dataclass
class Scene:
    """What every figure of a run shares: the data (the training points first), the axes' names, the lanes."""

    title: str
    x_label: str
    y_label: str
    loss_label: str
    data_x: list[float]
    data_y: list[float]
    n_train: int
    line_x: list[float]
    lanes: list[Lane]


@dataclass
class Surface:
    """The training loss over a grid of two parameters (`loss[row][col]` at ys[row], xs[col]), the rest held."""

    pair: tuple[str, str]
    xs: list[float]
    ys: list[float]
    loss: list[list[float]]
    held: str  # the other parameters' values, as the subtitle says them
    minimum: tuple[float, float] | None  # the least-squares minimum of all parameters, on the pair's axes
    lowest: tuple[float, float]  # the lowest grid point


def short(value: float, _position: object = None) -> str:
    """A tick label with a few significant digits: 5000, 0.0125, 9.5e14, never 952269352423953.2."""
    if value == 0 or 1e-3 <= abs(value) < 1e5:
        return str(np.format_float_positional(value, precision=4, fractional=False, trim="-"))
    mantissa, _, exponent = f"{value:.3g}".partition("e")
    return f"{mantissa}e{int(exponent)}"


def _new(width: float, height: float, dpi: int, legend: Sequence[str]) -> Figure:
    """A figure of `width` x `height` inches for its axes, taller by the rows its legend below them takes."""
    rows = math.ceil(len(legend) / _columns(width, legend))
    figure = Figure(figsize=(width, height + LEGEND_ROW * rows), dpi=dpi, layout="constrained")
    FigureCanvasAgg(figure)
    return figure


def _ticks(ax: Axes, y: bool = True) -> None:
    ax.xaxis.set_major_formatter(FuncFormatter(short))
    if y:
        ax.yaxis.set_major_formatter(FuncFormatter(short))


def _lines(scene: Scene) -> list[tuple[Lane, dict[str, Any]]]:
    """Each lane with how its line is drawn: one run in the articles' red, a race's lanes in their gdtui colours
    (a light one outlined), lane 1 on top."""
    if len(scene.lanes) == 1:
        return [(scene.lanes[0], {"color": PRED, "zorder": 2})]
    count = len(scene.lanes)
    return [
        (lane, {"color": lane.color, "zorder": 2 + (count - k) / 100, **_outlined(lane.color)})
        for k, lane in enumerate(scene.lanes)
    ]


def _outlined(color: str) -> dict[str, Any]:
    """A dark outline for a light lane colour (yellow, white), which would vanish on white."""
    r, g, b = (int(color[k : k + 2], 16) / 255 for k in (1, 3, 5)) if color.startswith("#") else (1.0, 0.0, 0.0)
    return {"path_effects": OUTLINE} if 0.2126 * r + 0.7152 * g + 0.0722 * b > LIGHT else {}


def _draw_data(ax: Axes, scene: Scene) -> None:
    """The data over everything else, in a marker that stays visible where a prediction passes through it. A
    cloud (past CLOUD points) is drawn under the predictions instead, in small translucent dots, which would
    otherwise bury the fitted function."""
    n = scene.n_train
    cloud = len(scene.data_x) > CLOUD
    style: dict[str, Any] = {"linestyle": "none", "marker": "o"}
    if cloud:
        style.update(markersize=2.5, markeredgewidth=0, alpha=0.4, zorder=1)
    else:
        style.update(markersize=6, markeredgecolor="white", markeredgewidth=0.7, zorder=5)
    ax.plot(scene.data_x[:n], scene.data_y[:n], color=DATA, **style)
    if len(scene.data_x) > n:
        ax.plot(scene.data_x[n:], scene.data_y[n:], color=TEST, **style)


def _legend_labels(scene: Scene) -> list[str]:
    labels = ["train data", "test data"] if len(scene.data_x) > scene.n_train else ["data"]
    return labels + ([lane.label for lane in scene.lanes] if len(scene.lanes) > 1 else ["predictions"])


def _legend(figure: Figure, scene: Scene) -> None:
    """The legend outside the plotting area, where it never covers the data."""
    handles: list[Line2D] = [Line2D([], [], linestyle="none", marker="o", markerfacecolor=DATA, color="white")]
    if len(scene.data_x) > scene.n_train:
        handles.append(Line2D([], [], linestyle="none", marker="o", markerfacecolor=TEST, color="white"))
    handles += [Line2D([], [], linewidth=1.8, **style) for _, style in _lines(scene)]
    _below(figure, handles, _legend_labels(scene))


def _below(figure: Figure, handles: Sequence[Artist], labels: Sequence[str]) -> None:
    columns = _columns(figure.get_figwidth(), labels)
    figure.legend(handles, labels, loc="outside lower center", ncols=columns, frameon=False)


def _columns(width: float, labels: Sequence[str]) -> int:
    """As many legend columns (up to 4) as `width` inches hold: a legend wider than its figure is cut."""
    widest = max((len(label) for label in labels), default=1) * LETTER + HANDLE
    return max(1, min(len(labels), 4, int(width / widest)))


def _padded(values: Sequence[float]) -> tuple[float, float]:
    low, high = min(values), max(values)
    pad = 0.04 * (high - low or 1.0)
    return low - pad, high + pad


def _y_window(scene: Scene, epochs: Sequence[int]) -> tuple[float, float]:
    """The y range of the data, widened to the predictions shown but by at most the data's span each way (a
    far-off start is cut at the edge, as the articles' fixed ylim does, rather than squashing the data)."""
    low, high = min(scene.data_y), max(scene.data_y)
    span = high - low or max(abs(high), 1.0)
    values = [v for lane in scene.lanes for e in epochs for v in (lane.at(e) or []) if math.isfinite(v)]
    if values:
        low, high = max(min(low, min(values)), low - span), min(max(high, max(values)), high + span)
    pad = 0.05 * (high - low)
    return low - pad, high + pad


def _panel(ax: Axes, scene: Scene, epoch: int, window: tuple[float, float]) -> None:
    for lane, style in _lines(scene):
        preds = lane.at(epoch)
        if preds is not None:
            ax.plot(scene.line_x, preds, linewidth=1.8, **style)
    _draw_data(ax, scene)
    ax.set_ylim(*window)
    ax.set_title(f"epoch {epoch}", fontsize="medium")
    _ticks(ax)


def preds_figure(scene: Scene, epochs: Sequence[int], dpi: int) -> Figure:
    """The predictions against the data after each of `epochs`, a panel each (the fastai article's
    show_preds over its subplots, Qiita's rows of ten)."""
    count = len(epochs)
    cols = count if count <= 6 else min(5, count)
    rows = math.ceil(count / cols)
    figure = _new(PANEL[0] * cols, PANEL[1] * rows + 0.5, dpi, _legend_labels(scene))
    axes = figure.subplots(rows, cols, squeeze=False, sharex=True, sharey=True)
    window = _y_window(scene, epochs)
    for k, ax in enumerate(axes.flat):
        if k >= count:
            ax.set_visible(False)
            continue
        _panel(ax, scene, epochs[k], window)
        if k % cols == 0:
            ax.set_ylabel(scene.y_label)
        if k + cols >= count:  # the lowest panel of its column
            ax.set_xlabel(scene.x_label)
            ax.xaxis.set_tick_params(labelbottom=True)
    figure.suptitle(scene.title)
    _legend(figure, scene)
    return figure


def loss_figure(scene: Scene, dpi: int) -> Figure:
    """The loss over the epochs (seed 004's "Loss over Epochs"), every lane's; a diverged lane's curve runs to
    its last finite epoch, marked with an x; a loss spanning more than three decades is drawn on a log scale."""
    names = [lane.label for lane in scene.lanes] if len(scene.lanes) > 1 else ["training loss"]
    tested = [f"{name}: test" for name, lane in zip(names, scene.lanes) if lane.test_loss is not None]
    figure = _new(6.4, 3.9, dpi, names + tested)
    ax = figure.add_subplot()
    finite = [v for lane in scene.lanes for v in lane.loss if math.isfinite(v) and v > 0]
    log = bool(finite) and max(finite) > 10**DECADES * min(finite)
    for lane, style in _lines(scene):
        color = style["color"]
        loss = np.array(lane.loss, dtype=np.float64)
        epochs = np.arange(1, len(loss) + 1)
        loss[~np.isfinite(loss)] = np.nan
        label = lane.label if len(scene.lanes) > 1 else "training loss"
        ax.plot(epochs, loss, linewidth=1.6, label=label, **style)
        if lane.test_loss is not None:
            test = np.array(lane.test_loss, dtype=np.float64)
            test[~np.isfinite(test)] = np.nan
            ax.plot(
                epochs,
                test,
                linewidth=1.2,
                linestyle="--",
                label=f"{label}: test" if len(scene.lanes) > 1 else "test loss",
                **style,
            )
        kept = np.flatnonzero(np.isfinite(loss))
        if lane.diverged and len(kept):
            last = int(kept[-1])
            ax.plot([epochs[last]], [loss[last]], marker="x", markersize=9, markeredgewidth=2, color=color)
            ax.annotate(
                f"diverged at epoch {len(loss)}",
                (epochs[last], loss[last]),
                xytext=(-6, -4),
                textcoords="offset points",
                ha="right",
                va="top",
                fontsize="small",
            )
    if log:
        ax.set_yscale("log")
    else:
        ax.yaxis.set_major_formatter(FuncFormatter(short))
    ax.xaxis.set_major_locator(MaxNLocator(integer=True))
    ax.xaxis.set_major_formatter(FuncFormatter(short))
    ax.set_xlabel("epoch")
    ax.set_ylabel(scene.loss_label)
    ax.set_title("Loss over epochs" + (" (log scale)" if log else ""))
    figure.suptitle(scene.title)
    _below(figure, *ax.get_legend_handles_labels())
    return figure


def landscape_figure(scene: Scene, surface: Surface, dpi: int) -> Figure:
    """The loss over two parameters (a log colour scale with its contours) with every lane's path on it, from ○
    (its start) to ● (where it ended), the least-squares minimum ✕ and the lowest point of the slice +."""
    names = [lane.label for lane in scene.lanes] if len(scene.lanes) > 1 else ["path"]
    figure = _new(6.6, 4.4, dpi, [*names, "least-squares minimum (all parameters)", "lowest point of this slice"])
    ax = figure.add_subplot()
    loss = np.array(surface.loss, dtype=np.float64)
    positive = loss[np.isfinite(loss) & (loss > 0)]
    low, high = (float(positive.min()), float(positive.max())) if positive.size else (1.0, 10.0)
    high = max(high, low * 1.0001)
    mesh = ax.pcolormesh(surface.xs, surface.ys, loss, cmap="viridis", norm=LogNorm(low, high), shading="auto")
    levels = np.geomspace(low, high, 12)[1:-1]
    ax.contour(surface.xs, surface.ys, loss, levels=levels, colors="white", linewidths=0.5, alpha=0.45)
    figure.colorbar(mesh, ax=ax, label=scene.loss_label)
    colors = [lane.color for lane in scene.lanes]
    box = ((surface.xs[0], surface.xs[-1]), (surface.ys[0], surface.ys[-1]))
    left = False
    for k, (lane, color) in enumerate(zip(scene.lanes, colors)):
        if not lane.path:
            continue
        xs, ys, gone = _in_view(np.array(lane.path, dtype=np.float64), box)
        label = lane.label if len(scene.lanes) > 1 else "path"
        z: dict[str, Any] = {"color": color, "zorder": 3 + (len(colors) - k) / 100}  # lane 1 on top
        ax.plot(xs, ys, linewidth=1.4, path_effects=OUTLINE, label=label, **z)
        ax.plot(xs[:1], ys[:1], marker="o", markersize=7, markerfacecolor="none", markeredgecolor=color, **z)
        ax.plot(xs[-1:], ys[-1:], marker="D" if gone else "o", markersize=6, markeredgecolor="black", **z)
        left = left or gone
    if left:
        ax.plot([], [], linestyle="none", marker="D", color="white", markeredgecolor="black", label="left the view")
    if surface.minimum is not None:
        ax.plot(*surface.minimum, linestyle="none", marker="X", markersize=10, color="white", markeredgecolor="black")
        ax.lines[-1].set_label("least-squares minimum (all parameters)")
    ax.plot(*surface.lowest, linestyle="none", marker="+", markersize=12, markeredgewidth=2, color="black")
    ax.lines[-1].set_label("lowest point of this slice")
    ax.set_xlim(surface.xs[0], surface.xs[-1])
    ax.set_ylim(surface.ys[0], surface.ys[-1])
    ax.set_xlabel(surface.pair[0])
    ax.set_ylabel(surface.pair[1])
    _ticks(ax)
    ax.set_title(f"training loss over {surface.pair[0]} and {surface.pair[1]}" + surface.held, fontsize="medium")
    figure.suptitle(scene.title)
    _below(figure, *ax.get_legend_handles_labels())
    return figure


def _in_view(
    path: np.ndarray[Any, np.dtype[np.float64]], box: tuple[tuple[float, float], ...]
) -> tuple[np.ndarray[Any, np.dtype[np.float64]], np.ndarray[Any, np.dtype[np.float64]], bool]:
    """A path's x and y up to where it first leaves `box` (or stops being finite), ending at the edge it
    crossed, so a diverging lane is drawn to the edge of the view, never across it; and whether it left."""
    (x0, x1), (y0, y1) = box
    xs, ys = path[:, 0], path[:, 1]
    inside = np.isfinite(xs) & np.isfinite(ys) & (xs >= x0) & (xs <= x1) & (ys >= y0) & (ys <= y1)
    out = np.flatnonzero(~inside)
    if not len(out) or out[0] == 0:
        return (xs, ys, False) if not len(out) else (xs[:0], ys[:0], True)
    k = int(out[0])
    start, step = path[k - 1], path[k] - path[k - 1]
    if not np.all(np.isfinite(step)):
        return xs[:k], ys[:k], True
    t = 1.0
    for axis, (low, high) in enumerate(box):
        if step[axis]:
            t = min(t, ((high if step[axis] > 0 else low) - start[axis]) / step[axis])
    edge = start + t * step
    return np.append(xs[:k], edge[0]), np.append(ys[:k], edge[1]), True


def fit_animation(scene: Scene, epochs: Sequence[int], dpi: int, path: str, fps: int = 4) -> None:
    """The fit over `epochs` as an animated GIF, a frame per epoch (matplotlib's animation, Pillow's writer)."""
    from matplotlib.animation import FuncAnimation, PillowWriter

    figure = _new(5.6, 3.8, dpi, _legend_labels(scene))
    ax = figure.add_subplot()
    window = _y_window(scene, epochs)
    lines = [ax.plot([], [], linewidth=1.8, **style)[0] for _, style in _lines(scene)]
    _draw_data(ax, scene)
    ax.set_xlim(*_padded(scene.line_x))
    ax.set_ylim(*window)
    ax.set_xlabel(scene.x_label)
    ax.set_ylabel(scene.y_label)
    _ticks(ax)
    figure.suptitle(scene.title)
    _legend(figure, scene)

    def frame(k: int) -> list[Line2D]:
        for line, lane in zip(lines, scene.lanes):
            preds = lane.at(epochs[k])
            line.set_data(scene.line_x if preds is not None else [], preds if preds is not None else [])
        ax.set_title(f"epoch {epochs[k]}", fontsize="medium")
        return lines

    animation = FuncAnimation(figure, frame, frames=len(epochs), blit=False, repeat=False)
    animation.save(path, writer=PillowWriter(fps=fps), dpi=dpi)


def save(figure: Figure, out: IO[bytes], kind: str) -> None:
    """The figure as PNG or SVG bytes, at its own size and dpi (so its pixels are where its axes put them)."""
    figure.savefig(out, format=kind, dpi=figure.dpi)
