#!/usr/bin/env python
"""Figure 13's measurements: the Theory view within a frame of a live change.

Usage:  python benchmarks/theory.py            13a-13c, 20 changes each (about a minute)
        python benchmarks/theory.py --quick    5 changes each

Why: issue 29 asks that the Theory view update within a frame of a live change (the app draws at most ten
frames a second: FRAME, 100 ms). With the view up, the app sends WatchTheory(True); every live change (Update)
makes the session compute the focused lane's theory again and send TheoryKnown. This times, on a real session
process driven over its socket as the app drives it, the round trip from sending Update(lr=...) to receiving
TheoryKnown: 13a fastai-quadratic with gd (its epochs to the target are bisected on the closed form), 13b with
momentum 0.9 (its epochs are scanned a block of 4,096 at a time: the slow case), 13c a 100,000-epoch budget
(its predicted curve sampled at 400 epochs across it). Not part of CI: it measures.
"""

from __future__ import annotations

import argparse
import math
import platform
import statistics
import time

from bounded import Session, _import_gdtui

FRAME = 0.1  # seconds: gdtui.tui.frames.FRAME, a frame at ten a second


def round_trips(config, changes: int) -> list[float]:
    """Seconds from each Update(lr) to the TheoryKnown that follows it, the view up, the session idle."""
    from gdtui.engine import protocol as p

    session = Session(config)
    try:
        session.until(p.Ready)
        session.send(p.WatchTheory(True))
        session.until(p.TheoryKnown)
        seconds = []
        for k in range(changes):
            lr = config.lr * (0.5 + 0.5 * (k % 2))  # back and forth: each a change, each well below the edge
            start = time.perf_counter()
            session.send(p.Update({"lr": lr}))
            known = session.until(p.TheoryKnown, timeout=60)
            seconds.append(time.perf_counter() - start)
            if known.why is not None:
                raise RuntimeError(f"the theory does not apply: {known.why}")
        return seconds
    finally:
        session.close()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true")
    args = parser.parse_args()
    _import_gdtui()
    from gdtui.engine import resolve

    changes = 5 if args.quick else 20
    cases = [
        ("13a", "fastai-quadratic, gd", resolve("fastai-quadratic", epochs=1000)),
        ("13b", "fastai-quadratic, sgd momentum 0.9", resolve("fastai-quadratic", optimizer="sgd", momentum=0.9)),
        ("13c", "fastai-quadratic, gd, 100,000 epochs", resolve("fastai-quadratic", epochs=100_000)),
    ]
    print(f"machine: {platform.processor() or platform.machine()}, python {platform.python_version()}")
    print("| # | figure | median | p95 | max | target | result |")
    print("| --- | --- | --- | --- | --- | --- | --- |")
    for number, name, config in cases:
        seconds = sorted(round_trips(config, changes))
        p95 = seconds[max(0, math.ceil(0.95 * len(seconds)) - 1)]
        ms = [1000 * statistics.median(seconds), 1000 * p95, 1000 * seconds[-1]]
        verdict = "PASS" if p95 <= FRAME else "FAIL"
        print(
            f"| {number} | live change to the Theory view, {name} | {ms[0]:.1f} ms | {ms[1]:.1f} ms | "
            f"{ms[2]:.1f} ms | <= {1000 * FRAME:.0f} ms (a frame) | {verdict} |"
        )


if __name__ == "__main__":
    main()
