"""Figure 9's workers, the landscape: a grid against training epochs, a frame of the view, and training while the
landscape is watched. Each runs in a fresh interpreter (`run.py --worker NAME`, registered in workers.py).

Why: the grid is computed by the session between chunks and drawn by the app each frame; what it must not do is
cost more than the training it shows (a grid on the article's 20 points, against 50 of its epochs), hold up a
frame (the view's strips, heat recolored and paths laid over it) or slow the run it watches (the session loop
with the landscape asked for, against the same run with it hidden).
"""

from __future__ import annotations

import sys
import time
from dataclasses import replace

from common import PRESET, ROOT, alternate, median

PAIR = ("a", "b")
FRAME = (120, 36)  # the widget's size: figure 3's pane
PATH_POINTS = 2000  # a thinned path in the app holds up to paths.CAP (2048) points


def _import_gdtui():
    if str(ROOT) not in sys.path:
        sys.path.insert(0, str(ROOT))


def _finish(job):
    """Run a landscape_job to its end and return its Landscape."""
    while True:
        try:
            next(job)
        except StopIteration as done:
            return done.value


def work_land_grid(quick: bool) -> dict:
    """A 120x72 grid of the preset after 50 epochs against 50 epochs of a fresh run of it (run_chunk, as figure
    1b trains in-process); then the same grid on a million points (subsampled to 10,000 by the engine)."""
    _import_gdtui()
    from gdtui.engine import resolve
    from gdtui.engine.landscape import landscape
    from gdtui.engine.trainer import Trainer

    size, epochs = (120, 72), 50
    reps = 8 if quick else 30
    trained = Trainer(resolve(PRESET, epochs=epochs))
    trained.run_chunk(epochs)

    def grid():
        start = time.perf_counter()
        landscape(trained, PAIR, size=size)
        return time.perf_counter() - start

    def train():
        fresh = Trainer(resolve(PRESET, epochs=epochs))
        start = time.perf_counter()
        fresh.run_chunk(epochs)
        elapsed = time.perf_counter() - start
        if fresh.epoch != epochs:
            raise RuntimeError(f"trained {fresh.epoch} epochs, not {epochs}")
        return elapsed

    for _ in range(2):
        grid(), train()
    g, t = alternate(reps, grid, train)
    points = 1_000_000
    big = Trainer(resolve(data="quadratic", points=points, epochs=epochs))
    big.run_chunk(epochs)
    big_times = []
    for _ in range(2 if quick else 5):
        start = time.perf_counter()
        big_grid = landscape(big, PAIR, size=size)
        big_times.append(time.perf_counter() - start)
    return dict(
        grid_ms=median(g) * 1e3,
        epochs_ms=median(t) * 1e3,
        grid_list=[v * 1e3 for v in g],
        epochs_list=[v * 1e3 for v in t],
        reps=reps,
        size=size,
        epochs=epochs,
        points=points,
        sample=big_grid.points,
        subsampled=big_grid.subsampled,
        big_ms=median(big_times[1:]) * 1e3,
        big_first_ms=big_times[0] * 1e3,
        big_list=[v * 1e3 for v in big_times],
    )


# lanes whose thinned paths (ends and turning points) reach PATH_POINTS: gd just below its limit 2/λmax
# (3.5399e-5) zigzags across the valley, adam and rmsprop circle the minimum. (gd at 1e-5 and 3e-5 turns only 3
# and 30 times in 10,000 epochs, and 4e-5 diverges at epoch 168.)
FRAME_LANES = ({"lr": 3.53e-5}, {"optimizer": "adam", "lr": 0.05}, {"optimizer": "rmsprop", "lr": 0.01})
GD_LRS = (1e-5, 3e-5, 4e-5)


