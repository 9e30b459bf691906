"""The Textual app: a thin shell that lays out the panes, maps keys to session commands and redraws.

Why: training lives in a session process (gdtui.engine.session), so this module only translates keys into
commands and replies into widgets. Log rows are written as each chunk arrives; the plots are redrawn on a
timer at most ten times a second (less when a frame is slow), so a fast run never floods the screen.
"""

from __future__ import annotations

import asyncio
import functools
import math
import os
import signal
import time
from collections.abc import Callable, Iterator
from datetime import datetime
from typing import TypeVar, cast

from textual import events, on
from textual.actions import SkipAction
from textual.app import App, ComposeResult, SystemCommand
from textual.binding import Binding
from textual.containers import Horizontal, Vertical
from textual.css.query import NoMatches
from textual.geometry import Size
from textual.message import Message
from textual.screen import Screen
from textual.widget import Widget
from textual.widgets import Footer, Select, Static, TabbedContent, TabPane

from gdtui.engine.config import LIVE_FIELDS, MAX_LR, ConfigError, RunConfig, check_combination, resolve
from gdtui.engine.history import claim_new, write_atomic
from gdtui.engine.presets import PRESETS
from gdtui.engine.vary import VARY_FIELDS
from gdtui.tui import messages
from gdtui.tui.asked import Asked
from gdtui.tui.client import SessionClient
from gdtui.tui.code_view import CodeControl
from gdtui.tui.landscape_view import ZOOM, LandscapeControl
from gdtui.tui.race_view import RaceView
from gdtui.tui.widgets.help import HelpScreen
from gdtui.tui.widgets.hyperparams import HyperParams
from gdtui.tui.widgets.landscape import LandscapeView
from gdtui.tui.widgets.lanes_table import LanesTable
from gdtui.tui.widgets.lr_find import LrFindScreen
from gdtui.tui.widgets.palette import SafeCommandPalette
from gdtui.tui.widgets.plots import LossCurve, PredictionPlot
from gdtui.tui.widgets.rmse_log import RmseLog
from gdtui.tui.widgets.status import StatusLine

ReplyT = TypeVar("ReplyT", bound=Message)


def session_reply(handler: Callable[[GdtuiApp, ReplyT], None]) -> Callable[[GdtuiApp, ReplyT], None]:
    """A handler of a session reply: replies still queued while the app shuts its screens down are dropped."""

    @functools.wraps(handler)
    def handle(self: GdtuiApp, event: ReplyT) -> None:
        if self._exit:
            return
        try:
            handler(self, event)
        except NoMatches:
            pass  # the panes are already gone: the app is closing

    return handle


LANE_KEYS_HELP = Binding("1-8", "noop", "focus lane N (or arrows in the table)")
ARTICLE_YLIM = {"fastai-quadratic": (-100.0, 100.0), "qiita-quadratic": (-75.0, 120.0)}
MIN_SIZE = (60, 18)
FRAME = 0.1


