"""The protocol between a UI and its training session: one frozen dataclass per command and per reply.

Why: the app and the session live in two processes and speak only through a pipe. Positional tuples let a
report lose track of its lane (a "results" the app credited to whichever lane it believed focused); typed
messages say what they carry, and every report names the lane it is about, so the UI credits each one to
that lane whatever it has focused meanwhile. Torch-free: the app imports this module, and so does the session.

The session serves a race of lanes (gdtui.engine.lanes): Step, Run, Pause and Reset act on every lane in
lockstep; Update, Configure, the LR test, the landscape and the script are the focused lane's. The session
acknowledges every command but Start and Quit with Seen(n), n the commands obeyed so far; every command
takes effect at an epoch boundary.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from gdtui.engine.config import RunConfig
from gdtui.engine.csvfile import CsvData
from gdtui.engine.history import Chunk, EpochResult
from gdtui.engine.record import Record
from gdtui.engine.steps import StepExplained
from gdtui.engine.surface import Curvature, Landscape, LrFind

Span = tuple[tuple[float, float], tuple[float, float]]

# Commands: UI -> session ------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Start:
    """The session's first run, sent with the spawn (its CSV data too, if the command line has read it): `config`
    alone, or the race a `record` holds (its lanes, each change taken at its epoch); with `resume`, every lane
    trained to the epoch it reached, then paused. `journal`: where the session appends the run's record."""

    config: RunConfig
    csv: CsvData | None = None
    record: Record | None = None
    resume: bool = False
    journal: str | None = None
    speed: float | None = None  # epochs a second at most (a playback speed); None: as fast as it trains


@dataclass(frozen=True)
class Step:
    """One epoch of every active lane (pauses a running race)."""


@dataclass(frozen=True)
class Run:
    """Train until paused, done or diverged, reporting every CHUNK_SECONDS."""


@dataclass(frozen=True)
class Pause:
    """Stop training at the next epoch boundary."""


@dataclass(frozen=True)
class Reset:
    """Every lane back to its initial parameters."""


@dataclass(frozen=True)
class Quit:
    """End the session (not acknowledged)."""


@dataclass(frozen=True)
class Update:
    """Live changes of the focused lane (lr, momentum, epochs), taken at the next epoch."""

    changes: Mapping[str, Any]


@dataclass(frozen=True)
class Configure:
    """New settings for the focused lane: a new run alone; in a race, that lane restarts (or every lane, on
    new data)."""

    config: RunConfig


@dataclass(frozen=True)
class Export:
    """Write every lane's history: `path` for one lane, path-lane1, path-lane2... for several (new files:
    path-2, path-3... where a name is taken)."""

    path: str


@dataclass(frozen=True)
class AddLane:
    """A copy of the focused lane from epoch 0 with `changes`, focused."""

    changes: Mapping[str, Any] = field(default_factory=dict)


@dataclass(frozen=True)
class BranchLane:
    """The focused lane from `epoch` (None: its latest) with `changes`, focused."""

    epoch: int | None = None
    changes: Mapping[str, Any] = field(default_factory=dict)


@dataclass(frozen=True)
class RemoveLane:
    """Remove a lane (None: the focused one); never the last."""

    lane: int | None = None


@dataclass(frozen=True)
class FocusLane:
    lane: int


@dataclass(frozen=True)
class WatchLandscape:
    """Watch the focused lane's landscape over `pair` (None: its first two parameters) and `span` (None: every
    path and the minimum), on a grid of `size` (columns, rows)."""

    pair: tuple[str, str] | None
    span: Span | None
    size: tuple[int, int]


@dataclass(frozen=True)
class UnwatchLandscape:
    """The landscape is no longer shown: compute no more grids."""


@dataclass(frozen=True)
class FindLr:
    """An LR range test of the focused lane from its initial parameters (None: the defaults)."""

    start: float | None = None
    end: float | None = None
    steps: int | None = None


@dataclass(frozen=True)
class CancelRead:
    """Stop reading the CSV file under way: the run stays as it was (at start: the preset's own data)."""


@dataclass(frozen=True)
class GetScript:
    """The focused lane as a plain PyTorch script (gdtui.engine.script)."""


@dataclass(frozen=True)
class Speed:
    """Train at most `epochs_per_second` (a playback speed, for a class or a recording); None: as fast as it
    trains."""

    epochs_per_second: float | None


@dataclass(frozen=True)
class GetRecord:
    """The race as a record (its snapshot: `W`), for `purpose` (said back in the reply)."""

    purpose: str = "save"


@dataclass(frozen=True)
class Revisit:
    """Show the focused lane as it stood after `epoch` (0: its initial parameters; past its latest: the latest);
    None: back to the present (nothing is sent back). A newer Revisit replaces one under way."""

    epoch: int | None


@dataclass(frozen=True)
class Explain:
    """One step of the focused lane explained (gdtui.engine.explain): epoch `epoch`'s, with mini-batches batch
    `batch` of it (None: the last); `check`: the gradient by finite differences too."""

    epoch: int
    batch: int | None = None
    check: bool = False


@dataclass(frozen=True)
class WatchTheory:
    """The Theory view is `shown` (the session computes the focused lane's theory then, and anew after every
    change of it) or not."""

    shown: bool


Command = (
    Start
    | Step
    | Run
    | Pause
    | Reset
    | Quit
    | Update
    | Configure
    | Export
    | AddLane
    | BranchLane
    | RemoveLane
    | FocusLane
    | WatchLandscape
    | UnwatchLandscape
    | FindLr
    | CancelRead
    | GetScript
    | GetRecord
    | Speed
    | Revisit
    | Explain
    | WatchTheory
)

