"""The session's race made and remade: the first run, a new run or a lane's new settings, new data for every
lane, lanes added, branched, removed or focused; a CSV file read first, a slice at a time, when a run needs one.

Why: a build can fail in many ways (a missing device, bad data, a refused setting, a model too big), and each
must leave the session up and say why, with the race as it stood; a CSV read must not hold the pipe up (it is a
job: its progress reported, escape cancels it), and a command sent meanwhile is refused, not queued.
"""

from __future__ import annotations

from collections.abc import Callable, Generator
from dataclasses import dataclass
from typing import TYPE_CHECKING

from gdtui.engine import protocol as p
from gdtui.engine.config import DATA_FIELDS, ConfigError, RunConfig, check_combination
from gdtui.engine.csvfile import CsvData
from gdtui.engine.record import Record
from gdtui.engine.session_jobs import SessionJobs

if TYPE_CHECKING:
    from gdtui.engine.served import Served


@dataclass
class Reading:
    """A CSV file being read before a run can start on it, and what to do if the read fails or is cancelled."""

    path: str
    failed: Callable[[], object]


class SessionRace(SessionJobs):
    """The race's making: its builds (each CSV read first, as a job), and the lanes added or removed."""

    refused: str | None  # the field the last build refused
    reading: Reading | None  # a CSV file read before a run can start on it
    served: Served | None  # a tab of `gdtui serve`: the files it may read, the models it may build

    def build(
        self, config: RunConfig, csv: CsvData | None = None, record: Record | None = None, resume: bool = False
    ) -> bool:
        """A new race of one lane for `config`, or of `record`'s lanes (its CSV read first, a slice at a time,
        unless `csv` holds it); False, with the error sent, if it cannot be built. With `resume`, each lane of
        the record trains to the epoch it reached, then the race pauses."""
        from gdtui.engine.csvfile import DataError
        from gdtui.engine.device import DeviceError
        from gdtui.engine.lanes import Race

        if self.read_first(config, csv, lambda data: self.build(config, data), self.send_state):
            return True
        self.refused = None
        try:
            kept = csv if csv is not None and config.data == csv.path else None
            for lane in record.lanes if record is not None else ():
                self.allowed(lane.start)
            race = Race(self.allowed(config), csv=kept) if record is None else Race.of_record(record, csv=kept)
        except DeviceError as error:
            self.refused = "device"
            self.conn.send(p.Error("device", str(error)))
            return False
        except DataError as error:
            self.refused = "data"
            self.conn.send(p.Error("data", str(error)))
            return False
        except ConfigError as error:
            self.refused = error.field
            self.conn.send(p.Error(error.field, error.message))
            return False
        except (EOFError, OSError):
            raise
        except Exception as error:  # an allocation that fails (a huge model), a bug: the session stays up
            self.refused = "configure"
            self.conn.send(p.Error("configure", f"configure failed: {type(error).__name__}: {error}"))
            return False
        ids = [lane.id for lane in race.lanes]
        self.race, self.focus = race, record.focus if record is not None and record.focus in ids else ids[0]
        self.running = False
        if record is not None and resume:  # every lane back where it stood: trained there, then paused
            for built, kept_lane in zip(race.lanes, record.lanes):
                built.trainer.hold = kept_lane.reached
            self.running = any(built.active for built in race.lanes)
            if not self.running:
                self.release()
        self.send_ready()
        self.send_lanes()
        if any(built.trainer.epoch for built in race.lanes):  # resumed from checkpoints: every lane's past at once
            for lane_id in sorted(ids, key=lambda lane_id: lane_id == self.focus):
                self.send_history(lane_id)
        self.send_state()
        return True

    def allowed(self, config: RunConfig) -> RunConfig:
        """`config`, if a served tab may run it (its data in the served folder, its model within the size
        limit; the app checks first, this is the session's own guard); else ConfigError."""
        if self.served is not None:
            self.served.check_data(config.data)
            self.served.check_params(config)
        return config

    def rebuild(self, config: RunConfig) -> bool:
        """The focused lane's new settings. Alone, it is a new run; in a race, a change of its own settings
        (optimizer, loss, model...) restarts that lane alone, and a change of the data restarts every lane on
        the new data, each with its own settings."""
        race = self.race
        if race is None or len(race.lanes) == 1:
            return self.build(config)
        focused = race.lane(self.focus).trainer.config
        if all(getattr(config, f) == getattr(focused, f) for f in DATA_FIELDS):
            try:
                race.replace(self.focus, self.allowed(config))
            except ConfigError as error:
                self.conn.send(p.Error(error.field, error.message))
                return False
            self.running = False
            self.send_ready()
            self.send_lanes()
            self.send_state()
            return True
        data = {f: getattr(config, f) for f in DATA_FIELDS}
        focus_at = [lane.id for lane in race.lanes].index(self.focus)
        configs = [config if lane.id == self.focus else lane.trainer.config.replace(**data) for lane in race.lanes]
        if self.read_first(configs[0], None, lambda csv: self.relaunch(configs, focus_at, csv), self.send_state):
            return True
        return self.relaunch(configs, focus_at)

    def relaunch(self, configs: list[RunConfig], focus_at: int, csv: CsvData | None = None) -> bool:
        """Every lane anew on new data (`csv`, if read): the first built, the others added, the focus kept."""
        if not self.build(configs[0], csv):
            return False
        assert self.race is not None
        try:
            for lane_config in configs[1:]:
                self.race.add(check_combination(lane_config))
        except ConfigError as error:
            self.conn.send(p.Error(error.field, error.message))
        self.focus = self.race.lanes[min(focus_at, len(self.race.lanes) - 1)].id
        self.send_ready()
        self.send_lanes()
        self.send_state()
        return True

    def read_first(
        self, config: RunConfig, csv: CsvData | None, then: Callable[[CsvData], object], failed: Callable[[], object]
    ) -> bool:
        """Whether `config`'s CSV file must be read before its run is built: if so, the read starts (a job, a
        slice at a time, its progress reported); `then(data)` builds once it is read, `failed()` runs after a
        read that failed (its error sent) or was cancelled."""
        from gdtui.engine.config import DATA_ARTICLE, SYNTHETIC

        if config.data == DATA_ARTICLE or config.data in SYNTHETIC or (csv is not None and csv.path == config.data):
            return False
        try:
            self.allowed(config)
        except ConfigError:
            return False  # never read: the build refuses it, saying why
        self.running = False
        self.reading = Reading(config.data, failed)
        self.conn.send(p.Reading(config.data, 0.0))

        def built(data: CsvData | None) -> None:
            if data is not None:
                then(data)

        self.start_job("read", self._read(self.reading), built)
        return True

    def _read(self, reading: Reading) -> Generator[None, None, CsvData | None]:
        from gdtui.engine.csvfile import DataError, read_xy_job

        job = read_xy_job(reading.path)
        try:
            while True:
                try:
                    fraction = next(job)
                except StopIteration as read:
                    self.reading = None
                    data: CsvData = read.value
                    return data
                self.conn.send(p.Reading(reading.path, fraction))
                yield
        except DataError as error:
            self.reading = None
            self.conn.send(p.Error("data", str(error)))
            reading.failed()
            return None
        finally:
            job.close()

    def cancel_read(self) -> None:
        """Stop the CSV read under way (escape): said, then what the read was for gives way (`failed`)."""
        reading, job = self.reading, self.jobs.pop("read", None)
        if reading is None:
            return
        self.reading = None
        if job is not None:
            job.work.close()
        self.conn.send(p.Error("data", f"reading {reading.path} cancelled"))
        reading.failed()

    def start(
        self, config: RunConfig, csv: CsvData | None = None, record: Record | None = None, resume: bool = False
    ) -> None:
        """The first run: `config`'s, or the race `record` holds (trained to where each lane stood with
        `resume`), its CSV read first; a missing device: the same on the cpu; anything else, or a read
        cancelled: the preset itself."""
        from gdtui.engine.presets import PRESETS

        if self.read_first(
            config,
            csv,
            lambda data: self.start(config, data, record, resume),
            lambda: self.start(PRESETS[config.preset].config),
        ):
            return
        if record is not None and self.build(config, csv, record, resume):
            return
        if not self.build(config, csv):
            # The notice is sent. A missing device: the same run on the cpu; anything else: the preset itself.
            if self.refused != "device" or not self.build(config.replace(device="cpu"), csv):
                self.build(PRESETS[config.preset].config)

    def lanes_command(self, command: p.AddLane | p.BranchLane | p.RemoveLane | p.FocusLane) -> None:
        """Add a copy of the focused lane, branch it, remove a lane (never the last) or focus one."""
        race = self.race
        assert race is not None
        try:
            match command:
                case p.AddLane(changes):
                    config = race.lane(self.focus).trainer.config.replace(**changes)
                    self.focus = race.add(self.allowed(check_combination(config))).id
                case p.BranchLane(epoch, changes):
                    self.focus = race.branch(self.focus, epoch, **changes).id
                case p.RemoveLane(lane):
                    race.remove(self.focus if lane is None else lane)
                    if self.focus not in [lane.id for lane in race.lanes]:
                        self.focus = race.lanes[0].id
                case p.FocusLane(lane):
                    self.focus = race.lane(lane).id
        except (ConfigError, KeyError) as error:
            field = error.field if isinstance(error, ConfigError) else "lanes"
            message = error.message if isinstance(error, ConfigError) else str(error.args[0])
            self.conn.send(p.Error(field, message))
            return
        self.send_ready()
        self.send_lanes()  # before its History: a new lane is in the app's model when its past comes
        self.send_history()
        self.send_state()
