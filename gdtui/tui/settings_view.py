"""The focused lane's settings: what the pane (or a key, or the LR test's pick) changes, sent to the session as
a live update or as a new run, and the session's answers shown back in the pane.

Why: a change is composed on what was last asked (a `]` the session has not confirmed yet is part of the new
run), checked by the engine's own rules before it is sent, and either taken (the pane shows it) or refused
(the pane shows the old value again and a notice says why). That round trip is the settings' own, apart from
the app's keys and the plots. Under `gdtui serve` a change must also pass the server's rules (a data file in
its folder, a model within its size: gdtui.engine.served), and the files go to the browser as downloads.
"""

from __future__ import annotations

from asyncio import Task
from typing import cast

from gdtui.engine import protocol as p
from gdtui.engine.config import LIVE_FIELDS, ConfigError, RunConfig, check_combination, param_names, unset_for
from gdtui.engine.presets import resolve
from gdtui.engine.record import Record
from gdtui.engine.served import Served
from gdtui.tui.files import deliver_written, failure, keep, new_name
from gdtui.tui.lanes import LanesModel
from gdtui.tui.routes import Routes
from gdtui.tui.shell import Shell
from gdtui.tui.widgets.hyperparams import HyperParams


class SettingsControl:
    """Applies changes of the focused lane's settings and shows the session's answers in the pane."""

    def __init__(self, shell: Shell, params: HyperParams, lanes: LanesModel) -> None:
        self.shell, self.params, self.lanes = shell, params, lanes
        self.drawing: Task[None] | None = None  # a figure being drawn (gdtui figure, in its own process)
        self.restarting: str | None = None  # the field whose change restarts the run, until the session takes it
        self.served = Served.from_env()  # the server's rules, under `gdtui serve`

    def apply(self, field: str, value: object) -> None:
        """A live field (lr, momentum, epochs) as an update of the running lane; any other as a new run of it
        (a new process, when the last one ended)."""
        shell = self.shell
        ended = shell.state == "ended"
        if field in LIVE_FIELDS and not ended:
            shell.asked.live[field] = value
            shell.send(p.Update({field: value}))
            return
        dropped = ""
        try:
            if field == "preset":  # a preset's value is its name
                config = resolve(cast(str, value), device=shell.config.device)
            else:
                if field == "data" and self.served is not None:  # a file of the served folder, by its real path
                    value = self.served.check_data(str(value))
                changes = {**shell.asked.live, field: value}
                if field == "optimizer":  # the settings the new optimizer has not are dropped, as a switch drops them
                    changes |= unset_for(cast(str, value), shell.config.replace(**changes))
                dropped = "" if field == "init" else _misfit_init(shell.config.replace(**changes))
                if dropped:  # another model's parameters: it starts from its own draw, and says so
                    changes["init"] = None
                config = check_combination(shell.config.replace(**changes))
            if self.served is not None:
                self.served.check_params(config, field)
        except ConfigError as error:  # a combination the engine refuses
            shell.notify(f"{error.field}: {error.message}", title="not applied", severity="error")
            self.params.set_config(shell.config, revert=field)
            return
        if dropped:
            shell.notify(f"init dropped: {dropped}", title="init")
        if ended:  # the change is what a new process starts from (say, device cpu after CUDA ran out of memory)
            shell.restart(config)
            return
        self.restarting = field  # the notice waits for the session to accept the change
        shell.asked.running = False
        shell.asked.live = {name: getattr(config, name) for name in LIVE_FIELDS}  # the new run's, from now on
        shell.send(p.Configure(config))

    def save(self) -> None:
        """The race's record (every lane's start, its changes at their epochs, its origin, the epoch it reached)
        as TOML that `gdtui --config FILE` loads back to the same race: asked of the session, written on reply."""
        if not self.shell.send(p.GetRecord()):
            self.shell.notify("the session is not there: nothing saved", title="settings not written", severity="error")

    def figure(self, kind: str) -> None:
        """The race as one of its articles' figures (preds, loss, landscape): `gdtui figure` run on the race's
        record in a process of its own (the app never draws with matplotlib, nor trains), written as a new PNG
        file, or downloaded when served."""
        if self.shell.send(p.GetRecord(f"figure {kind}")):
            self.shell.notify(f"drawing the {kind} figure (gdtui figure)…", title="figure")

    async def _draw(self, record: Record, kind: str) -> None:
        import asyncio
        import os
        import sys
        import tempfile

        from gdtui.engine.history import claim_new
        from gdtui.engine.tomlconfig import dump_record

        with tempfile.TemporaryDirectory(prefix="gdtui-figure-") as folder:
            source = os.path.join(folder, "record.toml")
            with open(source, "w", encoding="utf-8") as handle:
                handle.write(dump_record(record))
            wanted = new_name(self.shell.config.preset, "png").replace(".png", f"-{kind}.png")
            try:
                out = os.path.join(folder, os.path.basename(wanted)) if self.served else claim_new(wanted)
            except OSError as error:
                self.shell.notify(failure(error), title="figure not written", severity="error")
                return
            argv = ["-m", "gdtui", "figure", "--config", source, "--kind", kind, "--out", out]
            proc = await asyncio.create_subprocess_exec(
                sys.executable,
                *argv,
                stdin=asyncio.subprocess.DEVNULL,
                stdout=asyncio.subprocess.DEVNULL,
                stderr=asyncio.subprocess.PIPE,
            )
            _, err = await proc.communicate()
            if proc.returncode not in (0, 3):  # 3: a lane diverged, the figure is drawn all the same
                if not self.served:
                    os.unlink(out)  # the empty file claimed for it
                why = (err.decode(errors="replace").strip().splitlines() or ["it failed"])[-1]
                self.shell.notify(why, title="figure not written", severity="error")
                return
            shown = deliver_written(self.shell, out) if self.served else out
        self.shell.notify(f"the {kind} figure {self._where(shown)}", title="figure")

    def on_record(self, reply: p.RecordReady) -> None:
        from gdtui.engine.tomlconfig import ConfigFileError, dump_record

        record = reply.record
        if reply.purpose.startswith("figure "):
            import asyncio

            self.drawing = asyncio.get_running_loop().create_task(self._draw(record, reply.purpose.split()[1]))
            return
        try:
            path = keep(self.shell, new_name(self.shell.config.preset, "toml"), dump_record(record))
        except (OSError, ConfigFileError) as error:  # a folder or disk that refuses it; a path TOML cannot hold
            why = failure(error) if isinstance(error, OSError) else str(error)
            self.shell.notify(why, title="settings not written", severity="error")
            return
        count = len(record.lanes)
        changes = sum(len(lane.changes) for lane in record.lanes)
        told = f", {changes} change{'s' if changes != 1 else ''}" if changes else ""
        self.shell.notify(f"{count} lane{'s' if count != 1 else ''}{told} {self._where(path)}", title="settings saved")

    def _where(self, path: str) -> str:
        return f"downloaded as {path}" if self.served is not None else f"written to {path}"

    # replies ----------------------------------------------------------------------------------------------

    def replies(self) -> Routes:
        return {
            p.Ready: self.on_ready,
            p.Applied: self.on_applied,
            p.Error: self.on_error,
            p.Exported: self.on_exported,
            p.RecordReady: self.on_record,
        }

    def on_exported(self, reply: p.Exported) -> None:
        rows = f"{reply.rows} epoch{'s' if reply.rows != 1 else ''}"
        path = deliver_written(self.shell, reply.path) if self.served is not None else reply.path
        self.shell.notify(f"{rows} {self._where(path)}", title="history saved")

    def on_ready(self, reply: p.Ready) -> None:
        info = reply.info
        self.params.set_config(info.config)
        if self.restarting:
            self.shell.notify(f"{self.restarting} changed: the run restarts from epoch 0", title="reset")
            self.restarting = None
        if info.warnings:
            more = f" (and {len(info.warnings) - 3} more)" if len(info.warnings) > 3 else ""
            self.shell.notify("\n".join(info.warnings[:3]) + more, title="data", severity="warning", timeout=15)

    def on_applied(self, reply: p.Applied) -> None:
        if reply.lane == self.lanes.focus:
            self.params.set_config(reply.config)

    def on_error(self, reply: p.Error) -> None:
        # a missing device is worth a long look: the run goes on (or starts) on the device it already had
        timeout = 20 if reply.field == "device" else 6
        changed, self.restarting = self.restarting, None
        self.shell.asked.live.pop(reply.field, None)
        text = reply.message if reply.message.startswith(reply.field) else f"{reply.field}: {reply.message}"
        if changed is not None and changed != reply.field:  # say what the user changed, not only what failed
            text = f"{changed} not changed: the new run could not start ({text})"
        self.shell.notify(text, title="not applied", severity="error", timeout=timeout)
        self.params.set_config(self.shell.config, revert=changed or reply.field)


def _misfit_init(config: RunConfig) -> str:
    """Why `config`'s init cannot start its model (a model of another number of parameters: the model, its
    degree, its layers or its bias changed), or "" when it fits or is unset."""
    if config.init is None or (config.init and isinstance(config.init[0], tuple)):  # named: the engine checks it
        return ""
    names = param_names(config)
    if len(names) == len(config.init):
        return ""
    shown = ", ".join(names) if len(names) <= 6 else f"{len(names):,} of them"
    return f"the {config.model} model has {len(names)} parameters ({shown}), the init {len(config.init)}"
