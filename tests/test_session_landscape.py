"""The session serves the landscape: a grid recomputed only when what it depends on changes, computed a block at
a time between chunks while training runs; paths of every lane; the curvature after each ready; the LR range test
leaving its lane untouched. Driven through the scripted pipe of test_audit_engine."""

from __future__ import annotations

import torch

from gdtui.engine import landscape as landscape_module
from gdtui.engine import protocol as p
from gdtui.engine import resolve
from gdtui.engine import session as session_module
from gdtui.engine.trainer import Trainer
from tests.test_audit_engine import errors, serve


def of(replies, kind):
    return [r for r in replies if isinstance(r, kind)]


def idle(replies):
    """Never eagerly: the command is delivered when the session asks for one, its landscape work done (a
    waiting command goes before a grid's blocks)."""
    return False


def fastai_hessian_limit():
    """2/λmax of fastai-quadratic's MSE, from its design matrix written out: H = 2/n·XᵀX with X = [t², t, 1]."""
    t = torch.arange(0, 20).double()
    design = torch.stack([t**2, t, torch.ones_like(t)], dim=1)
    hessian = 2 / len(t) * design.T @ design
    return 2 / float(torch.linalg.eigvalsh(hessian)[-1])


def test_the_curvature_follows_every_ready_with_the_lr_limit(monkeypatch):
    config = resolve("fastai-quadratic", epochs=5)
    script = [(0, p.Step()), (1, p.AddLane({"lr": 2e-5})), (1, p.Reset())]
    session, replies = serve(config, script, monkeypatch)
    curvatures = of(replies, p.CurvatureKnown)
    readies = of(replies, p.Ready)
    assert len(curvatures) == len(readies) == 3
    for known in curvatures:
        info = known.curvature
        assert abs(info.lr_limit - fastai_hessian_limit()) <= 1e-9 * fastai_hessian_limit()
        assert info.constant and len(info.eigenvalues) == 3
    assert [c.lane for c in curvatures] == [r.lane for r in readies] == [0, 1, 1]  # the focused lane's


def test_a_watched_grid_is_computed_once_while_nothing_it_depends_on_moves(monkeypatch):
    config = resolve("fastai-quadratic", epochs=10)
    span = ((-1.0, 2.0), (-2.0, 1.0))
    script = [(0, p.WatchLandscape(("a", "b"), span, (30, 20)))]
    script += [(idle, p.Step()) for k in range(10)]
    session, replies = serve(config, script, monkeypatch)
    assert errors(replies) == []
    grids = of(replies, p.LandscapeReady)
    # c, the held parameter, moves by about 1e-5 an epoch at lr 1e-5: far less than a cell, so one grid serves
    assert len(grids) == 1
    lane_id, grid, paths, curvature = grids[0].lane, grids[0].grid, grids[0].paths, grids[0].curvature
    assert lane_id == 0 and grid.pair == ("a", "b") and len(grid.xs) == 30 and len(grid.ys) == 20
    assert (grid.xs[0], grid.xs[-1], grid.ys[0], grid.ys[-1]) == (-1.0, 2.0, -2.0, 1.0)
    assert set(paths) == {0} and len(paths[0]) == 1  # asked for at epoch 0: the start alone
    assert curvature.lr_limit is not None


def test_the_grid_follows_a_held_parameter_that_moves_more_than_a_cell(monkeypatch):
    config = resolve("fastai-quadratic", optimizer="adam", lr=0.5, epochs=30)
    span = ((-5.0, 5.0), (-5.0, 5.0))
    script = [(0, p.WatchLandscape(("a", "b"), span, (40, 20)))]
    script += [(idle, p.Step()) for k in range(30)]
    session, replies = serve(config, script, monkeypatch)
    assert errors(replies) == []
    grids = of(replies, p.LandscapeReady)
    assert 1 < len(grids) < 30  # recomputed as c moves, not after every epoch
    helds = [g.grid.held[2] for g in grids]
    assert len(set(helds)) == len(helds)  # each one because c had moved
    watch = session.watch
    c = session.trainer.history.params["c"][-1]
    assert abs(c - helds[-1]) <= watch.tolerance[2]  # the grid in view is the one for the current c, to a cell
    assert paths_of(grids) == [1]  # paths go with the first grid only: the app extends them


def paths_of(grids):
    return [len(g.paths) for g in grids if g.paths is not None]


def test_a_new_pair_gets_a_new_grid_and_every_lane_s_path(monkeypatch):
    config = resolve("fastai-quadratic", epochs=20)
    script = [
        (0, p.AddLane({"lr": 2e-5})),
        (0, p.Run()),
        (10**9, p.WatchLandscape(("b", "c"), None, (24, 12))),
        (10**9, p.WatchLandscape(("x", "c"), None, (24, 12))),  # not a parameter: a, b
    ]
    session, replies = serve(config, script, monkeypatch)
    assert errors(replies) == []
    grids = of(replies, p.LandscapeReady)
    assert [g.grid.pair for g in grids] == [("b", "c"), ("a", "b")]
    first, second = (lane.trainer for lane in session.race.lanes)
    focus, grid, paths = grids[0].lane, grids[0].grid, grids[0].paths
    assert focus == 1 and set(paths) == {0, 1}
    for lane_id, trainer in ((0, first), (1, second)):
        path = paths[lane_id]
        b, c = trainer.history.params["b"], trainer.history.params["c"]
        assert path[-1] == (b[-1], c[-1])  # the end is kept
        assert path[0] == tuple(float(v) for v in trainer.initial[1:].tolist())  # the start is kept
        # the default span holds every lane's whole path
        (x0, x1), (y0, y1) = (grid.xs[0], grid.xs[-1]), (grid.ys[0], grid.ys[-1])
        assert all(x0 <= bb <= x1 and y0 <= cc <= y1 for bb, cc in zip(b, c))


