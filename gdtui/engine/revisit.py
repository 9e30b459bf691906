"""Any epoch of a lane revisited: its parameters and its predictions as they stood after that epoch.

Why: a learner who saw something happen at epoch 40 goes back to it while the run goes on (time travel). A
model of up to RECORDED_UP_TO parameters keeps every epoch's values in its history, so an epoch is read, not
recomputed: any epoch of a million-epoch run in well under a millisecond. A larger model keeps its values at
checkpoints; the epochs after the one before are replayed bit for bit, a slice at a time, so the session reads
its pipe between slices, and on one torch thread (two threads of a busy machine replay an mlp's epochs many
times slower). The replay is checked against the run's record of those epochs (loss and parameters' norm);
where one thread changed a number, it is replayed again as the run trained. The checkpoints the replay took on
its way are given back to the run (`Trainer.adopt`), so a second visit near there replays at most a spacing of
epochs: a run resumed from its journal keeps its journal's snapshots as checkpoints, seconds of epochs apart.
"""

from __future__ import annotations

from collections.abc import Generator

import torch

from gdtui.engine.trainer import Trainer

Revisited = tuple[tuple[float, ...], tuple[float, ...]]


def revisiting(trainer: Trainer, epoch: int) -> Generator[None, None, Revisited]:
    """The parameters after `epoch` (0: the initial ones) and their predictions (as a chunk's `preds`); a large
    model's parameters are left out (its history keeps their norm), its predictions are there."""
    if not 0 <= epoch <= trainer.epoch:
        raise ValueError(f"epoch {epoch} is not in the run: it has epochs 0 to {trainer.epoch}")
    if not trainer.summarized:
        from gdtui.engine.landscape import params_at

        params = params_at(trainer, epoch)
        return tuple(params), trainer.predictions_of(torch.tensor(params, dtype=torch.float64))
    flat = dict(trainer.kept_flats()).get(epoch)
    if flat is None:
        replayed = yield from _one_thread_each(trainer.replaying(epoch))
        if not _as_recorded(replayed, trainer):  # one thread changed a number: replayed again as the run trained
            replayed = yield from trainer.replaying(epoch)
        if _same_run(replayed, trainer):  # its checkpoints on the way: the next visit near here replays from them
            trainer.adopt(c for c in replayed._checkpoints if c.epoch < epoch)
        flat = replayed.model.flat()
    return (), trainer.predictions_of(flat)


def _one_thread_each(slices: Generator[None, None, Trainer]) -> Generator[None, None, Trainer]:
    """`slices` with torch on one thread during each slice (and as it was between them, when the session may
    train): a large model's epochs replay several times faster than on two threads of a busy machine."""
    from gdtui.engine.landscape import one_thread

    while True:
        with one_thread():
            try:
                next(slices)
            except StopIteration as done:
                replayed: Trainer = done.value
                return replayed
        yield


def _same_run(replayed: Trainer, trainer: Trainer) -> bool:
    """Whether the run replayed is still the trainer's: not reset meanwhile to other settings (a reset to the
    same ones trains the same epochs again, bit for bit), its changes the ones the replay took."""
    taken = [(at, change) for at, change in trainer.changes if at <= replayed.epoch]
    return replayed.start_config == trainer.start_config and replayed.changes == taken


def _as_recorded(replayed: Trainer, trainer: Trainer) -> bool:
    """Whether the epochs replayed are the run's own, bit for bit: their loss and their parameters' norm, as
    the run's history recorded them (the replay starts from a checkpoint of that run)."""
    ours, theirs = replayed.history, trainer.history
    n = len(ours)
    return ours.loss[:n] == theirs.loss[:n] and ours.norm[:n] == theirs.norm[:n]
