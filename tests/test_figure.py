"""`gdtui figure`: the articles' figures, checked by opening the files (their size, a GIF's frames, the colours
where the data and the predictions are drawn) and by the numbers drawn, which must be `gdtui run`'s and the
articles' own loops', bit for bit."""

from __future__ import annotations

import json
import subprocess
import sys

import pytest
import torch

from gdtui.cli import main
from gdtui.colours import LANE_RGB

pytest.importorskip("matplotlib", reason="gdtui figure needs the figures extra: pip install -e '.[figures]'")
from PIL import Image

from gdtui import figures

DPI = 72
DATA_RGB = (0x1F, 0x77, 0xB4)  # figures.DATA
RED = (255, 0, 0)


@pytest.fixture
def drawn(monkeypatch):
    """Every matplotlib Figure the command saves, kept to read its axes' transforms and lines."""
    kept = []
    save = figures.save

    def keep(figure, out, kind):
        save(figure, out, kind)
        kept.append(figure)

    monkeypatch.setattr(figures, "save", keep)
    return kept


def figure(capsys, *args):
    code = main(["figure", "--dpi", str(DPI), *args])
    return code, capsys.readouterr()


def near(pixel, rgb, tolerance=40):
    return all(abs(int(p) - c) <= tolerance for p, c in zip(pixel[:3], rgb))


def pixel_at(image, ax, x, y):
    """The PNG's pixel where the axes draw the data point (x, y)."""
    px, py = ax.transData.transform((x, y))
    return image.getpixel((int(px), image.height - 1 - int(py)))


def prediction_lines(ax):
    return [line for line in ax.lines if line.get_linestyle() != "None"]


def test_preds_draws_the_data_on_top_of_the_predictions_in_two_colours(capsys, drawn, tmp_path):
    out = tmp_path / "preds.png"
    code, captured = figure(capsys, "--preset", "linear-manual", "--epochs-shown", "0,2,100", "--out", str(out))
    assert code == 0, captured.err
    (fig,) = drawn
    image = Image.open(out).convert("RGB")
    width, height = fig.get_size_inches() * DPI
    assert image.size == (int(width), int(height))  # as Agg truncates: 3 panels 2.6 in wide, at DPI
    panels = [ax for ax in fig.axes if ax.get_visible()]
    assert [ax.get_title() for ax in panels] == ["epoch 0", "epoch 2", "epoch 100"]
    assert panels[0].get_xlabel() == "x" and panels[0].get_ylabel() == "y"
    for ax in panels:
        for x, y in zip([1.0, 2.0, 3.0, 4.0], [2.0, 4.0, 6.0, 8.0]):  # at epoch 100 the line runs through them
            assert near(pixel_at(image, ax, x, y), DATA_RGB), (ax.get_title(), x)
        (line,) = prediction_lines(ax)
        xs, ys = line.get_xdata(), line.get_ydata()
        middle = len(xs) // 2 + 25  # between two data points
        assert near(pixel_at(image, ax, xs[middle], ys[middle]), RED, 60), ax.get_title()


def fastai_params(epochs, lr=1e-5):
    """The fastai article's loop (seed 000): the parameters after each step, from its torch.randn(3) start."""
    torch.manual_seed(2021)
    time = torch.arange(0, 20).float()
    speed = torch.rand(20) * 5 + 0.8 * (time - 7.5) ** 2 + 1
    torch.randn(3)
    params = torch.randn(3).requires_grad_()
    after = [params.detach().clone()]
    for i in range(epochs):
        preds = params[0] * (time**2) + (params[1] * time) + params[2]
        loss = ((preds - speed) ** 2).mean()
        loss.backward()
        params.data -= lr * params.grad.data
        params.grad = None
        after.append(params.detach().clone())
    return after


def function(t, params):
    a, b, c = params
    return (a * (t**2) + (b * t) + c).tolist()


