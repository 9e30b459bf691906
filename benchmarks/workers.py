"""The in-process figures' workers: each runs in a fresh interpreter (`run.py --worker NAME`) and prints one
line, RESULT {json}, so its imports and memory are its own.
"""

from __future__ import annotations

import ast
import os
import subprocess
import sys
import time
from pathlib import Path

from common import PRESET, PYTHON, ROOT, alternate, median, proc_status
from landscape import WORKERS as LANDSCAPE_WORKERS


def _import_gdtui():
    sys.path.insert(0, str(ROOT))


def bare_epochs(x, y, params, lr):
    """The seed's epoch (benchmarks/seed_loop.py's apply_step, without printing) on x, y from params, as a
    function that runs n more epochs."""

    def epochs(n):
        for _ in range(n):
            a, b, c = params
            preds = a * (x**2) + (b * x) + c
            loss = ((preds - y) ** 2).mean()
            loss.backward()
            params.data -= lr * params.grad.data
            params.grad = None
            loss.item()

    return epochs


def seed_epochs():
    """The seed loop of benchmarks/seed_loop.py, set up as the article does, as a function of n epochs."""
    import torch

    torch.manual_seed(2021)
    time_ = torch.arange(0, 20).float()
    speed = torch.rand(20) * 5 + 0.8 * (time_ - 7.5) ** 2 + 1
    torch.randn(3)
    return bare_epochs(time_, speed, torch.randn(3).requires_grad_(), 1e-5)


def trainer_epochs(epochs=10**7):
    """A Trainer of the preset, as a function that runs n more epochs the way `gdtui run` does."""
    _import_gdtui()
    from gdtui.engine import resolve
    from gdtui.engine.trainer import Trainer

    trainer = Trainer(resolve(PRESET, epochs=epochs))

    def run(n):
        while n > 0 and trainer.status == "ok":
            chunk = trainer.run_chunk(min(n, 1000))
            n -= len(chunk)

    return run


def work_epoch20(quick: bool) -> dict:
    t0 = time.perf_counter()
    import torch  # noqa: F401

    t1 = time.perf_counter()
    _import_gdtui()
    import gdtui.cli
    import gdtui.engine.trainer  # noqa: F401

    t2 = time.perf_counter()
    rounds, epochs = (2, 2000) if quick else (5, 5000)

    def timed(make):
        run = make()
        start = time.perf_counter()
        run(epochs)
        return (time.perf_counter() - start) / epochs

    timed(trainer_epochs), timed(seed_epochs)  # warm up
    tr, se = alternate(rounds, lambda: timed(trainer_epochs), lambda: timed(seed_epochs))
    return dict(
        trainer_us=median(tr) * 1e6,
        seed_us=median(se) * 1e6,
        epochs=epochs,
        rounds=rounds,
        import_s=t2 - t1,
        torch_import_s=t1 - t0,
    )


def _counted(make) -> dict:
    """Run under callgrind by instructions.py: warm up, then count GDTUI_COUNT_EPOCHS epochs."""
    import ctypes

    helper = ctypes.CDLL(os.environ["GDTUI_COUNT_LIBRARY"])
    run = make()
    run(200)
    helper.count_start()
    run(int(os.environ["GDTUI_COUNT_EPOCHS"]))
    helper.count_stop()
    return {}


def work_count_gdtui(quick: bool) -> dict:
    return _counted(trainer_epochs)


def work_count_seed(quick: bool) -> dict:
    return _counted(seed_epochs)