class GdtuiApp(App[None]):
    """gdtui: watch and steer gradient descent."""

    CSS_PATH = "app.tcss"
    TITLE = "gdtui"
    BINDINGS = [
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
        Binding("t", "toggle_tab", "Plots", show=False, tooltip="predictions / loss curve / landscape"),
        Binding("c", "code", "Code", show=False, tooltip="the focused lane as a PyTorch script (w writes it)"),
        Binding("o", "landscape_pair", "Pair", show=False, tooltip="landscape: the next pair of parameters"),
        Binding("O", "landscape_choose_pair", "Choose pair", show=False, tooltip="landscape: type the pair, P1,P2"),
        Binding(
            "plus,equals_sign",
            "landscape_zoom(0.5)",
            "Zoom in",
            key_display="+",
            show=False,
            tooltip="landscape: zoom in",
        ),
        Binding("minus", "landscape_zoom(2.0)", "Zoom out", key_display="-", show=False, tooltip="landscape: zoom out"),
        Binding("z", "landscape_recenter", "Re-center", show=False, tooltip="landscape: center on the lane"),
        Binding("0", "landscape_fit", "Fit", show=False, tooltip="landscape: every path and the minimum"),
        Binding("f", "lr_find", "LR test", show=False, tooltip="LR range test of the focused lane"),
        Binding("v", "toggle_line", "Fit line", show=False, tooltip="predictions: the fitted function as a line"),
        Binding("W", "save_settings", "Save settings", show=False, tooltip="write every lane's settings as TOML"),
        Binding("a", "add_lane", "Add lane", show=False, tooltip="add a lane (a copy of the focused one)"),
        Binding(
            "b",
            "branch_lane",
            "Branch",
            show=False,
            tooltip="branch the focused lane (epoch in view)",
        ),
        Binding("x", "remove_lane", "Remove lane", show=False, tooltip="remove the focused lane"),
        *[Binding(str(n), f"focus_lane({n})", f"Lane {n}", show=False) for n in range(1, 9)],
        Binding(
            "p",
            "toggle_params",
            "Pane",
            show=False,
            tooltip="hide / show the hyperparameters pane",
        ),
    ]

    AUTO_FOCUS = "#log"

    def __init__(
        self,
        config: RunConfig | None = None,
        start: bool = False,
        session: SessionClient | None = None,
        lanes: list[RunConfig] | None = None,
    ) -> None:
        """`session`: a SessionClient already spawned with `config` (the CLI starts it before loading Textual);
        `lanes`: more lanes to race beside `config`'s (`gdtui --vary`)."""
        super().__init__()
        self.extra_lanes = list(lanes or [])
        self.config = config or resolve()
        self.start_running = start
        self.session = session or SessionClient()
        self.state = "loading"
        self.asked = Asked()
        self._seen = 0  # commands the session has obeyed
        self.race = RaceView(self)
        self.land = LandscapeControl(self)
        self.code = CodeControl(self)
        self._dirty = False
        self._last_frame = 0.0
        self._speed_mark = (time.monotonic(), 0)
        self._restarting: str | None = None

    def compose(self) -> ComposeResult:
        with Horizontal(id="main"):
            yield HyperParams(self.config, id="params")
            with Vertical(id="right"):
                with TabbedContent(id="plots"):
                    with TabPane("Predictions", id="tab-preds"):
                        yield PredictionPlot(id="plot")
                    with TabPane("Loss curve", id="tab-curve"):
                        yield LossCurve(id="curve")
                    with TabPane("Landscape", id="tab-land"):
                        yield LandscapeView(id="land")
                yield LanesTable(id="lanes")
                yield RmseLog(id="log")
        yield Static("terminal too small for gdtui: make it at least 60×18", id="too-small")
        yield StatusLine(id="status")
        yield Footer(compact=True)

    # lifecycle ------------------------------------------------------------------------------------------

    def on_mount(self) -> None:
        # Held, not queried: replies keep arriving while a modal screen is on top or the app shuts down.
        self.params = self.query_one(HyperParams)
        self.plot = self.query_one(PredictionPlot)
        self.curve = self.query_one(LossCurve)
        self.landscape = self.query_one(LandscapeView)
        self.log_view = self.query_one(RmseLog)
        self.status = self.query_one(StatusLine)
        self.tabs = self.query_one(TabbedContent)
        self.lanes_table = self.query_one(LanesTable)
        self.lanes_table.display = False
        self.log_view.border_title = "RMSE log"
        self._show_status()
        self._check_size()
        self.set_interval(FRAME / 2, self._frame)
        if self.session.conn is None:
            self.session.spawn(self.config)
        self.session.attach(self)
        for lane in self.extra_lanes:  # each with all its own settings: whichever lane it copies
            self.session.send("add", {name: getattr(lane, name) for name in VARY_FIELDS})
        if self.extra_lanes:
            self.session.send("focus", 0)
        if self.start_running:
            self.asked.running = True
            self.session.send("run")
        loop = asyncio.get_running_loop()
        for sig in (signal.SIGTERM, signal.SIGHUP):
            try:
                loop.add_signal_handler(sig, self.exit)
            except (NotImplementedError, RuntimeError, ValueError):
                pass

    def on_unmount(self) -> None:
        self.session.stop()

    def _handle_exception(self, error: Exception) -> None:
        # Quitting while the hyperparameters form is still being mounted (the first tenth of a second)
        # removes a Select's parts before its own mount handler looks them up: nothing is lost, so no
        # traceback for a user who quit.
        if (self._exit or not self.is_running) and isinstance(error, NoMatches):
            return
        super()._handle_exception(error)

    def on_resize(self, event: events.Resize) -> None:
        self._check_size(event.size)
        self._dirty = True  # the plot title is fitted to the plot's width when it is drawn

    def _check_size(self, size: Size | None = None) -> None:
        size = size or self.size
        small = size.width < MIN_SIZE[0] or size.height < MIN_SIZE[1]
        if self.screen_stack:
            self.screen_stack[0].set_class(small, "too-small")

    # keys -----------------------------------------------------------------------------------------------

    async def _on_key(self, event: events.Key) -> None:
        # Keys typed just before quitting are still queued while the app shuts its screens down; Textual's
        # own handler (called after this one) would look up bindings on an empty screen stack and fail.
        if self._exit or not self.screen_stack:
            event.prevent_default()

    def action_step(self) -> None:
        if not self._session_gone() and not self._run_over():
            self.asked.running = False  # a step pauses a running run
            self.session.send("step")

    def action_toggle_run(self) -> None:
        if self._session_gone():
            return
        if self.asked.is_running(self.state):
            self.asked.running = False
            self.session.send("pause")
        elif not self._run_over():
            self.asked.running = True
            self.session.send("run")

    def _run_over(self) -> bool:
        """Whether the run can train no further (its budget spent, or diverged); if so, say what to do."""
        if self.state == "done" and self.status.stopped in ("target-rmse", "patience"):
            self.notify("A stop rule ended the run (target or patience): r resets it.", title="done")
        elif self.state == "done":
            self.notify("The epoch budget is spent: raise epochs, or r to reset.", title="done")
        elif self.state == "diverged":
            self.notify("The run diverged: press r to reset, and try a smaller lr.", severity="warning")
        return self.state in ("done", "diverged")

    def action_reset(self) -> None:
        if self.state == "ended":
            self._restart(self.config)
        else:
            self.asked.running = False
            self.session.send("reset")

    def _restart(self, config: RunConfig) -> None:
        """A new session process for `config`, after the last one ended."""
        self.session.stop()
        self.config = config
        self.asked.clear()
        self._seen = 0
        self._set_state("loading", 0)
        self.session.spawn(config)
        self.session.attach(self)
        self.notify("A new training process starts from epoch 0.", title="restart")

    def _session_gone(self) -> bool:
        if self.state == "ended":
            self.notify("The training process ended: press r to start a new one.", severity="warning")
        return self.state == "ended"

    def action_lr(self, factor: float) -> None:
        lr = self.asked.value("lr", self.config.lr) * factor
        if not 0 < lr <= MAX_LR or not math.isfinite(lr):
            self.notify(f"lr {lr:g} is out of range", severity="warning")
            return
        self._apply("lr", lr)

    def action_toggle_log(self) -> None:
        self.curve.log_scale = not self.curve.log_scale
        self.tabs.active = "tab-curve"
        self._dirty = True

    def action_export(self) -> None:
        if self._session_gone():
            return
        if self.status.epoch == 0 or self.state == "loading":
            self.notify("No epoch has run yet: nothing to write.", title="history")
            return
        stamp = datetime.now().strftime("%Y%m%d-%H%M%S")
        base = os.path.abspath(f"gdtui-{self.config.preset}-{stamp}")
        self.session.send("export", f"{base}.csv")  # the session claims a new name: -2, -3... if it is taken

    def action_save_settings(self) -> None:
        """Every lane's settings as TOML that `gdtui --config FILE` loads back to the same race."""
        from gdtui.engine.tomlconfig import dump

        configs = [lane.config for lane in self.race.lanes.lanes] or [self.config]
        stamp = datetime.now().strftime("%Y%m%d-%H%M%S")
        path = claim_new(os.path.abspath(f"gdtui-{self.config.preset}-{stamp}.toml"))
        try:
            write_atomic(path, dump(configs))
        except OSError as error:
            self.notify(f"{path}: {error.strerror or error}", title="settings not written", severity="error")
            return
        self.notify(f"{len(configs)} lane{'s' if len(configs) != 1 else ''} written to {path}", title="settings saved")

    def action_toggle_line(self) -> None:
        self.plot.show_line = not self.plot.show_line
        self.tabs.active = "tab-preds"
        self._dirty = True

    def action_help(self) -> None:
        self.push_screen(
            HelpScreen(
                [
                    b
                    for b in self.BINDINGS
                    if isinstance(b, Binding) and b.action != "leave_field" and not b.action.startswith("focus_lane(")
                ]
                + [LANE_KEYS_HELP]
            )
        )  # help lists escape

    def action_code(self) -> None:
        self.code.toggle()

    def action_toggle_tab(self) -> None:
        order = ["tab-preds", "tab-curve", "tab-land"]
        self.tabs.active = order[(order.index(self.tabs.active) + 1) % 3] if self.tabs.active in order else order[0]

    @on(TabbedContent.TabActivated)
    def _tab_shown(self, event: TabbedContent.TabActivated) -> None:
        self.land.set_shown(self.tabs.active == "tab-land")
        self._dirty = True

    def action_landscape_pair(self) -> None:
        self.land.action_pair()

    def action_landscape_choose_pair(self) -> None:
        self.land.action_choose_pair()

    def action_landscape_zoom(self, factor: float) -> None:
        self.land.action_zoom(factor)

    def action_landscape_recenter(self) -> None:
        self.land.action_recenter()

    def action_landscape_fit(self) -> None:
        self.land.action_fit()

    def action_lr_find(self) -> None:
        self.land.action_lr_find()
        self._dirty = True

    def _in_params(self) -> bool:
        """Whether the focus is on a field of the hyperparameters pane."""
        return self._params_field() is not None

    def _params_field(self) -> Widget | None:
        """The focused widget, if it is a field of the hyperparameters pane (else None)."""
        focused = self.focused if self.screen_stack else None
        return focused if focused is not None and self.params in focused.ancestors_with_self else None

    def action_toggle_params(self) -> None:
        shown = not self.params.display
        if not shown and self._in_params():
            self.log_view.focus()
        self.params.display = shown
        self._dirty = True

    def action_leave_field(self) -> None:
        stack = self.screen_stack
        focused = self._params_field()
        if focused is None or stack[-1] is not stack[0]:
            raise SkipAction()  # escape is the help screen's, the palette's, or nobody's
        for select in focused.ancestors_with_self:
            if isinstance(select, Select):
                select.expanded = False
        self.log_view.focus()

    def action_command_palette(self) -> None:
        # Textual types is_open's argument App[object], and App's return type is invariant: an App[None] is refused.
        if self.use_command_palette and not SafeCommandPalette.is_open(self):  # type: ignore[arg-type]
            self.push_screen(SafeCommandPalette(id="--command-palette"))

    def get_system_commands(self, screen: Screen) -> Iterator[SystemCommand]:
        yield from super().get_system_commands(screen)
        for name, preset in PRESETS.items():
            yield SystemCommand(f"Preset: {name}", preset.summary, lambda n=name: self._apply("preset", n))
        yield SystemCommand("Step one epoch", "s", self.action_step)
        yield SystemCommand("Run / pause", "space", self.action_toggle_run)
        yield SystemCommand("Reset to the initial parameters", "r", self.action_reset)
        yield SystemCommand("Double the learning rate", "]", lambda: self.action_lr(2.0))
        yield SystemCommand("Halve the learning rate", "[", lambda: self.action_lr(0.5))
        yield SystemCommand("Help: every key", "?", self.action_help)
        yield SystemCommand("Hide / show the hyperparameters pane", "p", self.action_toggle_params)
        yield SystemCommand("Switch between predictions, loss curve and landscape", "t", self.action_toggle_tab)
        yield SystemCommand("Landscape: the next pair of parameters", "o", self.action_landscape_pair)
        yield SystemCommand("Landscape: choose the pair by name", "O", self.action_landscape_choose_pair)
        yield SystemCommand("Landscape: zoom in", "+", lambda: self.action_landscape_zoom(1 / ZOOM))
        yield SystemCommand("Landscape: zoom out", "-", lambda: self.action_landscape_zoom(ZOOM))
        yield SystemCommand("Landscape: re-center on the focused lane", "z", self.action_landscape_recenter)
        yield SystemCommand("Landscape: every path and the minimum", "0", self.action_landscape_fit)
        yield SystemCommand("LR range test of the focused lane", "f", self.action_lr_find)
        yield SystemCommand("Code: the focused lane as a PyTorch script", "c", self.action_code)
        yield SystemCommand("Predictions: the fitted function as a line, or values", "v", self.action_toggle_line)
        yield SystemCommand("Write every lane's settings as TOML", "W", self.action_save_settings)
        yield SystemCommand("Toggle log-scale loss curve", "l", self.action_toggle_log)
        yield SystemCommand("Write the run's history to CSV", "w", self.action_export)
        yield from self.race.lane_commands()

    # changes from the hyperparameters pane --------------------------------------------------------------

    @on(messages.FieldChanged)
    def _field_changed(self, event: messages.FieldChanged) -> None:
        self._apply(event.field, event.value)

    def _apply(self, field: str, value: object) -> None:
        ended = self.state == "ended"
        if field in LIVE_FIELDS and not ended:
            self.asked.live[field] = value
            self.session.send("update", {field: value})
            return
        try:
            if field == "preset":
                config = resolve(cast(str, value), **self._overrides())  # a preset's value is its name
            else:
                # on what was last asked: a `]` the session has not confirmed yet is part of the new run
                config = check_combination(self.config.replace(**{**self.asked.live, field: value}))
        except ConfigError as error:  # a combination the engine refuses
            self.notify(f"{error.field}: {error.message}", title="not applied", severity="error")
            self.params.set_config(self.config, revert=field)
            return
        if ended:  # the change is what a new process starts from (say, device cpu after CUDA ran out of memory)
            self._restart(config)
            return
        self._restarting = field  # the notice waits for the session to accept the change
        self.asked.running = False
        self.asked.live = {name: getattr(config, name) for name in LIVE_FIELDS}  # the new run's, from now on
        self.session.send("config", config)

    def _overrides(self) -> dict[str, str]:
        return {"device": self.config.device}

    # replies from the session ---------------------------------------------------------------------------

    @session_reply
    def on_session_ready(self, event: messages.SessionReady) -> None:
        info = event.info
        self.config = info.config
        self.params.set_config(self.config)
        ylim = ARTICLE_YLIM.get(self.config.preset) if self.config.data == "article" else None
        self.plot.set_data(info.x, info.y, info.n_train, ylim)
        self.plot.line_x = list(info.line_x)
        self.curve.clear()
        self.log_view.reset_rows(info.has_test)
        self.plot.set_preds(info.preds)
        self.status.device = info.device
        self.status.epoch = 0
        self.land.on_ready(info.names)
        self._dirty = True
        self.sub_title = f"{self.config.preset} · {info.label} · {info.n_points:,} points"
        self._show_status()
        if self._restarting:
            self.notify(f"{self._restarting} changed: the run restarts from epoch 0", title="reset")
            self._restarting = None
        self.code.refresh()
        if info.warnings:
            more = f" (and {len(info.warnings) - 3} more)" if len(info.warnings) > 3 else ""
            self.notify("\n".join(info.warnings[:3]) + more, title="data", severity="warning", timeout=15)

    @session_reply
    def on_session_state(self, event: messages.SessionState) -> None:
        self._set_state(event.state, event.epoch)

    @session_reply
    def on_results(self, event: messages.Results) -> None:
        chunk = event.chunk
        self.log_view.add_chunk(chunk)
        self.curve.extend(chunk.rmse)
        self.plot.set_preds(chunk.preds)
        self.race.lanes.extend(self.race.lanes.focus, chunk)
        self.land.extend(self.race.lanes.focus, chunk)
        self.race.dirty = self._dirty = True
        self._set_state(event.state, chunk.last)

    @session_reply
    def on_config_applied(self, event: messages.ConfigApplied) -> None:
        self.config = event.config
        self.race.config_applied(event.config)
        self.params.set_config(self.config)
        self._show_status()
        self.code.refresh()

    @session_reply
    def on_session_error(self, event: messages.SessionError) -> None:
        # a missing device is worth a long look: the run goes on (or starts) on the device it already had
        timeout = 20 if event.field == "device" else 6
        self._restarting = None
        self.asked.live.pop(event.field, None)
        text = event.message if event.message.startswith(event.field) else f"{event.field}: {event.message}"
        self.notify(text, title="not applied", severity="error", timeout=timeout)
        self.params.set_config(self.config, revert=event.field)

    @session_reply
    def on_session_seen(self, event: messages.SessionSeen) -> None:
        self._seen = event.count
        if event.count >= self.session.sent:  # the session has obeyed all that was asked: its state stands
            self.asked.clear()

    @session_reply
    def on_lanes_changed(self, event: messages.LanesChanged) -> None:
        self.race.on_lanes_changed(event)
        self.code.refresh()

    @session_reply
    def on_lane_results(self, event: messages.LaneResults) -> None:
        self.race.on_lane_results(event)
        for lane_id, chunk in event.chunks.items():
            self.land.extend(lane_id, chunk)

    @session_reply
    def on_curvature_known(self, event: messages.CurvatureKnown) -> None:
        if event.lane == self.race.lanes.focus:
            self.land.on_curvature(event)

    @session_reply
    def on_landscape_ready(self, event: messages.LandscapeReady) -> None:
        self.land.on_landscape(event)

    @session_reply
    def on_lr_found(self, event: messages.LrFound) -> None:
        if event.lane != self.race.lanes.focus:
            return  # the focus moved on while the ramp ran
        lane = self.race.lanes.get(event.lane)
        label = f"lane {lane.number}: {self.race.lanes.apart(lane)}" if lane is not None else "the run"

        def apply(lr: float | None) -> None:
            if lr is not None and not self._exit:
                self._apply("lr", lr)

        self.push_screen(LrFindScreen(event.result, self.config.lr, label), apply)

    @session_reply
    def on_script_ready(self, event: messages.ScriptReady) -> None:
        self.code.on_script(event)

    @session_reply
    def on_lane_history(self, event: messages.LaneHistory) -> None:
        self.race.on_lane_history(event)

    @on(messages.FocusLane)
    def _table_focus(self, event: messages.FocusLane) -> None:
        self.race.table_focus(event)

    def action_add_lane(self) -> None:
        self.race.action_add_lane()

    def action_branch_lane(self) -> None:
        self.race.action_branch_lane()

    def action_remove_lane(self) -> None:
        self.race.action_remove_lane()

    def action_focus_lane(self, number: int) -> None:
        self.race.action_focus_lane(number)

    @session_reply
    def on_session_lost(self, event: messages.SessionLost) -> None:
        self._set_state("ended", self.status.epoch)
        self.notify(
            f"The training process ended ({event.reason}). Press r to start a new one.",
            title="training stopped",
            severity="error",
            timeout=30,
        )

    @session_reply
    def on_exported(self, event: messages.Exported) -> None:
        self.notify(
            f"{event.rows} epoch{'s' if event.rows != 1 else ''} written to {event.path}", title="history saved"
        )

    # drawing --------------------------------------------------------------------------------------------

    def _set_state(self, state: str, epoch: int) -> None:
        if state != self.state:
            now = time.monotonic()
            if state == "running":
                self._speed_mark = (now, epoch)
            # The user is waiting for this word (space -> "paused"): it goes out in a frame of its own, cheap
            # and at once, and the plots follow a frame later instead of holding it up.
            self._last_frame = now
        self.state = state
        self.status.epoch = epoch
        self._show_status()

    def _show_status(self) -> None:
        status = self.status
        status.state = self.state
        status.epochs = self.config.epochs
        status.lr = self.config.lr
        status.set_class(self.state == "diverged", "diverged")

    def _frame(self) -> None:
        """Redraw the plots if anything changed: at most 10 frames a second, 5 while training runs (the
        session's core is its own, but the UI's frames must stay cheap), fewer when a frame is slow."""
        now = time.monotonic()
        running = self.state == "running"
        if running:
            t0, e0 = self._speed_mark
            if now - t0 >= 0.5:
                self.status.speed = (self.status.epoch - e0) / (now - t0)
                self._speed_mark = (now, self.status.epoch)
        cost = self.plot.render_cost + self.curve.render_cost + self.landscape.render_cost
        interval = max(2 * FRAME if running else FRAME, 4 * cost)
        if not self._dirty or now - self._last_frame < interval:
            return
        self._dirty = False
        self._last_frame = now
        if self.race.dirty:
            self.race.draw_lanes()
        self.plot.replot()
        self.curve.replot()
        self.land.draw()
