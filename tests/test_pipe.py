"""The pipe between the app and the session never deadlocks: the app's commands are never written by a blocking
send (the session may be blocked sending a large reply the app would then never read), and a newer
WatchLandscape replaces an unsent one.

The deadlock is forced, not timed: small socket buffers, a session that sends all its large replies before it
reads a command, and an app that sends all its commands in one callback of its event loop. With a blocking send
both sides wait on each other for ever; the session's socket has a send timeout (SO_SNDTIMEO) only so that the
old code fails the test instead of hanging it.
"""

from __future__ import annotations

import asyncio
import socket
import struct
import threading
from multiprocessing.connection import Connection

from gdtui.engine import protocol as p
from gdtui.tui.client import SessionClient

BUFFER = 4096  # bytes: the kernel doubles it, and rounds it up to its minimum
REPLY = 60_000  # a landscape grid's worth
GIVE_UP = 20  # seconds: how long the scripted session waits on a blocked send before it calls it a deadlock


class Target:
    """Stands in for the app: collects the replies the client posts, and says when `wanted` have come."""

    def __init__(self, wanted: int, loop: asyncio.AbstractEventLoop):
        self.replies: list[p.Reply] = []
        self.wanted = wanted
        self.all_came = asyncio.Event()

    def post_message(self, message) -> None:
        if not hasattr(message, "reply"):  # SessionLost: the scripted session closed its end when it was done
            return
        self.replies.append(message.reply)
        if len(self.replies) >= self.wanted:
            self.all_came.set()


def small_pair() -> tuple[socket.socket, socket.socket]:
    ours, theirs = socket.socketpair()
    for sock in (ours, theirs):
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_SNDBUF, BUFFER)
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, BUFFER)
    timeout = struct.pack("ll", GIVE_UP, 0)
    theirs.setsockopt(socket.SOL_SOCKET, socket.SO_SNDTIMEO, timeout)
    theirs.setsockopt(socket.SOL_SOCKET, socket.SO_RCVTIMEO, timeout)
    return ours, theirs


def big_reply(k: int) -> p.Reply:
    return p.Error("landscape", f"{k:04d}" + "x" * REPLY)


def zoom(k: int) -> p.WatchLandscape:
    return p.WatchLandscape(("a", "b"), ((0.0, 1.0 + k), (0.0, 1.0)), (120, 72))


def scripted_session(theirs: socket.socket, replies: int, done, loop) -> None:
    """Send every reply (blocking) before reading any command, then read commands until Quit."""
    conn = Connection(theirs.detach())
    received: list[p.Command] = []
    outcome = "ok"
    try:
        for k in range(replies):
            conn.send(big_reply(k))
        while True:
            command = conn.recv()
            if isinstance(command, p.Quit):
                break
            received.append(command)
    except (OSError, EOFError) as error:  # a send or read that timed out: both sides were blocked
        outcome = f"deadlocked: {type(error).__name__}"
    finally:
        conn.close()
    loop.call_soon_threadsafe(done.set_result, (outcome, received))


def test_many_commands_against_large_replies_never_deadlock():
    replies, commands = 20, 1100

    async def scenario():
        loop = asyncio.get_running_loop()
        ours, theirs = small_pair()
        client = SessionClient()
        client.adopt(ours)
        target = Target(replies, loop)
        client.attach(target)
        done = loop.create_future()
        session = threading.Thread(target=scripted_session, args=(theirs, replies, done, loop), daemon=True)
        session.start()
        for k in range(commands):  # one callback of the event loop: it reads nothing meanwhile
            client.send(zoom(k) if k % 2 else p.Step())
        client.send(p.Quit())
        outcome, received = await done
        if outcome == "ok":
            await target.all_came.wait()
        session.join()
        sent = client.sent
        client.stop()
        return outcome, received, target.replies, sent

    outcome, received, replies_read, sent = asyncio.run(scenario())
    assert outcome == "ok"
    assert [r.message[:4] for r in replies_read] == [f"{k:04d}" for k in range(replies)]
    # every Step arrived, in order; every zoom that was not replaced by a newer one before it was written too
    steps = [c for c in received if isinstance(c, p.Step)]
    assert len(steps) == commands // 2
    zooms = [c for c in received if isinstance(c, p.WatchLandscape)]
    assert zooms[-1] == zoom(commands - 1)
    assert [z.span[0][1] for z in zooms] == sorted(z.span[0][1] for z in zooms)
    assert sent == len(received) + 1  # Quit counted as sent; the session acknowledges all the others


def test_a_newer_zoom_replaces_an_unsent_one_and_is_not_counted_twice():
    async def scenario():
        ours, theirs = small_pair()
        client = SessionClient()
        client.adopt(ours)
        client.attach(Target(0, asyncio.get_running_loop()))
        steps = 0
        while client.pending == 0:  # fill the socket until a command waits in the queue
            client.send(p.Step())
            steps += 1
        client.send(zoom(1))
        client.send(zoom(2))
        client.send(zoom(3))  # the two before it were never written: it replaces them
        sent = client.sent
        conn = Connection(theirs.detach())
        received = []
        while len(received) < steps + 1:
            await asyncio.sleep(0)  # let the loop write what the socket now takes
            while conn.poll():
                received.append(conn.recv())
        client.stop()
        conn.close()
        return steps, sent, received

    steps, sent, received = asyncio.run(scenario())
    assert received[:steps] == [p.Step()] * steps
    assert received[steps:] == [zoom(3)]
    assert sent == steps + 1
