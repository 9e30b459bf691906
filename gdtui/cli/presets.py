"""`gdtui presets`: the presets, their articles and settings.

Why: a learner picks the article beside them by name; this lists the engine's table (torch-free, instant).
"""

from __future__ import annotations

import click

from gdtui.engine.presets import PRESETS


@click.command()
def presets() -> None:
    """List the presets, their articles and settings."""
    for preset in PRESETS.values():
        c = preset.config
        click.echo(f"{preset.name}  ({preset.source})")
        click.echo(f"  article: {preset.article}")
        click.echo(f"  {preset.summary}")
        settings = (
            f"model={c.model} loss={c.loss} optimizer={c.optimizer} lr={c.lr:g} epochs={c.epochs} "
            f"seed={c.seed} points={c.points}"
        )
        if c.test_fraction:
            settings += f" test-fraction={c.test_fraction:g}"
        click.echo(f"  {settings}\n")