def test_preds_drawn_at_epoch_k_are_the_articles_loop_at_epoch_k(capsys, drawn, tmp_path):
    code, captured = figure(capsys, "--epochs-shown", "0,1,4,10", "--out", str(tmp_path / "f.png"))
    assert code == 0, captured.err
    reference = fastai_params(10)
    panels = [ax for ax in drawn[0].axes if ax.get_visible()]
    assert panels[0].get_xlabel() == "time" and panels[0].get_ylabel() == "speed"
    for ax, epoch in zip(panels, (0, 1, 4, 10)):
        (line,) = prediction_lines(ax)
        t = torch.tensor(line.get_xdata(), dtype=torch.float32)
        assert list(line.get_ydata()) == function(t, reference[epoch]), epoch
    assert len(t) > 100 and float(t[0]) == 0.0 and float(t[-1]) == 19.0  # a smooth line across the data


def run_params(capsys, *args):
    """Each epoch's parameters as `gdtui run --json` prints them."""
    assert main(["run", "--json", *args]) == 0
    lines = [json.loads(line) for line in capsys.readouterr().out.splitlines()]
    return {e["epoch"]: e["params"] for e in lines if e.get("event") == "epoch"}


def test_a_race_draws_each_lane_in_its_colour_with_its_own_runs_predictions(capsys, drawn, tmp_path):
    out = tmp_path / "race.png"
    code, captured = figure(
        capsys, "--preset", "qiita-quadratic", "--vary", "lr=1e-4,3e-5", "--epochs-shown", "3,7", "--out", str(out)
    )
    assert code == 0, captured.err
    image = Image.open(out).convert("RGB")
    panels = [ax for ax in drawn[0].axes if ax.get_visible()]
    for number, lr in ((1, "1e-4"), (2, "3e-5")):
        params = run_params(capsys, "--preset", "qiita-quadratic", "--lr", lr)
        rgb = LANE_RGB[number - 1]
        for ax, epoch in zip(panels, (3, 7)):
            line = prediction_lines(ax)[number - 1]
            assert line.get_color() == "#{:02x}{:02x}{:02x}".format(*rgb)
            t = torch.tensor(line.get_xdata(), dtype=torch.float32)
            p = params[epoch]
            assert list(line.get_ydata()) == function(t, torch.tensor([p["a"], p["b"], p["c"]])), (lr, epoch)
            points = zip(line.get_xdata()[::10], line.get_ydata()[::10])
            assert any(near(pixel_at(image, ax, x, y), rgb, 30) for x, y in points), (number, epoch)


def test_gif_has_a_frame_per_epoch_shown(capsys, tmp_path):
    out = tmp_path / "fit.gif"
    code, captured = figure(
        capsys, "--preset", "linear-manual", "--gif", "--epochs-shown", "0,1,2,3,50", "--out", str(out)
    )
    assert code == 0, captured.err
    with Image.open(out) as image:
        assert image.format == "GIF"
        assert image.n_frames == 5
        assert image.width == int(5.6 * DPI) and 3.8 * DPI < image.height < 4.6 * DPI  # and a legend row
        frames = []
        for k in range(image.n_frames):
            image.seek(k)
            frames.append(image.convert("RGB").tobytes())
    assert len(set(frames)) == 5  # the fit moves from frame to frame


def test_loss_curve_draws_every_epochs_loss_and_marks_a_divergence(capsys, drawn, tmp_path):
    out = tmp_path / "loss.png"
    code, captured = figure(capsys, "--preset", "qiita-quadratic", "--lr", "5e-4", "--kind", "loss", "--out", str(out))
    assert code == 3  # diverged: the figure is still written
    assert "diverged at epoch" in captured.err
    image = Image.open(out).convert("RGB")
    (ax,) = [ax for ax in drawn[0].axes if ax.get_visible()]
    assert ax.get_yscale() == "log" and "log scale" in ax.get_title()
    curve = ax.lines[0]
    xs, ys = curve.get_xdata(), curve.get_ydata()
    finite = [(x, y) for x, y in zip(xs, ys) if y == y]
    assert len(finite) == len(xs) - 1  # every epoch up to the one that overflowed
    assert any(line.get_marker() == "x" and line.get_xdata()[0] == finite[-1][0] for line in ax.lines)
    for x, y in finite[2:-2:3]:
        assert near(pixel_at(image, ax, x, y), RED, 60), x