def work_session(quick: bool) -> dict:
    """Epochs/s of the session process the TUI starts (fed by a client that only reads), against the headless
    loop (Trainer.run in chunks of 1000) in this process: how much the session protocol itself costs."""
    import socket
    from multiprocessing.connection import Connection

    _import_gdtui()
    from gdtui.engine import protocol, resolve
    from gdtui.engine.trainer import Trainer

    window, rounds = (2.0, 2) if quick else (4.0, 4)
    config = resolve(PRESET, epochs=100_000_000)
    ours, theirs = socket.socketpair()
    proc = subprocess.Popen(
        [PYTHON, "-m", "gdtui.engine.session", str(theirs.fileno())],
        pass_fds=[theirs.fileno()],
        stdin=subprocess.DEVNULL,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
        cwd=ROOT,
    )
    theirs.close()
    conn = Connection(ours.detach())
    trainer = Trainer(config)
    try:
        conn.send(protocol.Start(config))
        deadline = time.monotonic() + 120
        while True:
            if not conn.poll(max(deadline - time.monotonic(), 0)):
                raise TimeoutError("session not ready in 120 s")
            if isinstance(conn.recv(), protocol.Ready):
                break
        state = {"epoch": 0, "running": False}

        def drain(until: float) -> None:
            while True:
                left = until - time.perf_counter()
                if left <= 0 or not conn.poll(left):
                    return
                reply = conn.recv()
                if isinstance(reply, protocol.Results):
                    state["epoch"] = reply.chunk.last

        def session_side():
            conn.send(protocol.Run())
            drain(time.perf_counter() + 0.5)  # reach full speed
            e0, t0 = state["epoch"], time.perf_counter()
            drain(t0 + window)
            rate = (state["epoch"] - e0) / (time.perf_counter() - t0)
            conn.send(protocol.Pause())
            drain(time.perf_counter() + 0.3)
            return rate

        def headless_side():
            start, n = time.perf_counter(), 0
            while time.perf_counter() - start < window:
                n += len(trainer.run(1000))
            return n / (time.perf_counter() - start)

        headless_side()
        s_rates, h_rates = alternate(rounds, session_side, headless_side)
    finally:
        try:
            conn.send(protocol.Quit())
        except OSError:
            pass
        try:
            proc.wait(5)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()
    return dict(session_eps=median(s_rates), headless_eps=median(h_rates), rounds=rounds, window=window)


def work_plot(quick: bool) -> dict:
    import asyncio

    _import_gdtui()
    from textual.app import App

    from gdtui.engine import resolve
    from gdtui.engine.trainer import Trainer
    from gdtui.tui.widgets.plots import PredictionPlot

    points = 1_000_000
    start = time.perf_counter()
    big = Trainer(resolve(data="quadratic", points=points))
    build_s = time.perf_counter() - start
    small = Trainer(resolve(PRESET))
    cases = {}
    for key, trainer, ylim in (("big", big, None), ("small", small, (-100.0, 100.0))):
        x, y, n_train = trainer.plot_data
        cases[key] = (x, y, n_train, ylim, trainer.step().preds)
    reps = 8 if quick else 30

    class PlotApp(App):
        CSS = "PredictionPlot { width: 100%; height: 100%; }"

        def compose(self):
            yield PredictionPlot(id="plot")

    out = {"big": [], "small": [], "big_replot": [], "small_replot": []}

    async def main():
        app = PlotApp()
        async with app.run_test(size=(120, 40)) as pilot:
            plot = app.query_one(PredictionPlot)
            await pilot.pause()
            size = (plot.size.width, plot.size.height)
            for i in range(reps + 2):
                order = ("big", "small") if i % 2 == 0 else ("small", "big")
                for key in order:
                    x, y, n_train, ylim, preds = cases[key]
                    plot.set_data(x, y, n_train, ylim)
                    plot.set_preds(preds)
                    t = time.perf_counter()
                    plot.replot()
                    t_replot = time.perf_counter() - t
                    t = time.perf_counter()
                    strips = plot.frame()  # what a redraw costs: plotext's text, cut into the strips drawn
                    t_render = time.perf_counter() - t
                    text = "".join(strip.text for strip in strips)
                    if "plot unavailable" in text:
                        raise RuntimeError(text.strip())
                    if i >= 2:  # the first two are warm-up
                        out[key].append(t_render)
                        out[key + "_replot"].append(t_replot)
            return size

    size = asyncio.run(main())
    return dict(
        big_ms=median(out["big"]) * 1e3,
        small_ms=median(out["small"]) * 1e3,
        big_replot_ms=median(out["big_replot"]) * 1e3,
        small_replot_ms=median(out["small_replot"]) * 1e3,
        reps=reps,
        points=points,
        sample=len(cases["big"][0]),
        build_s=build_s,
        size=size,
    )


