#!/usr/bin/env python
"""Figure 12's measurements, time travel: how long the session takes to show a lane as it stood at an epoch.

Usage:  python benchmarks/travel.py            12a (10^6 epochs), 12b (an mlp, 10,000 epochs) and 12c (an mlp
                                               resumed from its journal): 10-25 min on this 2-core machine
        python benchmarks/travel.py --quick    a smoke run (10^5, 2,000 and 5,000 epochs, 10 visits)
        python benchmarks/travel.py --only 12c one of the three

Why: issue 28 asks for any epoch of a 10^6-epoch run within 100 ms, "the record's checkpoints plus replay". The
app sends Revisit(epoch) to its session and shows the lane when Revisited comes back; this times that round
trip on a real session process (spawned as SessionClient spawns it, driven over its socket as the app drives
it), and the engine's own part (gdtui.engine.revisit.revisiting, in this process) for the same epochs.
12a: a model of at most 1,024 parameters (fastai-quadratic) reads the epoch from its history. 12b: a larger one
(an mlp) keeps its parameters at checkpoints and replays the epochs since the one before, so its cost is that
of up to a checkpoint spacing of epochs, whatever the run's length. Not part of CI: it measures.
"""

from __future__ import annotations

import argparse
import math
import os
import platform
import random
import statistics
import time

from bounded import Session, _import_gdtui
from record import settled

TARGET = 0.1  # seconds: issue 28's figure
SEED = 12


def spread(seconds: list[float]) -> dict:
    """Median, 95th percentile (nearest rank) and max, in milliseconds."""
    ordered = sorted(seconds)
    rank = max(0, math.ceil(0.95 * len(ordered)) - 1)
    return {
        "median": 1000 * statistics.median(ordered),
        "p95": 1000 * ordered[rank],
        "max": 1000 * ordered[-1],
        "n": len(ordered),
    }


def trained(config, alongside: bool = True, threads: int | None = None) -> tuple[Session, object, float]:
    """A session process of `config` trained from Run to done (its epochs budget), the same run trained in this
    process meanwhile if `alongside` (else None), and the seconds that took. `threads`: the session's torch
    threads (OMP_NUM_THREADS; None: torch's default, as the app spawns it)."""
    import torch

    from gdtui.engine import protocol as p
    from gdtui.engine.trainer import Trainer

    before = os.environ.get("OMP_NUM_THREADS")
    if threads is not None:
        os.environ["OMP_NUM_THREADS"] = str(threads)
    try:
        session = Session(config)
    finally:
        if threads is not None:
            if before is None:
                del os.environ["OMP_NUM_THREADS"]
            else:
                os.environ["OMP_NUM_THREADS"] = before
    session.until(p.Ready)
    start = time.perf_counter()
    session.send(p.Run())
    trainer = None
    if alongside:  # on one thread: the session's two would fight this process's for the two cores
        threads = torch.get_num_threads()
        torch.set_num_threads(1)
        try:
            trainer = Trainer(config)
            trainer.run(config.epochs)
        finally:
            torch.set_num_threads(threads)
    settled(session, ("done", "diverged"), 3600)
    return session, trainer, time.perf_counter() - start


def round_trips(session: Session, epochs: list[int]) -> tuple[list[float], list]:
    """Each epoch revisited in turn: seconds from sending Revisit to receiving its Revisited, and the replies."""
    from gdtui.engine import protocol as p

    latencies, replies = [], []
    for epoch in epochs:
        start = time.perf_counter()
        session.send(p.Revisit(epoch))
        reply = session.until(p.Revisited, timeout=120)
        latencies.append(time.perf_counter() - start)
        if reply.epoch != epoch:
            raise RuntimeError(f"asked for epoch {epoch}, the session showed {reply.epoch}")
        replies.append(reply)
    return latencies, replies


def in_process(trainer, epochs: list[int]) -> tuple[list[float], list]:
    """The engine alone: `revisiting(trainer, epoch)` driven to its end for each epoch (seconds, results)."""
    from gdtui.engine.revisit import revisiting

    latencies, results = [], []
    for epoch in epochs:
        start = time.perf_counter()
        work = revisiting(trainer, epoch)
        while True:
            try:
                next(work)
            except StopIteration as done:
                results.append(done.value)
                break
        latencies.append(time.perf_counter() - start)
    return latencies, results


def small(epochs: int, visits: int) -> dict:
    """12a: fastai-quadratic trained to `epochs` in a session, `visits` random epochs of it revisited through
    the session; then the same epochs revisited in this process on the same run."""
    _import_gdtui()
    from gdtui.engine import resolve

    session, trainer, seconds = trained(resolve("fastai-quadratic", epochs=epochs))
    try:
        wanted = random.Random(SEED).sample(range(epochs + 1), visits)
        trips, replies = round_trips(session, wanted)
    finally:
        session.close()
    engine, results = in_process(trainer, wanted)
    same = all(r.params == params and r.preds == preds for r, (params, preds) in zip(replies, results))
    return {
        "epochs": epochs,
        "train_s": seconds,
        "params": len(trainer.names),
        "trip": spread(trips),
        "engine": spread(engine),
        "same": same,
    }


