"""Other holders of a session store's lock, for the kit's lock tests: a thread of this process, or
a separate process started with ``multiprocessing``'s *spawn* method (a fresh interpreter that
builds its own store from a picklable factory, as another worker of a deployment would).

A peer obeys commands sent over a pipe and answers each one::

    ("lock", key, timeout)      enter store.lock(key, timeout)  -> ("held", bool)
        then ("unlock",)        leave it normally               -> ("unlocked",)
        or   ("raise",)         leave it by raising             -> ("raised",)
    ("contend", key, rounds, hold, log)
                                take the lock ``rounds`` times, holding it ``hold`` seconds,
                                appending "PID enter" / "PID exit" lines to the file ``log``
                                                                -> ("contended", all held)
    ("exit",)                   stop                            -> nothing

A peer that fails answers ``("error", traceback)``.
"""

from __future__ import annotations

import multiprocessing
import os
import threading
import time
import traceback
from collections.abc import Callable
from multiprocessing.connection import Connection
from typing import Any

__all__ = ["Peer", "PeerError", "spawn_peer", "thread_peer"]

READY_TIMEOUT = 120.0  # a spawned interpreter imports everything again; the machine may be busy
REPLY_TIMEOUT = 60.0


class PeerError(AssertionError):
    """A peer failed or did not answer in time (the message says what it was doing)."""


class _Raised(Exception):
    """What a peer raises inside the lock when told to."""


def run_peer(conn: Connection, make_store: Callable[[], Any]) -> None:
    """The peer's loop (the target of the thread or the spawned process)."""
    try:
        store = make_store()
        conn.send(("ready", os.getpid()))
        while True:
            command = conn.recv()
            if command[0] == "exit":
                return
            if command[0] == "lock":
                _lock(conn, store, command[1], command[2])
            elif command[0] == "contend":
                _contend(conn, store, *command[1:])
            else:
                raise ValueError(f"unknown peer command {command[0]!r}")
    except (EOFError, OSError):
        return  # the test went away
    except BaseException:
        try:
            conn.send(("error", traceback.format_exc()))
        except OSError:
            pass
    finally:
        conn.close()


def _lock(conn: Connection, store: Any, key: str, timeout: float) -> None:
    try:
        with store.lock(key, timeout) as held:
            conn.send(("held", bool(held)))
            if conn.recv()[0] == "raise":
                raise _Raised
        conn.send(("unlocked",))
    except _Raised:
        conn.send(("raised",))


def _contend(conn: Connection, store: Any, key: str, rounds: int, hold: float, log: str) -> None:
    name = f"{os.getpid()}-{threading.get_ident()}"
    every = True
    for _ in range(rounds):
        with store.lock(key, 60.0) as held:
            every = every and bool(held)
            _append(log, f"{name} enter\n")
            time.sleep(hold)
            _append(log, f"{name} exit\n")
    conn.send(("contended", every))


def _append(path: str, line: str) -> None:
    fd = os.open(path, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o600)
    try:
        os.write(fd, line.encode("ascii"))
    finally:
        os.close(fd)


class Peer:
    """The test's end of a peer: send a command, wait for its answer."""

    def __init__(self, conn: Connection, what: str, process: Any = None, thread: Any = None):
        self.conn = conn
        self.what = what
        self.process = process
        self.thread = thread
        self.pid: int | None = None

    def ready(self) -> Peer:
        self.pid = self.expect("ready", timeout=READY_TIMEOUT)[1]
        return self

    def send(self, *command: Any) -> None:
        self.conn.send(command)

    def expect(self, answer: str, timeout: float = REPLY_TIMEOUT) -> tuple[Any, ...]:
        """The next answer, which must be ``answer``; PeerError otherwise."""
        if not self.conn.poll(timeout):
            raise PeerError(f"{self.what} did not answer {answer!r} within {timeout:g} s")
        try:
            reply: tuple[Any, ...] = self.conn.recv()
        except EOFError:
            raise PeerError(f"{self.what} ended before answering {answer!r}") from None
        if reply[0] == "error":
            raise PeerError(f"{self.what} failed:\n{reply[1]}")
        if reply[0] != answer:
            raise PeerError(f"{self.what} answered {reply[0]!r}, not {answer!r}")
        return reply

    def lock(self, key: str, timeout: float) -> bool:
        """Take the lock in the peer; True when held. Leave it with :meth:`unlock`."""
        self.send("lock", key, timeout)
        return bool(self.expect("held", timeout=timeout + REPLY_TIMEOUT)[1])

    def unlock(self, *, by_raising: bool = False) -> None:
        self.send("raise" if by_raising else "unlock")
        self.expect("raised" if by_raising else "unlocked")

    def kill(self) -> None:
        """End the peer process at once (SIGKILL): nothing of its own runs any more."""
        assert self.process is not None, "only a process peer can be killed"
        self.process.kill()
        self.process.join(30)

    def close(self) -> None:
        """Stop the peer (leaving any lock it holds) and wait for it to end."""
        try:
            self.send("exit")
        except OSError:
            pass
        self.conn.close()  # a peer waiting for a command sees the end of the pipe
        if self.process is not None:
            self.process.join(10)
            if self.process.is_alive():
                self.process.kill()
                self.process.join(10)
        if self.thread is not None:
            self.thread.join(10)


def spawn_peer(factory: Callable[[], Any]) -> Peer:
    """A peer in a new process (spawn) building its store with ``factory()``; ready to command."""
    context = multiprocessing.get_context("spawn")
    parent, child = context.Pipe()
    process = context.Process(
        target=run_peer, args=(child, factory), name="ksef-auth-kit-peer", daemon=True
    )
    process.start()
    child.close()
    return Peer(parent, f"the peer process {process.pid}", process=process)


def thread_peer(store: Any) -> Peer:
    """A peer in a thread of this process, sharing ``store`` itself."""
    parent, child = multiprocessing.Pipe()
    thread = threading.Thread(
        target=run_peer, args=(child, lambda: store), name="ksef-auth-kit-peer", daemon=True
    )
    thread.start()
    return Peer(parent, "the peer thread", thread=thread)