def work_frame8(quick: bool) -> dict:
    """A frame of each plot at 120x36 with 8 lanes raced to their end (issue 26: within 15 ms): the app's own
    race view draws, then the plot replots and cuts its strips."""
    import asyncio

    _import_gdtui()
    sys.path.insert(0, str(ROOT))
    from gdtui.engine import resolve
    from gdtui.tui.app import GdtuiApp
    from tests.tui_helpers import drawn, ready, wait_for

    epochs = 2_000 if quick else 20_000
    reps = 10 if quick else 30
    base = resolve(PRESET, epochs=epochs)
    lanes = [base.replace(lr=base.lr * f) for f in (0.5, 2, 3, 4)]
    lanes += [
        base.replace(optimizer="adam", lr=0.05),
        base.replace(optimizer="sgd", momentum=0.9),
        base.replace(optimizer="rmsprop", lr=0.01),
    ]
    out: dict = {}

    async def main():
        app = GdtuiApp(base, lanes=lanes)
        async with app.run_test(size=(120, 36)) as pilot:
            await ready(pilot)
            await wait_for(pilot, lambda: len(app.race.lanes) == 8, what="8 lanes")
            await pilot.press("space")
            await wait_for(
                pilot,
                lambda: (
                    app.state in ("done", "diverged")
                    and all(lane.epoch >= epochs or lane.status == "diverged" for lane in app.race.lanes.lanes)
                ),
                timeout=1200,
                what="the race at its end",
            )
            for tab, plot in (("tab-preds", app.plot), ("tab-curve", app.curve)):
                app.tabs.active = tab
                await drawn(pilot)
                times = []
                for _ in range(reps):
                    start = time.perf_counter()
                    app.race.draw()
                    plot.replot()
                    plot.frame()
                    times.append(time.perf_counter() - start)
                out[tab] = median(times) * 1e3
            await pilot.press("q")

    asyncio.run(main())
    return {"preds_ms": out["tab-preds"], "curve_ms": out["tab-curve"], "epochs": epochs, "reps": reps}


def work_epochs(quick: bool) -> dict:
    _import_gdtui()
    import torch

    from gdtui.engine import resolve
    from gdtui.engine.trainer import Trainer

    points = 1_000_000
    trainer = Trainer(resolve(data="quadratic", points=points, epochs=1_000_000_000))
    x, y = trainer.data.x_train, trainer.data.y_train
    lr = trainer.config.lr
    run_bare = bare_epochs(x, y, trainer.model.flat().clone().requires_grad_(), lr)
    # an epoch on a million points is memory-bound (about 3 ms here) and the machine's noise is of that order:
    # windows of 100 epochs, 9 rounds, keep the ratio within a few hundredths
    rounds, epochs = (2, 10) if quick else (9, 100)

    def bare():
        start = time.perf_counter()
        run_bare(epochs)
        return time.perf_counter() - start

    def ours():
        start = time.perf_counter()
        trainer.run_chunk(epochs)
        return time.perf_counter() - start

    ours(), bare()
    tr, ba = alternate(rounds, ours, bare)
    del torch
    return dict(
        trainer_eps=epochs / median(tr),
        bare_eps=epochs / median(ba),
        epochs=epochs,
        rounds=rounds,
        points=points,
        trainer_ms=[t * 1000 / epochs for t in tr],
        bare_ms=[t * 1000 / epochs for t in ba],
    )


