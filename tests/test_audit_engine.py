"""The engine side of the outside audit: live changes on every optimizer while a session runs, a session that
survives the engine's exceptions, devices, divergence of the metrics, and random generators left alone.

The session is driven in-process through a scripted pipe: each command is delivered when the run reaches a
given epoch (the session looks at its pipe after every epoch here), so the interleaving is forced, not raced.
References are literal torch loops on the fastai article's data (seed 000).
"""

from __future__ import annotations

import math

import pytest
import torch

from gdtui.engine import ConfigError, resolve
from gdtui.engine import protocol as p
from gdtui.engine import session as session_module
from gdtui.engine.config import OPTIMIZERS
from gdtui.engine.device import DeviceError, resolve_device
from gdtui.engine.losses import LOSSES as LOSSES_BY_NAME
from gdtui.engine.trainer import Trainer
from tests.test_engine import article_setup, function, mse, values


class ScriptedPipe:
    """A session's end of the pipe that delivers each command once the run stands at its epoch."""

    def __init__(self, epochs_trained, script):
        self.epoch = epochs_trained  # () -> how many epochs the session has trained
        self.script = list(script)  # (epoch, command): delivered once the run stands at that epoch or later
        self.replies = []

    def poll(self, timeout=0.0):
        if not self.script:
            return False
        when = self.script[0][0]  # an epoch, or a test of the replies sent so far
        return when(self.replies) if callable(when) else self.epoch() >= when

    def recv(self):
        if not self.script:
            return p.Quit()
        return self.script.pop(0)[1]

    def send(self, reply):
        self.replies.append(reply)

    def close(self):
        pass


def serve(config, script, monkeypatch):
    """Run a Session over `script` until it runs out (then quit); return the session and its replies."""
    monkeypatch.setattr(session_module, "LOOK_SECONDS", 0.0)  # look after every epoch
    # Within a chunk the history grows only when the chunk ends: count epochs by their backward passes.
    epochs = [0]
    backward = torch.Tensor.backward

    def counted(self, *args, **kwargs):
        epochs[0] += 1
        return backward(self, *args, **kwargs)

    monkeypatch.setattr(torch.Tensor, "backward", counted)
    pipe = ScriptedPipe(lambda: epochs[0], script)
    session = session_module.Session(pipe)
    session.loop(config)
    return session, pipe.replies


def errors(replies):
    return [r for r in replies if isinstance(r, p.Error)]


def reference_loop(name, epochs, changes, lr=1e-5, momentum=0.0):
    """The fastai data and parameters trained by torch.optim (gd: the article's own step), with the live changes
    applied as the user makes them: `changes[k]` (a dict of lr / momentum) takes effect from the (k+1)-th epoch.
    A momentum raised from 0 starts a new buffer as torch does at a first step (SGD: the next gradient;
    RMSprop: zeros), and one lowered to 0 drops it."""
    time, speed, params = article_setup()
    if name == "gd":
        optimizer = None
        group = {"lr": lr}
    else:
        optimizer = {
            "sgd": lambda: torch.optim.SGD([params], lr=lr, momentum=momentum),
            "nesterov": lambda: torch.optim.SGD([params], lr=lr, momentum=momentum, nesterov=True),
            "adam": lambda: torch.optim.Adam([params], lr=lr),
            "adamw": lambda: torch.optim.AdamW([params], lr=lr),
            "rmsprop": lambda: torch.optim.RMSprop([params], lr=lr, momentum=momentum),
            "adagrad": lambda: torch.optim.Adagrad([params], lr=lr),
        }[name]()
        group = optimizer.param_groups[0]
    out = []
    for epoch in range(epochs):
        for key, value in changes.get(epoch, {}).items():
            if key == "momentum" and "momentum" in group:
                was = group["momentum"]
                group["momentum"] = value
                state = optimizer.state[params]
                if state and (was == 0) != (value == 0):
                    state.pop("momentum_buffer", None)
                    if value > 0 and name == "rmsprop":
                        state["momentum_buffer"] = torch.zeros_like(params)
            elif key == "lr":
                group["lr"] = value
        loss = mse(function(time, params), speed)
        loss.backward()
        if optimizer is None:
            params.data = params.data - group["lr"] * params.grad
            params.grad = None
        else:
            optimizer.step()
            optimizer.zero_grad()
        out.append((loss.item(), params.tolist()))
    return out


def session_history(session):
    h = session.trainer.history
    return [(r.loss, values(r)) for r in h]


LIVE_SCRIPTS = {
    # field: (start settings, [(epoch, change)]): zero to non-zero and back, while running
    "lr": ({}, [(4, {"lr": 3e-5}), (9, {"lr": 1e-5})]),
    "momentum": ({"momentum": 0.0}, [(4, {"momentum": 0.9}), (9, {"momentum": 0.0}), (12, {"momentum": 0.5})]),
}