def work_land_frame(quick: bool) -> dict:
    """The view's strips for a 120x36 widget (App.run_test, as figure 5a) with a grid of the size it asks for and
    three lanes' paths of PATH_POINTS points: the heat uncached (a new grid each frame, as when the session sends
    one) and cached (the same grid, each path moved on by a point)."""
    import asyncio

    _import_gdtui()
    from textual.app import App

    from gdtui.engine import resolve
    from gdtui.engine.landscape import landscape_job, thinned_path
    from gdtui.engine.trainer import Trainer
    from gdtui.tui.lanes import COLORS
    from gdtui.tui.widgets.landscape import LandscapeView, LanePath

    trainers, raw = [], []
    for settings in FRAME_LANES:
        trainer = Trainer(resolve(PRESET, epochs=10**7, **settings))
        points = thinned_path(trainer, PAIR, cap=10**9)
        while len(points) <= PATH_POINTS and trainer.status == "ok":
            trainer.run_chunk(1000)
            points = thinned_path(trainer, PAIR, cap=10**9)
        if len(points) <= PATH_POINTS:
            raise RuntimeError(f"{settings}: {trainer.status} at epoch {trainer.epoch}, {len(points)} points")
        trainers.append(trainer)
        raw.append(points[: PATH_POINTS + 1])
    # each frame's paths: PATH_POINTS points, moved on by one point from the last frame's
    moves = [
        [LanePath(COLORS[k], points[shift : shift + PATH_POINTS], k == 0) for k, points in enumerate(raw)]
        for shift in (0, 1)
    ]
    # for comparison, gd's own lanes at 1e-5, 3e-5 and 4e-5 over 10,000 epochs: few turns, so short paths
    gd = [Trainer(resolve(PRESET, epochs=10_000, lr=lr)) for lr in GD_LRS]
    for trainer in gd:
        trainer.run(10_000)
    gd_paths = [LanePath(COLORS[k], thinned_path(t, PAIR), k == 0) for k, t in enumerate(gd)]
    reps = 8 if quick else 30

    class LandApp(App):
        CSS = "LandscapeView { width: 100%; height: 100%; }"

        def compose(self):
            yield LandscapeView()

    out = {}

    def frames(view, grid, moves) -> tuple[list, list]:
        """`reps` frames each way, alternating: a new grid object (the same values, as a grid from the session:
        the heat is redone) and the same grid (the heat cached); each frame's paths moved on from the last's."""
        state = {"grid": grid, "frame": 0}

        def frame(new_grid: bool) -> float:
            if new_grid:
                state["grid"] = replace(state["grid"])
            state["frame"] += 1
            view.show(state["grid"], moves[state["frame"] % len(moves)])
            start = time.perf_counter()
            strips = view._build()
            elapsed = time.perf_counter() - start
            if len(strips) != view.size.height or view._heat is None or view._heat[0] is not state["grid"]:
                raise RuntimeError("the view did not draw the grid")
            return elapsed

        for _ in range(2):  # warm-up
            frame(True), frame(False)
        return alternate(reps, lambda: frame(True), lambda: frame(False))

    async def main():
        app = LandApp()
        async with app.run_test(size=FRAME) as pilot:
            view = app.query_one(LandscapeView)
            await pilot.pause()
            cols, rows = view.area()
            size = (cols, 2 * rows)
            grid = _finish(landscape_job(trainers[0], PAIR, size, paths=trainers[1:]))
            out["uncached"], out["cached"] = frames(view, grid, moves)
            grid = _finish(landscape_job(gd[0], PAIR, size, paths=gd[1:]))
            out["gd_uncached"], out["gd_cached"] = frames(view, grid, [gd_paths])
            return (view.size.width, view.size.height), (cols, rows), size

    widget, area, grid_size = asyncio.run(main())
    return dict(
        uncached_ms=median(out["uncached"]) * 1e3,
        cached_ms=median(out["cached"]) * 1e3,
        gd_uncached_ms=median(out["gd_uncached"]) * 1e3,
        gd_cached_ms=median(out["gd_cached"]) * 1e3,
        gd_paths=[len(lane.points) for lane in gd_paths],
        reps=reps,
        widget=widget,
        area=area,
        grid=grid_size,
        paths=[len(lane.points) for lane in moves[0]],
        lanes=[f"{t.config.optimizer} lr {t.config.lr:g}" for t in trainers],
        lane_epochs=[t.epoch for t in trainers],
    )