def work_memory(quick: bool) -> dict:
    _import_gdtui()
    import gc

    from gdtui.engine import resolve
    from gdtui.engine.trainer import Trainer

    total = 1_000_000
    chunk = 10_000
    epochs = (100_000 if quick else total) + chunk
    trainer = Trainer(resolve(PRESET, epochs=epochs))
    trainer.run(chunk)  # warm-up chunk: allocator pools, autograd graph caches
    gc.collect()
    rss0 = proc_status("self", "VmRSS")
    start = time.perf_counter()
    done = chunk
    while not trainer.done and trainer.status == "ok":
        trainer.run(min(chunk, epochs - trainer.epoch))
    seconds = time.perf_counter() - start
    gc.collect()
    rss1 = proc_status("self", "VmRSS")
    measured = trainer.epoch - done
    growth = rss1 - rss0
    return dict(
        growth=growth,
        rss0=rss0,
        rss1=rss1,
        hwm=proc_status("self", "VmHWM"),
        epochs=measured,
        chunk=chunk,
        scale=total / measured if quick else 1,
        bytes_per_epoch=growth / max(measured, 1),
        seconds=seconds,
    )


HOST_READS = {"item", "tolist", "cpu", "numpy"}
HOST_CASTS = {"float", "int", "bool"}


def _host_calls(node) -> list[str]:
    calls = []
    for sub in ast.walk(node):
        if isinstance(sub, ast.Call):
            f = sub.func
            if isinstance(f, ast.Attribute) and f.attr in HOST_READS:
                calls.append(f".{f.attr}() line {sub.lineno}")
            elif isinstance(f, ast.Name) and f.id in HOST_CASTS:
                calls.append(f"{f.id}() line {sub.lineno}")
    return calls


def work_syncs(quick: bool) -> dict:
    _import_gdtui()
    import torch

    from gdtui.engine import resolve
    from gdtui.engine import trainer as trainer_module

    tree = ast.parse(Path(trainer_module.__file__).read_text())
    cls = next(n for n in tree.body if isinstance(n, ast.ClassDef) and n.name == "Trainer")
    methods = {n.name: n for n in cls.body if isinstance(n, ast.FunctionDef)}
    loops = [n for n in ast.walk(methods["_epochs_read_once"]) if isinstance(n, (ast.For, ast.While))]
    loop_calls = [c for loop in loops for c in _host_calls(loop)]
    record_calls = _host_calls(methods["_epochs_read_once"]) + _host_calls(methods["_record"])
    record_calls = [c for c in record_calls if c not in loop_calls]

    counter = {"n": 0}
    names = ["item", "tolist", "cpu", "numpy", "__bool__", "__float__", "__int__"]
    originals = {name: getattr(torch.Tensor, name) for name in names}

    def wrap(fn):
        def counted(self, *args, **kwargs):
            counter["n"] += 1
            return fn(self, *args, **kwargs)

        return counted

    # the accelerator path (readback "chunk"), forced here on the CPU; the CPU's own path reads each epoch
    trainer = trainer_module.Trainer(resolve(PRESET, epochs=1_000_000), readback="chunk")
    trainer.run(10)
    n = 1000
    for name in names:
        setattr(torch.Tensor, name, wrap(originals[name]))
    try:
        counter["n"] = 0
        trainer.run(1)
        one = counter["n"]
        counter["n"] = 0
        trainer.run(n)
        many = counter["n"]
    finally:
        for name, fn in originals.items():
            setattr(torch.Tensor, name, fn)
    per_epoch = (many - one) / (n - 1)
    return dict(
        per_epoch=per_epoch,
        per_chunk=one - per_epoch,
        n=n,
        static_loop=len(loop_calls),
        static_loop_calls=", ".join(loop_calls),
        static_record=len(record_calls),
        static_record_calls=record_calls,
    )


def _lane_configs(epochs: int):
    from gdtui.engine import resolve

    settings = [
        {"lr": 1e-5},
        {"lr": 2e-5},
        {"lr": 5e-6},
        {"optimizer": "sgd", "momentum": 0.9, "lr": 1e-6},
        {"optimizer": "nesterov", "lr": 1e-6},
        {"optimizer": "adam", "lr": 0.05},
        {"optimizer": "rmsprop", "lr": 0.01},
        {"optimizer": "adagrad", "lr": 0.5},
    ]
    return [resolve(PRESET, epochs=epochs, **s) for s in settings]


