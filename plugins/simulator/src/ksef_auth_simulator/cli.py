"""``ksef-auth simulator``: serve a simulator until interrupted, printing its base URL."""

from __future__ import annotations

import signal
import sys
import threading
from types import FrameType

import click


def _seed(values: tuple[str, ...]) -> list[tuple[str, str]]:
    pairs = []
    for value in values:
        nip, sep, token = value.partition("=")
        if not sep or not nip or not token:
            raise click.BadParameter(
                f"expected NIP=TOKEN, got {value!r}", param_hint="--seed-token"
            )
        pairs.append((nip.strip(), token.strip()))
    return pairs


@click.command("simulator")
@click.option("--host", default="127.0.0.1", show_default=True, help="Address to bind.")
@click.option("--port", default=0, type=int, show_default=True, help="Port (0 = a free one).")
@click.option(
    "--access-ttl", type=float, default=900.0, show_default=True, help="Access token lifetime, s."
)
@click.option(
    "--refresh-ttl",
    type=float,
    default=604800.0,
    show_default=True,
    help="Refresh token lifetime, s.",
)
@click.option(
    "--auth-delay", type=float, default=0.0, show_default=True, help="Seconds at status 100."
)
@click.option("--no-rate-limits", is_flag=True, help="Switch the published rate limits off.")
@click.option(
    "--rate-limit-scale", type=float, default=1.0, show_default=True, help="Multiply every limit."
)
@click.option("--rotate-keys", is_flag=True, help="List two encryption keys per usage.")
@click.option(
    "--seed-token",
    "seed_tokens",
    multiple=True,
    metavar="NIP=TOKEN",
    help="Pre-register an Active KSeF token for a NIP context (repeatable).",
)
def simulator(
    host: str,
    port: int,
    access_ttl: float,
    refresh_ttl: float,
    auth_delay: float,
    no_rate_limits: bool,
    rate_limit_scale: float,
    rotate_keys: bool,
    seed_tokens: tuple[str, ...],
) -> None:
    """Run a local KSeF 2.0 authentication simulator (prints its base URL, then serves)."""
    from ksef_auth_simulator import Simulator, SimulatorConfig, serve

    seeds = _seed(seed_tokens)
    sim = Simulator(
        SimulatorConfig(
            access_token_ttl=access_ttl,
            refresh_token_ttl=refresh_ttl,
            auth_delay=auth_delay,
            rate_limits=not no_rate_limits,
            rate_limit_scale=rate_limit_scale,
            rotate_keys=rotate_keys,
        )
    )
    for nip, token in seeds:
        sim.register_ksef_token(nip, token)
    stop = threading.Event()

    def _handler(signum: int, frame: FrameType | None) -> None:
        stop.set()

    previous = {sig: signal.signal(sig, _handler) for sig in (signal.SIGINT, signal.SIGTERM)}
    try:
        with serve(sim, host=host, port=port) as running:
            click.echo(running.base_url)
            sys.stdout.flush()
            while not stop.wait(0.2):
                pass
    finally:
        for sig, old in previous.items():
            signal.signal(sig, old)
