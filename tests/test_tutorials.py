"""Bring your own tutorial: each option of `gdtui run` against the loop a tutorial writes, written out literally
here (a sum-of-squares loss, initial values, a model without a bias...), compared number for number."""

from __future__ import annotations

import json

import pytest
import torch

from gdtui.cli import main


def run_json(capsys, *args):
    """`gdtui run --json ARGS` in-process: the epoch objects and the summary."""
    code = main(["run", "--json", *args])
    out = capsys.readouterr().out
    lines = [json.loads(line) for line in out.splitlines()]
    epochs = [line for line in lines if line.get("event") == "epoch"]
    return code, epochs, lines[-1]


def sse_reference(epochs, lr):
    """linear-manual's data and start with PyTorch's examples' loss, `(y_pred - y).pow(2).sum()`."""
    x = torch.tensor([1.0, 2.0, 3.0, 4.0])
    y = 2 * x
    w = torch.zeros(1, requires_grad=True)
    b = torch.zeros(1, requires_grad=True)
    out = []
    for _ in range(epochs):
        y_pred = w * x + b
        loss = (y_pred - y).pow(2).sum()
        loss.backward()
        out.append((loss.item(), ((y_pred - y) ** 2).mean().item() ** 0.5))
        w.data = w.data - lr * w.grad
        b.data = b.data - lr * b.grad
        w.grad = None
        b.grad = None
    return out, (w.item(), b.item())


def test_sse_is_the_sum_of_squares_and_rmse_stays_the_root_of_the_mean(capsys):
    code, epochs, _ = run_json(capsys, "--preset", "linear-manual", "--loss", "sse", "--epochs", "30")
    assert code == 0
    expected, (w, b) = sse_reference(30, 0.01)
    assert [(e["loss"], e["rmse"]) for e in epochs] == expected
    assert (epochs[-1]["params"]["w"], epochs[-1]["params"]["b"]) == (w, b)


@pytest.mark.parametrize("loss", ["sse"])
def test_a_new_loss_races_in_lanes_as_its_solo_run(loss):
    from gdtui.engine import resolve
    from gdtui.engine.lanes import Race
    from gdtui.engine.trainer import Trainer

    base = resolve("linear-manual", epochs=25)
    race = Race(base)
    race.add(base.replace(loss=loss))
    race.add(base.replace(loss=loss, lr=0.005))
    while any(lane.active for lane in race.lanes):
        race.run_chunk(None)
    for lane, config in zip(race.lanes[1:], (base.replace(loss=loss), base.replace(loss=loss, lr=0.005))):
        solo = Trainer(config)
        solo.run(25)
        assert list(lane.trainer.history.loss) == list(solo.history.loss)
        assert list(lane.trainer.history.rmse) == list(solo.history.rmse)


def test_the_sse_landscape_has_the_least_squares_minimum_and_the_hessian_two_xtx():
    from gdtui.engine import landscape as land
    from gdtui.engine import resolve
    from gdtui.engine.trainer import Trainer

    trainer = Trainer(resolve("fastai-quadratic", loss="sse"))
    t = torch.arange(0, 20).double()
    design = torch.stack([t**2, t, torch.ones_like(t)], dim=1)
    hessian = 2 * design.T @ design  # the sum's: n times the mean's 2/n·XᵀX
    found = land.curvature(trainer)
    assert found.constant
    assert torch.allclose(torch.tensor(found.hessian, dtype=torch.float64), hessian, rtol=1e-12)
    assert found.lr_limit == pytest.approx(2 / float(torch.linalg.eigvalsh(hessian)[-1]), rel=1e-12)
    assert land.minimum(trainer) == land.minimum(Trainer(resolve("fastai-quadratic")))  # the same argmin


def gd_loop(x, y, params, forward, epochs, lr, loss_fn=None, stop=None):
    """The seeds' loop: forward, loss, backward, p.data = p.data - lr * p.grad, grad cleared; (loss, RMSE) per
    epoch. `stop(loss, rmse)` ends it after the epoch it is true for."""
    loss_fn = loss_fn or (lambda preds: ((preds - y) ** 2).mean())
    out = []
    for _ in range(epochs):
        preds = forward(x, *params)
        loss = loss_fn(preds)
        loss.backward()
        out.append((loss.item(), ((preds - y) ** 2).mean().item() ** 0.5))
        for p in params:
            p.data = p.data - lr * p.grad
            p.grad = None
        if stop is not None and stop(*out[-1]):
            break
    return out, [p.detach().clone() for p in params]


