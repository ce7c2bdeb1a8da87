"""Loopback servers for faults the simulator cannot inject itself. Holds no tests.

* :class:`ReplayingProxy` forwards to the simulator and, for chosen endpoints, sends each
  request *twice* and answers with the second answer: a middlebox that replays a request and
  loses the first answer (KSeF then refuses the replay: 21111 for a used challenge, 21301 for
  an already redeemed operation).
* :class:`SilentServer` accepts connections and never answers.
* :class:`EndlessBodyServer` answers 200 with a body that never ends: trickled a byte at a time
  (each read gets data, so no per-read timeout fires) or flooded as fast as it goes.

All bind 127.0.0.1 on a free port, run in daemon threads and are stopped by ``stop()``.
"""

from __future__ import annotations

import re
import socket
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import httpx

_HOP = {"host", "content-length", "connection", "transfer-encoding", "keep-alive"}


def _pattern(endpoint: str) -> tuple[str, re.Pattern[str]]:
    method, path = endpoint.split(" ", 1)
    regex = re.sub(r"\\\{[A-Za-z]+\\\}", r"[^/]+", re.escape(path))
    return method, re.compile(f"^/v2{regex}$")


class ReplayingProxy:
    """An HTTP proxy in front of ``upstream`` (a root URL such as ``http://127.0.0.1:8765``)."""

    def __init__(self, upstream: str, *, twice: tuple[str, ...] = (), times: int | None = None):
        self.upstream = upstream
        self.twice = [_pattern(e) for e in twice]
        self.times = times  # how many requests to replay (None: every matching one)
        self.replayed = 0
        self._lock = threading.Lock()
        self._client = httpx.Client(base_url=upstream, timeout=10.0)
        proxy = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def log_message(self, format: str, *args: Any) -> None:
                pass

            def _forward(self) -> None:
                length = int(self.headers.get("Content-Length") or 0)
                body = self.rfile.read(length) if length else b""
                headers = {k: v for k, v in self.headers.items() if k.lower() not in _HOP}
                sends = 2 if proxy._replays(self.command, self.path.split("?")[0]) else 1
                response = None
                for _ in range(sends):
                    response = proxy._client.request(
                        self.command, self.path, content=body, headers=headers
                    )
                assert response is not None
                self.send_response(response.status_code)
                for key, value in response.headers.items():
                    if key.lower() not in _HOP and key.lower() != "content-encoding":
                        self.send_header(key, value)
                self.send_header("Content-Length", str(len(response.content)))
                self.end_headers()
                self.wfile.write(response.content)

            do_GET = do_POST = do_DELETE = _forward

        self._server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self._server.daemon_threads = True
        self.port = self._server.server_address[1]
        self._thread = threading.Thread(target=self._server.serve_forever, daemon=True)
        self._thread.start()

    @property
    def base_url(self) -> str:
        return f"http://127.0.0.1:{self.port}/v2"

    def _replays(self, method: str, path: str) -> bool:
        with self._lock:
            if self.times is not None and self.replayed >= self.times:
                return False
            if any(m == method and p.match(path) for m, p in self.twice):
                self.replayed += 1
                return True
            return False

    def stop(self) -> None:
        self._server.shutdown()
        self._server.server_close()
        self._client.close()


class SilentServer:
    """Accepts TCP connections (the kernel's backlog does) and never answers a byte."""

    def __init__(self) -> None:
        self._socket = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        self._socket.bind(("127.0.0.1", 0))
        self._socket.listen(64)
        self.port = self._socket.getsockname()[1]

    @property
    def base_url(self) -> str:
        return f"http://127.0.0.1:{self.port}/v2"

    def stop(self) -> None:
        self._socket.close()


class EndlessBodyServer:
    """Answers every request with ``200`` and a JSON content type, then a body without end:
    ``mode="trickle"`` sends one space every 0.1 s, ``mode="flood"`` 64 kB chunks (chunked
    encoding) as fast as the client reads them."""

    def __init__(self, mode: str) -> None:
        self.mode = mode
        self._socket = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        self._socket.bind(("127.0.0.1", 0))
        self._socket.listen(64)
        self.port = self._socket.getsockname()[1]
        self._stopped = threading.Event()
        threading.Thread(target=self._accept, daemon=True).start()

    @property
    def base_url(self) -> str:
        return f"http://127.0.0.1:{self.port}/v2"

    def _accept(self) -> None:
        while not self._stopped.is_set():
            try:
                connection, _ = self._socket.accept()
            except OSError:
                return
            threading.Thread(target=self._answer, args=(connection,), daemon=True).start()

    def _answer(self, connection: socket.socket) -> None:
        head = b"HTTP/1.1 200 OK\r\nContent-Type: application/json\r\n"
        chunk = b" " * 65536
        with connection:
            try:
                connection.recv(65536)
                if self.mode == "trickle":
                    connection.sendall(head + b"Content-Length: 1000000\r\n\r\n")
                    while not self._stopped.is_set():
                        connection.sendall(b" ")
                        time.sleep(0.1)
                else:
                    connection.sendall(head + b"Transfer-Encoding: chunked\r\n\r\n")
                    while not self._stopped.is_set():
                        connection.sendall(b"10000\r\n" + chunk + b"\r\n")
            except OSError:  # the client hung up: what a bounded client does
                pass

    def stop(self) -> None:
        self._stopped.set()
        self._socket.close()
