"""The session's jobs: long computations done a slice at a time between chunks of training (the curvature, the
theory, the LR range test, a revisit; the CSV read of gdtui.engine.session_race), each answered when done.

Why: a job must never hold training or the pipe up: the loop advances every job under way for at most a chunk's
time (the session's CHUNK_SECONDS) while training runs, else until done or a command waits; a new request of a kind
replaces the one under way, and a job that fails is dropped and reported like a command that failed.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Generator
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from gdtui.engine import protocol as p
from gdtui.engine.session_part import SessionPart
from gdtui.engine.surface import Curvature

if TYPE_CHECKING:
    from gdtui.engine.trainer import Trainer

NO_CURVATURE = Curvature([], [], None, False)  # a model with no landscape (one parameter...)


@dataclass
class Job:
    """A long computation done a slice at a time between chunks (a generator: each `next()` a slice; its return
    value is the result), and what to do with its result."""

    work: Generator[None, None, Any]
    done: Callable[[Any], None]


class SessionJobs(SessionPart):
    """The session's jobs under way, by what each is, and the requests that start them."""

    jobs: dict[str, Job]  # the curvature, the LR range test: each under way, by what it is
    theory_shown: bool  # the Theory view is up: its theory follows the focused lane's changes

    def start_curvature(self, t: Trainer) -> None:
        """Compute the focused lane's curvature at its current parameters, a slice at a time (the first slice now:
        a small model's is done in it, and its CurvatureKnown follows the Ready at once); a new one replaces it."""
        from gdtui.engine.landscape import curvature_job

        lane = self.focus
        try:
            self.start_job("curvature", curvature_job(t), lambda found: self.conn.send(p.CurvatureKnown(lane, found)))
        except ValueError:  # a model with no landscape
            self.conn.send(p.CurvatureKnown(lane, NO_CURVATURE))

    def start_job(self, name: str, work: Generator[None, None, Any], done: Callable[[Any], None]) -> None:
        """Start `work` (replacing a job of the same name) and do its first slice now."""
        before = self.jobs.get(name)
        self.jobs[name] = Job(work, done)
        try:
            self.tend_job(name, slices=1)
        except Exception:
            if before is not None and name not in self.jobs:  # a request refused at once keeps the one under way
                self.jobs[name] = before
            raise

    def tend_jobs(self) -> None:
        """Advance every job under way: up to the session's CHUNK_SECONDS of slices while training runs, else until
        done or a command waits."""
        for name in list(self.jobs):
            self.obey(name, lambda: self.tend_job(name), acknowledge=False)  # noqa: B023 (called at once)

    def tend_job(self, name: str, slices: int | None = None) -> None:
        """Advance the job `name`: `slices` of it, or (None) for the session's CHUNK_SECONDS at most, giving way to
        a waiting command; done, it is dropped and its result answered."""
        job = self.jobs.get(name)
        if job is None:
            return
        end = time.perf_counter() + self.chunk_seconds()
        done = 0
        try:
            while True:
                if slices is None and self.conn.poll():  # a command first: a slice can take tens of ms
                    return
                try:
                    next(job.work)
                except StopIteration as finished:
                    if self.jobs.get(name) is job:
                        del self.jobs[name]
                    job.done(finished.value)
                    return
                done += 1
                if slices is not None and done >= slices:
                    return
                if time.perf_counter() > end:
                    return
        except BaseException:
            if self.jobs.get(name) is job:  # a job that failed is dropped (obey reports it)
                del self.jobs[name]
            raise

    def send_theory(self) -> None:
        """The focused lane's theory, when its view is up (a job: a stage a slice)."""
        t = self.trainer
        if not self.theory_shown or t is None:
            return
        from gdtui.engine.theory import report

        lane = self.focus
        self.start_job("theory", report(t), lambda found: self.conn.send(p.TheoryKnown(lane, **found)))

    def revisit(self, t: Trainer, epoch: int | None) -> None:
        """The focused lane after `epoch` (time travel), read from its history or replayed a slice at a time;
        None: back to the present, a revisit under way dropped."""
        from gdtui.engine.revisit import revisiting

        self.jobs.pop("revisit", None)
        if epoch is None:
            return
        lane, at, latest = self.focus, min(max(epoch, 0), t.epoch), t.epoch

        def found(revisited: tuple[tuple[float, ...], tuple[float, ...]]) -> None:
            if self.trainer is t and t.epoch >= at:  # not reset meanwhile
                result = t.history.result(at - 1) if at else None
                self.conn.send(p.Revisited(lane, at, latest, *revisited, result))

        self.start_job("revisit", revisiting(t, at), found)

    def find_lr(self, t: Trainer, ask: p.FindLr) -> None:
        """The LR range test from the focused lane's start, a step a slice (the lane itself is left as it was)."""
        from gdtui.engine.landscape import lr_find_job

        ramp = {name: value for name, value in vars(ask).items() if value is not None}
        lane = self.focus
        try:
            self.start_job("lr_find", lr_find_job(t, **ramp), lambda found: self.conn.send(p.LrFound(lane, found)))
        except ValueError as error:
            self.conn.send(p.Error("lr_find", str(error)))