def fastai_data():
    torch.manual_seed(2021)
    time = torch.arange(0, 20).float()
    speed = torch.rand(20) * 5 + 0.8 * (time - 7.5) ** 2 + 1
    return time, speed


def quadratic(t, params):
    a, b, c = params
    return a * (t**2) + (b * t) + c


@pytest.mark.parametrize("init", ["0.5,-1,2", "a=0.5,b=-1,c=2", "c=2,a=0.5,b=-1"])
def test_initial_values_start_the_run_where_the_tutorial_does(capsys, init):
    code, epochs, _ = run_json(capsys, "--init", init, "--epochs", "12")
    assert code == 0
    time, speed = fastai_data()
    params = torch.tensor([0.5, -1.0, 2.0]).requires_grad_()
    expected, _ = gd_loop(time, speed, [params], quadratic, 12, 1e-5)
    assert [(e["loss"], e["rmse"]) for e in epochs] == expected


def test_synthetic_data_on_an_x_range_and_a_model_without_a_bias(capsys):
    args = ["--data", "linear", "--x-range", "0,2", "--points", "9", "--noise", "0", "--model", "linear"]
    code, epochs, _ = run_json(capsys, *args, "--no-bias", "--init", "0.25", "--lr", "0.05", "--epochs", "15")
    assert code == 0
    x = torch.linspace(0, 2, 9)
    y = 2 * x + 1  # gdtui's synthetic linear data
    w = torch.tensor([0.25], requires_grad=True)
    expected, (w_end,) = gd_loop(x, y, [w], lambda x, w: w * x, 15, 0.05)
    assert [(e["loss"], e["rmse"]) for e in epochs] == expected
    assert list(epochs[-1]["params"]) == ["w"] and epochs[-1]["params"]["w"] == w_end.item()


def test_a_poly_without_a_bias_and_an_nn_linear_without_one(capsys):
    code, epochs, _ = run_json(capsys, "--model", "poly", "--degree", "2", "--no-bias", "--init", "0.1,0.2")
    assert code == 0 and list(epochs[0]["params"]) == ["c1", "c2"]
    time, speed = fastai_data()
    params = torch.tensor([0.1, 0.2]).requires_grad_()
    expected, _ = gd_loop(time, speed, [params], lambda t, p: (t.unsqueeze(-1) ** torch.arange(1, 3.0)) @ p, 10, 1e-5)
    assert [(e["loss"], e["rmse"]) for e in epochs] == expected
    code, epochs, _ = run_json(capsys, "--preset", "linear-module", "--no-bias", "--epochs", "5")
    assert code == 0 and list(epochs[0]["params"]) == ["weight"]
    torch.manual_seed(13)
    layer = torch.nn.Linear(1, 1, bias=False)
    X = torch.arange(0, 1, 0.02)
    y = 0.7 * X + 0.3
    train_x, train_y = X[:40], y[:40]
    optimizer = torch.optim.SGD(layer.parameters(), lr=0.1)
    losses = []
    for _ in range(5):
        loss = torch.nn.functional.l1_loss(layer(train_x.unsqueeze(-1)).squeeze(-1), train_y)
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()
        losses.append(loss.item())
    assert [e["loss"] for e in epochs] == losses


def test_float64_data_and_parameters(capsys):
    code, epochs, _ = run_json(capsys, "--preset", "linear-manual", "--dtype", "float64", "--epochs", "20")
    assert code == 0
    x = torch.tensor([1.0, 2.0, 3.0, 4.0], dtype=torch.float64)
    y = 2 * x
    w, b = (
        torch.zeros(1, dtype=torch.float64, requires_grad=True),
        torch.zeros(1, dtype=torch.float64, requires_grad=True),
    )
    expected, _ = gd_loop(x, y, [w, b], lambda x, w, b: w * x + b, 20, 0.01)
    assert [(e["loss"], e["rmse"]) for e in epochs] == expected
    _, float32, _ = run_json(capsys, "--preset", "linear-manual", "--epochs", "20")
    assert [e["loss"] for e in float32] != [loss for loss, _ in expected]  # float64 rounds otherwise