class ScriptedPipe:
    """The session's end of the pipe with a UI that sent its commands at once and quits when the run is done:
    poll() is true while a command waits and false while the run trains; recv() gives Quit once they are read
    (the session reads again only when it stops running). It notes when Run is read, when "done" is sent and the
    grids sent in between."""

    def __init__(self, script):
        self.script = list(script)
        self.started = self.finished = None
        self.cpu = [0.0, 0.0]
        self.sent = 0  # "landscape" replies
        self.grids = 0  # of them between "run" and "done"
        self.state = None

    def poll(self):
        return bool(self.script)

    def recv(self):
        from gdtui.engine import protocol

        if not self.script:
            return protocol.Quit()
        command = self.script.pop(0)
        if isinstance(command, protocol.Run):
            self.started, self.cpu[0] = time.perf_counter(), time.process_time()
        return command

    def send(self, reply):
        from gdtui.engine import protocol

        if isinstance(reply, protocol.LandscapeReady):
            self.sent += 1
            self.grids += self.started is not None and self.finished is None
        state = reply.state if isinstance(reply, protocol.State) else None
        if state in ("done", "diverged") and self.started is not None and self.finished is None:
            self.finished, self.cpu[1] = time.perf_counter(), time.process_time()
            self.state = state

    def close(self):
        pass


WATCH_RUNS = {
    # name: settings, epochs (full run, --quick)
    "gd": ({}, 200_000, 20_000),
    "adam": ({"optimizer": "adam", "lr": 0.05}, 100_000, 10_000),
}


def _watch(name: str, quick: bool) -> dict:
    """A run of the preset through the session loop (in this process, over a ScriptedPipe) with the landscape
    watched at the size a 120x36 view asks for, against the same run with it hidden: epochs/s from "run" read to
    "done" sent, alternating sides run by run. On the watched side, the time the loop spent tending the landscape
    (Session.tend_landscape: starting grids, computing them, sending them) during the run is also added up."""
    _import_gdtui()
    from gdtui.engine import protocol, resolve
    from gdtui.engine.session import Session

    settings, full, short = WATCH_RUNS[name]
    epochs = short if quick else full
    rounds = 2 if quick else 3
    ask = protocol.WatchLandscape(None, None, (111, 66))  # what a 120x36 view's area() asks
    config = resolve(PRESET, **settings)
    seen = {"grids": [], "share": [], True: [], False: []}  # True/False: CPU seconds watched/hidden

    def side(watched: bool, n: int = epochs) -> float:
        pipe = ScriptedPipe(([ask] if watched else []) + [protocol.Run()])
        session = Session(pipe)
        tend, tending = session.tend_landscape, [0.0]

        def timed_tend():
            start = time.perf_counter()
            try:
                tend()
            finally:
                if pipe.started is not None and pipe.finished is None:
                    tending[0] += time.perf_counter() - start

        session.tend_landscape = timed_tend
        session.loop(config.replace(epochs=n))
        epoch = session.trainer.epoch if session.trainer is not None else None
        if pipe.state != "done" or epoch != n:
            raise RuntimeError(f"{name}: the run ended {pipe.state} at epoch {epoch}, not {n}")
        if watched and pipe.sent == 0:
            raise RuntimeError(f"{name}: no landscape was sent")
        wall = pipe.finished - pipe.started
        if watched:
            seen["grids"].append(pipe.grids)
            seen["share"].append(tending[0] / wall)
        seen[watched].append(pipe.cpu[1] - pipe.cpu[0])
        return n / wall

    side(True, 2000), side(False, 2000)  # warm-up: the landscape's imports, torch's first calls
    for values in seen.values():
        values.clear()
    w, h = alternate(rounds, lambda: side(True), lambda: side(False))
    return dict(
        watched_eps=median(w),
        hidden_eps=median(h),
        watched=w,
        hidden=h,
        grids=seen["grids"],
        share=seen["share"],
        cpu_ratio=median(seen[False]) / median(seen[True]),
        epochs=epochs,
        rounds=rounds,
        label=f"{config.optimizer} lr {config.lr:g}",
    )


def work_land_watch_gd(quick: bool) -> dict:
    return _watch("gd", quick)


def work_land_watch_adam(quick: bool) -> dict:
    return _watch("adam", quick)


WORKERS = {
    "land_grid": work_land_grid,
    "land_frame": work_land_frame,
    "land_watch_gd": work_land_watch_gd,
    "land_watch_adam": work_land_watch_adam,
}
