"""What the commands share: the run options, their checks and the exit codes.

Why: `gdtui`, `gdtui run`, `gdtui serve`, `gdtui export-script`, `gdtui landscape` and `gdtui lr-find` take one
set of options, checked by the engine's own checks, and exit with codes a script can trust: 0 completed, 2 bad
usage or input (one line naming the option, file or line; never a traceback), 3 diverged. Each command's
module imports this one and nothing else of gdtui.cli, so the commands load on demand with no import cycle.
"""

from __future__ import annotations

import os
import signal
from collections.abc import Callable
from typing import TYPE_CHECKING, Any, TypeVar

import click

from gdtui.engine.config import (
    ACTIVATIONS,
    CHECKS,
    DATA_ARTICLE,
    DTYPES,
    LOSSES,
    OPTIMIZERS,
    RNGS,
    SYNTHETIC,
    ConfigError,
    RunConfig,
    check_combination,
)
from gdtui.engine.csvfile import CsvData, DataError, check_readable, read_xy
from gdtui.engine.history import EpochResult, History, HistoryFile
from gdtui.engine.presets import PRESETS, resolve
from gdtui.engine.record import LaneRecord, Record
from gdtui.engine.tomlconfig import Extras, assemble
from gdtui.engine.vary import lane_configs

if TYPE_CHECKING:
    from gdtui.engine.lanes import Race
    from gdtui.engine.trainer import Trainer  # imports torch: only the commands that train load it, in build_trainer

CommandT = TypeVar("CommandT", bound=Callable[..., Any])

EXIT_OK, EXIT_USAGE, EXIT_DIVERGED = 0, 2, 3
TUI_READS_UP_TO = 4 << 20  # bytes of CSV the TUI's command line reads itself (some 0.5 s); the session reads more
ENDING_SIGNALS = (signal.SIGTERM, signal.SIGHUP)  # end any command with 128 + their number, after its cleanup
BOTH_LANES = "give lanes in the file's [[lane]] tables or with --vary, not both"


class Checked(click.ParamType):
    """A click type that runs one of the engine's field checks, so CLI and TUI refuse the same values."""

    def __init__(self, field: str, name: str) -> None:
        self.field = field
        self.name = name

    def convert(self, value: object, param: click.Parameter | None, ctx: click.Context | None) -> object:
        if not isinstance(value, str):
            return value
        try:
            return CHECKS[self.field](value)
        except ConfigError as error:
            self.fail(error.message, param, ctx)