def test_target_rmse_and_patience_stop_the_run_and_say_why(capsys):
    code, epochs, summary = run_json(capsys, "--preset", "linear-manual", "--target-rmse", "0.5", "--epochs", "1000")
    assert code == 0
    x = torch.tensor([1.0, 2.0, 3.0, 4.0])
    w, b = torch.zeros(1, requires_grad=True), torch.zeros(1, requires_grad=True)
    expected, _ = gd_loop(x, 2 * x, [w, b], lambda x, w, b: w * x + b, 1000, 0.01, stop=lambda loss, rmse: rmse <= 0.5)
    assert [(e["loss"], e["rmse"]) for e in epochs] == expected and len(expected) < 1000
    assert summary["stopped"] == "target-rmse" and summary["epochs"] == len(expected)

    best, since = [float("inf")], [0]

    def patience(loss, rmse):
        if loss < best[0]:
            best[0], since[0] = loss, 0
            return False
        since[0] += 1
        return since[0] >= 3

    args = ["--preset", "linear-manual", "--lr", "0.05", "--epochs", "3000", "--patience", "3"]
    code, epochs, summary = run_json(capsys, *args)  # float32 reaches its floor: the loss stalls
    w, b = torch.zeros(1, requires_grad=True), torch.zeros(1, requires_grad=True)
    expected, _ = gd_loop(x, 2 * x, [w, b], lambda x, w, b: w * x + b, 3000, 0.05, stop=patience)
    assert [(e["loss"], e["rmse"]) for e in epochs] == expected and len(expected) < 3000
    assert summary["stopped"] == "patience"
    code = main(["run", "--preset", "linear-manual", "--target-rmse", "0.5", "--epochs", "1000", "-q"])
    assert "stopped: the RMSE reached --target-rmse 0.5 at epoch" in capsys.readouterr().out


def test_every_prints_every_nth_epoch_and_the_last(capsys):
    code, epochs, _ = run_json(capsys, "--preset", "linear-manual", "--every", "30")
    assert [e["epoch"] for e in epochs] == [30, 60, 90, 100]
    code = main(["run", "--preset", "linear-manual", "--every", "25"])
    lines = [line for line in capsys.readouterr().out.splitlines() if line.startswith("epoch ")]
    assert [line.split()[1] for line in lines] == ["25", "50", "75", "100"]


@pytest.mark.parametrize(
    ("args", "option"),
    [
        (["--init", "1,2"], "--init"),
        (["--init", "a=1,b=2,z=3"], "--init"),
        (["--init", "1,nan,3"], "--init"),
        (["--init", "a=1,2,3"], "--init"),
        (["--init", "a=1,a=2,c=3"], "--init"),
        (["--init", ""], "--init"),
        (["--x-range", "1,0"], "--x-range"),
        (["--x-range", "1"], "--x-range"),
        (["--x-range", "a,b"], "--x-range"),
        (["--dtype", "float16"], "--dtype"),
        (["--target-rmse", "-1"], "--target-rmse"),
        (["--target-rmse", "inf"], "--target-rmse"),
        (["--patience", "0"], "--patience"),
        (["--patience", "1.5"], "--patience"),
        (["--every", "0"], "--every"),
        (["--no-bias"], "--bias"),  # the quadratic keeps its c
        (["--loss", "sum"], "--loss"),
        (["--batch-size", "0"], "--batch-size"),
        (["--model", "mlp", "--hidden", "0"], "--hidden"),
        (["--model", "mlp", "--hidden", "8,x"], "--hidden"),
        (["--model", "mlp", "--activation", "gelu"], "--activation"),
        (["--model", "mlp", "--no-bias"], "--bias"),
        (["--batch-size", "two"], "--batch-size"),
        (["--vary", "batch-size=4,0"], "--vary"),
        (["--vary", "shuffle=maybe"], "--vary"),
        (["--vary", "patience=3,-1"], "--vary"),
    ],
)
def test_every_bad_value_of_a_new_option_is_one_line_naming_it(capsys, args, option):
    code = main(["run", *args])
    err = capsys.readouterr().err
    assert code == 2
    assert len(err.strip().splitlines()) == 1 and option in err, err


