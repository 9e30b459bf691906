"""Bounded computation (issue 24, part 3): a large mlp's curvature never builds its Hessian (Lanczos on
Hessian-vector products gives its extreme eigenvalues, within a time budget, else "curvature not computed");
the session computes the curvature and the LR range test a slice at a time, reading its pipe between slices;
an exception while building a run becomes an error reply and the session stays up.

Budgets run out by being set to nothing, and slices are seen by the order of the replies, never by timing.
"""

from __future__ import annotations

import torch

from gdtui.cli import main
from gdtui.engine import landscape as land
from gdtui.engine import protocol as p
from gdtui.engine import resolve
from gdtui.engine import session as session_module
from gdtui.engine.trainer import Trainer
from tests.test_audit_engine import errors, serve

MLP = {"model": "mlp", "hidden": (16, 16), "activation": "tanh", "data": "sine", "points": 30}  # 321 parameters


def of(replies, kind):
    return [r for r in replies if isinstance(r, kind)]


def literal_hessian(trainer: Trainer, flat: list[float]) -> torch.Tensor:
    """The MSE's Hessian of a 1-16-16-1 tanh mlp, its forward written out: tanh(x·w1ᵀ + b1), tanh(h·W2ᵀ + b2),
    h·w3ᵀ + b3, parameters flat in nn.Sequential's order."""
    x = trainer.data.x_train.double().unsqueeze(1)
    y = trainer.data.y_train.double()

    def loss(q: torch.Tensor) -> torch.Tensor:
        w1, b1 = q[0:16].view(16, 1), q[16:32]
        w2, b2 = q[32:288].view(16, 16), q[288:304]
        w3, b3 = q[304:320].view(1, 16), q[320:321]
        h = torch.tanh(x @ w1.T + b1)
        h = torch.tanh(h @ w2.T + b2)
        return (((h @ w3.T + b3).squeeze(1) - y) ** 2).mean()

    hessian = torch.autograd.functional.hessian(loss, torch.tensor(flat, dtype=torch.float64))
    assert isinstance(hessian, torch.Tensor)
    return hessian


def test_a_large_mlp_s_extreme_eigenvalues_come_from_hessian_vector_products(monkeypatch):
    trainer = Trainer(resolve("linear-manual", **MLP))
    flat = land.params_at(trainer)
    assert len(flat) == 321 > land.FULL_HESSIAN_MAX
    reference = torch.linalg.eigvalsh(literal_hessian(trainer, flat))
    low, high = float(reference[0]), float(reference[-1])

    def never(*args, **kwargs):
        raise AssertionError("the whole Hessian was built")

    monkeypatch.setattr(torch.autograd.functional, "hessian", never)
    found = land.curvature(trainer, flat, budget=60.0)
    assert found.computed and found.hessian is None and not found.every and not found.constant
    scale = max(abs(low), abs(high))
    assert low < 0 < high  # the bottom one of an mlp at its start: negative
    assert abs(found.eigenvalues[0] - low) <= land.TOLERANCE * scale
    assert abs(found.eigenvalues[1] - high) <= land.TOLERANCE * scale
    assert found.lr_limit == 2 / found.eigenvalues[1]
    assert land.curvature(trainer, flat, budget=60.0) == found  # the seeded start: the same numbers again


def test_a_small_mlp_keeps_its_whole_hessian():
    trainer = Trainer(resolve("linear-manual", model="mlp", hidden=(8,), data="sine", points=30))  # 25 parameters
    found = land.curvature(trainer)
    assert found.every and len(found.eigenvalues) == 25 and found.computed


def test_past_its_budget_the_curvature_says_it_was_not_computed():
    trainer = Trainer(resolve("linear-manual", **MLP))
    found = land.curvature(trainer, budget=0.0)
    assert not found.computed and found.lr_limit is None and found.eigenvalues == [] and found.hessian is None


def test_the_status_line_says_curvature_not_computed():
    from gdtui.tui.widgets.status import StatusLine

    status = StatusLine()
    status.state, status.lr, status.limit = "ready", 0.1, 0.05
    assert "2/λmax 0.05" in status.render()
    status.uncomputed = True
    assert "curvature not computed" in status.render() and "2/λmax" not in status.render()


def test_the_session_obeys_commands_between_the_curvature_s_slices(monkeypatch):
    """The Step, waiting from the start, is obeyed before the large mlp's curvature is done."""
    config = resolve("linear-manual", epochs=5, **MLP)
    session, replies = serve(config, [(0, p.Step())], monkeypatch)
    assert errors(replies) == []
    order = [type(r) for r in replies if isinstance(r, (p.Ready, p.Results, p.CurvatureKnown))]
    assert order == [p.Ready, p.Results, p.CurvatureKnown]
    found = of(replies, p.CurvatureKnown)[0].curvature
    assert found.computed and len(found.eigenvalues) == 2


