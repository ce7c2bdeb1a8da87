"""``serve()``: run a Simulator with uvicorn in a background thread, on real loopback HTTP."""

from __future__ import annotations

import socket
import threading
import time
from types import TracebackType

from ksef_auth_simulator.simulator import Simulator


class RunningSimulator:
    """A served Simulator: ``base_url`` (``.../v2``), ``root_url``, ``sim``; ``stop()``."""

    def __init__(self, sim: Simulator, host: str = "127.0.0.1", port: int = 0) -> None:
        import uvicorn

        self.sim = sim
        self.host = host
        family = socket.AF_INET6 if ":" in host else socket.AF_INET
        # IPPROTO_TCP explicitly: asyncio only sets TCP_NODELAY on sockets whose proto says TCP,
        # and without it every keep-alive request waits ~40 ms for a delayed ACK
        self._socket = socket.socket(family, socket.SOCK_STREAM, socket.IPPROTO_TCP)
        self._socket.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        self._socket.bind((host, port))
        self.port: int = self._socket.getsockname()[1]
        config = uvicorn.Config(
            sim.app,
            log_level="warning",
            lifespan="off",
            access_log=False,
            timeout_graceful_shutdown=1,
            backlog=2048,
        )
        self._server = uvicorn.Server(config)
        self._thread = threading.Thread(
            target=self._server.run,
            kwargs={"sockets": [self._socket]},
            name=f"ksef-simulator-{self.port}",
            daemon=True,
        )

    @property
    def root_url(self) -> str:
        host = f"[{self.host}]" if ":" in self.host else self.host
        return f"http://{host}:{self.port}"

    @property
    def base_url(self) -> str:
        return f"{self.root_url}/v2"

    def start(self, timeout: float = 10.0) -> RunningSimulator:
        self._thread.start()
        deadline = time.monotonic() + timeout
        while not self._server.started:
            if not self._thread.is_alive():
                raise RuntimeError("the simulator's server thread died while starting")
            if time.monotonic() > deadline:
                raise RuntimeError(f"the simulator did not start within {timeout} s")
            time.sleep(0.005)
        return self

    def stop(self) -> None:
        """Stop serving (idempotent) and wait for the thread."""
        self._server.should_exit = True
        if self._thread.is_alive():
            self._thread.join(timeout=5)
        self._socket.close()

    def __enter__(self) -> RunningSimulator:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.stop()


def serve(sim: Simulator | None = None, host: str = "127.0.0.1", port: int = 0) -> RunningSimulator:
    """Start serving ``sim`` (a new default Simulator if None); use as a context manager."""
    return RunningSimulator(sim or Simulator(), host, port).start()
