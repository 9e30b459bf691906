"""The command line: `gdtui` opens the TUI, `gdtui run` trains headless, `gdtui presets` lists the presets.

Why: one set of options for both faces, checked by the engine's own checks, and exit codes a script can
trust: 0 completed, 2 bad usage or input (one line naming the option, file or line; never a traceback),
3 diverged. Torch and Textual load only inside the command that needs them.
"""

from __future__ import annotations

import json
import os
import sys
from collections.abc import Callable
from typing import TYPE_CHECKING, Any, TypeVar

import click

from gdtui import __version__
from gdtui.engine.config import (
    ACTIVATIONS,
    CHECKS,
    DATA_ARTICLE,
    DTYPES,
    LOSSES,
    MODELS,
    OPTIMIZERS,
    SYNTHETIC,
    ConfigError,
    RunConfig,
    check_combination,
    resolve,
)
from gdtui.engine.csvfile import CsvData, DataError, read_xy
from gdtui.engine.history import EpochResult, params_text
from gdtui.engine.presets import PRESETS

if TYPE_CHECKING:
    from gdtui.engine.trainer import Trainer  # imports torch: only `gdtui run` loads it, in build_trainer

CommandT = TypeVar("CommandT", bound=Callable[..., Any])

EXIT_OK, EXIT_USAGE, EXIT_DIVERGED = 0, 2, 3
BOTH_LANES = "give lanes in the file's [[lane]] tables or with --vary, not both"
STOPS = {  # why a stop rule ended a run, as the summary says it
    "target-rmse": "the RMSE reached --target-rmse {config.target_rmse:g}",
    "patience": "the loss did not improve for --patience {config.patience} epochs",
}


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
        click.option("--model", type=click.Choice(MODELS), help="quadratic, linear, nn-linear, poly or mlp."),
        click.option(
            "--hidden", type=Checked("hidden", "hidden"), metavar="N[,N...]", help="mlp: units of each hidden layer."
        ),
        click.option("--activation", type=click.Choice(ACTIVATIONS), help="mlp: tanh (default), relu or sigmoid."),
        click.option("--degree", type=Checked("degree", "degree"), help="Degree of the poly model."),
        click.option("--optimizer", type=click.Choice(OPTIMIZERS), help="gd is the seeds' hand-written step."),
        click.option("--momentum", type=Checked("momentum", "momentum"), help="For sgd, nesterov, rmsprop."),
        click.option("--loss", type=click.Choice(LOSSES), help="mse, sse (sum of squares), l1 or huber."),
        click.option("--lr", type=Checked("lr", "lr"), help="Learning rate, > 0."),
        click.option("--epochs", type=Checked("epochs", "epochs"), help="Epochs to run."),
        click.option("--seed", type=Checked("seed", "seed"), help="torch.manual_seed for data and parameters."),
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
    """The run's config and its file's lanes (`--config FILE.toml`: the file's settings, each overridden by the
    command line's); a bad setting is a usage error naming the option, or the file and the key."""
    options = dict(options)
    path = options.pop("config_file", None)
    lanes: list[dict[str, Any]] = []
    from_file: set[str] = set()
    if path is not None:
        from gdtui.engine.tomlconfig import ConfigFileError, load

        try:
            settings, lanes = load(path)
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
    return configs


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


def check_data(config: RunConfig) -> CsvData | None:
    """A CSV given on the command line is read before anything starts, so its errors exit 2 at once; what was
    read is handed on, so the file is read once."""
    if config.data in (DATA_ARTICLE, *SYNTHETIC):
        return None
    try:
        return read_xy(config.data)
    except DataError as error:
        raise click.BadParameter(str(error), param_hint="'--data'") from None


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


