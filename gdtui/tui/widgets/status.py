"""The status line: state word, epoch, device, speed and lr, and what to do when a run diverged or its process ended.

Why: over SSH a user must see at a glance whether training runs, where it is and how fast.
"""

from __future__ import annotations

import os

from textual.reactive import reactive
from textual.widgets import Static

STATES = ("loading", "reading", "ready", "running", "paused", "done", "diverged", "ended")
# Why a run is done, when a stop rule ended it before its epoch budget (Trainer.stop_reason).
STOP_RULES = {"target-rmse": "target RMSE reached", "patience": "loss stopped improving (patience)"}


class StatusLine(Static):
    state = reactive("loading")
    epoch = reactive(0)
    epochs = reactive(0)
    device = reactive("")
    speed = reactive(0.0)
    lr = reactive(0.0)
    limit: reactive[float | None] = reactive(None)  # plain gradient descent's 2/λmax for the focused lane
    uncomputed = reactive(False)  # the focused lane's curvature ran out of its time budget
    stopped = reactive("")  # the focused lane's stop reason, from the lanes model
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
        if self.state == "loading":
            head = "loading torch…"
        elif self.state == "reading":
            head = f"reading {self.reading[0]}… {self.reading[1]:.0%} (escape cancels)"
        elif self.state == "diverged":
            head = f"diverged at epoch {self.epoch} — try a smaller lr (r resets)"
        elif self.state == "ended":
            head = "training process ended — r restarts it"
        elif self.state == "done" and self.stopped in STOP_RULES:
            head = f"done — {STOP_RULES[self.stopped]}"
        else:
            head = self.state
        # lr before device: on a narrow terminal the end of the line is what is cut
        lr = f"lr {self.lr:g}"
        if self.uncomputed:
            lr += "  curvature not computed"
        elif self.limit is not None:
            lr += f" {'>' if self.lr > self.limit else '<'} 2/λmax {self.limit:.3g}"
        parts = [head, f"epoch {self.epoch}/{self.epochs}", lr]
        if self.state == "running":
            parts.append(f"{self.speed:,.0f} epochs/s")
        parts.append(f"device {self.device or '…'}")
        return "  │  ".join(parts)