def run_options(command: CommandT) -> CommandT:
    """The options shared by `gdtui` and `gdtui run`; any of them overrides the preset's value."""
    options = [
        click.option(
            "--preset",
            type=click.Choice(list(PRESETS)),
            help="Seed recipe to start from (default: fastai-quadratic).",
        ),
        click.option(
            "--model",
            type=Checked("model", "model"),
            metavar="NAME|FORMULA",
            help="quadratic, linear, nn-linear, poly, mlp, or a formula in x and its parameters, "
            '"a*sin(b*x) + c" (+ - * / **, sin cos tan exp log sqrt abs tanh sigmoid relu, pi, e).',
        ),
        click.option(
            "--hidden", type=Checked("hidden", "hidden"), metavar="N[,N...]", help="mlp: units of each hidden layer."
        ),
        click.option("--activation", type=click.Choice(ACTIVATIONS), help="mlp: tanh (default), relu or sigmoid."),
        click.option("--degree", type=Checked("degree", "degree"), help="Degree of the poly model."),
        click.option("--optimizer", type=click.Choice(OPTIMIZERS), help="gd is the seeds' hand-written step."),
        click.option("--momentum", type=Checked("momentum", "momentum"), help="For sgd, nesterov, rmsprop."),
        click.option("--betas", type=Checked("betas", "betas"), metavar="B1,B2", help="adam, adamw: (0.9, 0.999)."),
        click.option("--eps", type=Checked("eps", "eps"), help="adam, adamw, rmsprop (1e-8), adagrad (1e-10)."),
        click.option("--alpha", type=Checked("alpha", "alpha"), help="rmsprop: the square average's decay (0.99)."),
        click.option("--centered/--no-centered", default=None, help="rmsprop: centred (by the gradient's mean)."),
        click.option("--dampening", type=Checked("dampening", "dampening"), help="sgd: of the momentum (0)."),
        click.option(
            "--weight-decay",
            type=Checked("weight_decay", "weight-decay"),
            help="sgd, nesterov, adam, rmsprop, adagrad (0), adamw (0.01); not gd.",
        ),
        click.option("--lr-decay", type=Checked("lr_decay", "lr-decay"), help="adagrad: lr / (1 + (t-1)·decay) (0)."),
        click.option(
            "--initial-accumulator",
            type=Checked("initial_accumulator", "initial-accumulator"),
            help="adagrad: its sum's start (0; torch's initial_accumulator_value).",
        ),
        click.option("--loss", type=click.Choice(LOSSES), help="mse, sse (sum of squares), l1 or huber."),
        click.option("--lr", type=Checked("lr", "lr"), help="Learning rate, > 0."),
        click.option(
            "--schedule",
            type=Checked("schedule", "schedule"),
            metavar="SPEC",
            help="An lr schedule, torch.optim.lr_scheduler's: step:step_size=30,gamma=0.1, multistep:milestones=30/80, "
            "exponential:gamma=0.99, cosine[:T_max=N,eta_min=0], cosine-restarts:T_0=10,T_mult=2, "
            "linear-warmup:start_factor=0.1,total_iters=5, onecycle:max_lr=0.1, plateau:factor=0.5,patience=10; "
            "A+B chains them (SequentialLR).",
        ),
        click.option("--epochs", type=Checked("epochs", "epochs"), help="Epochs to run."),
        click.option("--seed", type=Checked("seed", "seed"), help="torch.manual_seed for data and parameters."),
        click.option(
            "--rng",
            type=click.Choice(RNGS),
            help="split (default): the data, the model and the batches' order each seeded, as the articles do; "
            "single: torch.manual_seed once, then all of them from torch's one stream in a tutorial's order.",
        ),
        click.option("--device", type=Checked("device", "device"), help="auto, cpu, cuda, cuda:N or mps."),
        click.option(
            "--data",
            type=Checked("data", "data"),
            help="article (the preset's own), linear, quadratic, cubic, sine, or a CSV file of x,y.",
        ),
        click.option("--points", type=Checked("points", "points"), help="Number of generated points."),
        click.option("--noise", type=Checked("noise", "noise"), help="Noise amplitude of generated data."),
        click.option(
            "--test-fraction",
            type=Checked("test_fraction", "test-fraction"),
            help="Last fraction of the points held out as a test set.",
        ),
        click.option(
            "--accumulate-grad/--zero-grad",
            default=None,
            help="Let gradients accumulate across epochs (seed 003's code as printed) or zero them each epoch.",
        ),
        click.option(
            "--init",
            type=Checked("init", "init"),
            metavar="V1,V2,...|NAME=V,...",
            help="Initial parameters, in the order of the model's names (a,b,c; w,b; weight,bias; c0..ck).",
        ),
        click.option(
            "--x-range", type=Checked("x_range", "x-range"), metavar="LO,HI", help="x of synthetic data (-3,3)."
        ),
        click.option("--bias/--no-bias", default=None, help="linear, nn-linear, poly: keep or drop the constant."),
        click.option(
            "--standardize/--no-standardize",
            default=None,
            help="Train on standardised features: each non-constant column of the design (x, x², ...) to mean 0 "
            "and std 1 over the training points; the parameters are the scaled model's, predictions in the data's "
            "units (not the mlp).",
        ),
        click.option("--dtype", type=click.Choice(DTYPES), help="float32 (default) or float64 data and parameters."),
        click.option(
            "--target-rmse", type=Checked("target_rmse", "target-rmse"), help="Stop once the RMSE is at most this."
        ),
        click.option(
            "--patience", type=Checked("patience", "patience"), help="Stop once the loss has not improved for N epochs."
        ),
        click.option(
            "--batch-size",
            type=Checked("batch_size", "batch-size"),
            help="Mini-batches of N training points (default: all at once), an update per batch; an epoch's loss "
            "is the mean of its batch losses, each taken before its own update.",
        ),
        click.option(
            "--shuffle/--no-shuffle",
            default=None,
            help="With batches: reshuffle them every epoch from the seed (default), or keep the data's order.",
        ),
        click.option(
            "--config",
            "config_file",
            type=click.Path(dir_okay=False),
            metavar="FILE.toml",
            help="Every setting from a TOML file (its [[lane]] tables race as lanes); the command line overrides it.",
        ),
    ]
    for option in reversed(options):
        command = option(command)
    return command


def config_from(options: dict[str, Any]) -> RunConfig:
    """`options` as click passed them (each of its option's type, None where not given)."""
    return configs_from(options)[0]


def configs_from(options: dict[str, Any]) -> list[RunConfig]:
    """The run's config and its file's lanes (`--config FILE`: the file's settings, each overridden by the
    command line's); a bad setting is a usage error naming the option, or the file and the key."""
    return [lane.start for lane in record_from(options).lanes]


def lane_of(record: Record, lane: int) -> LaneRecord:
    """Lane `lane` (1-based) of `record`, or exit 2 naming --lane."""
    if lane > len(record.lanes):
        raise click.BadParameter(f"the race has {len(record.lanes)} lane(s), not {lane}", param_hint="'--lane'")
    return record.lanes[lane - 1]