def test_landscape_draws_the_surface_with_the_path(capsys, drawn, tmp_path):
    out = tmp_path / "land.svg"
    code, captured = figure(
        capsys, "--preset", "linear-manual", "--kind", "landscape", "--epochs", "30", "--out", str(out)
    )
    assert code == 0, captured.err
    assert out.read_text().lstrip().startswith("<?xml") and "<svg" in out.read_text()
    (ax,) = [ax for ax in drawn[0].axes if ax.get_xlabel() == "w"]
    assert ax.get_ylabel() == "b"
    path = ax.lines[0]
    assert len(path.get_xdata()) == 31  # epochs 0 to 30
    params = run_params(capsys, "--preset", "linear-manual", "--epochs", "30")
    assert (path.get_xdata()[-1], path.get_ydata()[-1]) == (params[30]["w"], params[30]["b"])
    assert path.get_color() == "#{:02x}{:02x}{:02x}".format(*LANE_RGB[0])
    minimum = [line for line in ax.lines if line.get_marker() == "X"]
    assert len(minimum) == 1  # y = 2x: w = 2, b = 0
    assert (float(minimum[0].get_xdata()[0]), float(minimum[0].get_ydata()[0])) == pytest.approx((2.0, 0.0), abs=1e-6)


@pytest.mark.parametrize(
    "args, option",
    [
        (["--out", "f.jpg"], "--out"),
        (["--gif", "--out", "f.png"], "--out"),
        (["--out", "f.gif"], "--out"),
        (["--kind", "loss", "--gif"], "--gif"),
        (["--epochs-shown", "0,11"], "--epochs-shown"),
        (["--epochs-shown", "0,x"], "--epochs-shown"),
        (["--kind", "landscape", "--pair", "a,z"], "--pair"),
    ],
)
def test_a_bad_option_exits_2_naming_it(capsys, tmp_path, monkeypatch, args, option):
    monkeypatch.chdir(tmp_path)
    code, captured = figure(capsys, *args)
    assert code == 2
    assert option in captured.err and captured.err.count("\n") == 1
    assert list(tmp_path.iterdir()) == []


def test_a_missing_extra_exits_2_with_its_install_line(capsys, tmp_path, monkeypatch):
    monkeypatch.delitem(sys.modules, "gdtui.figures")
    monkeypatch.setitem(sys.modules, "matplotlib", None)  # import matplotlib raises ImportError
    code, captured = figure(capsys, "--out", str(tmp_path / "f.png"))
    assert code == 2
    assert "pip install 'gdtui[figures]'" in captured.err
    assert list(tmp_path.iterdir()) == []


def test_the_command_loads_matplotlib_only_when_it_runs():
    script = "import sys; from gdtui.cli import main; main(['figure', '--help']); print('matplotlib' in sys.modules)"
    done = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, timeout=60)
    assert "--epochs-shown" in done.stdout and done.stdout.strip().endswith("False")


def test_a_diverged_lanes_path_stops_at_the_edge_of_the_landscape(capsys, drawn, tmp_path):
    out = tmp_path / "race.png"
    code, captured = figure(
        capsys, "--kind", "landscape", "--vary", "lr=1e-5,4e-5", "--epochs", "200", "--out", str(out)
    )
    assert code == 3  # lr 4e-5 is above 2/λmax: it diverges at epoch 168, and the figure is still written
    (ax,) = [ax for ax in drawn[0].axes if ax.get_xlabel() == "a"]
    (x0, x1), (y0, y1) = ax.get_xlim(), ax.get_ylim()
    paths = [line for line in ax.lines if len(line.get_xdata()) > 1]
    assert [p.get_color() for p in paths] == ["#{:02x}{:02x}{:02x}".format(*rgb) for rgb in LANE_RGB[:2]]
    xs, ys = paths[1].get_xdata(), paths[1].get_ydata()
    assert all(x0 <= x <= x1 and y0 <= y <= y1 for x, y in zip(xs, ys))  # never drawn across the view
    assert min(abs(xs[-1] - x0), abs(xs[-1] - x1), abs(ys[-1] - y0), abs(ys[-1] - y1)) < 1e-9  # ends at an edge
    left = [line for line in ax.lines if line.get_marker() == "D" and len(line.get_xdata()) == 1]
    assert [(line.get_xdata()[0], line.get_ydata()[0]) for line in left] == [(xs[-1], ys[-1])]
    assert len(paths[0].get_xdata()) == 201  # lane 1: every epoch, inside the view
