"""Every key of the app and every entry of its command palette, each naming the action it runs.

Why: the keys are the app's whole surface; listed here in one place they read as a table, the help screen and
the footer are drawn from them, and the app itself keeps to what each action does. An action
`view('verb', ...)` runs a method of one of the app's views (`land`: the landscape, `race`: the lanes).
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from functools import partial
from typing import Any

from textual.app import SystemCommand
from textual.binding import Binding

from gdtui.engine.presets import PRESETS

KEYS = [
    # Short descriptions keep the whole footer within 80 columns; the help screen shows the tooltips.
    Binding("s", "step", "Step", tooltip="train one epoch"),
    Binding("space", "toggle_run", "Run", tooltip="run / pause"),
    Binding("r", "reset", "Reset", tooltip="reset to the initial parameters"),
    Binding("right_square_bracket", "lr(2.0)", "lr×2", key_display="]", tooltip="double the learning rate"),
    Binding("left_square_bracket", "lr(0.5)", "lr÷2", key_display="[", tooltip="halve the learning rate"),
    Binding("l", "toggle_log", "Log", tooltip="loss curve, log scale on / off"),
    Binding("w", "export", "Write", tooltip="write the run's history to a CSV file"),
    Binding("question_mark", "help", "Help", key_display="?", tooltip="this help"),
    Binding("q", "quit", "Quit", tooltip="quit"),
    Binding("ctrl+q", "quit", "Quit", show=False, priority=True, tooltip="quit"),
    Binding("ctrl+c", "quit", "Quit", show=False, priority=True, tooltip="quit"),
    # priority: an open dropdown would take escape for itself and keep the focus (space reopens it)
    Binding("escape", "leave_field", "Leave field", show=False, priority=True),
    Binding("t", "toggle_tab", "Plots", show=False, tooltip="predictions / loss curve / landscape / theory"),
    Binding("c", "code", "Code", show=False, tooltip="the focused lane as a PyTorch script (w writes it)"),
    Binding("o", "view('land', 'action_pair')", "Pair", show=False, tooltip="landscape: the next pair of parameters"),
    Binding(
        "O", "view('land', 'action_choose_pair')", "Choose pair", show=False, tooltip="landscape: type the pair, P1,P2"
    ),
    Binding(
        "plus,equals_sign",
        "view('land', 'action_zoom', 0.5)",
        "Zoom in",
        key_display="+",
        show=False,
        tooltip="landscape: zoom in",
    ),
    Binding(
        "minus",
        "view('land', 'action_zoom', 2.0)",
        "Zoom out",
        key_display="-",
        show=False,
        tooltip="landscape: zoom out",
    ),
    Binding("z", "view('land', 'action_recenter')", "Re-center", show=False, tooltip="landscape: center on the lane"),
    Binding("0", "view('land', 'action_fit')", "Fit", show=False, tooltip="landscape: every path and the minimum"),
    Binding("f", "view('land', 'action_lr_find')", "LR test", show=False, tooltip="LR range test of the focused lane"),
    Binding("v", "toggle_line", "Fit line", show=False, tooltip="predictions: the fitted function as a line"),
    Binding("W", "save_settings", "Save settings", show=False, tooltip="write every lane's settings as TOML"),
    Binding(
        "less_than_sign",
        "view('race', 'action_speed', 0.5)",
        "Slower",
        key_display="<",
        show=False,
        tooltip="halve the playback speed (epochs a second)",
    ),
    Binding(
        "greater_than_sign",
        "view('race', 'action_speed', 2.0)",
        "Faster",
        key_display=">",
        show=False,
        tooltip="double the playback speed (full speed past 100,000)",
    ),
    Binding(
        "a", "view('race', 'action_add_lane')", "Add lane", show=False, tooltip="add a lane (a copy of the focused one)"
    ),
    Binding(
        "b",
        "view('race', 'action_branch_lane')",
        "Branch",
        show=False,
        tooltip="branch the focused lane (epoch in view)",
    ),
    Binding("x", "view('race', 'action_remove_lane')", "Remove lane", show=False, tooltip="remove the focused lane"),
    *[Binding(str(n), f"view('race', 'action_focus_lane', {n})", f"Lane {n}", show=False) for n in range(1, 9)],
    Binding("p", "toggle_params", "Pane", show=False, tooltip="hide / show the hyperparameters pane"),
    Binding(
        "comma", "view('travel', 'action_back')", "Back", key_display=",", show=False, tooltip="view the epoch before"
    ),
    Binding(
        "full_stop",
        "view('travel', 'action_forward')",
        "Forward",
        key_display=".",
        show=False,
        tooltip="view the epoch after (past the latest: live)",
    ),
    Binding("g", "view('travel', 'action_goto')", "Go to epoch", show=False, tooltip="view an epoch: type it"),
    Binding("L", "view('travel', 'action_live')", "Live", show=False, tooltip="back to live, from an epoch in view"),
    Binding("B", "view('theory', 'action_best_lr')", "Best lr", show=False, tooltip="theory: apply the best lr"),
    Binding("M", "view('theory', 'action_best_pair')", "Best pair", show=False, tooltip="theory: the best lr and β"),
    Binding(
        "e",
        "view('travel', 'action_explain')",
        "Explain",
        show=False,
        tooltip="the step to the epoch in view explained",
    ),
]

# The help screen lists the number keys once.
LANE_KEYS_HELP = Binding("1-8", "noop", "focus lane N (or arrows in the table)")
HELP = [b for b in KEYS if b.action != "leave_field" and not b.action.startswith("view('race', 'action_focus_lane'")]
HELP.append(LANE_KEYS_HELP)

# The command palette's entries beside its presets and lanes: title, the key that does the same, the action.
PALETTE = [
    ("Step one epoch", "s", "step"),
    ("Run / pause", "space", "toggle_run"),
    ("Reset to the initial parameters", "r", "reset"),
    ("Double the learning rate", "]", "lr(2.0)"),
    ("Halve the learning rate", "[", "lr(0.5)"),
    ("Help: every key", "?", "help"),
    ("Hide / show the hyperparameters pane", "p", "toggle_params"),
    ("Switch between predictions, loss curve, landscape and theory", "t", "toggle_tab"),
    ("Landscape: the next pair of parameters", "o", "view('land', 'action_pair')"),
    ("Landscape: choose the pair by name", "O", "view('land', 'action_choose_pair')"),
    ("Landscape: zoom in", "+", "view('land', 'action_zoom', 0.5)"),
    ("Landscape: zoom out", "-", "view('land', 'action_zoom', 2.0)"),
    ("Landscape: re-center on the focused lane", "z", "view('land', 'action_recenter')"),
    ("Landscape: every path and the minimum", "0", "view('land', 'action_fit')"),
    ("LR range test of the focused lane", "f", "view('land', 'action_lr_find')"),
    ("Code: the focused lane as a PyTorch script", "c", "code"),
    ("Predictions: the fitted function as a line, or values", "v", "toggle_line"),
    ("Write every lane's settings as TOML", "W", "save_settings"),
    ("Toggle log-scale loss curve", "l", "toggle_log"),
    ("Write the run's history to CSV", "w", "export"),
    ("Time travel: view the epoch before", ",", "view('travel', 'action_back')"),
    ("Time travel: view the epoch after", ".", "view('travel', 'action_forward')"),
    ("Time travel: view an epoch (type it)", "g", "view('travel', 'action_goto')"),
    ("Time travel: back to live", "L", "view('travel', 'action_live')"),
    ("One step explained: the epoch in view's", "e", "view('travel', 'action_explain')"),
    ("Theory: apply the best lr to the focused lane", "B", "view('theory', 'action_best_lr')"),
    ("Theory: apply the best momentum pair (sgd) to the focused lane", "M", "view('theory', 'action_best_pair')"),
    ("Slower: halve the playback speed", "<", "view('race', 'action_speed', 0.5)"),
    ("Faster: double the playback speed", ">", "view('race', 'action_speed', 2.0)"),
    ("Figure: predictions against the data, as a PNG (gdtui figure)", "PNG", "view('settings', 'figure', 'preds')"),
    ("Figure: the loss curve, as a PNG (gdtui figure)", "PNG", "view('settings', 'figure', 'loss')"),
    ("Figure: the landscape, as a PNG (gdtui figure)", "PNG", "view('settings', 'figure', 'landscape')"),
]


def palette_commands(apply: Callable[[str, object], None], run_action: Callable[[str], Any]) -> Iterator[SystemCommand]:
    """The palette's presets (each applied as the pane would) and its PALETTE entries (each run as its key)."""
    for name, preset in PRESETS.items():
        yield SystemCommand(f"Preset: {name}", preset.summary, partial(apply, "preset", name))
    for title, key, action in PALETTE:
        yield SystemCommand(title, key, partial(run_action, action))