def large(hidden: tuple[int, ...], epochs: int, visits: int) -> dict:
    """12b: an mlp of `hidden` on the sine data trained to `epochs` in a session, `visits` random epochs between
    its checkpoints revisited through it (each replays from the checkpoint before), and `visits // 5` of the
    worst (just before a checkpoint: a whole spacing less one replayed); then the same epochs revisited in this
    process on the same run, with torch's threads as the session has them and with one."""
    _import_gdtui()
    import torch

    from gdtui.engine import resolve

    config = resolve("linear-manual", model="mlp", hidden=hidden, data="sine", epochs=epochs)
    session, trainer, seconds = trained(config)
    spacing = trainer._spacing
    pick = random.Random(SEED)
    wanted = pick.sample([e for e in range(1, epochs) if e % spacing], visits)
    worst = pick.sample([k * spacing - 1 for k in range(1, epochs // spacing + 1)], max(1, visits // 5))
    try:
        trips, replies = round_trips(session, wanted)
        worst_trips, _ = round_trips(session, worst)
    finally:
        session.close()
    session, _, single_s = trained(config, alongside=False, threads=1)
    try:
        single_trips, _ = round_trips(session, wanted)
    finally:
        session.close()
    engine, results = in_process(trainer, wanted)
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        single, _ = in_process(trainer, wanted)
    finally:
        torch.set_num_threads(threads)
    same = all(r.preds == preds for r, (_, preds) in zip(replies, results))
    size = trainer._checkpoints[-1].size
    return {
        "hidden": hidden,
        "params": len(trainer.names),
        "epochs": epochs,
        "train_s": seconds,
        "spacing": spacing,
        "checkpoints": len(trainer._checkpoints),
        "checkpoint_kb": size / 1024,
        "kept_mb": trainer._kept / 2**20,
        "budget_mb": trainer.CHECKPOINT_BYTES / 2**20,
        "thinned_from": trainer.CHECKPOINT_BYTES // size * trainer.CHECKPOINT_EVERY,
        "replayed": (statistics.median(e % spacing for e in wanted), max(e % spacing for e in wanted)),
        "trip": spread(trips),
        "worst": spread(worst_trips),
        "engine": spread(engine),
        "single": spread(single),
        "single_trip": spread(single_trips),
        "single_train_s": single_s,
        "threads": threads,
        "same": same,
    }


def resumed(hidden: tuple[int, ...], epochs: int, visits: int, every: float) -> dict:
    """12c: an mlp of `hidden` journaled as a session journals it (a snapshot each `every` seconds of training:
    CHECKPOINT_SECONDS), resumed from its journal (Race.of_record, as `gdtui resume` and the app do), then epochs
    before the resume revisited in this process: one in each of `visits` gaps between two snapshots (replayed from
    the snapshot before, up to `every` seconds of training), then an epoch 3 before it (replayed from a checkpoint
    the first visit's replay gave back to the run)."""
    import tempfile

    _import_gdtui()
    from gdtui.engine import resolve
    from gdtui.engine.journal import Journal, load
    from gdtui.engine.lanes import Race

    config = resolve("linear-manual", model="mlp", hidden=hidden, data="sine", epochs=epochs)
    race = Race(config)
    run = race.lanes[0].trainer
    with tempfile.TemporaryDirectory() as folder:
        path = os.path.join(folder, "journal.jsonl")
        journal = Journal(path)
        journal.write(race.record(0))
        snapshots: list[int] = []
        start = last = time.perf_counter()
        while run.epoch < epochs:
            run.run(min(32, epochs - run.epoch))
            now = time.perf_counter()
            if now - last >= every or run.epoch >= epochs:
                journal.checkpoint(0, run.epoch, run.history_bytes(journal.saved.get(0, 0)), run.snapshot())
                snapshots.append(run.epoch)
                last = now
        journal.reached(race.record(0))
        journal.close()
        train_s = time.perf_counter() - start
        trainer = Race.of_record(load(path)).lanes[0].trainer
    gaps = list(zip([0, *snapshots], snapshots))
    pick = random.Random(SEED)
    chosen = pick.sample(gaps, min(visits, len(gaps)))
    wanted = [pick.randrange(lo + 8, hi) for lo, hi in chosen if hi - lo > 8]
    first, results = in_process(trainer, wanted)
    second, _ = in_process(trainer, [e - 3 for e in wanted])
    _, expected = in_process(run, wanted)
    return {
        "params": len(trainer.names),
        "epochs": epochs,
        "train_s": train_s,
        "snapshots": len(snapshots),
        "gap": statistics.median(hi - lo for lo, hi in gaps),
        "first": spread(first),
        "second": spread(second),
        "same": [r[1] for r in results] == [r[1] for r in expected],
    }


def ms(figure: dict) -> str:
    return f"{figure['median']:.1f} / {figure['p95']:.1f} / {figure['max']:.1f} ms"


def verdict(figure: dict) -> str:
    return "PASS" if figure["max"] <= 1000 * TARGET else "FAIL"


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--quick", action="store_true", help="a smoke run: fewer epochs and visits")
    parser.add_argument("--only", choices=("12a", "12b", "12c"), help="one of the figures")
    parser.add_argument("--visits", type=int, help="random epochs revisited in each figure (default 50)")
    parser.add_argument("--hidden", default="64,64", help="12b's mlp (default 64,64)")
    parser.add_argument("--epochs", type=int, help="12b's epochs (default 10,000)")
    args = parser.parse_args()
    visits = args.visits or (10 if args.quick else 50)
    hidden = tuple(int(width) for width in args.hidden.split(","))
    load = os.getloadavg()
    print(f"figure 12, time travel; {os.cpu_count()} cores, python {platform.python_version()}")
    print(f"load average at start: {load[0]:.2f} {load[1]:.2f} {load[2]:.2f}", flush=True)
    started = time.perf_counter()
    rows, notes = [], []
    if args.only in (None, "12a"):
        a = small(10**5 if args.quick else 10**6, visits)
        print(f"  12a: {a['epochs']:,} epochs trained (session and this process) in {a['train_s']:.0f} s", flush=True)
        trip = f"Revisit -> Revisited, fastai-quadratic, {a['epochs']:,} epochs"
        rows.append(("12a", trip, ms(a["trip"]), verdict(a["trip"])))
        rows.append(("12a", "  revisiting() in-process (engine only)", ms(a["engine"]), verdict(a["engine"])))
        notes.append(
            f"12a: {a['trip']['n']} random epochs of 0..{a['epochs']:,}; {a['params']} parameters, read from the "
            f"history; the session's replies {'match' if a['same'] else 'DIFFER FROM'} the engine's in-process"
        )
    if args.only in (None, "12b"):
        b = large(hidden, args.epochs or (2_000 if args.quick else 10_000), visits)
        print(f"  12b: {b['epochs']:,} epochs trained (session and this process) in {b['train_s']:.0f} s", flush=True)
        name = f"mlp {','.join(map(str, b['hidden']))} ({b['params']:,} params), {b['epochs']:,} epochs"
        threads = f"  revisiting() in-process ({b['threads']} torch threads)"
        rows += [
            ("12b", f"Revisit -> Revisited, {name}", ms(b["trip"]), verdict(b["trip"])),
            ("12b", f"  worst: {b['spacing'] - 1} epochs replayed", ms(b["worst"]), verdict(b["worst"])),
            ("12b", "  a session of 1 torch thread (OMP_NUM_THREADS=1, info)", ms(b["single_trip"]), "info"),
            ("12b", threads, ms(b["engine"]), verdict(b["engine"])),
            ("12b", "  revisiting() in-process (1 torch thread, info)", ms(b["single"]), "info"),
        ]
        replayed = b["replayed"]
        notes.append(
            f"12b: checkpoints every {b['spacing']} epochs ({b['checkpoints']} kept, {b['checkpoint_kb']:.0f} kB "
            f"each, {b['kept_mb']:.1f} MB of {b['budget_mb']:.0f} MB: thinned to every {2 * b['spacing']} past "
            f"about {b['thinned_from']:,} epochs); {b['trip']['n']} random epochs off the checkpoints replay "
            f"{replayed[0]:.0f} epochs at the median, {replayed[1]} at most; the session and this process trained "
            f"it side by side in {b['train_s']:.0f} s, a session of 1 thread alone in {b['single_train_s']:.0f} s; "
            f"the session's predictions {'match' if b['same'] else 'DIFFER FROM'} the engine's in-process"
        )
    if args.only in (None, "12c"):
        every = 1.0 if args.quick else 5.0  # the session's CHECKPOINT_SECONDS
        c = resumed(hidden, 5_000 if args.quick else 40_000, visits, every)
        print(f"  12c: {c['epochs']:,} epochs trained and journaled in {c['train_s']:.0f} s", flush=True)
        name = f"mlp {','.join(map(str, hidden))} ({c['params']:,} params) resumed, first visit into a gap"
        rows += [
            ("12c", name, ms(c["first"]), f"info (≤ {every:g} s of training)"),
            ("12c", "  a second visit near it", ms(c["second"]), verdict(c["second"])),
        ]
        notes.append(
            f"12c: {c['snapshots']} journal snapshots, one every {every:g} s of training ({c['gap']:.0f} epochs at the "
            f"median); {c['first']['n']} gaps visited once, then 3 epochs before; the resumed run's predictions "
            f"{'match' if c['same'] else 'DIFFER FROM'} the uninterrupted run's"
        )
    widths = [max(len(row[k]) for row in rows) for k in range(4)]
    print()
    print("  ".join(h.ljust(w) for h, w in zip(("#", "figure", "median / p95 / max", "< 100 ms"), widths)))
    for row in rows:
        print("  ".join(cell.ljust(w) for cell, w in zip(row, widths)))
    print()
    for note in notes:
        print(note)
    load = os.getloadavg()
    print(
        f"\ntotal {time.perf_counter() - started:.0f} s; load average at end: {load[0]:.2f} {load[1]:.2f} "
        f"{load[2]:.2f} (other work on this machine slows replay)"
    )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
