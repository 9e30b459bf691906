"""One thinning rule for a lane's path: the session's `thinned_path` of a whole history and the app's `Path`,
seeded from it and grown with each report, keep the same points.

Why: they were two versions that disagreed past `CAP` points (1,251 against 1,928 of a 5,000-point zig-zag),
so the landscape view's path changed shape whenever it was asked anew.
"""

from __future__ import annotations

import math
import random
from array import array
from types import SimpleNamespace

import torch

from gdtui.engine.landscape import thinned_path
from gdtui.engine.paths import CAP, Path


def zigzag(n: int) -> tuple[list[float], list[float]]:
    """Every point but the ends a turn."""
    return [(-1.0) ** k / (k + 1) for k in range(n)], [float(k) for k in range(n)]


def lane(xs: list[float], ys: list[float]) -> SimpleNamespace:
    """What thinned_path reads of a trainer: the initial parameters, then one point per epoch."""
    history = SimpleNamespace(params={"a": array("d", xs[1:]), "b": array("d", ys[1:])})
    return SimpleNamespace(
        names=("a", "b"), summarized=False, history=history, epoch=len(xs) - 1, initial=torch.tensor(xs[:1] + ys[:1])
    )


def grown(xs: list[float], ys: list[float], seed_with: int, chunk: int) -> list[tuple[float, float]]:
    """As the app grows it: seeded from the session's path of the first epochs, then a report at a time."""
    path = Path.seeded(thinned_path(lane(xs[:seed_with], ys[:seed_with]), ("a", "b")))
    for k in range(seed_with, len(xs), chunk):
        path.extend(xs[k : k + chunk], ys[k : k + chunk])
    return path.points


def test_a_5000_point_zigzag_thinned_at_once_is_the_path_grown_point_by_point():
    xs, ys = zigzag(5000)
    session = thinned_path(lane(xs, ys), ("a", "b"))
    by_point = Path()
    for x, y in zip(xs, ys):
        by_point.add(x, y)
    assert session == by_point.points == Path.of(xs, ys).points
    assert len(session) == 1928 <= CAP + 1  # the first point and at most CAP turns kept, and the latest
    assert session[0] == (xs[0], ys[0]) and session[-1] == (xs[-1], ys[-1])
    assert all(p in zip(xs, ys) for p in session[::97])


def test_a_path_seeded_anywhere_and_grown_in_any_chunks_is_the_whole_path():
    xs, ys = zigzag(5000)
    whole = Path.of(xs, ys).points
    for seed_with, chunk in [(1, 1), (2, 7), (3, 1000), (2048, 3), (2049, 1), (2050, 64), (4100, 5000), (4999, 1)]:
        assert grown(xs, ys, seed_with, chunk) == whole, (seed_with, chunk)


def test_any_walk_thins_the_same_at_once_and_in_steps_the_latest_turn_always_kept():
    rng = random.Random(7)
    steps = [0.0, 1.0, -1.0, 2.5, math.nan, math.inf]
    x, xs, ys = 0.0, [0.0], [0.0]
    for _ in range(3000):  # repeated points, stretches straight in one coordinate, now and then a NaN or inf
        x += rng.choice(steps[:4])
        xs.append(x if rng.random() > 0.005 else rng.choice(steps[4:]))
        ys.append(ys[-1] + rng.choice(steps[:3]))
    for cap in (5, 16, 63, 64, CAP):
        whole = Path.of(xs, ys, cap)
        assert len(whole.kept) <= cap
        for seed_with, chunk in [(1, 1), (40, 9), (1500, 333)]:
            path = Path.seeded(Path.of(xs[:seed_with], ys[:seed_with], cap).points, cap=cap)
            for k in range(seed_with, len(xs), chunk):
                path.extend(xs[k : k + chunk], ys[k : k + chunk])
            # NaN != NaN: compare the points as text
            assert repr(path.points) == repr(whole.points), (cap, seed_with, chunk)
    for cap in (5, 6, 7):  # seeded from every point, right after each halving too
        for walk in ((xs[:300], ys[:300]), zigzag(300)):
            whole = Path.of(*walk, cap)
            for seed_with in range(1, 300):
                path = Path.seeded(Path.of(walk[0][:seed_with], walk[1][:seed_with], cap).points, cap=cap)
                path.extend(walk[0][seed_with:], walk[1][seed_with:])
                assert repr(path.points) == repr(whole.points), (cap, seed_with)


def test_a_path_of_a_million_points_stays_bounded_and_ends_where_the_run_is():
    xs, ys = zigzag(1_000_000)
    path = Path.of(array("d", xs), array("d", ys))
    assert len(path.points) <= CAP + 1
    assert path.points[0] == (xs[0], ys[0]) and path.points[-1] == (xs[-1], ys[-1])
    assert path.points[-2] == (xs[-2], ys[-2])  # the latest turn