@click.group(invoke_without_command=True, context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(__version__, "--version", "-V", prog_name="gdtui", message="%(prog)s %(version)s")
@run_options
@click.option("--run", "start", is_flag=True, help="Start training at once.")
@click.option("--vary", multiple=True, metavar="FIELD=V1,V2,...", help="Open with a lane per combination (see run).")
@click.pass_context
def cli(ctx: click.Context, start: bool, vary: tuple[str, ...], **options: Any) -> None:
    """Watch and steer gradient descent in the terminal. Without a command, opens the TUI."""
    if ctx.invoked_subcommand is not None:
        return
    lanes, csv = tui_lanes(options, vary)
    config = lanes[0]
    from gdtui.tui.client import SessionClient

    session = SessionClient()
    session.spawn(config, csv)  # torch loads in the session process while Textual loads here
    from gdtui.tui.app import GdtuiApp

    app = GdtuiApp(config, start=start, session=session, lanes=lanes[1:])
    try:
        app.run()
    finally:
        session.stop()
    # The terminal is restored and the session is gone. If the terminal itself is gone (a dropped SSH link),
    # Textual's input thread can spin on end-of-file and keep the process alive: leave without waiting on it.
    sys.stdout.flush()
    sys.stderr.flush()
    os._exit(app.return_code or 0)


def tui_lanes(options: dict[str, Any], vary: tuple[str, ...]) -> tuple[list[RunConfig], CsvData | None]:
    """The TUI's lanes from its options (the file's lanes, or --vary's) and its CSV data read, every value
    checked: a bad one is a usage error naming it (`gdtui` and `gdtui serve`)."""
    lanes = configs_from(options)
    if vary:
        from gdtui.cli.race_run import check_vary

        if len(lanes) > 1:
            raise click.BadParameter(BOTH_LANES, param_hint="'--vary'")
        lanes = [lane for _, lane in check_vary(lanes[0], vary)]
    return lanes, check_data(lanes[0])


def _fmt(value: float | None) -> str:
    return "-" if value is None else repr(value)


def epoch_line(result: EpochResult) -> str:
    parts = [f"epoch {result.epoch}", f"RMSE: {_fmt(result.rmse)}", f"loss: {_fmt(result.loss)}"]
    if result.test_loss is not None:
        parts.append(f"test loss: {_fmt(result.test_loss)}")
    return "  ".join(parts)


@cli.command()
@run_options
@click.option("--json", "as_json", is_flag=True, help="One JSON object per epoch, then a summary object.")
@click.option("--quiet", "-q", is_flag=True, help="Print only the final summary.")
@click.option(
    "--out",
    type=click.Path(dir_okay=False, writable=True),
    help="Write the run's history to this file (.json, otherwise CSV), also after divergence; with --vary, "
    "one file per lane (FILE-lane1.csv, FILE-lane2.csv...).",
)
@click.option(
    "--vary",
    multiple=True,
    metavar="FIELD=V1,V2,...",
    help="Race one lane per combination of the values (repeat for more fields): lr, momentum, optimizer, loss, "
    "epochs, model, degree, accumulate-grad, bias, batch-size, shuffle, target-rmse, patience, hidden, activation, "
    "init; list values are separated by ';' (init=1,2,3;0,0,0). Lines are tagged with the lane; the lanes are "
    "ranked at the end.",
)
@click.option(
    "--save-config",
    type=click.Path(dir_okay=False),
    metavar="FILE.toml",
    help="Write the run's settings (every lane's) as TOML that --config loads back to the same run.",
)
@click.option(
    "--every",
    type=click.IntRange(min=1),
    default=1,
    metavar="N",
    help="Print every Nth epoch and the last (JSON lines too); --out still writes every epoch.",
)
def run(
    as_json: bool,
    quiet: bool,
    out: str | None,
    vary: tuple[str, ...],
    every: int,
    save_config: str | None,
    **options: Any,
) -> None:
    """Train headless and print a line per epoch, in the seeds' style, at full precision. A run stops at its
    epoch budget, at divergence, or by a stop rule (--target-rmse, --patience): the summary says which."""
    configs = configs_from(options)
    config = configs[0]
    lanes = None
    if vary:
        from gdtui.cli.race_run import check_vary

        if len(configs) > 1:
            raise click.BadParameter(BOTH_LANES, param_hint="'--vary'")
        lanes = check_vary(config, vary)
    elif len(configs) > 1:
        from gdtui.cli.race_run import file_lanes

        lanes = file_lanes(configs)
    if save_config:
        from gdtui.engine.history import write_atomic
        from gdtui.engine.tomlconfig import dump

        try:
            write_atomic(save_config, dump([lane for _, lane in lanes] if lanes else [config]))
        except OSError as error:
            raise click.BadParameter(
                f"{save_config}: {error.strerror or error}", param_hint="'--save-config'"
            ) from None
        click.echo(f"gdtui: settings written to {save_config}", err=True)
    for note in unused(options, config):
        click.echo(f"gdtui: note: {note}", err=True)
    if out:
        folder = os.path.dirname(os.path.abspath(out))
        if not os.path.isdir(folder) or not os.access(folder, os.W_OK):
            raise click.BadParameter(f"{out}: cannot write in {folder}", param_hint="'--out'")
    if lanes is not None:
        from gdtui.cli.race_run import run_race

        run_race(lanes, vary, check_data(config), as_json, quiet, out)
        return
    trainer = build_trainer(config, check_data(config))
    for warning in trainer.data.warnings:
        click.echo(f"gdtui: warning: {warning}", err=True)
    echo = click.echo
    while not trainer.done and trainer.status == "ok":
        chunk = trainer.run_chunk(min(config.epochs - trainer.epoch, 1000))
        if quiet:
            continue
        assert chunk is not None  # at least one epoch to run, no time budget: an epoch always ran
        results = [r for r in chunk.results() if r.epoch % every == 0 or (r.epoch == trainer.epoch and trainer.done)]
        if results:
            echo("\n".join(json.dumps({"event": "epoch", **r.record()}) if as_json else epoch_line(r) for r in results))
    last = trainer.history.result(trainer.epoch - 1)
    diverged = trainer.status == "diverged"
    if out:
        try:
            trainer.history.write(out)
        except OSError as error:
            raise click.BadParameter(f"{out}: {error.strerror or error}", param_hint="'--out'") from None
    if as_json:
        echo(
            json.dumps(
                {
                    "event": "summary",
                    "epochs": trainer.epoch,
                    "status": trainer.status,
                    "rmse": last.record()["rmse"],
                    "params": last.record()["params"],
                    "device": str(trainer.device),
                    "preset": config.preset,
                    "stopped": trainer.stop_reason,
                    **(
                        {
                            "batches": "an update per batch; an epoch's loss is the mean of its batch losses, each "
                            "taken before its own update, its RMSE the root of the mean of their mean squared errors"
                        }
                        if trainer.config.batch_size is not None
                        else {}
                    ),
                }
            )
        )
    else:
        params = params_text(last.params, "", "  ")  # repr precision (":" with no spec): every digit
        echo(f"{trainer.status}: {trainer.epoch} epochs on {trainer.device}  RMSE: {last.rmse!r}  params: {params}")
        if trainer.stopped is not None:
            echo(f"stopped: {STOPS[trainer.stopped].format(config=config)} at epoch {trainer.epoch}")
    if diverged:
        click.echo(f"gdtui: diverged at epoch {last.epoch} (lr {config.lr:g}): try a smaller lr", err=True)
        click.get_current_context().exit(EXIT_DIVERGED)


@cli.command()
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


def main(argv: list[str] | None = None) -> int:
    """Entry point: click errors become one line on stderr and exit code 2."""
    try:
        code = cli.main(args=argv, prog_name="gdtui", standalone_mode=False)
    except click.ClickException as error:
        click.echo(f"gdtui: error: {error.format_message()}", err=True)
        return EXIT_USAGE
    except click.exceptions.Abort:
        return 130
    except KeyboardInterrupt:
        return 130
    return code if isinstance(code, int) else EXIT_OK


from gdtui.cli import export as _cli_export  # noqa: E402,F401  registers its commands
from gdtui.cli import landscape as _cli_landscape  # noqa: E402,F401  registers its commands
from gdtui.cli import serve as _cli_serve  # noqa: E402,F401  registers its commands