def race_of(record: Record) -> Race:
    """`record`'s race, built as it started (its data read once), or exit 2 naming --device or --data."""
    from gdtui.engine.device import DeviceError
    from gdtui.engine.lanes import Race

    try:
        return Race.of_record(record, csv=check_data(record.lanes[0].start))
    except DeviceError as error:
        raise click.BadParameter(str(error), param_hint="'--device'") from None
    except DataError as error:
        raise click.BadParameter(str(error), param_hint="'--data'") from None


def record_from(options: dict[str, Any]) -> Record:
    """The run's record: one lane from the options, or `--config FILE`'s lanes (a TOML snapshot or a journal)
    with their changes and origins, each lane's start overridden by what the command line gives."""
    options = dict(options)
    path = options.pop("config_file", None)
    if path is not None and _is_journal(path):
        return _journal_record(path, options)
    lanes: list[dict[str, Any]] = []
    extras: list[Extras] = [Extras()]
    from_file: set[str] = set()
    if path is not None:
        from gdtui.engine.tomlconfig import ConfigFileError, load

        try:
            settings, lanes, extras = load(path)
        except ConfigFileError as error:
            raise click.BadParameter(str(error), param_hint="'--config'") from None
        from_file = {k for k in settings if options.get(k) is None}
        options = {**settings, **{k: v for k, v in options.items() if v is not None}}
    try:
        base = resolve(**options)
    except ConfigError as error:
        if error.field in from_file:  # the file's value: named with the file and its key
            message = f"{path}: {error.field.replace('_', '-')}: {error.message}"
            raise click.BadParameter(message, param_hint="'--config'") from None
        raise click.BadParameter(error.message, param_hint=f"'--{error.field.replace('_', '-')}'") from None
    configs = [base]
    for number, lane in enumerate(lanes, start=1):
        try:
            configs.append(check_combination(base.replace(**lane)))
        except ConfigError as error:
            raise click.BadParameter(f"{path} [[lane]] {number}: {error.message}", param_hint="'--config'") from None
    return assemble(configs, extras)


def _is_journal(path: str) -> bool:
    try:
        with open(path, "rb") as handle:
            return handle.read(64).lstrip().startswith(b"{")
    except OSError:
        return False  # the TOML reader says why


def _journal_record(path: str, options: dict[str, Any]) -> Record:
    """A journal's record, each lane's start taking the settings the command line gives."""
    from dataclasses import replace

    from gdtui.engine.journal import read
    from gdtui.engine.record import RecordError

    try:
        record = replace(read(path), checkpoints={}, snapshots={})  # --config: the race from its start
    except RecordError as error:
        raise click.BadParameter(str(error), param_hint="'--config'") from None
    given = {k: v for k, v in options.items() if v is not None}
    if not given:
        return record
    try:
        checked = {k: CHECKS[k](v) if k in CHECKS else v for k, v in given.items()}
        lanes = tuple(replace(lane, start=check_combination(lane.start.replace(**checked))) for lane in record.lanes)
    except ConfigError as error:
        raise click.BadParameter(error.message, param_hint=f"'--{error.field.replace('_', '-')}'") from None
    return replace(record, lanes=lanes)


def unused(options: dict[str, Any], config: RunConfig) -> list[str]:
    """Options given on the command line that the run's settings make of no effect."""
    notes = []
    if options.get("momentum") is not None and not config.uses_momentum:
        notes.append(
            f"--momentum has no effect with --optimizer {config.optimizer} (it does with sgd, nesterov, rmsprop)"
        )
    if options.get("degree") is not None and config.model != "poly":
        notes.append(f"--degree has no effect with --model {config.model} (it does with poly)")
    for name in ("hidden", "activation"):
        if options.get(name) is not None and config.model != "mlp":
            notes.append(f"--{name} has no effect with --model {config.model} (it does with mlp)")
    if options.get("x_range") is not None and config.data not in SYNTHETIC:
        notes.append(f"--x-range has no effect with --data {config.data} (it does with synthetic data)")
    return notes


def check_outputs(
    config: RunConfig, config_file: str | None, outputs: list[tuple[str, str]], folder_checked: bool = True
) -> None:
    """Refuse, before anything runs, an output (option, path) that is one of the run's input files: its CSV data
    or its --config file, by name, through a symlink or as a hard link (the same file, not the same name);
    and, where `folder_checked`, an output whose folder cannot be written in."""
    inputs = [(config_file, "the --config file")] if config_file else []
    if not _builtin(config):
        inputs.append((config.data, "the data file"))
    for option, path in outputs:
        for source, what in inputs:
            if _same_file(path, source):
                raise click.BadParameter(f"{path}: is {what} ({source}); write elsewhere", param_hint=f"'{option}'")
        if folder_checked:
            folder = os.path.dirname(os.path.abspath(path))
            if not os.path.isdir(folder) or not os.access(folder, os.W_OK):
                raise click.BadParameter(f"{path}: cannot write in {folder}", param_hint=f"'{option}'")