def minibatch_reference(batch_size, shuffle, epochs, lr, seed=2021):
    """A mini-batch SGD loop as tutorials write it: torch's DataLoader over the fastai data, reshuffled each
    epoch by a generator seeded from the run's seed; the epoch's loss the mean of its batch losses."""
    from torch.utils.data import DataLoader, TensorDataset

    time, speed = fastai_data()
    torch.randn(3)
    params = torch.randn(3).requires_grad_()
    generator = torch.Generator().manual_seed(seed)
    loader = DataLoader(TensorDataset(time, speed), batch_size=batch_size, shuffle=shuffle, generator=generator)
    out = []
    for _ in range(epochs):
        running = []
        for xb, yb in loader:
            loss = ((quadratic(xb, params) - yb) ** 2).mean()
            loss.backward()
            running.append(loss.item())
            params.data = params.data - lr * params.grad
            params.grad = None
        out.append(sum(running) / len(running))
    return out, params.detach()


@pytest.mark.parametrize(("batch", "shuffle"), [("4", "--shuffle"), ("6", "--no-shuffle"), ("1", "--shuffle")])
def test_mini_batches_are_the_dataloader_loop(capsys, batch, shuffle):
    code, epochs, summary = run_json(capsys, "--batch-size", batch, shuffle, "--epochs", "8")
    assert code == 0 and "mean of its batch losses" in summary["batches"]
    expected, params = minibatch_reference(int(batch), shuffle == "--shuffle", 8, 1e-5)
    assert [e["loss"] for e in epochs] == expected
    assert [e["rmse"] for e in epochs] == [v**0.5 for v in expected]  # MSE: the RMSE is the epoch loss's root
    assert [epochs[-1]["params"][n] for n in "abc"] == params.tolist()


def test_a_branch_of_a_batched_run_goes_on_as_the_run_did():
    from gdtui.engine import resolve
    from gdtui.engine.lanes import Race

    config = resolve("fastai-quadratic", batch_size=3, optimizer="adam", lr=0.05, epochs=300)
    race = Race(config)
    while race.lanes[0].active:
        race.run_chunk(None)
    branch = race.branch(race.lanes[0].id, 170)  # past a checkpoint (every 128 epochs): its shuffle state too
    while branch.active:
        race.run_chunk(None)
    source, copy = race.lanes[0].trainer.history, branch.trainer.history
    assert list(copy.loss) == list(source.loss) and list(copy.params["a"]) == list(source.params["a"])


def test_batched_lanes_race_each_as_its_solo_run():
    from gdtui.engine import resolve
    from gdtui.engine.lanes import Race
    from gdtui.engine.trainer import Trainer

    base = resolve("fastai-quadratic", epochs=20)
    configs = [base, base.replace(batch_size=5), base.replace(batch_size=5, shuffle=False, optimizer="adam", lr=0.1)]
    race = Race(configs[0])
    for config in configs[1:]:
        race.add(config)
    while any(lane.active for lane in race.lanes):
        race.run_chunk(None)
    for lane, config in zip(race.lanes, configs):
        solo = Trainer(config)
        solo.run(20)
        assert list(lane.trainer.history.loss) == list(solo.history.loss)