def work_lanes(quick: bool) -> dict:
    """8 lanes raced vs the same 8 runs one after another; one lane vs a plain Trainer; a branch at epoch
    10,000 (and just before a checkpoint, the worst case); the memory a lane adds against its history."""
    _import_gdtui()
    import gc

    from gdtui.engine.lanes import Race
    from gdtui.engine.trainer import Trainer

    epochs = 500 if quick else 3000
    rounds = 2 if quick else 5
    configs = _lane_configs(epochs)

    def race8():
        race = Race(configs[0])
        for config in configs[1:]:
            race.add(config)
        start = time.perf_counter()
        while any(lane.active for lane in race.lanes):
            race.run_chunk(budget=0.1)
        return time.perf_counter() - start

    def solo8():
        trainers = [Trainer(config) for config in configs]
        start = time.perf_counter()
        for trainer in trainers:
            while not trainer.done:
                trainer.run_chunk(epochs - trainer.epoch, budget=0.1)
        return time.perf_counter() - start

    def race1():
        race = Race(configs[0])
        start = time.perf_counter()
        while race.lanes[0].active:
            race.run_chunk(budget=0.1)
        return time.perf_counter() - start

    def solo1():
        trainer = Trainer(configs[0])
        start = time.perf_counter()
        while not trainer.done:
            trainer.run_chunk(epochs - trainer.epoch, budget=0.1)
        return time.perf_counter() - start

    race8(), solo8()
    r8, s8 = alternate(rounds, race8, solo8)
    r1, s1 = alternate(rounds, race1, solo1)
    race = Race(configs[5].replace(epochs=20_000))
    race.lanes[0].trainer.run(10_000)
    branch_ms = {}
    for at in (10_000, 9_983):
        times = []
        for _ in range(rounds):
            start = time.perf_counter()
            lane = race.branch(0, at)
            times.append((time.perf_counter() - start) * 1000)
            race.remove(lane.id)
        branch_ms[at] = median(times)
    gc.collect()
    base = Race(configs[0].replace(epochs=10**9))
    base.lanes[0].trainer.run(1000)
    n = 20_000 if quick else 200_000
    # the allocator's pools for training are warmed by another run of the same length first (kept alive, so
    # the lane cannot reuse its memory): what is measured is what the lane keeps
    warm = Trainer(configs[5].replace(epochs=10**9))
    while warm.epoch < n:
        warm.run(10_000)
    gc.collect()
    rss0 = proc_status("self", "VmRSS")
    lane = base.add(configs[5].replace(epochs=10**9))
    while lane.trainer.epoch < n:
        lane.trainer.run(10_000)
    gc.collect()
    rss1 = proc_status("self", "VmRSS")
    history = sum(column.itemsize * len(column) for column in _history_columns(lane.trainer.history))
    return dict(
        epochs=epochs,
        rounds=rounds,
        race8_s=median(r8),
        solo8_s=median(s8),
        race1_s=median(r1),
        solo1_s=median(s1),
        race8=r8,
        solo8=s8,
        branch_ms=branch_ms[10_000],
        branch_worst_ms=branch_ms[9_983],
        lane_growth=rss1 - rss0,
        lane_history=history,
        lane_epochs=n,
        checkpoints=len(lane.trainer._checkpoints),
        warm_epochs=warm.epoch,
    )


def _history_columns(history):
    return [history.loss, history.rmse, history.test_loss, history.grad_norm, history.lr, *history.params.values()]


WORKERS = {
    "lanes": work_lanes,
    "epoch20": work_epoch20,
    "count_gdtui": work_count_gdtui,
    "count_seed": work_count_seed,
    "session": work_session,
    "plot": work_plot,
    "frame8": work_frame8,
    "epochs": work_epochs,
    "memory": work_memory,
    "syncs": work_syncs,
    **LANDSCAPE_WORKERS,
}
