"""Races, in the spirit of botocore's ``test_has_no_race_conditions``.

20 threads read tokens 2,000 times each while 200 asyncio tasks do the same, all while the
simulator's access tokens live 2 s. The threads are split over two session managers sharing one
store (as two processes sharing Redis would be), so the store's lock and the re-read after it are
exercised too. Every token handed out must be one the simulator issued (never torn) and still
valid, per the ``validUntil`` it was issued with, at the moment the caller got it; and the
simulator must count no more logins + refreshes than ``ceil(elapsed / lifetime) + 1``.

The refresh windows are narrowed for the 2 s tokens (advisory 0.2 s, mandatory 0.1 s before
expiry): with the default floors (60 s / 10 s, capped at half and a quarter of the lifetime) a
2 s token would be refreshed every second, and the bound above assumes a refresh about once per
lifetime, as with real 15-minute tokens.
"""

from __future__ import annotations

import asyncio
import math
import threading
import time
from collections.abc import Callable

from ksef_auth import RefreshPolicy, SessionTokens
from ksef_auth_memory import MemoryStore
from ksef_auth_simulator import RunningSimulator

from .test_flow_support import context_counts, make_strategy, new_nip

LIFETIME = 2.0
THREADS = 20
READS = 2_000
TASKS = 200
TASK_READS = 100
POLICY = RefreshPolicy(
    advisory_fraction=0.1, advisory_floor=0.05, mandatory_fraction=0.05, mandatory_floor=0.02
)


class RecordingStore(MemoryStore):
    """Remembers the validUntil of every access token put into it."""

    def __init__(self) -> None:
        super().__init__()
        self.valid_until: dict[str, float] = {}

    def put(self, key: str, tokens: SessionTokens) -> None:
        value = tokens.access_token
        self.valid_until[value.value.reveal()] = value.valid_until.timestamp()
        super().put(key, tokens)


def test_no_torn_or_expired_token_and_bounded_renewals(
    make_ksef_simulator: Callable[..., RunningSimulator],
) -> None:
    # A TTL that is not a whole number of seconds makes the simulator issue exact lifetimes;
    # for whole seconds it truncates iat to the second as KSeF does (tokens then live 1-2 s).
    running = make_ksef_simulator(access_token_ttl=LIFETIME + 1e-4)
    nip = new_nip()
    token = running.sim.issue_ksef_token(nip)
    store = RecordingStore()
    strategies = [
        make_strategy(running, nip, token=token, store=store, policy=POLICY) for _ in range(2)
    ]
    seen: list[list[tuple[str, float]]] = []
    errors: list[BaseException] = []
    start = threading.Barrier(THREADS + 1)

    def reader(index: int) -> None:
        strategy = strategies[index % 2]
        mine: list[tuple[str, float]] = []
        seen.append(mine)
        start.wait()
        try:
            for _ in range(READS):
                value = strategy.token()
                mine.append((value, time.time()))
                time.sleep(0.002)
        except BaseException as exc:
            errors.append(exc)

    async def task_reader(mine: list[tuple[str, float]]) -> None:
        for _ in range(TASK_READS):
            value = await strategies[0].atoken()
            mine.append((value, time.time()))
            await asyncio.sleep(0.04)

    async def tasks() -> None:
        lists: list[list[tuple[str, float]]] = [[] for _ in range(TASKS)]
        seen.extend(lists)
        await asyncio.gather(*(task_reader(mine) for mine in lists))

    def loop_thread() -> None:
        start.wait()
        try:
            asyncio.run(tasks())
        except BaseException as exc:
            errors.append(exc)

    threads = [threading.Thread(target=reader, args=(i,)) for i in range(THREADS - 1)]
    threads.append(threading.Thread(target=loop_thread))
    for thread in threads:
        thread.start()
    began = time.time()
    start.wait()
    for thread in threads:
        thread.join()
    elapsed = time.time() - began

    assert not errors, errors
    reads = [read for reads in seen for read in reads]
    assert len(reads) == (THREADS - 1) * READS + TASKS * TASK_READS
    valid_until = store.valid_until
    torn = [value for value, _ in reads if value not in valid_until]
    assert not torn, f"{len(torn)} tokens handed out that were never issued"
    late = [(at - valid_until[value]) for value, at in reads if at >= valid_until[value]]
    assert not late, f"{len(late)} expired tokens handed out, up to {max(late):.3f} s late"

    counts = context_counts(running, nip)
    renewals = counts.get("logins_completed", 0) + counts.get("refreshes", 0)
    allowed = math.ceil(elapsed / LIFETIME) + 1
    assert 2 <= renewals <= allowed, (renewals, allowed, elapsed, counts)
    assert counts["logins_completed"] == 1
