"""A large model's history keeps its parameters' norm each epoch, not each parameter (issue 24, part 3).

Why: an mlp 1024,1024 recorded its 1,052,673 parameters every epoch (0.8 s an epoch, results of 55 MB a few
epochs), which froze the session. The reference here is the same run recorded in full (the limit raised): the
numbers must not change, only what is kept; a branch replays from the checkpoints' parameters bit for bit.
"""

from __future__ import annotations

import csv
import math

import pytest
import torch

from gdtui.cli import main
from gdtui.engine import resolve
from gdtui.engine import trainer as trainer_module
from gdtui.engine.landscape import pair_path, params_at, sampled_params
from gdtui.engine.trainer import Trainer

HIDDEN = (32, 32)  # 1 + 32 + 32 + 32*32 + 32 + 32 + 1 = 1,153 parameters: over RECORDED_UP_TO (1,024)


def config(**settings):
    return resolve("linear-manual", model="mlp", hidden=HIDDEN, data="sine", lr=0.05, **settings)


def full(monkeypatch, cfg) -> Trainer:
    """The same run with every parameter recorded each epoch (the reference)."""
    with monkeypatch.context() as m:
        m.setattr(trainer_module, "RECORDED_UP_TO", 10**9)
        reference = Trainer(cfg)
    assert not reference.summarized
    return reference


def norm(values) -> float:
    return float(torch.linalg.vector_norm(torch.tensor(list(values), dtype=torch.float64)))


@pytest.mark.parametrize("settings", [{}, {"optimizer": "adam"}, {"batch_size": 8}])
def test_a_large_model_s_chunks_carry_the_norm_of_the_very_parameters_a_full_record_holds(monkeypatch, settings):
    cfg = config(**settings)
    large, reference = Trainer(cfg), full(monkeypatch, cfg)
    assert large.summarized and len(large.names) == 1153
    chunk, whole = large.run_chunk(12), reference.run_chunk(12)
    assert chunk is not None and chunk.names == () and list(chunk.params) == [] and chunk.count == 1153
    assert list(chunk.loss) == list(reference.history.loss)
    assert list(chunk.rmse) == list(reference.history.rmse)
    assert whole is not None and chunk.preds == whole.preds  # drawn from the parameters before the last epoch
    rows = zip(*(reference.history.params[n] for n in reference.names))
    assert chunk.norm is not None
    assert list(chunk.norm) == [norm(row) for row in rows]
    assert [math.isclose(a, b, rel_tol=1e-12) for a, b in zip(chunk.grad_norm, reference.history.grad_norm)] == [
        True
    ] * 12
    assert large.history.params == {} and list(large.history.norm) == list(chunk.norm)
    assert torch.equal(large.model.flat(), reference.model.flat())


def test_the_log_and_the_summary_say_count_and_norm(monkeypatch):
    large = Trainer(config())
    result = large.step()
    assert result.params == () and result.summary == (1153, large.history.norm[0])
    from gdtui.engine.history import params_text

    assert params_text(result) == f"1153 params, norm {large.history.norm[0]:.6g}"
    assert result.record()["param_count"] == 1153 and result.record()["param_norm"] == large.history.norm[0]


def test_a_branch_of_a_large_model_replays_from_its_checkpoints_bit_for_bit(monkeypatch):
    monkeypatch.setattr(Trainer, "CHECKPOINT_EVERY", 7)
    cfg = config(optimizer="adam")
    run = Trainer(cfg)
    run.run(30)
    kept = [e for e, _ in run.kept_flats()]
    assert kept == [0, 7, 14, 21, 28, 30]
    for epoch in (0, 7, 16, 30):
        solo = Trainer(cfg)
        solo.run(epoch)
        branch = run.replay(epoch)
        assert torch.equal(branch.model.flat(), solo.model.flat())
        assert params_at(run, epoch) == solo.model.flat().double().tolist()
        # and they go on alike
        assert [r.loss for r in branch.run(5)] == [r.loss for r in solo.run(5)]


def test_checkpoints_stay_within_their_budget_and_replay_still_holds(monkeypatch):
    monkeypatch.setattr(Trainer, "CHECKPOINT_EVERY", 2)
    cfg = config(optimizer="adam")
    one = Trainer(cfg)
    one.run(2)
    size = one._checkpoints[0].size  # a flat and adam's two moments: 3 x 1153 floats, and a step
    assert size >= 3 * 1153 * 4
    monkeypatch.setattr(Trainer, "CHECKPOINT_BYTES", 4 * size)
    run = Trainer(cfg)
    run.run(40)
    epochs = [e for e, _ in run.kept_flats()][1:-1]
    assert len(epochs) <= 4 and epochs == sorted(epochs)
    spacing = epochs[1] - epochs[0]
    assert spacing > 2 and all(e % spacing == 0 for e in epochs)
    solo = Trainer(cfg)
    solo.run(37)
    assert torch.equal(run.replay(37).model.flat(), solo.model.flat())


def test_a_large_model_s_landscape_path_runs_through_its_kept_parameters(monkeypatch):
    monkeypatch.setattr(Trainer, "CHECKPOINT_EVERY", 4)
    cfg = config()
    run, reference = Trainer(cfg), full(monkeypatch, cfg)
    run.run(10)
    reference.run(10)
    pair = (run.names[3], run.names[40])
    epochs, xs, ys = pair_path(run, pair)
    _, fx, fy = pair_path(reference, pair)
    assert epochs.tolist() == [0, 4, 8, 10]
    assert xs.tolist() == [fx[e] for e in epochs] and ys.tolist() == [fy[e] for e in epochs]
    assert sampled_params(run).shape == (3, 1153)


def test_out_of_a_large_model_has_one_norm_column(tmp_path, capsys):
    out = tmp_path / "h.csv"
    code = main(["run", "--model", "mlp", "--hidden", "32,32", "--data", "sine", "--epochs", "3", "--out", str(out)])
    assert code == 0
    rows = list(csv.reader(out.open()))
    assert rows[0] == ["epoch", "loss", "rmse", "test_loss", "param_norm", "grad_norm", "lr", "status"]
    assert len(rows) == 4 and all(len(r) == 8 for r in rows)
    assert "1153 params, norm" in capsys.readouterr().out
