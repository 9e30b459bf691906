"""The seed articles as presets: each names its article and the settings that reproduce its numbers.

Why: a learner who opens gdtui beside an article must see that article's RMSE log. The settings live here,
torch-free, so the CLI and the TUI can list them instantly; how each article draws its data lives in
`data.py`, and its initial parameters (in its own order of random draws) in `models.py`. `resolve()` lives
here, beside the table it starts from, so the config module needs no presets (presets build on config).
"""

from __future__ import annotations

from dataclasses import dataclass, fields
from typing import Any

from gdtui.engine.config import CHECKS, ConfigError, RunConfig, check_combination

DEFAULT_PRESET = "fastai-quadratic"


@dataclass(frozen=True)
class Preset:
    name: str
    article: str
    source: str
    summary: str
    config: RunConfig


PRESETS: dict[str, Preset] = {
    p.name: p
    for p in (
        Preset(
            "fastai-quadratic",
            "Building a simple Machine Learning model using Pytorch from scratch (fast.ai style)",
            "seeds 000, 001",
            "a*t^2+b*t+c on 20 noisy points, hand-written gradient descent, MSE; prints RMSE 74.96... to 18.04...",
            RunConfig(
                preset="fastai-quadratic",
                points=20,
                noise=5.0,
                model="quadratic",
                degree=2,
                loss="mse",
                optimizer="gd",
                lr=1e-5,
                epochs=10,
                seed=2021,
            ),
        ),
        Preset(
            "qiita-quadratic",
            "Qiita: gradient descent with PyTorch",
            "seed 002",
            "the same quadratic recipe on 15 points, seed 1989, lr 1e-4, 10 + 10 steps",
            RunConfig(
                preset="qiita-quadratic",
                points=15,
                noise=3.0,
                model="quadratic",
                degree=2,
                loss="mse",
                optimizer="gd",
                lr=1e-4,
                epochs=20,
                seed=1989,
            ),
        ),
        Preset(
            "linear-module",
            "Started My Dive Into Machine Learning",
            "seed 003",
            "y=0.7x+0.3 on arange(0,1,0.02), first 80% train; nn.Linear, L1 loss, torch.optim.SGD lr 0.1; "
            "the textbook loop (zero_grad each epoch), which the article's account describes; "
            "--accumulate-grad runs its code exactly as printed, where that line is lost",
            RunConfig(
                preset="linear-module",
                points=50,
                noise=0.0,
                model="nn-linear",
                degree=1,
                loss="l1",
                optimizer="sgd",
                lr=0.1,
                epochs=100,
                seed=13,
                test_fraction=0.2,
            ),
        ),
        Preset(
            "linear-manual",
            "Deep Learning Basics with Pytorch - Part 3",
            "seed 004",
            "w*x+b on x=[1,2,3,4], y=[2,4,6,8] from w=b=0, hand-written gradient descent, lr 0.01, MSE",
            RunConfig(
                preset="linear-manual",
                points=4,
                noise=0.0,
                model="linear",
                degree=1,
                loss="mse",
                optimizer="gd",
                lr=0.01,
                epochs=100,
                seed=0,
            ),
        ),
    )
}


def starts_at_zero(config: RunConfig) -> bool:
    """Whether the run's parameters start at zero, as linear-manual's article starts them (unless `init` says
    otherwise); every other run draws them (gdtui.engine.models.build_model)."""
    return config.init is None and config.preset == "linear-manual" and config.model not in ("mlp", "nn-linear")


def resolve(preset: str | None = None, **overrides: Any) -> RunConfig:
    """The config of `preset` with every non-None override applied and checked."""
    name = preset or DEFAULT_PRESET
    if name not in PRESETS:
        raise ConfigError("preset", f"unknown preset {name!r}: choose one of {', '.join(PRESETS)}")
    config = PRESETS[name].config
    known = {f.name for f in fields(RunConfig)}
    changes: dict[str, Any] = {}
    for key, value in overrides.items():
        if value is None:
            continue
        if key not in known:
            raise ConfigError(key, f"unknown setting {key!r}")
        changes[key] = CHECKS[key](value) if key in CHECKS else value
    return check_combination(config.replace(**changes))
