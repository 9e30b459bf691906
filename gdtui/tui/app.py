"""The Textual app: a thin shell that lays out the panes, maps keys to session commands and redraws.

Why: training lives in a session process (gdtui.engine.session), so this module only translates keys into
commands and replies into widgets. Log rows are written as each chunk arrives; the plots are redrawn on a
timer at most ten times a second (less when a frame is slow), so a fast run never floods the screen.
"""

from __future__ import annotations

import asyncio
import math
import signal
from collections.abc import Iterator
from functools import partial
from typing import Any, ClassVar

from textual import events, on
from textual.actions import SkipAction
from textual.app import ComposeResult, SystemCommand
from textual.binding import BindingType
from textual.containers import Horizontal, Vertical
from textual.css.query import NoMatches
from textual.geometry import Size
from textual.screen import Screen
from textual.widget import Widget
from textual.widgets import Footer, Select, Static, TabbedContent, TabPane

from gdtui.engine import protocol as p
from gdtui.engine.config import MAX_LR, RunConfig
from gdtui.engine.presets import resolve
from gdtui.engine.record import Record
from gdtui.engine.vary import VARY_FIELDS
from gdtui.tui import messages
from gdtui.tui.asked import Asked
from gdtui.tui.client import SessionClient
from gdtui.tui.code_view import CodeControl
from gdtui.tui.files import new_name
from gdtui.tui.frames import FRAME, Frames
from gdtui.tui.keys import HELP, KEYS, palette_commands
from gdtui.tui.landscape_view import LandscapeControl
from gdtui.tui.quitting import QuietApp
from gdtui.tui.race_view import RaceView
from gdtui.tui.routes import Routes, routes
from gdtui.tui.settings_view import SettingsControl
from gdtui.tui.theory_view import TheoryControl
from gdtui.tui.travel_view import TravelControl
from gdtui.tui.widgets.help import HelpScreen
from gdtui.tui.widgets.hyperparams import HyperParams
from gdtui.tui.widgets.landscape import LandscapeView
from gdtui.tui.widgets.lanes_table import LanesTable
from gdtui.tui.widgets.palette import SafeCommandPalette
from gdtui.tui.widgets.plots import LossCurve, PredictionPlot
from gdtui.tui.widgets.rmse_log import RmseLog
from gdtui.tui.widgets.status import StatusLine
from gdtui.tui.widgets.theory import MilestonesPlot, RateMap

MIN_SIZE = (60, 18)


