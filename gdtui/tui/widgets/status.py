"""The status line: state word, epoch, device, speed and lr (beside the focused lane's lr limit, where one holds),
and what to do when a run diverged or its process ended.

Why: over SSH a user must see at a glance whether training runs, where it is and how fast.
"""

from __future__ import annotations

import os

from textual.reactive import reactive
from textual.widgets import Static

from gdtui.engine.config import RunConfig
from gdtui.engine.limits import PLAIN, SHORT, notes, relative_limit

STATES = ("loading", "reading", "ready", "running", "paused", "done", "diverged", "ended")
# Why a run is done, when a stop rule ended it before its epoch budget (Trainer.stop_reason).
STOP_RULES = {"target-rmse": "target RMSE reached", "patience": "loss stopped improving (patience)"}


class StatusLine(Static):
    state = reactive("loading")
    epoch = reactive(0)
    epochs = reactive(0)
    device = reactive("")
    speed = reactive(0.0)
    pace: reactive[float | None] = reactive(None)  # the playback speed asked (< and >), None: as fast as it trains
    # Set from the app's config whenever it may have changed (app._show_status): always a redraw, so the limit,
    # which depends on the optimizer and momentum read from that config, follows a live change of either.
    lr = reactive(0.0, always_update=True)
    # a scheduled run's lr: its last epoch's, as the schedule set it (the race view sets it from each report of the
    # focused lane); None: the config's lr is the run's
    scheduled_lr: reactive[float | None] = reactive(None)
    # plain gradient descent's 2/λmax for the focused lane (its curvature, from the session); the limit shown is
    # the focused optimizer's, a multiple of it
    limit: reactive[float | None] = reactive(None)
    uncomputed = reactive(False)  # the focused lane's curvature ran out of its time budget
    stopped = reactive("")  # the focused lane's stop reason, from the lanes model
    viewing: reactive[tuple[int, int] | None] = reactive(None)  # time travel: (epoch in view, latest), None: live
    theory_off: reactive[int | None] = reactive(None)  # the epoch the run left the theory's prediction (Theory view)
    reading = reactive(("", 0.0))  # the CSV file the session reads before a run starts on it, and how far

    def show_reading(self, path: str, fraction: float) -> None:
        self.reading = (os.path.basename(path) or path, fraction)
        self.state = "reading"

    def why_over(self) -> str | None:
        """What to do when the run can train no further (its budget spent, a stop rule, diverged); else None."""
        if self.state == "done" and self.stopped in STOP_RULES:
            return "A stop rule ended the run (target or patience): r resets it."
        if self.state == "done":
            return "The epoch budget is spent: raise epochs, or r to reset."
        if self.state == "diverged":
            return "The run diverged: press r to reset, and try a smaller lr."
        return None

    def render(self) -> str:
        """Every field, in as many words as the line's width holds: the separators narrow first, then each field
        takes its short form (a field is shortened, never dropped; only a line still too long is cut)."""
        width = self.content_size.width
        text = ""
        for level, separator in enumerate(("  │  ", " │ ", " │ ")):
            text = separator.join(self._fields(short=level == 2))
            if not width or len(text) <= width:
                break
        return text

    def _head(self, short: bool) -> str:
        if self.state == "loading":
            return "loading torch…"
        if self.state == "reading":
            name, fraction = self.reading
            return (
                f"reading {name} {fraction:.0%} (esc)" if short else f"reading {name}… {fraction:.0%} (escape cancels)"
            )
        if self.state == "diverged":
            if short:
                return "diverged (r resets)"  # at the epoch the next field gives
            return f"diverged at epoch {self.epoch} — try a smaller lr (r resets)"
        if self.state == "ended":
            return "process ended (r)" if short else "training process ended — r restarts it"
        if self.state == "done" and self.stopped in STOP_RULES:
            return f"done: {self.stopped}" if short else f"done — {STOP_RULES[self.stopped]}"
        return self.state

    def _config(self) -> RunConfig | None:
        """The focused lane's settings, as the app holds them (the lr shown is theirs); None outside the app."""
        config = getattr(self.app, "config", None) if self.is_attached else None
        return config if isinstance(config, RunConfig) else None

    def _lr(self, short: bool) -> str:
        """The lr, and beside it the limit of the focused lane's optimizer (gdtui.engine.limits) where one holds:
        2/λmax for gd and plain sgd, (2+2β)/λmax with heavy-ball momentum, 2(1+β)/((1+2β)λmax) with Nesterov's,
        none for an adaptive optimizer; "(local)" for an mlp, "(full batch)" with mini-batches. Without the app's
        config (a status line on its own), plain gradient descent's."""
        now = self.lr if self.scheduled_lr is None else self.scheduled_lr
        lr = f"lr {now:g}"
        config = self._config()
        found = (1.0, PLAIN) if config is None else relative_limit(config)
        if found is None:
            return lr
        factor, form = found
        label = SHORT[form] if short else form
        if self.uncomputed:
            return lr + (f" {label} ?" if short else "  curvature not computed")
        if self.limit is None:
            return lr
        limit = factor * self.limit
        compare = ">" if now > limit else "<"
        lr += f"{compare}{label} {limit:.3g}" if short else f" {compare} {label} {limit:.3g}"
        said = notes(config) if config is not None else ()
        return lr + (f" ({', '.join(said)})" if said else "")

    def _fields(self, short: bool) -> list[str]:
        # lr before device: on a narrow terminal the end of the line is what is cut
        lr = self._lr(short)
        parts = [self._head(short), f"{'ep' if short else 'epoch'} {self.epoch}/{self.epochs}", lr]
        if self.viewing is not None:
            at, latest = self.viewing
            parts.insert(1, f"at {at:,}/{latest:,} (L)" if short else f"viewing epoch {at:,} of {latest:,} · live: L")
        if self.theory_off is not None:
            off = self.theory_off
            parts.insert(-1, f"≠theory@{off:,}" if short else f"the run left the theory at epoch {off:,}")
        if self.state == "running":
            parts.append(f"{self.speed:,.0f} {'ep' if short else 'epochs'}/s")
        if self.pace is not None:
            parts.append(f"≤{self.pace:g}/s" if short else f"speed {self.pace:g} ep/s (< >)")
        device = self.device or "…"
        parts.append(device if short else f"device {device}")
        return parts