@pytest.mark.parametrize(("hidden", "activation"), [("16", "tanh"), ("8,8", "relu"), ("4", "sigmoid")])
def test_an_mlp_is_the_tutorial_s_nn_sequential(capsys, hidden, activation):
    args = ["--model", "mlp", "--hidden", hidden, "--activation", activation, "--data", "sine", "--points", "30"]
    code, epochs, _ = run_json(capsys, *args, "--optimizer", "adam", "--lr", "0.01", "--epochs", "25", "--seed", "5")
    assert code == 0
    torch.manual_seed(5)
    x = torch.linspace(-3, 3, 30)
    y = 3 * torch.sin(x) + 5.0 * torch.randn(30)  # gdtui's sine data, noise 5 (the preset's)
    torch.manual_seed(5)
    sizes = [1, *map(int, hidden.split(",")), 1]
    act = {"tanh": torch.nn.Tanh, "relu": torch.nn.ReLU, "sigmoid": torch.nn.Sigmoid}[activation]
    layers = []
    for k in range(len(sizes) - 1):
        if k:
            layers.append(act())
        layers.append(torch.nn.Linear(sizes[k], sizes[k + 1]))
    model = torch.nn.Sequential(*layers)
    optimizer = torch.optim.Adam(model.parameters(), lr=0.01)
    losses = []
    for _ in range(25):
        preds = model(x.unsqueeze(-1)).squeeze(-1)
        loss = ((preds - y) ** 2).mean()
        loss.backward()
        losses.append(loss.item())
        optimizer.step()
        optimizer.zero_grad()
    assert [e["loss"] for e in epochs] == losses
    flat = torch.cat([p.detach().reshape(-1) for p in model.parameters()]).tolist()
    assert list(epochs[-1]["params"].values()) == flat
    assert list(epochs[-1]["params"])[:2] == ["w1.0", "w1.1"] and len(flat) == len(epochs[-1]["params"])


def test_an_mlp_s_landscape_is_its_loss_with_two_weights_moved_and_its_log_summarises():
    from gdtui.engine import landscape as land
    from gdtui.engine import resolve
    from gdtui.engine.trainer import Trainer
    from gdtui.tui.widgets.rmse_log import format_row

    config = resolve("fastai-quadratic", model="mlp", hidden=(6,), data="sine", points=25, epochs=10)
    trainer = Trainer(config)
    trainer.run(10)
    grid = land.landscape(trainer, ("w1.2", "b2.0"), size=(5, 4))
    assert grid.minimum is None and not land.curvature(trainer).constant
    x, y = trainer.data.x_train.double(), trainer.data.y_train.double()
    module = trainer.model.module.double()
    names = list(trainer.names)
    for r in (0, 3):
        for c in (1, 4):
            flat = torch.tensor(grid.held, dtype=torch.float64)
            flat[names.index("w1.2")], flat[names.index("b2.0")] = grid.xs[c], grid.ys[r]
            torch.nn.utils.vector_to_parameters(flat, module.parameters())
            with torch.no_grad():
                expected = ((module(x.unsqueeze(-1)).squeeze(-1) - y) ** 2).mean().item()
            assert grid.loss[r][c] == pytest.approx(expected, rel=1e-12)
    row = format_row(trainer.history.result(9))
    assert "19 params, norm" in row and "w1.0=" not in row  # 6 + 6 weights and biases, then 6 + 1


def test_a_toml_file_round_trips_to_the_same_run(capsys, tmp_path):
    path = tmp_path / "run.toml"
    args = ["--preset", "linear-manual", "--loss", "sse", "--init", "w=0.5,b=-1", "--batch-size", "3"]
    args += ["--no-shuffle", "--target-rmse", "0.2", "--epochs", "40", "--dtype", "float64"]
    code, first, _ = run_json(capsys, *args, "--save-config", str(path))
    assert code == 0 and path.exists()
    text = path.read_text()
    assert 'loss = "sse"' in text and "init = [0.5, -1.0]" in text and "shuffle = false" in text
    code, again, _ = run_json(capsys, "--config", str(path))
    assert code == 0 and again == first
    code, overridden, _ = run_json(capsys, "--config", str(path), "--lr", "0.02")  # the command line wins
    assert overridden[0]["lr"] == 0.02 and overridden != first and list(overridden[0]["params"]) == ["w", "b"]


def test_a_toml_file_s_lanes_race_and_save_back(capsys, tmp_path):
    path = tmp_path / "race.toml"
    path.write_text('preset = "linear-manual"\nepochs = 5\n\n[[lane]]\nlr = 0.02\n\n[[lane]]\noptimizer = "adam"\n')
    code = main(["run", "--config", str(path), "--save-config", str(tmp_path / "back.toml"), "-q"])
    out = capsys.readouterr().out
    assert code == 0 and "lr 0.02" in out and "adam" in out
    back = (tmp_path / "back.toml").read_text()
    assert back.count("[[lane]]") == 2 and "lr = 0.02" in back and 'optimizer = "adam"' in back