# Replies: session -> UI -------------------------------------------------------------------------------------


@dataclass(frozen=True)
class SessionInfo:
    """What the UI needs to draw a new run: its config, device, parameter names, a plot sample of the data
    (x, y, of which the first n_train are training points), the data's size and whether it has a test split.
    Predictions (`preds`, and each chunk's) hold the sample's, then the fitted function's at `line_x`."""

    config: RunConfig
    device: str
    names: tuple[str, ...]
    x: list[float]
    y: list[float]
    n_train: int
    n_points: int
    label: str
    preds: tuple[float, ...]
    has_test: bool
    warnings: tuple[str, ...] = ()
    line_x: tuple[float, ...] = ()  # where `preds` goes on past the sample: the fitted function's x


@dataclass(frozen=True)
class LaneInfo:
    """A lane of the race as the UI lists it: its id, settings, where it branched from, epoch and status."""

    id: int
    config: RunConfig
    origin: tuple[int, int] | None
    epoch: int
    status: str
    stopped: str = ""  # Trainer.stop_reason: "epochs", "target-rmse", "patience", "diverged" or ""


@dataclass(frozen=True)
class Ready:
    """The focused lane `lane` starts anew (a build, a reset, a change of lanes): its data and predictions."""

    lane: int
    info: SessionInfo


@dataclass(frozen=True)
class Lanes:
    """The race's lanes and the focused lane's id, after any change of lanes."""

    lanes: tuple[LaneInfo, ...]
    focus: int


@dataclass(frozen=True)
class Results:
    """Epochs `lane` trained since its last report (a Chunk, column by column)."""

    lane: int
    chunk: Chunk


@dataclass(frozen=True)
class State:
    """The session's state (loading, ready, running, paused, done, diverged) and the focused lane's epoch."""

    lane: int
    state: str
    epoch: int
    speed: float | None = None  # the playback speed asked (epochs a second), None: as fast as it trains


@dataclass(frozen=True)
class History:
    """`lane`'s past, after a change of focus or of lanes: its whole RMSE column and its last epochs."""

    lane: int
    rmse: Sequence[float]
    tail: Chunk | None


@dataclass(frozen=True)
class Applied:
    """A live change `lane` took: its settings now."""

    lane: int
    config: RunConfig


@dataclass(frozen=True)
class Error:
    """A change or request refused, or a command that failed; `field` names what was at fault."""

    field: str
    message: str


@dataclass(frozen=True)
class Exported:
    """`lane`'s history, `rows` epochs, written to `path`."""

    lane: int
    path: str
    rows: int


@dataclass(frozen=True)
class Seen:
    """The session has obeyed `count` commands (of those sent since it started, Start and Quit uncounted)."""

    count: int


@dataclass(frozen=True)
class CurvatureKnown:
    """`lane`'s curvature at its current parameters (its lr limit 2/λmax)."""

    lane: int
    curvature: Curvature


@dataclass(frozen=True)
class LandscapeReady:
    """A grid of `lane`'s landscape, with every lane's thinned path when the view asked anew (else None: the
    UI grows the paths it has from the reports)."""

    lane: int
    grid: Landscape
    paths: Mapping[int, list[tuple[float, float]]] | None
    curvature: Curvature


@dataclass(frozen=True)
class LrFound:
    """The LR range test of `lane`."""

    lane: int
    result: LrFind


@dataclass(frozen=True)
class Reading:
    """The session reads `path` before a run can start on it: `fraction` of the file is read (a slice at a
    time, the pipe read between slices: CancelRead stops it)."""

    path: str
    fraction: float


@dataclass(frozen=True)
class ScriptReady:
    """`lane` as a plain PyTorch script."""

    lane: int
    text: str


@dataclass(frozen=True)
class RecordReady:
    """The race as a record: every lane's start, its changes, the epoch it reached, its origin."""

    record: Record
    purpose: str = "save"


@dataclass(frozen=True)
class Revisited:
    """`lane` as it stood after `epoch` of the `latest` it had trained: its parameters (empty for a model whose
    history keeps their norm only), its predictions (as a chunk's `preds`) and that epoch's log row (None at
    epoch 0)."""

    lane: int
    epoch: int
    latest: int
    params: tuple[float, ...]
    preds: tuple[float, ...]
    result: EpochResult | None


@dataclass(frozen=True)
class Explained:
    """A step of `lane`, explained with its numbers."""

    lane: int
    step: StepExplained


@dataclass(frozen=True)
class TheoryKnown:
    """The theory of `lane`'s problem (gdtui.engine.theory): `why` it does not apply, or its `lines`, the
    predicted RMSE at sample `epochs` (the run as recorded, to its epoch budget), each eigen-direction's share
    of the loss above the least squares' at them (`shares`, one tuple a direction, labelled by `directions`),
    and the exact best lr and momentum pair."""

    lane: int
    why: str | None
    lines: tuple[str, ...] = ()
    epochs: tuple[int, ...] = ()
    rmse: tuple[float, ...] = ()
    shares: tuple[tuple[float, ...], ...] = ()
    directions: tuple[str, ...] = ()
    best_lr: float | None = None
    best_pair: tuple[float, float] | None = None
    eigenvalues: tuple[float, ...] = ()  # those that shape the loss (above 0), ascending: the rate map's
    sweep: tuple[tuple[float, float], ...] = ()  # a schedule's (lr, momentum) at the sample epochs


Reply = (
    Ready
    | Lanes
    | Results
    | State
    | History
    | Applied
    | Error
    | Exported
    | Seen
    | CurvatureKnown
    | LandscapeReady
    | LrFound
    | Reading
    | ScriptReady
    | RecordReady
    | Revisited
    | Explained
    | TheoryKnown
)
