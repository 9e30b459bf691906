"""Regenerate screenshots/*.svg: the app as a user sees it, driven from the keyboard with Pilot.

Run: python scripts/screenshots.py [NAME...]   (writes screenshots/main, done, linear-module, loss-curve,
diverged, small, small-no-pane, help, race, race-curve, landscape, lr-find, mlp, formula, batches, code, travel,
step and theory .svg; only the NAMEs given, if any)
"""

from __future__ import annotations

import asyncio
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from gdtui.engine import resolve  # noqa: E402
from gdtui.tui.app import GdtuiApp  # noqa: E402
from tests.tui_helpers import drawn, ready, wait_for  # noqa: E402

OUT = ROOT / "screenshots"
ONLY = set(sys.argv[1:])


async def shoot(
    name: str, config, size, keys: str = "", until=None, tab: str | None = None, lanes=(), then: str = "", shown=None
) -> None:
    """Press `keys`, wait `until`, show `tab`, press `then` and wait until `shown`, then take the screenshot."""
    if ONLY and name not in ONLY:
        return
    app = GdtuiApp(config, lanes=list(lanes))
    async with app.run_test(size=size) as pilot:
        await ready(pilot)
        await wait_for(pilot, lambda: len(app.race.lanes) == 1 + len(lanes), what="the lanes")
        for key in keys.split():
            await pilot.press(key)
            await pilot.pause(0.2)
        if until is not None:
            await wait_for(pilot, lambda: until(app), what=name)
        if tab:
            app.query_one("#plots").active = tab
        for key in then.split():
            await pilot.press(key)
            await pilot.pause(0.3)
        if shown is not None:
            await wait_for(pilot, lambda: shown(app), what=name)
        await drawn(pilot)
        path = app.save_screenshot(filename=f"{name}.svg", path=str(OUT))
        print("wrote", path)


async def main() -> None:
    OUT.mkdir(exist_ok=True)
    await shoot("main", resolve("fastai-quadratic"), (120, 36), "s s s", lambda a: a.query_one("#log").rows == 3)
    await shoot("done", resolve("qiita-quadratic"), (120, 36), "space", lambda a: a.state == "done")
    await shoot("linear-module", resolve("linear-module"), (120, 36), "space", lambda a: a.state == "done")
    await shoot("loss-curve", resolve("linear-manual"), (120, 36), "space l", lambda a: a.state == "done")
    await shoot(
        "diverged", resolve("fastai-quadratic", lr=1.0, epochs=100), (120, 36), "space", lambda a: a.state == "diverged"
    )
    await shoot("small", resolve("fastai-quadratic"), (80, 24), "s s s", lambda a: a.query_one("#log").rows == 3)
    await shoot("small-no-pane", resolve("linear-module"), (80, 24), "space p", lambda a: a.state == "done")
    await shoot("help", resolve("fastai-quadratic"), (120, 36), "question_mark")
    race = resolve("qiita-quadratic", epochs=300)
    await shoot(
        "race",
        race,
        (120, 36),
        "space",
        lambda a: a.state == "done" and len(a.race.lanes) == 4,
        lanes=[
            race.replace(lr=5e-5),
            race.replace(optimizer="sgd", momentum=0.9, lr=2e-5),
            race.replace(optimizer="adam", lr=0.05),
        ],
    )
    await shoot(
        "race-curve",
        race,
        (120, 36),
        "space l",
        lambda a: a.state == "done" and len(a.race.lanes) == 4,
        tab="tab-curve",
        lanes=[
            race.replace(lr=5e-5),
            race.replace(optimizer="sgd", momentum=0.9, lr=2e-5),
            race.replace(optimizer="adam", lr=0.05),
        ],
    )
    valley = resolve("fastai-quadratic", epochs=120)
    await shoot(
        "landscape",
        valley,
        (120, 36),
        "space",
        lambda a: a.state in ("done", "diverged") and all(lane.epoch == 120 for lane in a.race.lanes.lanes),
        tab="tab-land",
        lanes=[valley.replace(lr=3e-5), valley.replace(lr=4e-5)],
        then="p",
        shown=lambda a: a.land.grid is not None and len(a.land.paths) == 3 and a.land.asked is not None,
    )
    await shoot(
        "lr-find",
        resolve("fastai-quadratic"),
        (120, 36),
        then="f",
        shown=lambda a: type(a.screen).__name__ == "LrFindScreen",
    )
    sine = resolve(
        "fastai-quadratic", data="sine", points=60, noise=0.3, model="mlp", hidden=(16,), optimizer="adam", lr=0.02
    )
    await shoot("mlp", sine.replace(epochs=600), (120, 36), "space", lambda a: a.state == "done")
    wave = resolve(
        "fastai-quadratic",
        data="sine",
        points=60,
        noise=0.5,
        model="a * sin(b * x) + c",
        init=(1.0, 0.6, 0.0),
        optimizer="adam",
        lr=0.05,
        epochs=300,
    )
    await shoot("formula", wave, (120, 36), "space", lambda a: a.state == "done")
    await shoot(
        "batches",
        resolve("qiita-quadratic", batch_size=4, epochs=80, lr=1e-4),
        (120, 36),
        "space",
        lambda a: a.state == "done",
    )
    await shoot(
        "code",
        resolve("linear-manual", epochs=20),
        (120, 36),
        "s s s s s right_square_bracket c",
        lambda a: "if epoch == 6" in getattr(a.screen, "text", ""),
        then="end",
    )
    journey = resolve("qiita-quadratic", epochs=200)
    await shoot(
        "travel",
        journey,
        (120, 36),
        "space",
        lambda a: a.state == "done",
        then="g 4 0 enter",
        shown=lambda a: a.travel.shown is not None and a.travel.shown.epoch == 40,
    )
    await shoot(
        "step",
        journey.replace(optimizer="adam", lr=0.5),
        (120, 36),
        "space",
        lambda a: a.state == "done",
        then="g 4 0 enter e",
        shown=lambda a: getattr(a.screen, "step", None) is not None,
    )
    await shoot(
        "theory",
        resolve("fastai-quadratic", epochs=200),
        (120, 36),
        "space",
        lambda a: a.state == "done",
        tab="tab-theory",
        then="p",
        shown=lambda a: a.theory.known is not None and a.theory.plot.now == 200,
    )


if __name__ == "__main__":
    asyncio.run(main())