def test_a_big_grid_is_computed_between_chunks_never_holding_training_up(monkeypatch):
    # One block of grid points per loop (each of 10 points), and a chunk of training between blocks.
    monkeypatch.setattr(landscape_module, "BLOCK_ELEMENTS", 10 * 20)
    monkeypatch.setattr(session_module, "CHUNK_SECONDS", 0.0)
    config = resolve("fastai-quadratic", epochs=1000)
    script = [(0, p.WatchLandscape(("a", "b"), None, (10, 8))), (0, p.Run())]
    session, replies = serve(config, script, monkeypatch)
    assert errors(replies) == []
    kinds = [type(r).__name__ for r in replies if isinstance(r, p.Results | p.LandscapeReady)]
    first = kinds.index("LandscapeReady")
    kinds = ["results" if kind == "Results" else kind for kind in kinds]
    assert kinds[:first].count("results") >= 7  # 8 blocks: training went on between them


def test_the_lr_range_test_leaves_its_lane_as_it_was(monkeypatch):
    config = resolve("fastai-quadratic", epochs=10)
    script = [(0, p.Step()), (0, p.Step()), (2, p.FindLr(1e-8, 1.0, 60))]
    script += [(2, p.FindLr(1.0, 0.1, 60)), (2, p.Step())]
    session, replies = serve(config, script, monkeypatch)
    found = of(replies, p.LrFound)
    assert len(found) == 1 and found[0].lane == 0
    ramp = found[0].result
    assert ramp.lrs[0] == 1e-8 and len(ramp.lrs) <= 60
    assert abs(ramp.lr_limit - fastai_hessian_limit()) <= 1e-9 * fastai_hessian_limit()
    assert [e.field for e in errors(replies)] == ["lr_find"]
    solo = Trainer(config)
    solo.run(3)
    assert session.trainer.history.rmse == solo.history.rmse  # the ramp ran beside the lane, not on it


def test_a_path_keeps_its_ends_and_turns_and_stays_bounded():
    from gdtui.engine.paths import Path

    # a zig-zag in x, straight in y: every point but the ends is a turn
    xs = [(-1.0) ** k / (k + 1) for k in range(50)]
    ys = [float(k) for k in range(50)]
    assert Path.of(xs, ys).points == list(zip(xs, ys))
    straight = Path.of([0.0, 1.0, 2.0, 3.0, 2.5, 2.0], [0.0] * 6)
    assert straight.points == [(0.0, 0.0), (3.0, 0.0), (2.0, 0.0)]  # start, the turn, the end
    long = Path(cap=64)
    for k in range(100_000):
        long.add((-1.0) ** k, float(k))
    assert len(long.points) <= 66 and long.points[0] == (1.0, 0.0) and long.points[-1] == (-1.0, 99_999.0)


def test_the_session_s_thinned_path_is_the_app_s():
    from gdtui.engine.landscape import thinned_path
    from gdtui.engine.paths import Path

    trainer = Trainer(resolve("fastai-quadratic", lr=4e-5, epochs=200))  # above the limit: a zig-zag
    trainer.run(200)
    start = trainer.initial.tolist()
    a, b = trainer.history.params["a"], trainer.history.params["b"]
    grown = Path.of([start[0], *a], [start[1], *b])
    assert thinned_path(trainer, ("a", "b")) == grown.points
    assert len(grown.points) > 100  # it does zig-zag


def test_a_training_mlps_local_limit_is_renewed_as_it_moves(monkeypatch):
    monkeypatch.setattr(session_module, "LOCAL_LIMIT_SECONDS", 0.0)  # renewed after every report
    monkeypatch.setattr(session_module, "CHUNK_SECONDS", 0.0)  # a report an epoch
    config = resolve("fastai-quadratic", model="mlp", hidden=(4,), optimizer="adam", lr=0.05, epochs=6)
    script = [(0, p.Run())]
    session, replies = serve(config, script, monkeypatch)
    known = of(replies, p.CurvatureKnown)
    limits = [c.curvature.lr_limit for c in known]
    assert len(known) >= 3 and len(set(limits)) >= 3  # the limit where the mlp stands, epoch after epoch
    quadratic = resolve("fastai-quadratic", epochs=6)  # a quadratic's curvature is the same everywhere: once
    session, replies = serve(quadratic, script, monkeypatch)
    assert len(of(replies, p.CurvatureKnown)) == 1