def test_the_session_obeys_commands_between_the_lr_range_test_s_steps(monkeypatch):
    config = resolve("fastai-quadratic", epochs=5)
    session, replies = serve(config, [(0, p.FindLr(1e-8, 1.0, 20)), (0, p.Step())], monkeypatch)
    assert errors(replies) == []
    order = [type(r) for r in replies if isinstance(r, (p.Results, p.LrFound))]
    assert order == [p.Results, p.LrFound]
    assert len(of(replies, p.LrFound)[0].result.lrs) > 1


def test_a_failed_allocation_while_building_becomes_an_error_and_the_session_stays_up(monkeypatch):
    from gdtui.engine import lanes

    real = lanes.Race.__init__
    calls = [0]

    def failing(self, config, *args, **kwargs):
        calls[0] += 1
        if config.model == "mlp":
            raise RuntimeError("DefaultCPUAllocator: not enough memory")
        real(self, config, *args, **kwargs)

    monkeypatch.setattr(lanes.Race, "__init__", failing)
    config = resolve("fastai-quadratic", epochs=5, model="mlp", hidden=(1024, 1024))
    later = resolve("fastai-quadratic", epochs=5, model="mlp", hidden=(1024, 1024), lr=0.5)
    session, replies = serve(config, [(0, p.Step()), (1, p.Configure(later)), (1, p.Step())], monkeypatch)
    failures = errors(replies)
    assert [e.field for e in failures] == ["configure", "configure"]
    assert all("not enough memory" in e.message for e in failures)
    # the preset itself stands in, trains, and keeps training after the second failed build
    assert session.trainer is not None and session.trainer.config.model != "mlp" and session.trainer.epoch == 2
    assert len(of(replies, p.Results)) == 2


def test_lr_find_on_a_large_mlp_prints_what_it_could(monkeypatch, capsys):
    monkeypatch.setattr(land, "BUDGET_SECONDS", 0.0)
    monkeypatch.setattr(land.lr_find_job, "__defaults__", (1e-8, 10.0, 100, 4.0, 0.0))
    code = main(["lr-find", "--model", "mlp", "--hidden", "16,16", "--data", "sine", "--steps", "5"])
    out = capsys.readouterr().out
    assert code == 0
    assert "curvature at the initial parameters: curvature not computed" in out
    assert "suggestion:" in out


def test_a_waiting_command_goes_before_the_next_slice_of_a_job_even_while_training(monkeypatch):
    """Once a command waits, the session ends its chunk at the epoch and reads it before any further slice
    of the curvature under way (a large model's slice takes tens of ms: keys stay quick)."""
    from tests.test_audit_engine import ScriptedPipe

    events: list[str] = []
    real = land.curvature_job

    def logged(*args, **kwargs):
        inner = real(*args, **kwargs)
        while True:
            try:
                next(inner)
            except StopIteration as done:
                return done.value
            events.append("slice")
            yield

    monkeypatch.setattr(land, "curvature_job", logged)
    seen_waiting = ScriptedPipe.poll

    def poll(self):
        waiting = seen_waiting(self)
        if waiting and (not events or events[-1] != "waiting"):
            events.append("waiting")
        return waiting

    def recv(self):
        events.append(f"recv {type(self.script[0][1]).__name__}" if self.script else "recv Quit")
        return ScriptedPipe.recv.__wrapped__(self)

    recv.__wrapped__ = ScriptedPipe.recv  # type: ignore[attr-defined]
    monkeypatch.setattr(ScriptedPipe, "poll", poll)
    monkeypatch.setattr(ScriptedPipe, "recv", recv)
    monkeypatch.setattr(session_module, "CHUNK_SECONDS", 60.0)  # a chunk ends when the Pause waits, not by time
    config = resolve("linear-manual", epochs=1000, **MLP)
    session, replies = serve(config, [(0, p.Run()), (3, p.Pause())], monkeypatch)
    assert errors(replies) == []
    run, pause = events.index("recv Run"), events.index("recv Pause")
    assert "slice" in events[: run + 1] or "slice" in events[pause:]  # the curvature was under way throughout
    waited = events.index("waiting", run + 1)  # the Pause waits from here
    assert "slice" not in events[waited:pause]
    assert session.trainer.epoch == 3