@pytest.mark.parametrize("field", sorted(LIVE_SCRIPTS))
@pytest.mark.parametrize("name", OPTIMIZERS)
def test_live_lr_and_momentum_on_every_optimizer_while_running(name, field, monkeypatch):
    start, changes = LIVE_SCRIPTS[field]
    if name == "nesterov" and field == "momentum":
        # nesterov refuses momentum 0 (as a new run does): 0.9 -> 0.5 -> 0 (refused) -> 0.7
        start, changes = {"momentum": 0.9}, [(4, {"momentum": 0.5}), (9, {"momentum": 0.0}), (12, {"momentum": 0.7})]
    config = resolve("fastai-quadratic", optimizer=name, epochs=16, **start)
    script = [(0, p.Run())] + [(epoch, p.Update(change)) for epoch, change in changes]
    session, replies = serve(config, script, monkeypatch)
    refused = [e for e in errors(replies)]
    if name == "nesterov" and field == "momentum":
        assert refused == [p.Error("momentum", "nesterov needs a momentum > 0")]
        changes = [c for c in changes if c[1] != {"momentum": 0.0}]
    else:
        assert refused == []
    assert session.trainer.epoch == 16 and session.state() == "done"
    expected = reference_loop(name, 16, dict(changes), momentum=config.effective_momentum)
    assert session_history(session) == expected
    applied = [r.config for r in replies if isinstance(r, p.Applied)]
    assert len(applied) == len(changes)


@pytest.mark.parametrize("name", OPTIMIZERS)
def test_live_epochs_on_every_optimizer_while_running(name, monkeypatch):
    """The budget lowered below the run's epoch-to-be stops it there ("done"); raised again, run continues the
    same run: the numbers are those of one uninterrupted run."""
    config = resolve("fastai-quadratic", optimizer=name, epochs=20, lr=1e-5)
    script = [(0, p.Run()), (3, p.Update({"epochs": 8})), (8, p.Update({"epochs": 14})), (8, p.Run())]
    session, replies = serve(config, script, monkeypatch)
    assert errors(replies) == []
    states = [(r.state, r.epoch) for r in replies if isinstance(r, p.State)]
    assert ("done", 8) in states  # stopped at 8 before the budget rose
    assert session.trainer.epoch == 14 and session.state() == "done", states
    assert session_history(session) == reference_loop(name, 14, {}, momentum=config.effective_momentum)


def test_a_live_change_passes_the_checks_a_new_run_does():
    trainer = Trainer(resolve("fastai-quadratic", optimizer="nesterov", momentum=0.9))
    trainer.run(2)
    with pytest.raises(ConfigError) as refused:
        trainer.update(momentum=0)
    assert refused.value.field == "momentum"
    with pytest.raises(ConfigError):
        resolve("fastai-quadratic", optimizer="nesterov", momentum=0)
    assert trainer.config.momentum == 0.9  # refused: nothing changed
    assert trainer.optimizer.param_groups[0]["momentum"] == 0.9


def test_an_engine_exception_in_a_command_becomes_an_error_reply(monkeypatch):
    def broken(self, **changes):
        raise RuntimeError("the engine broke")

    monkeypatch.setattr(Trainer, "update", broken)
    script = [(0, p.Step()), (1, p.Update({"lr": 2e-5})), (1, p.Step()), (2, p.Step())]
    session, replies = serve(resolve("fastai-quadratic", epochs=10), script, monkeypatch)
    assert errors(replies) == [p.Error("update", "update failed: the engine broke")]
    assert session.trainer.epoch == 3  # the steps after the failed update ran
    assert session_history(session) == reference_loop("gd", 3, {})


def test_an_epoch_that_fails_while_running_reports_what_ran_and_the_run_goes_on(monkeypatch):
    """torch raises in the 4th epoch's optimizer step: epochs 1-3 reach the UI, then an error naming run; the
    session stays up, paused, and a step trains epoch 4 as if nothing had happened."""
    calls = {"n": 0}
    real = torch.optim.SGD.step

    def failing(self, *args, **kwargs):
        calls["n"] += 1
        if calls["n"] == 4:
            raise RuntimeError("step failed")
        return real(self, *args, **kwargs)

    monkeypatch.setattr(torch.optim.SGD, "step", failing)
    config = resolve("fastai-quadratic", optimizer="sgd", momentum=0.5, epochs=10)
    script = [(0, p.Run()), (4, p.Step()), (5, p.Run())]
    session, replies = serve(config, script, monkeypatch)
    results = [r for r in replies if isinstance(r, p.Results)]
    assert results[0].lane == 0 and (results[0].chunk.first, results[0].chunk.last) == (1, 3)
    error_at = replies.index(p.Error("run", "run failed: RuntimeError: step failed"))
    assert replies[error_at + 1] == p.State(0, "paused", 3)
    assert session.trainer.epoch == 10
    expected = reference_loop("sgd", 10, {}, momentum=0.5)
    assert session_history(session) == expected


@pytest.mark.parametrize("spec, index", [("cuda:01", 1), ("cuda:1", 1), ("cuda:0", 0), ("cuda", 0), ("CUDA:001", 1)])
def test_cuda_devices_are_built_from_their_index(spec, index, monkeypatch):
    monkeypatch.setattr(torch.cuda, "is_available", lambda: True)
    monkeypatch.setattr(torch.cuda, "device_count", lambda: 2)
    assert resolve_device(spec) == torch.device("cuda", index)


