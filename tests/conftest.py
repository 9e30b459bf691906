"""Fixtures every test gets: guards that one test cannot leave the process changed for the next."""

from __future__ import annotations

import signal

import pytest


@pytest.fixture(autouse=True)
def signal_mask_unchanged():
    """A test that runs gdtui in-process must leave the signal mask as it found it: a SIGTERM blocked here is
    blocked in every child started after (a `gdtui run` that a later test signals would never end)."""
    before = signal.pthread_sigmask(signal.SIG_BLOCK, [])
    yield
    after = signal.pthread_sigmask(signal.SIG_SETMASK, before)
    assert after == before, f"the test left signals blocked: {sorted(after - before)}"


@pytest.fixture(autouse=True)
def state_folder(tmp_path_factory, monkeypatch):
    """The user's state folder (where the TUI keeps its journals) is a fresh one per test, never the real one:
    a TUI run in-process, or a gdtui started by a test, journals there."""
    folder = tmp_path_factory.mktemp("state")
    monkeypatch.setenv("XDG_STATE_HOME", str(folder))
    return folder