def _builtin(config: RunConfig) -> bool:
    return config.data in (DATA_ARTICLE, *SYNTHETIC)


def _same_file(a: str, b: str) -> bool:
    try:
        return os.path.samefile(a, b)
    except (OSError, ValueError):  # one of them is not there (a new output), or the name cannot be a path
        return False


def check_data(config: RunConfig, read_up_to: int | None = None) -> CsvData | None:
    """A CSV given on the command line is read before anything starts, so its errors exit 2 at once; what was
    read is handed on, so the file is read once. A file over `read_up_to` bytes is only checked here (a regular
    file gdtui can open): the TUI's session reads it, showing its progress, while the TUI paints."""
    if _builtin(config):
        return None
    try:
        if read_up_to is not None and check_readable(config.data) > read_up_to:
            return None
        return read_xy(config.data)
    except DataError as error:
        raise click.BadParameter(str(error), param_hint="'--data'") from None


def open_out(path: str, history: History) -> HistoryFile:
    """`--out`'s file, opened and its header written now: a full disk or an unwritable path exits 2 before the
    run, not after it."""
    from gdtui.engine.history import HistoryFile

    try:
        return HistoryFile(path, history.names, history.count is not None)
    except OSError as error:
        raise click.BadParameter(f"{path}: {error.strerror or error}", param_hint="'--out'") from None


def write_out(out: HistoryFile, history: History, commit: bool = False) -> str | None:
    """Append the history's new rows to `out` (and finish it with `commit`): None, or why it failed."""
    try:
        out.write(history)
        if commit:
            out.commit()
    except OSError as error:
        return str(error.strerror or error)
    return None


def build_trainer(config: RunConfig, csv: CsvData | None = None) -> Trainer:
    """A Trainer for `config`, with data and device errors turned into one-line usage errors."""
    from gdtui.engine.device import DeviceError
    from gdtui.engine.trainer import Trainer

    try:
        return Trainer(config, csv=csv)
    except DeviceError as error:
        raise click.BadParameter(str(error), param_hint="'--device'") from None
    except DataError as error:
        raise click.BadParameter(str(error), param_hint="'--data'") from None


def check_vary(base: RunConfig, specs: tuple[str, ...]) -> list[tuple[str, RunConfig]]:
    """The lanes of `specs`, or a usage error naming --vary and the value at fault."""
    try:
        return lane_configs(base, list(specs))
    except ConfigError as error:
        raise click.BadParameter(error.message, param_hint="'--vary'") from None


def tui_lanes(options: dict[str, Any], vary: tuple[str, ...]) -> tuple[list[RunConfig], CsvData | None]:
    """The TUI's lanes from its options (the file's lanes, or --vary's) and its CSV data read, every value
    checked: a bad one is a usage error naming it (`gdtui` and `gdtui serve`)."""
    lanes = configs_from(options)
    if vary:
        if len(lanes) > 1:
            raise click.BadParameter(BOTH_LANES, param_hint="'--vary'")
        lanes = [lane for _, lane in check_vary(lanes[0], vary)]
    return lanes, check_data(lanes[0], read_up_to=TUI_READS_UP_TO)


def tui_record(options: dict[str, Any], vary: tuple[str, ...]) -> tuple[Record, CsvData | None]:
    """The TUI's race as a record (the --config file's, with its changes; or a lane per --vary combination) and
    its CSV data read, every value checked: a bad one is a usage error naming it."""
    if vary:
        lanes, csv = tui_lanes(options, vary)
        return Record(tuple(LaneRecord(n, config) for n, config in enumerate(lanes))), csv
    record = record_from(options)
    return record, check_data(record.lanes[0].start, read_up_to=TUI_READS_UP_TO)


SPEED = click.FloatRange(0.01, 1e6)  # a playback speed, epochs a second (--speed)


def served() -> bool:
    """Whether this process is a tab of `gdtui serve`."""
    from gdtui.engine.served import Served

    return Served.from_env() is not None


def _fmt(value: float | None) -> str:
    return "-" if value is None else repr(value)


def epoch_line(result: EpochResult, lr: bool = False) -> str:
    """An epoch as `gdtui run` prints it, in the seeds' style, every value at full precision; with `lr` (a
    scheduled run), the epoch's lr last."""
    parts = [f"epoch {result.epoch}", f"RMSE: {_fmt(result.rmse)}", f"loss: {_fmt(result.loss)}"]
    if result.test_loss is not None:
        parts.append(f"test loss: {_fmt(result.test_loss)}")
    if lr:
        parts.append(f"lr: {result.lr!r}")
    return "  ".join(parts)