@pytest.mark.parametrize(
    ("text", "named"),
    [
        ("lr = 0\n", "lr"),
        ('colour = "red"\n', "colour"),
        ("epochs = 2.5\n", "epochs"),
        ("bias = 1\n", "bias"),
        ("init = [1, 2]\n", "init"),
        ("[[lane]]\nseed = 3\n", "seed"),
        ("lr = \n", "not TOML"),
    ],
)
def test_a_toml_file_s_unknown_key_or_bad_value_is_named_with_the_file(capsys, tmp_path, text, named):
    path = tmp_path / "bad.toml"
    path.write_text(text)
    code = main(["run", "--config", str(path)])
    err = capsys.readouterr().err
    assert code == 2 and len(err.strip().splitlines()) == 1
    assert str(path) in err and named in err, err


def test_predictions_go_on_with_the_fitted_function_across_the_data():
    from gdtui.engine import resolve
    from gdtui.engine.trainer import LINE_POINTS, Trainer

    trainer = Trainer(resolve("linear-manual"))
    trainer.run(2)
    preds = trainer.history.tail(1, tuple(trainer.predict().tolist())).preds
    x = torch.linspace(1.0, 4.0, LINE_POINTS)  # the data's x range
    w, b = trainer.history.params["w"][-1], trainer.history.params["b"][-1]
    line = torch.tensor([w]) * x + torch.tensor([b])  # the model's w * x + b at its current parameters
    assert list(preds[:4]) == (torch.tensor([w]) * torch.tensor([1.0, 2.0, 3.0, 4.0]) + torch.tensor([b])).tolist()
    assert list(preds[4:]) == line.tolist() and trainer.line_x.tolist() == x.tolist()


def test_a_batched_run_that_diverges_exits_3_naming_the_epoch(capsys):
    code = main(["run", "--batch-size", "5", "--lr", "0.01", "--epochs", "200", "-q"])
    err = capsys.readouterr().err
    assert code == 3 and "diverged at epoch" in err


@pytest.mark.parametrize(
    "lane",
    [
        {"bias": False, "model": "linear"},
        {"batch_size": 3},
        {"batch_size": 3, "shuffle": False},
        {"target_rmse": 20.0},
        {"patience": 2, "optimizer": "adam", "lr": 0.5},
        {"model": "mlp", "hidden": (5,), "activation": "sigmoid", "optimizer": "adam", "lr": 0.01},
        {"loss": "sse", "lr": 1e-7},
    ],
    ids=lambda lane: ",".join(f"{k}={v}" for k, v in lane.items()),
)
@pytest.mark.parametrize(
    "data",
    [{}, {"data": "quadratic", "x_range": (0.0, 2.0), "points": 12}, {"dtype": "float64"}, {"init": (0.1, 0.2, 0.3)}],
    ids=["article", "x-range", "float64", "init"],
)
def test_each_option_races_in_lanes_each_its_solo_run(lane, data):
    from gdtui.engine import resolve
    from gdtui.engine.lanes import Race
    from gdtui.engine.trainer import Trainer

    base = resolve("fastai-quadratic", epochs=30, **data)
    other = base.replace(**lane)
    if "model" in lane and base.init is not None:
        other = other.replace(init=None)  # another model: the init of a, b, c is not its
    race = Race(base)
    race.add(other)
    while any(entry.active for entry in race.lanes):
        race.run_chunk(None)
    for entry, config in zip(race.lanes, (base, other)):
        solo = Trainer(config)
        solo.run(30)
        assert list(entry.trainer.history.loss) == list(solo.history.loss)
        assert entry.trainer.stop_reason == solo.stop_reason


def test_a_batched_lane_s_landscape_path_has_a_point_per_epoch():
    from gdtui.engine import landscape as land
    from gdtui.engine import resolve
    from gdtui.engine.trainer import Trainer

    trainer = Trainer(resolve("fastai-quadratic", batch_size=4, epochs=12))
    trainer.run(12)
    path = land.thinned_path(trainer, ("a", "b"))
    assert path[-1] == (trainer.history.params["a"][-1], trainer.history.params["b"][-1])
    grid = land.landscape(trainer, ("a", "b"), size=(8, 6))
    assert grid.held == [trainer.history.params[n][-1] for n in "abc"]
