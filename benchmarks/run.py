#!/usr/bin/env python
"""gdtui's performance figures, each measured as a ratio against its baseline in one run.

Usage:  python benchmarks/run.py            full run (about 32 min: 9 rounds for figure 1, 3 for figure 9's
                                            runs, 5 for the others, and figure 1 counted in instructions by
                                            callgrind)
        python benchmarks/run.py --quick    smoke run (fewer rounds and epochs; memory is extrapolated; no
                                            instruction count; about 5 min)
        python benchmarks/run.py --only 1,4 only some figures (numbers as in the table)

Why: issue 4 sets targets for engine overhead, live UI throughput, key latency, first paint, a million points,
a million epochs and the cuda path, each as a ratio measured on this machine. Every figure alternates its
two sides round by round and takes medians, so a neighbour's load drifting during the run hits both sides.
Where wall-clock noise is larger than the effect (figure 1), instructions are also counted (1c).

Modules: common.py (paths, timing whole processes, /proc), terminal.py (gdtui in a private tmux server, read
through control-mode clients), workers.py (the in-process figures, each in a fresh interpreter started as
`run.py --worker NAME`, so its memory and imports are its own; figure 9's are in landscape.py), instructions.py
(callgrind). Not part of CI: it measures, it does not judge the build.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import signal
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import instructions
from common import (
    GDTUI,
    PANE,
    PRESET,
    PYTHON,
    ROOT,
    SEED_LOOP,
    _list,
    alternate,
    cpu_shares,
    descendants,
    median,
    proc_status,
    role,
    timed_process,
    worker,
)
from terminal import STATUS_ROWS, TITLE_ROWS, PaneStream, Tmux, status_of, wait_screen
from workers import WORKERS

# ------------------------------------------------------------------------------------------------ figures


class Bench:
    def __init__(self, quick: bool):
        self.quick = quick
        self.rows: list[dict] = []
        self.notes: list[str] = []
        self._tmux: Tmux | None = None
        self._n = 0

    @property
    def tmux(self) -> Tmux:
        if self._tmux is None:
            self._tmux = Tmux()
        return self._tmux

    def name(self, tag: str) -> str:
        self._n += 1
        return f"{tag}{self._n}"

    def row(self, figure, name, gdtui, baseline, ratio, target, ok, note=""):
        self.rows.append(
            dict(figure=figure, name=name, gdtui=gdtui, baseline=baseline, ratio=ratio, target=target, ok=ok)
        )
        if note:
            self.notes.append(f"[{figure}] {note}")

    def close(self):
        if self._tmux is not None:
            self._tmux.close()
            if self._tmux.killed:
                self.notes.append(
                    f"[tmux] {self._tmux.killed} gdtui process(es) were still alive after q and "
                    f"kill-session and were ended with SIGKILL"
                )
            self._tmux = None

    # 1 -------------------------------------------------------------------------------------------------
    def engine_overhead(self):
        rounds, epochs = (2, 20000) if self.quick else (9, 20000)
        g_argv = GDTUI + ["run", "--quiet", "--preset", PRESET, "--epochs", str(epochs)]
        s_argv = [PYTHON, str(SEED_LOOP), str(epochs)]
        cpu = {"g": [], "s": []}

        def measure(argv, key):
            before = os.times()
            wall = timed_process(argv, timeout=600)
            after = os.times()
            cpu[key].append(after.children_user + after.children_system - before.children_user - before.children_system)
            return wall

        g, s = alternate(rounds, lambda: measure(g_argv, "g"), lambda: measure(s_argv, "s"))
        ratio = median(g) / median(s)
        self.row(
            "1",
            f"engine overhead: whole process, {epochs} epochs",
            f"{median(g):.2f} s",
            f"{median(s):.2f} s",
            ratio,
            "<= 1.05",
            ratio <= 1.05,
            f"gdtui run --quiet vs benchmarks/seed_loop.py, {rounds} rounds: gdtui {_list(g)} s, seed {_list(s)} s; "
            f"CPU time (user+sys) ratio {median(cpu['g']) / median(cpu['s']):.3f}",
        )
        # where the difference lies: per-epoch cost in one process, imports excluded
        r = worker("epoch20", self.quick, timeout=900)
        self.row(
            "1b",
            "  per epoch in-process (info)",
            f"{r['trainer_us']:.0f} µs",
            f"{r['seed_us']:.0f} µs",
            r["trainer_us"] / r["seed_us"],
            "-",
            None,
            f"Trainer.run in chunks of 1000 vs the seed loop in one interpreter, {r['epochs']} epochs x "
            f"{r['rounds']} rounds; import of gdtui.cli+trainer {r['import_s']:.2f} s vs import torch "
            f"{r['torch_import_s']:.2f} s (same process, so both with a warm page cache)",
        )
        # the same comparison in instructions, which the machine's noise does not move
        why_not = instructions.missing()
        if self.quick or why_not:
            self.notes.append(f"[1c] instructions not counted: {'--quick' if self.quick else why_not}")
            return
        c = instructions.engine_instructions(PRESET, epochs, counted=1000)
        ratio = c["total_g"] / c["total_s"]
        self.row(
            "1c",
            f"  instructions, whole process, {epochs} epochs",
            f"{c['total_g'] / 1e9:.2f} G",
            f"{c['total_s'] / 1e9:.2f} G",
            ratio,
            "<= 1.05",
            ratio <= 1.05,
            f"callgrind: startup (one-epoch process) gdtui {c['start_g'] / 1e9:.3f} G vs seed "
            f"{c['start_s'] / 1e9:.3f} G; per epoch (1000 counted in one process after 200 of warm-up) gdtui "
            f"{c['epoch_g'] / 1e3:.1f} k vs seed {c['epoch_s'] / 1e3:.1f} k "
            f"(x{c['epoch_g'] / c['epoch_s']:.3f}); total = startup + {epochs - 1} x per epoch",
        )

    # 2 -------------------------------------------------------------------------------------------------
    def live_ui(self):
        rounds, epochs = (2, 20000) if self.quick else (5, 20000)
        tmux = self.tmux
        app_argv = GDTUI + ["--preset", PRESET, "--epochs", str(epochs), "--run"]
        head_argv = GDTUI + ["run", "--quiet", "--preset", PRESET, "--epochs", str(epochs)]
        finals, starts, rates = [], [], []

        def ui():
            name = self.name("live")
            try:
                start = tmux.launch(name, app_argv)
                first = None
                deadline = start + 600
                while True:
                    lines = tmux.capture(name, STATUS_ROWS)
                    now = time.perf_counter()
                    st = status_of(lines)
                    if st and first is None and st[1] > 0:
                        first = now
                    if st and st[0] == "done":
                        break
                    if now > deadline:
                        raise TimeoutError(f"{name}: no 'done' in 600 s; screen ends with {lines[-3:]}")
                    time.sleep(0.02)
                finals.append(st[1])
                starts.append(first - start)
                rates.append(st[1] / (now - first) if now > first else float("nan"))
                return now - start
            finally:
                tmux.quit(name)

        u, h = alternate(rounds, ui, lambda: timed_process(head_argv, timeout=600))
        ratio = median(u) / median(h)
        bad = [f for f in finals if f != epochs]
        self.row(
            "2",
            f"live UI: launch to 'done', {epochs} epochs",
            f"{median(u):.2f} s",
            f"{median(h):.2f} s",
            ratio,
            "<= 1.15",
            ratio <= 1.15 and not bad,
            f"tmux {PANE[0]}x{PANE[1]}, screen polled every 20 ms; UI {_list(u)} s, headless {_list(h)} s; "
            f"of the UI's time, launch to the first epoch on screen {_list(starts)} s (median "
            f"{median(starts):.2f} s), then {median(rates):.0f} epochs/s to 'done'"
            + (f"; WRONG final epoch on screen: {bad}" if bad else ""),
        )
        r = worker("session", self.quick, timeout=600)
        self.row(
            "2b",
            "  session process alone (info, time ratio)",
            f"{r['session_eps']:.0f} ep/s",
            f"{r['headless_eps']:.0f} ep/s",
            r["headless_eps"] / r["session_eps"],
            "-",
            None,
            f"python -m gdtui.engine.session driven by a client that only reads its results, against "
            f"Trainer.run(1000) in a loop in one process; {r['rounds']} alternating windows of "
            f"{r['window']:g} s; no UI, so this isolates the session protocol's own cost",
        )

    # 3 -------------------------------------------------------------------------------------------------
    def responsiveness(self):
        toggles = 4 if self.quick else 16
        tmux = self.tmux
        name = self.name("keys")
        interval = 0.005
        lat = {"paused": [], "running": []}
        pty = {"paused": [], "running": []}
        polls, rss, cpu, epoch_now = [], {}, {}, None
        stream = None
        try:
            tmux.launch(name, GDTUI + ["--preset", PRESET, "--epochs", "100000000", "--run"])
            wait_screen(
                tmux,
                name,
                lambda lines: (s := status_of(lines)) and s[0] == "running" and s[1] > 0,
                timeout=120,
                interval=0.02,
            )
            stream = PaneStream(tmux, name)
            time.sleep(1.0)  # full speed: chunks flowing, plots redrawing
            tmux.note_children()
            cpu = cpu_shares(tmux.pids, 2.0)
            # Even toggles are timed by polling the screen, odd ones by the pty stream alone (no polling load).
            for i in range(toggles):
                for want in ("paused", "running"):
                    stream.mark()
                    start = time.perf_counter()
                    tmux.keys(name, "Space")
                    if i % 2 == 0:
                        _, seen, n = wait_screen(
                            tmux,
                            name,
                            lambda lines, w=want: (s := status_of(lines)) and s[0] == w,
                            timeout=30,
                            interval=interval,
                        )
                        lat[want].append((seen - start) * 1000)
                        polls.append(n)
                    else:
                        at = stream.wait_for(want, timeout=30)
                        if at is None:
                            raise TimeoutError(f"'{want}' not written within 30 s of space")
                        pty[want].append((at - start) * 1000)
                        wait_screen(
                            tmux,
                            name,
                            lambda lines, w=want: (s := status_of(lines)) and s[0] == w,
                            timeout=30,
                            interval=0.02,
                        )
                    time.sleep(0.3 if want == "paused" else 1.0)
            tmux.note_children()
            for pid in sorted(tmux.pids):
                value = proc_status(pid, "VmRSS")
                if value:
                    rss[role(pid)] = value
            epoch_now = status_of(tmux.capture(name, STATUS_ROWS))
        finally:
            if stream is not None:
                stream.close()
            tmux.quit(name)
        # the cost of looking: a capture-pane round trip through the control client, and as a spawned client
        probe = self.name("probe")
        try:
            tmux.launch(probe, GDTUI + ["--preset", PRESET])
            wait_screen(
                tmux,
                probe,
                lambda lines: "Hyperparameters" in "".join(lines),
                timeout=60,
                interval=0.01,
                rows=TITLE_ROWS,
            )
            ctl, full, spawn = [], [], []
            for _ in range(40):
                t = time.perf_counter()
                tmux.capture(probe, STATUS_ROWS)
                ctl.append((time.perf_counter() - t) * 1000)
                t = time.perf_counter()
                tmux.capture(probe)
                full.append((time.perf_counter() - t) * 1000)
            for _ in range(10):
                t = time.perf_counter()
                subprocess.run(
                    tmux.base + ["capture-pane", "-p", "-t", probe], capture_output=True, timeout=10, env=tmux.env
                )
                spawn.append((time.perf_counter() - t) * 1000)
        finally:
            tmux.quit(probe)
        look = f"{median(ctl):.1f} ms look"
        for want in ("paused", "running"):
            m = median(lat[want])
            self.row("3", f"keys: space -> '{want}', screen polled", f"{m:.1f} ms", look, m / 50, "<= 50 ms", m <= 50)
        for want in ("paused", "running"):
            m = median(pty[want])
            self.row("3", f"keys: space -> '{want}', pty stream", f"{m:.1f} ms", "-", m / 50, "<= 50 ms", m <= 50)
        self.notes.append(
            f"[3] {toggles} toggles each way while training at full speed (100M-epoch run), alternately timed "
            f"by the two methods. Screen polled: from "
            f"send-keys to the capture-pane that shows the word, polled every {interval * 1000:.0f} ms (median "
            f"{median(polls):.0f} polls); paused {_list(lat['paused'], 0)} ms, running {_list(lat['running'], 0)} ms. "
            f"Pty stream (odd toggles, no polling): from send-keys to the moment the word arrived in the pane's "
            f"output through a read-only "
            f"control client (no polling); paused {_list(pty['paused'], 0)} ms, running {_list(pty['running'], 0)} ms. "
            f"Cost of looking (median): capture-pane of the {STATUS_ROWS[1] - STATUS_ROWS[0] + 1} status rows via the "
            f"control client {median(ctl):.2f} ms (what the polls use), of the whole {PANE[0]}x{PANE[1]} pane "
            f"{median(full):.2f} ms, whole pane via a spawned `tmux capture-pane` {median(spawn):.1f} ms. "
            f"Ratio = latency / 50 ms."
        )
        if cpu:
            parts = ", ".join(f"{label} {share:.0%}" for label, share in cpu.items())
            self.notes.append(f"[3] CPU while training at full speed (2 s window; 100% = one core): {parts}")
        if rss:
            parts = ", ".join(f"{who} {v / 2**20:.0f} MB" for who, v in sorted(rss.items()))
            self.notes.append(f"[3] resident memory of the app's processes at the end ({epoch_now}): {parts}")

    # 4 -------------------------------------------------------------------------------------------------
    def first_paint(self):
        rounds = 2 if self.quick else 5
        tmux = self.tmux

        def paint():
            name = self.name("paint")
            try:
                start = tmux.launch(name, GDTUI + ["--preset", PRESET])
                _, seen, _ = wait_screen(
                    tmux,
                    name,
                    lambda lines: "Hyperparameters" in "".join(lines),
                    timeout=120,
                    interval=0.002,
                    rows=TITLE_ROWS,
                )
                return seen - start
            finally:
                tmux.quit(name)

        f, t = alternate(rounds, paint, lambda: timed_process([PYTHON, "-c", "import torch"], timeout=300))
        ratio = median(f) / median(t)
        self.row(
            "4",
            "first paint vs python -c 'import torch'",
            f"{median(f):.2f} s",
            f"{median(t):.2f} s",
            ratio,
            "< 0.35",
            ratio < 0.35,
            f"launch in tmux to 'Hyperparameters' on screen (polled every 2 ms): {_list(f)} s; "
            f"import torch {_list(t)} s",
        )

    # 5 -------------------------------------------------------------------------------------------------
    def large_data(self):
        r = worker("plot", self.quick, timeout=900)
        ratio = r["big_ms"] / r["small_ms"]
        self.row(
            "5a",
            f"plot frame 120x40, {r['points']:,} vs 20 points",
            f"{r['big_ms']:.1f} ms",
            f"{r['small_ms']:.1f} ms",
            ratio,
            "<= 1.5",
            ratio <= 1.5,
            f"PredictionPlot in App.run_test(size=(120, 40)), {r['reps']} alternating reps; plot sample "
            f"{r['sample']} of {r['points']:,} points; replot() (Python side, before render) "
            f"{r['big_replot_ms']:.1f} ms vs {r['small_replot_ms']:.1f} ms; Trainer build {r['build_s']:.1f} s",
        )
        r = worker("frame8", self.quick, timeout=1800)
        worst = max(r["preds_ms"], r["curve_ms"])
        self.row(
            "5c",
            "a frame at 120x36, 8 lanes, each plot",
            f"{worst:.1f} ms",
            "-",
            worst / 15,
            "<= 15 ms",
            worst <= 15,
            f"8 lanes of {PRESET} raced to {r['epochs']:,} epochs in App.run_test(size=(120, 36)); the race view's "
            f"draw, then the plot's replot and strips, median of {r['reps']}: predictions {r['preds_ms']:.1f} ms, "
            f"loss curve {r['curve_ms']:.1f} ms",
        )
        r = worker("epochs", self.quick, timeout=1200)
        ratio = r["bare_eps"] / r["trainer_eps"]
        self.row(
            "5b",
            f"epoch cost, {r['points']:,} points (time ratio)",
            f"{r['trainer_eps']:.1f} ep/s",
            f"{r['bare_eps']:.1f} ep/s",
            ratio,
            "report (~1)",
            None,
            f"Trainer.run({r['epochs']}) vs a bare loop of the same quadratic and MSE on the same tensors, "
            f"{r['rounds']} alternating rounds, loss.item() every epoch in the bare loop; ms an epoch: "
            f"Trainer {_list(r['trainer_ms'])}, bare {_list(r['bare_ms'])}",
        )

    # 6 -------------------------------------------------------------------------------------------------
    def long_run(self):
        r = worker("memory", self.quick, timeout=3600)
        growth = r["growth"] * r["scale"]
        extra = (
            f" (measured over {r['epochs']:,} epochs: {r['growth'] / 2**20:.1f} MB, extrapolated x{r['scale']:g})"
            if r["scale"] != 1
            else ""
        )
        self.row(
            "6",
            "memory growth, 1,000,000 epochs",
            f"{growth / 2**20:.1f} MB",
            "-",
            None,
            "< 200 MB",
            growth < 200 * 2**20,
            f"Trainer fastai-quadratic, run() in chunks of {r['chunk']:,}, results discarded; VmRSS "
            f"{r['rss0'] / 2**20:.0f} -> {r['rss1'] / 2**20:.0f} MB, VmHWM {r['hwm'] / 2**20:.0f} MB, "
            f"{r['bytes_per_epoch']:.0f} bytes/epoch, {r['seconds']:.0f} s{extra}",
        )

    # 7 -------------------------------------------------------------------------------------------------
    def cuda_path(self):
        r = worker("syncs", self.quick, timeout=300)
        ok = r["per_epoch"] == 0 and r["static_loop"] == 0
        self.row(
            "7",
            "host syncs per epoch in the chunk loop",
            f"{r['per_epoch']:g}",
            "1 (seed: loss.item())",
            None,
            "0 (read once per chunk)",
            ok,
            f"no GPU here: counted, not timed, on the path accelerators take (readback 'chunk', forced on the "
            f"CPU, whose own path reads each value as it is made). Its epoch loop has {r['static_loop']} "
            f"host-reading calls in its source ({r['static_loop_calls'] or 'none'}); after the loop, once per "
            f"chunk, there are {r['static_record']} ({', '.join(r['static_record_calls'])}; on a GPU only the "
            f".cpu() of "
            f"the chunk's table and the predictions' .tolist() wait for the device, the rest read host memory). "
            f"Counted at run time by wrapping "
            f"Tensor.item/tolist/cpu/numpy/__bool__/__float__/__int__: {r['per_chunk']:g} per chunk, "
            f"{r['per_epoch']:g} per epoch (run(1) vs run({r['n']}))",
        )

    # 8 -------------------------------------------------------------------------------------------------
    def lanes(self):
        r = worker("lanes", self.quick, timeout=1800)
        speed = r["solo8_s"] / r["race8_s"]
        self.row(
            "8a",
            "8 lanes raced vs the 8 runs one after another (total ep/s)",
            f"{8 * r['epochs'] / r['race8_s']:.0f} ep/s",
            f"{8 * r['epochs'] / r['solo8_s']:.0f} ep/s",
            speed,
            ">= 3 (milestone 2)",
            speed >= 3,
            f"{PRESET}, 8 lanes (gd at three lrs, sgd momentum 0.9, nesterov, adam, rmsprop, adagrad), "
            f"{r['epochs']} epochs each, chunks of 0.1 s, {r['rounds']} alternating rounds: race "
            f"{_list(r['race8'])} s, one after another {_list(r['solo8'])} s. The 8 lanes are stacked: one "
            f"forward, loss and backward pass for all of them, then each lane's own optimizer step.",
        )
        one = r["race1_s"] / r["solo1_s"]
        self.row(
            "8b",
            "one lane vs a plain run",
            f"{r['race1_s']:.2f} s",
            f"{r['solo1_s']:.2f} s",
            one,
            "<= 1.05",
            one <= 1.05,
        )
        self.row(
            "8c",
            "branch at epoch 10,000 (adam)",
            f"{r['branch_ms']:.1f} ms",
            "-",
            r["branch_ms"] / 50,
            "<= 50 ms",
            r["branch_ms"] <= 50,
            f"the last checkpoint (every 128 epochs: the optimizer's state) restored, then the epochs after it "
            f"replayed; the worst case, just before a checkpoint (epoch 9,983), {r['branch_worst_ms']:.1f} ms",
        )
        growth, history = r["lane_growth"], r["lane_history"]
        self.row(
            "8d",
            f"memory of a lane, {r['lane_epochs']:,} epochs",
            f"{growth / 2**20:.1f} MB",
            f"{history / 2**20:.1f} MB history",
            growth / history,
            "<= 1 x its history (report)",
            None,
            f"RSS growth from adding a lane and training it {r['lane_epochs']:,} epochs, against the bytes of its "
            f"history columns; it also keeps {r['checkpoints']} checkpoints",
        )

    # 9 -------------------------------------------------------------------------------------------------
    def landscape(self):
        r = worker("land_grid", self.quick, timeout=900)
        ratio = r["grid_ms"] / r["epochs_ms"]
        cols, rows = r["size"]
        self.row(
            "9a",
            f"landscape grid {cols}x{rows}, 20 points vs {r['epochs']} epochs",
            f"{r['grid_ms']:.1f} ms",
            f"{r['epochs_ms']:.1f} ms",
            ratio,
            "<= 1",
            ratio <= 1,
            f"landscape(trainer, ('a', 'b'), size=({cols}, {rows})) of {PRESET} after {r['epochs']} epochs (the "
            f"default span, the minimum, the grid's values as lists) vs run_chunk({r['epochs']}) of a fresh Trainer "
            f"of it, {r['reps']} alternating reps: grid {_list(r['grid_list'], 1)} ms, epochs "
            f"{_list(r['epochs_list'], 1)} ms",
        )
        self.row(
            "9a",
            f"  grid on {r['points']:,} points, subsampled to {r['sample']:,} (info)",
            f"{r['big_ms']:.0f} ms",
            "-",
            None,
            "-",
            None,
            f"the same {cols}x{rows} grid of a {r['points']:,}-point quadratic after {r['epochs']} epochs, "
            f"{len(r['big_list'])} calls {_list(r['big_list'], 0)} ms (the first, {r['big_first_ms']:.0f} ms, "
            f"left out of the median); the session computes it a block at a time between chunks",
        )
        r = worker("land_frame", self.quick, timeout=900)
        width, height = r["widget"]
        gx, gy = r["grid"]
        paths = r["paths"]
        self.row(
            "9b",
            f"landscape frame {width}x{height}, {len(paths)} paths of {paths[0]:,} points",
            f"{r['uncached_ms']:.1f} ms",
            "-",
            r["uncached_ms"] / 15,
            "<= 15 ms",
            r["uncached_ms"] <= 15,
            f"LandscapeView in App.run_test(size=({width}, {height})): its strips (_build) with a new {gx}x{gy} grid "
            f"object each frame (the size its area() asks for; the heat redone), {r['reps']} alternating reps; "
            f"paths thinned by the engine (ends and turning points) of {', '.join(r['lanes'])} after "
            f"{', '.join(f'{e:,}' for e in r['lane_epochs'])} epochs, cut to {paths[0]:,} points; with gd's own "
            f"lanes at 1e-5, 3e-5 and 4e-5 over 10,000 epochs ({', '.join(map(str, r['gd_paths']))} points) "
            f"{r['gd_uncached_ms']:.1f} ms uncached, {r['gd_cached_ms']:.1f} ms cached",
        )
        self.row(
            "9b",
            "  heat cached, paths moved (info)",
            f"{r['cached_ms']:.1f} ms",
            "-",
            r["cached_ms"] / 15,
            "-",
            None,
        )
        for figure, name in (("9c", "gd"), ("9d", "adam")):
            r = worker(f"land_watch_{name}", self.quick, timeout=1800)
            ratio = r["watched_eps"] / r["hidden_eps"]
            grids = r["grids"]
            self.row(
                figure,
                f"training, landscape watched vs hidden ({r['label']}, {r['epochs']:,} epochs)",
                f"{r['watched_eps']:.0f} ep/s",
                f"{r['hidden_eps']:.0f} ep/s",
                ratio,
                ">= 0.9",
                ratio >= 0.9,
                f"the session loop in-process over a scripted pipe (commands waiting at the start, none while it "
                f"runs), from 'run' read to 'done' sent, with ('landscape', pair None, span None, size (111, 66)) "
                f"sent first or not, {r['rounds']} alternating rounds: watched {_list(r['watched'], 0)} ep/s, "
                f"hidden {_list(r['hidden'], 0)} ep/s; grids recomputed during the run {grids} (median "
                f"{median(grids):.0f}); of the watched run's time, tending the landscape (starting, computing and "
                f"sending grids) {_list([100 * v for v in r['share']], 1)} %; process CPU time ratio (all threads) "
                f"{r['cpu_ratio']:.3f}",
            )

    # 10 ------------------------------------------------------------------------------------------------
    def bounded(self):
        import bounded

        rounds = 2 if self.quick else 3
        mlp, linear = alternate(
            rounds, lambda: bounded.first_epoch(model="mlp", hidden=(64, 64)), lambda: bounded.first_epoch()
        )
        extra = median(mlp) - median(linear)
        self.row(
            "10a",
            "launch to first epoch, mlp 64,64 vs linear-manual",
            f"{median(mlp):.2f} s",
            f"{median(linear):.2f} s",
            median(mlp) / median(linear),
            "<= +0.5 s",
            extra <= 0.5,
            f"a session process started as the app starts it, Run sent at once, until its first Results; "
            f"{rounds} alternating rounds: mlp {_list(mlp, 2)} s, linear-manual {_list(linear, 2)} s "
            f"(difference {extra:+.2f} s)",
        )
        r = bounded.keys_while_busy((1024, 1024), 6 if self.quick else 9)
        worst = max(r["latencies"])
        self.row(
            "10b",
            "mlp 1024,1024: command to acknowledgment while running",
            f"{1000 * worst:.0f} ms",
            "-",
            worst / 0.1,
            "<= 100 ms, < 2 GB",
            worst <= 0.1 and (r["peak"] or 0) < 2e9,
            f"pause / run / lr sent to a running session, each until its Seen: {_list(r['latencies'], 3)} s; "
            f"session peak RSS {(r['peak'] or 0) / 1e9:.2f} GB; curvature computed: {r['computed']}",
        )
        r = bounded.lr_find_cli()
        self.row(
            "10c",
            "gdtui lr-find --model mlp --hidden 96,96 --data sine --steps 10",
            f"{r['seconds']:.1f} s",
            "-",
            r["seconds"] / 10,
            "<= 10 s, < 1 GB",
            r["seconds"] <= 10 and r["peak"] < 1e9,
            f"the whole process; peak RSS {r['peak'] / 1e9:.2f} GB; {r['curvature'][:160]}",
        )

    # 11 ------------------------------------------------------------------------------------------------
    def record(self):
        import record

        epochs = 100_000 if self.quick else 400_000
        rounds = 2 if self.quick else 3
        folder = tempfile.mkdtemp(prefix="gdtui-bench-")
        journal = os.path.join(folder, "j.jsonl")

        def journaled():
            if os.path.exists(journal):
                os.unlink(journal)
            return record.train(epochs, journal)

        with_journal, without = alternate(rounds, journaled, lambda: record.train(epochs, None))
        ratio = median(with_journal) / median(without)
        self.row(
            "11a",
            f"training with its journal vs without ({epochs:,} epochs)",
            f"{median(with_journal):.2f} s",
            f"{median(without):.2f} s",
            ratio,
            "<= 1.01",
            ratio <= 1.01,
            f"a session process from Run to done, journaled (changes, the epochs reached every 2 s, each lane's "
            f"checkpoint every 5 s) or not; {rounds} alternating rounds: with {_list(with_journal, 2)} s, "
            f"without {_list(without, 2)} s",
        )
        r = record.resume(10**6 if not self.quick else 200_000)
        self.row(
            "11b",
            f"resume a {r['rows']:,}-epoch fastai-quadratic run",
            f"{r['seconds']:.2f} s",
            "-",
            r["seconds"] / 5,
            "< 5 s",
            r["seconds"] < 5 and r["rows"] >= 200_000,
            f"a new session from the journal of a finished run (its last checkpoint; {r['bytes'] / 1e6:.0f} MB), "
            f"from the spawn to its lane standing where it stood with its whole RMSE column ({r['rows']:,} rows)",
        )
        n = 200_000 if self.quick else 10**6
        m = self.record_memory(n, journal)
        self.row(
            "11c",
            f"memory growth of the app and its session, {n:,} epochs journaled",
            f"{m['growth'] / 2**20:.1f} MB",
            "-",
            m["growth"] / (100 * 2**20),
            "< 100 MB",
            m["growth"] < 100 * 2**20,
            f"the TUI in tmux (gdtui --epochs {n:,} --run --journal FILE): VmRSS of the app and its session from "
            f"epoch 20,000 to done; at done {', '.join(f'{v / 2**20:.0f} MB' for v in m['last'].values())}",
        )

    def record_memory(self, epochs: int, journal: str) -> dict:
        """The TUI journaling a run of `epochs` fastai-quadratic epochs in tmux: the app's and its session's
        VmRSS once it runs (past epoch 20,000) and at done."""
        tmux = self.tmux
        name = self.name("memory")
        argv = GDTUI + ["--preset", PRESET, "--epochs", str(epochs), "--run", "--journal", journal]
        try:
            tmux.launch(name, argv)
            _, out = tmux.cmd(f"display-message -p -t {name} '#{{pane_pid}}'")
            app = int(out[0])
            sizes = []
            deadline = time.perf_counter() + 3600
            for wanted in (20_000, epochs):
                while True:
                    st = status_of(tmux.capture(name, STATUS_ROWS))
                    if st and (st[1] >= wanted or st[0] in ("done", "diverged")):
                        break
                    if time.perf_counter() > deadline:
                        raise TimeoutError(f"{name}: not at epoch {wanted} in an hour")
                    time.sleep(0.2)
                pids = [app, *descendants(app)]
                sizes.append({pid: proc_status(pid, "VmRSS") or 0 for pid in pids})
            first, last = sizes
            return {"growth": sum(last.values()) - sum(first.get(pid, 0) for pid in last), "last": last}
        finally:
            tmux.quit(name)

    FIGURES = {
        "1": "engine_overhead",
        "2": "live_ui",
        "3": "responsiveness",
        "4": "first_paint",
        "5": "large_data",
        "6": "long_run",
        "7": "cuda_path",
        "8": "lanes",
        "9": "landscape",
        "10": "bounded",
        "11": "record",
    }


# ------------------------------------------------------------------------------------------------ report


def machine() -> list[str]:
    model = "unknown CPU"
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                model = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    affinity = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count()
    code = (
        "import torch, textual, importlib.metadata as m; "
        "print(torch.__version__, m.version('textual'), m.version('plotext'), m.version('textual-plotext'), "
        "torch.get_num_threads())"
    )
    try:
        versions = subprocess.run([PYTHON, "-c", code], capture_output=True, text=True, timeout=120).stdout.split()
        torch_v, textual_v, plotext_v, tp_v, threads = versions
    except Exception:
        torch_v = textual_v = plotext_v = tp_v = threads = "?"
    try:
        tmux_v = subprocess.run(["tmux", "-V"], capture_output=True, text=True, timeout=10).stdout.strip()
    except Exception:
        tmux_v = "no tmux"
    try:
        total = int(Path("/proc/meminfo").read_text().split()[1]) * 1024
    except Exception:
        total = 0
    return [
        f"machine: {model}, {os.cpu_count()} cores ({affinity} usable), {total / 2**30:.1f} GiB RAM, "
        f"{platform.system()} {platform.release()}",
        f"python {platform.python_version()} ({PYTHON}), torch {torch_v} ({threads} intra-op threads), "
        f"textual {textual_v}, plotext {plotext_v}, textual-plotext {tp_v}, {tmux_v}",
        f"gdtui: {' '.join(GDTUI)}  ({ROOT})",
    ]


def fmt_ratio(value) -> str:
    return "-" if value is None else f"{value:.3f}"


def table(rows: list[dict]) -> str:
    head = ["#", "figure", "gdtui", "baseline", "ratio", "target", "result"]
    body = []
    for r in rows:
        ok = r["ok"]
        body.append(
            [
                r["figure"],
                r["name"],
                r["gdtui"],
                r["baseline"],
                fmt_ratio(r["ratio"]),
                r["target"],
                "info" if ok is None else ("PASS" if ok else "FAIL"),
            ]
        )
    widths = [max(len(str(x)) for x in col) for col in zip(head, *body)]
    line = "  ".join("-" * w for w in widths)
    out = ["  ".join(str(x).ljust(w) for x, w in zip(head, widths)), line]
    out += ["  ".join(str(x).ljust(w) for x, w in zip(row, widths)) for row in body]
    return "\n".join(out)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--quick", action="store_true", help="fewer rounds and epochs: a smoke run")
    parser.add_argument("--only", help="comma-separated figure numbers (1-11)")
    parser.add_argument("--json", help="also write the rows and notes to this file")
    parser.add_argument("--worker", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.worker:
        result = WORKERS[args.worker](args.quick)
        print("RESULT " + json.dumps(result))
        return 0

    def on_term(signum, frame):
        raise SystemExit(128 + signum)

    signal.signal(signal.SIGTERM, on_term)
    signal.signal(signal.SIGHUP, on_term)
    wanted = args.only.split(",") if args.only else list(Bench.FIGURES)
    print("gdtui benchmarks" + (" (--quick: a smoke run, fewer rounds)" if args.quick else ""))
    for line in machine():
        print(line)
    load0 = os.getloadavg()
    print(f"load average at start: {load0[0]:.2f} {load0[1]:.2f} {load0[2]:.2f}", flush=True)
    bench = Bench(args.quick)
    started = time.perf_counter()
    try:
        for key in wanted:
            method = getattr(bench, Bench.FIGURES[key.strip()])
            t = time.perf_counter()
            print(f"  figure {key} ...", end="", flush=True)
            try:
                method()
                print(f" {time.perf_counter() - t:.0f} s", flush=True)
            except Exception as error:  # one failed figure must not lose the others
                print(f" ERROR after {time.perf_counter() - t:.0f} s: {type(error).__name__}: {error}", flush=True)
                bench.rows.append(
                    dict(
                        figure=key,
                        name=Bench.FIGURES[key],
                        gdtui="error",
                        baseline="-",
                        ratio=None,
                        target="-",
                        ok=False,
                    )
                )
                bench.notes.append(f"[{key}] ERROR {type(error).__name__}: {error}")
    finally:
        bench.close()
    load1 = os.getloadavg()
    print()
    print(table(bench.rows))
    print()
    for note in bench.notes:
        print(note)
    print(
        f"\ntotal {time.perf_counter() - started:.0f} s; load average at end: "
        f"{load1[0]:.2f} {load1[1]:.2f} {load1[2]:.2f} (other work on this machine skews wall-clock ratios)"
    )
    if args.json:
        Path(args.json).write_text(json.dumps({"rows": bench.rows, "notes": bench.notes}, indent=1) + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