def test_a_cuda_index_past_the_devices_is_named(monkeypatch):
    monkeypatch.setattr(torch.cuda, "is_available", lambda: True)
    monkeypatch.setattr(torch.cuda, "device_count", lambda: 2)
    with pytest.raises(DeviceError, match=r"cuda:2 is not available: this machine has 2 CUDA device"):
        resolve_device("cuda:02")


def test_device_spellings_are_normalised():
    assert resolve("fastai-quadratic", device="cuda:01").device == "cuda:1"
    assert resolve("fastai-quadratic", device=" CUDA ").device == "cuda"


def l1_on_huge_data(tmp_path, scale):
    path = tmp_path / "huge.csv"
    path.write_text("".join(f"{i},{scale * (i + 1)}\n" for i in range(5)))
    return resolve("linear-manual", data=str(path), loss="l1", model="linear", lr=1e-3, epochs=5)


def test_an_rmse_that_overflows_diverges(tmp_path):
    """L1 on data near 1e20: the loss is finite, its mean square overflows float32 (RMSE inf)."""
    y = torch.tensor([1e20 * (i + 1) for i in range(5)], dtype=torch.float32)
    assert math.isfinite(torch.nn.functional.l1_loss(torch.zeros(5), y).item())
    assert math.isinf(((torch.zeros(5) - y) ** 2).mean().item())
    trainer = Trainer(l1_on_huge_data(tmp_path, 1e20))
    results = trainer.run(5)
    assert trainer.status == "diverged" and len(results) == 1


def test_a_test_loss_that_overflows_diverges(tmp_path):
    """Trained on small values, tested on huge ones: the training loss stays finite, the test loss is inf."""
    path = tmp_path / "split.csv"
    path.write_text("0,1\n1,2\n2,3\n3,3e38\n")
    config = resolve("linear-manual", data=str(path), model="linear", lr=1e-3, epochs=5, test_fraction=0.25)
    trainer = Trainer(config)
    results = trainer.run(5)
    assert math.isfinite(results[0].loss) and results[0].test_loss == math.inf
    assert trainer.status == "diverged" and len(results) == 1


def test_building_a_trainer_leaves_every_random_generator_alone(monkeypatch):
    reseeded = []
    monkeypatch.setattr(torch.cuda, "manual_seed_all", lambda seed: reseeded.append(("cuda", seed)))
    monkeypatch.setattr(torch.cuda, "manual_seed", lambda seed: reseeded.append(("cuda", seed)))
    monkeypatch.setattr(torch.mps, "manual_seed", lambda seed: reseeded.append(("mps", seed)))
    torch.manual_seed(7)
    reseeded.clear()
    state = torch.get_rng_state()
    for preset in ("fastai-quadratic", "linear-module"):
        Trainer(resolve(preset))
    assert reseeded == []
    assert torch.equal(torch.get_rng_state(), state)
    torch.manual_seed(7)
    reseeded.clear()
    expected = torch.rand(3)
    torch.manual_seed(7)
    Trainer(resolve("linear-module"))
    assert torch.equal(torch.rand(3), expected)


def fail_once(monkeypatch, owner, name, when):
    """Make owner.name raise once, on the call for which when(n) is true (n counts the calls)."""
    real = getattr(owner, name)
    calls = {"n": 0}

    def failing(*args, **kwargs):
        calls["n"] += 1
        if when(calls["n"]):
            raise RuntimeError("injected")
        return real(*args, **kwargs)

    monkeypatch.setattr(owner, name, failing)


@pytest.mark.parametrize("where", ["step", "test pass"])
def test_a_failed_epoch_leaves_the_run_exactly_where_its_history_ends(where, monkeypatch):
    """Accumulated gradients (the failed epoch's backward already added its gradient) and a failure after
    the step (in the test pass): after the failure the run goes on as its solo run, bit for bit."""
    from gdtui.engine.trainer import TrainingError

    config = resolve("linear-module", accumulate_grad=True, epochs=40)
    trainer = Trainer(config)
    trainer.run(10)
    if where == "step":
        fail_once(monkeypatch, torch.optim.SGD, "step", lambda n: n == 3)
    else:
        real_loss = trainer._loss_fn
        fail_once(monkeypatch, trainer, "_loss_fn", lambda n: n == 6 and torch.is_inference_mode_enabled())
        assert trainer._loss_fn is not real_loss
    with pytest.raises(TrainingError):
        trainer.run(30)
    monkeypatch.undo()
    trainer._loss_fn = LOSSES_BY_NAME["l1"]
    assert trainer.epoch == 12
    trainer.run(40 - trainer.epoch)
    solo = Trainer(config)
    solo.run(40)
    assert [(r.loss, r.test_loss, values(r)) for r in trainer.history] == [
        (r.loss, r.test_loss, values(r)) for r in solo.history
    ]