class GdtuiApp(QuietApp):
    """gdtui: watch and steer gradient descent."""

    CSS_PATH = "app.tcss"
    TITLE = "gdtui"
    BINDINGS: ClassVar[list[BindingType]] = [*KEYS]

    AUTO_FOCUS = "#log"

    def __init__(
        self,
        config: RunConfig | None = None,
        start: bool = False,
        session: SessionClient | None = None,
        lanes: list[RunConfig] | None = None,
        hint: str | None = None,
    ) -> None:
        """`session`: a SessionClient already spawned with `config` (the CLI starts it before loading Textual);
        `lanes`: more lanes to race beside `config`'s; `hint`: a notice to show at once."""
        super().__init__()
        self.extra_lanes, self.hint = list(lanes or []), hint
        self.config = config or resolve()
        self.start_running = start
        self.session = session or SessionClient()
        self.state = "loading"
        self.asked = Asked()
        self.seen = 0  # commands the session has obeyed
        self.frames = Frames()

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
                    with TabPane("Theory", id="tab-theory"):
                        yield Static("", id="theory-text", markup=False)
                        with Horizontal(id="theory-plots"):
                            yield MilestonesPlot(id="milestones")
                            yield RateMap(id="rate-map")
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
        self.race = RaceView(self, self.query_one(LanesTable), self.log_view, self.plot, self.curve, self.status)
        self.land = LandscapeControl(self, self.landscape, self.tabs, self.status, self.race.lanes)
        self.code = CodeControl(self, self.race.lanes)
        self.settings = SettingsControl(self, self.params, self.race.lanes)
        self.travel = TravelControl(self, self.race.lanes, self.log_view, self.plot, self.curve, self.status, self.land)
        theory_text, milestones = self.query_one("#theory-text", Static), self.query_one(MilestonesPlot)
        self.theory = TheoryControl(
            self, theory_text, milestones, self.query_one(RateMap), self.curve, self.race.lanes, self.status
        )
        self.routes = routes(self.race, self.land, self.code, self.settings, self.travel, self.theory, self)
        self._show_status()
        self._check_size()
        self.frames.attach(
            self.status, [self.plot, self.curve, self.landscape, milestones], [self.race, self.land, self.theory]
        )
        self.set_interval(FRAME / 2, lambda: self.frames.tick(self.state == "running"))
        if self.session.conn is None:
            self.session.spawn(self.config)
        self.session.attach(self)
        for lane in self.extra_lanes:  # each with all its own settings: whichever lane it copies
            self.session.send(p.AddLane({name: getattr(lane, name) for name in VARY_FIELDS}))
        if self.extra_lanes:
            self.session.send(p.FocusLane(0))
        if self.hint:
            self.notify(self.hint, title="resume", timeout=20)
        if self.start_running:
            self.asked.running = True
            self.session.send(p.Run())
        loop = asyncio.get_running_loop()
        for sig in (signal.SIGTERM, signal.SIGHUP):
            try:
                loop.add_signal_handler(sig, partial(self.exit, return_code=128 + sig))  # as a shell reports it
            except (NotImplementedError, RuntimeError, ValueError):
                pass

    def on_unmount(self) -> None:
        self.session.stop()

    def on_resize(self, event: events.Resize) -> None:
        self._check_size(event.size)
        self.redraw()  # the plot title is fitted to the plot's width when it is drawn

    def _check_size(self, size: Size | None = None) -> None:
        size = size or self.size
        small = size.width < MIN_SIZE[0] or size.height < MIN_SIZE[1]
        if self.screen_stack:
            self.screen_stack[0].set_class(small, "too-small")

    # what the views may ask of the app (gdtui.tui.shell.Shell) --------------------------------------------

    def send(self, command: p.Command) -> bool:
        if self.state == "ended":
            self.notify("The training process ended: press r to start a new one.", severity="warning")
            return False
        if self.state == "reading" and not isinstance(command, p.CancelRead):  # dropped, and said so
            self.notify(f"Not done: reading {self.status.reading[0]} first (escape cancels it).", title="data")
            return False
        self.session.send(command)
        return True

    def redraw(self) -> None:
        self.frames.dirty = True

    def restart(self, config: RunConfig, record: Record | None = None) -> None:
        """A new session process for `config`, or `record`'s race rebuilt where it stood, after the last ended."""
        self.config, self.seen = config, 0
        self.asked.clear()
        self._set_state("loading", 0)
        self.session.respawn(self, config, record)
        where = "rebuilds the race where it stood" if record else "starts from epoch 0"
        self.notify(f"A new training process {where}.", title="restart")

    def showing(self, screen: Screen[Any]) -> bool:
        return screen in self.screen_stack

    # keys -----------------------------------------------------------------------------------------------

    def action_view(self, view: str, method: str, *args: Any) -> None:
        """A key of a view: `land` (the landscape), `race` (the lanes), `settings` (files), `travel` (epochs)."""
        getattr(getattr(self, view), method)(*args)
        self.redraw()

    def action_step(self) -> None:
        if not self._run_over() and self.send(p.Step()):
            self.asked.running = False  # a step pauses a running run

    def action_toggle_run(self) -> None:
        if self.asked.is_running(self.state):
            if self.send(p.Pause()):
                self.asked.running = False
        elif not self._run_over() and self.send(p.Run()):
            self.asked.running = True

    def _run_over(self) -> bool:
        """Whether the run can train no further (its budget spent, or diverged); if so, say what to do."""
        if (why := self.status.why_over()) is not None:
            self.notify(why, title=self.state, severity="warning" if self.state == "diverged" else "information")
        return why is not None

    def action_reset(self) -> None:
        if self.state == "ended":
            self.restart(self.config)
        elif self.send(p.Reset()):
            self.asked.running = False

    def action_lr(self, factor: float) -> None:
        lr = self.asked.value("lr", self.config.lr) * factor
        if not 0 < lr <= MAX_LR or not math.isfinite(lr):
            self.notify(f"lr {lr:g} is out of range", severity="warning")
            return
        self.apply("lr", lr)

    def action_toggle_log(self) -> None:
        self.curve.log_scale = not self.curve.log_scale
        self.tabs.active = "tab-curve"
        self.redraw()

    def action_export(self) -> None:
        if self.state != "ended" and (self.status.epoch == 0 or self.state == "loading"):
            self.notify("No epoch has run yet: nothing to write.", title="history")
            return
        self.send(p.Export(new_name(self.config.preset, "csv")))  # the session claims it anew: -2, -3... if taken

    def action_toggle_line(self) -> None:
        self.plot.show_line = not self.plot.show_line
        self.tabs.active = "tab-preds"
        self.redraw()

    def action_help(self) -> None:
        self.push_screen(HelpScreen(HELP))

    def action_code(self) -> None:
        self.code.toggle()

    def action_toggle_tab(self) -> None:
        order = ["tab-preds", "tab-curve", "tab-land", "tab-theory"]
        self.tabs.active = order[(order.index(self.tabs.active) + 1) % 4] if self.tabs.active in order else order[0]

    @on(TabbedContent.TabActivated)
    def _tab_shown(self, event: TabbedContent.TabActivated) -> None:
        self.land.set_shown(self.tabs.active == "tab-land")
        self.theory.set_shown(self.tabs.active == "tab-theory")
        self.redraw()

    def _params_field(self) -> Widget | None:
        """The focused widget, if it is a field of the hyperparameters pane (else None)."""
        focused = self.focused if self.screen_stack else None
        return focused if focused is not None and self.params in focused.ancestors_with_self else None

    def action_toggle_params(self) -> None:
        shown = not self.params.display
        if not shown and self._params_field() is not None:
            self.log_view.focus()
        self.params.display = shown
        self.redraw()

    def action_leave_field(self) -> None:
        if self.state == "reading":
            self.send(p.CancelRead())
            return
        stack = self.screen_stack
        focused = self._params_field()
        if focused is None or stack[-1] is not stack[0]:
            raise SkipAction()  # escape is the help screen's, the palette's, or nobody's
        for select in focused.ancestors_with_self:
            if isinstance(select, Select):
                select.expanded = False
        self.log_view.focus()

    def action_command_palette(self) -> None:
        if self.use_command_palette and not SafeCommandPalette.is_open(self):
            self.push_screen(SafeCommandPalette(id="--command-palette"))

    def get_system_commands(self, screen: Screen[Any]) -> Iterator[SystemCommand]:
        yield from super().get_system_commands(screen)
        yield from palette_commands(self.apply, self.run_action)
        yield from self.race.lane_commands()

    @on(messages.TravelTo)
    def _travel(self, event: messages.TravelTo) -> None:
        self.travel.go(event.epoch)

    @on(messages.FocusLane)
    def _table_focus(self, event: messages.FocusLane) -> None:
        self.race.focus_lane(event.lane)

    # changes from the hyperparameters pane --------------------------------------------------------------

    @on(messages.FieldChanged)
    def _field_changed(self, event: messages.FieldChanged) -> None:
        self.apply(event.field, event.value)

    @on(messages.FieldLeft)
    def _field_left(self) -> None:
        self.log_view.focus()

    def action_save_settings(self) -> None:
        self.settings.save()

    def apply(self, field: str, value: object) -> None:
        if not self._exit:
            self.settings.apply(field, value)

    # replies from the session ---------------------------------------------------------------------------

    @on(messages.SessionReply)
    def _reply(self, event: messages.SessionReply) -> None:
        """Route a reply to the view it is for; replies still queued while the app shuts down are dropped."""
        if self._exit:
            return
        try:
            self.route(event.reply)
        except NoMatches:
            pass  # the panes are already gone: the app is closing

    def route(self, reply: p.Reply) -> None:
        for handle in self.routes.get(type(reply), ()):
            handle(reply)

    def replies(self) -> Routes:
        """The replies the app itself takes, after its views (gdtui.tui.routes)."""
        return {
            p.State: self._state,
            p.Ready: self._new_run,
            p.Applied: self._applied,
            p.Seen: self._seen,
            p.Reading: self._reading,
        }

    def _state(self, reply: p.State) -> None:
        self._set_state(reply.state, reply.epoch if reply.lane == self.race.focus else self.status.epoch)

    def _applied(self, reply: p.Applied) -> None:
        if reply.lane == self.race.focus:
            self.config = reply.config
            self._show_status()

    def _seen(self, reply: p.Seen) -> None:
        self.seen = reply.count
        if reply.count >= self.session.sent:  # the session has obeyed all that was asked: its state stands
            self.asked.clear()

    def _reading(self, reply: p.Reading) -> None:
        self.status.show_reading(reply.path, reply.fraction)
        self._set_state("reading", self.status.epoch)

    def _new_run(self, reply: p.Ready) -> None:
        """The session's focused lane starts anew (a new run, a reset, another lane focused)."""
        info = reply.info
        self.config = info.config
        self.status.device = info.device
        self.sub_title = f"{self.config.preset} · {info.label} · {info.n_points:,} points"
        self._show_status()

    @on(messages.SessionLost)
    def _session_lost(self, event: messages.SessionLost) -> None:
        if self._exit:
            return
        if (record := self.session.left()) is not None:  # journaled: a new process rebuilds it where it stood
            self.restart(record.lanes[0].start, record)
            return
        self._set_state("ended", self.status.epoch)
        self.notify(
            f"The training process ended ({event.reason}). Press r to start a new one.",
            title="training stopped",
            severity="error",
            timeout=30,
        )

    # drawing --------------------------------------------------------------------------------------------

    def _set_state(self, state: str, epoch: int) -> None:
        if state != self.state:
            self.frames.state_changed(state == "running", epoch)
        self.state = state
        self.status.epoch = epoch
        self._show_status()

    def _show_status(self) -> None:
        status = self.status
        status.state = self.state
        status.epochs = self.config.epochs
        status.lr = self.config.lr
        status.set_class(self.state == "diverged", "diverged")
