"""The session store contract as tests: subclass :class:`SessionStoreContract`, give fixtures.

Every test's docstring is the rule it checks; a failure quotes it.
"""

from __future__ import annotations

import base64
import inspect
import os
import sys
import threading
import time
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any, NoReturn

import attrs
import pytest

from ksef_auth.testing.peers import Peer, spawn_peer, thread_peer
from ksef_auth.testing.tokens import NIPS, make_tokens

__all__ = ["RawStorage", "SessionStoreContract"]


@attrs.frozen
class RawStorage:
    """How the kit reaches what a store keeps outside the process, past the store's own code.

    ``read(key)``: the bytes kept for a store key (None when there are none);
    ``write(key, data)``: replace them (the kit plants corrupt and foreign entries this way);
    ``dump()``: every byte the store keeps (all its files, all its values), which must hold no
    token in clear.
    """

    read: Callable[[str], bytes | None]
    write: Callable[[str, bytes], None]
    dump: Callable[[], bytes]


def violated(detail: str) -> NoReturn:
    """Fail the calling kit test with ``detail`` and the rule it checks (its docstring)."""
    frame = sys._getframe(1)
    while frame is not None and not frame.f_code.co_name.startswith("test_"):
        frame = frame.f_back  # type: ignore[assignment]
    rule = ""
    if frame is not None:
        owner = frame.f_locals.get("self")
        method = getattr(type(owner), frame.f_code.co_name, None)
        rule = inspect.getdoc(method) or ""
    pytest.fail(f"{detail}\n\nThe rule: {rule}" if rule else detail, pytrace=False)


def encodings(secret: str) -> list[bytes]:
    """``secret`` as a careless store might write it: as it is, base64, hex, UTF-16."""
    raw = secret.encode("utf-8")
    return [
        raw,
        base64.b64encode(raw).rstrip(b"="),
        base64.urlsafe_b64encode(raw).rstrip(b"="),
        raw.hex().encode("ascii"),
        raw.hex().upper().encode("ascii"),
        secret.encode("utf-16-le"),
    ]


class SessionStoreContract:
    """Tests every session store must pass. Subclass it and provide the ``store`` fixture; a store
    whose sessions leave the process (``leaves_process = True``) provides ``store_factory`` and
    ``raw_storage`` too, so that the kit can run its lock in other processes and look at what it
    keeps. Override ``dead_holder_timeout`` when a killed holder's lock takes longer than 10 s
    to free (a lock that expires on its own)."""

    # --- fixtures -------------------------------------------------------------------------------

    @pytest.fixture
    def store(self) -> Any:
        """A fresh store (empty, or at least holding nothing under the kit's keys)."""
        raise NotImplementedError("provide a `store` fixture returning a fresh store")

    @pytest.fixture
    def store_factory(self) -> Callable[[], Any] | None:
        """For a store that leaves the process: a picklable callable with no arguments that
        builds another instance over the same storage, as another worker process would (a
        ``functools.partial`` of the class; secrets by ``SecretRef.env``, since a ``Secret``
        refuses to be pickled). None for a store whose sessions stay in this process."""
        return None

    @pytest.fixture
    def raw_storage(self) -> RawStorage | None:
        """For a store that leaves the process: a :class:`RawStorage` over what it keeps."""
        return None

    @pytest.fixture
    def dead_holder_timeout(self) -> float:
        """Seconds within which the lock of a holder that died (was killed) is free again.
        A live holder's lock must not be taken for at least half of this."""
        return 10.0

    @pytest.fixture
    def key(self) -> str:
        """A store key as the session manager builds them (``base URL|context|fingerprint``)."""
        return f"http://127.0.0.1:1/v2|Nip:{NIPS[0]}|tok:{uuid.uuid4().hex[:16]}"

    # --- what it keeps --------------------------------------------------------------------------

    def test_says_whether_sessions_leave_the_process(self, store: Any) -> None:
        """A store says where it keeps sessions: ``leaves_process`` is True when they are kept
        outside this process (files, Redis, a database; then they are encrypted, and the lock
        holds across processes), False when they stay in this process's memory."""
        value = getattr(store, "leaves_process", None)
        if not isinstance(value, bool):
            violated(
                f"{type(store).__name__}.leaves_process is {value!r}; set it to True or False"
                " (a class attribute)"
            )

    def test_missing_key_is_none(self, store: Any, key: str) -> None:
        """``get`` of a key never put returns None."""
        if store.get(key) is not None:
            violated("get() of a key that was never put returned a session")

    def test_put_then_get_round_trips(self, store: Any, key: str) -> None:
        """``get`` returns the session ``put`` stored, every field intact."""
        tokens = make_tokens()
        store.put(key, tokens)
        got = store.get(key)
        if got is None:
            violated("get() right after put() returned None")
        if got.to_dict() != tokens.to_dict():
            changed = sorted(k for k, v in tokens.to_dict().items() if got.to_dict().get(k) != v)
            violated(f"the session came back changed in: {', '.join(changed)}")

    def test_put_replaces(self, store: Any, key: str) -> None:
        """A second ``put`` under a key replaces the first session."""
        store.put(key, make_tokens())
        newer = make_tokens()
        store.put(key, newer)
        got = store.get(key)
        if got is None or got.access_token != newer.access_token:
            violated("get() after a second put() did not return the second session")

    def test_delete_forgets_and_tolerates_missing(self, store: Any, key: str) -> None:
        """``delete`` forgets a session; deleting a missing key is not an error."""
        store.put(key, make_tokens())
        store.delete(key)
        if store.get(key) is not None:
            violated("get() after delete() still returned the session")
        store.delete(key)

    def test_keys_are_independent(self, store: Any, key: str) -> None:
        """Sessions under different keys do not affect each other."""
        a, b = make_tokens(nip=NIPS[0]), make_tokens(nip=NIPS[1])
        store.put(key, a)
        store.put(key + "-other", b)
        got_a, got_b = store.get(key), store.get(key + "-other")
        if got_a is None or got_b is None:
            violated("one of two sessions under different keys was lost")
        if got_a.access_token != a.access_token or got_b.access_token != b.access_token:
            violated("two keys returned each other's (or the same) session")
        store.delete(key + "-other")
        if store.get(key) is None:
            violated("deleting one key deleted another")

    def test_secrets_not_in_repr(self, store: Any, key: str) -> None:
        """The store's ``repr`` shows no token it keeps."""
        tokens = make_tokens()
        store.put(key, tokens)
        text = repr(store)
        for token in (tokens.access_token, tokens.refresh_token):
            assert token is not None
            if token.value.reveal() in text:
                violated("repr(store) shows a token it keeps")

    # --- expiry ---------------------------------------------------------------------------------

    def test_entry_lives_while_its_refresh_token_does(self, store: Any, key: str) -> None:
        """An entry lives while its refresh token is valid, even once its access token has
        expired: the session manager refreshes it then, instead of a new login."""
        tokens = make_tokens(access_ttl=-60, refresh_ttl=3600)
        store.put(key, tokens)
        got = store.get(key)
        if got is None or got.refresh_token != tokens.refresh_token:
            violated(
                "a session whose access token expired but whose refresh token is valid for an"
                " hour was dropped: every access token lifetime would end in a new login"
            )

    def test_entry_without_refresh_token_lives_while_its_access_token_does(
        self, store: Any, key: str
    ) -> None:
        """An entry with no refresh token lives while its access token is valid."""
        store.put(key, make_tokens(access_ttl=3600, refresh_ttl=None))
        if store.get(key) is None:
            violated("a session with a valid access token (and no refresh token) was dropped")

    def test_entry_with_every_token_expired_is_not_returned(self, store: Any, key: str) -> None:
        """An entry whose every token has expired is never returned (``get`` gives None)."""
        store.put(key, make_tokens(access_ttl=-120, refresh_ttl=-60))
        if store.get(key) is not None:
            violated("get() returned a session whose access and refresh tokens had expired")
        store.put(key, make_tokens(access_ttl=-60, refresh_ttl=None))
        if store.get(key) is not None:
            violated("get() returned a session whose only token had expired")

    def test_entry_expires_while_stored(self, store: Any, key: str) -> None:
        """An entry stops being returned once its last token expires while it is stored."""
        store.put(key, make_tokens(access_ttl=-60, refresh_ttl=1.0))
        time.sleep(2.0)
        if store.get(key) is not None:
            violated("get() returned a session after its last token expired")

    # --- the lock, among threads and processes --------------------------------------------------

    def test_lock_excludes_other_holders(self, store: Any, key: str) -> None:
        """``lock(key, timeout)`` is exclusive among the threads of this process using the store
        (and yields True to each holder in turn)."""
        inside = 0
        overlaps = 0
        refused = 0
        guard = threading.Lock()

        def work() -> None:
            nonlocal inside, overlaps, refused
            with store.lock(key, timeout=30) as held:
                with guard:
                    refused += not held
                    inside += 1
                    overlaps += inside > 1
                time.sleep(0.01)
                with guard:
                    inside -= 1

        threads = [threading.Thread(target=work) for _ in range(8)]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()
        if refused:
            violated(f"{refused} of 8 threads got False from lock() with a 30 s timeout")
        if overlaps:
            violated(f"threads held the lock together {overlaps} times")

    def test_lock_times_out_with_false(self, store: Any, key: str) -> None:
        """A waiter whose ``timeout`` runs out while another holds the lock gets False (after
        waiting about that long), and may then go on without it."""
        peer = thread_peer(store).ready()
        try:
            if not peer.lock(key, 10):
                violated("a free lock was not taken")
            started = time.monotonic()
            with store.lock(key, timeout=0.5) as held:
                waited = time.monotonic() - started
                if held:
                    violated("lock() yielded True while another thread held it")
            if waited < 0.25:
                violated(f"lock(timeout=0.5) gave up after {waited:.2f} s, without waiting")
            if waited > 15:
                violated(f"lock(timeout=0.5) waited {waited:.1f} s")
            peer.unlock()
        finally:
            peer.close()

    def test_lock_is_released_when_the_holder_raises(
        self, store: Any, key: str, store_factory: Callable[[], Any] | None
    ) -> None:
        """The lock is released when the code holding it raises, so that the next login can
        take it (in this process and, for a shared store, in other processes)."""
        with pytest.raises(RuntimeError), store.lock(key, 5):
            raise RuntimeError("the login failed")
        for peer in self._peers(store, store_factory):
            try:
                if not peer.lock(key, 2):
                    violated(f"after its holder raised, the lock stayed taken for {peer.what}")
                peer.unlock(by_raising=True)
                with store.lock(key, 2) as held:
                    if not held:
                        violated(f"after {peer.what} raised inside the lock, it stayed taken")
            finally:
                peer.close()

    def test_a_waiter_that_timed_out_leaves_the_holders_lock(
        self, store: Any, key: str, store_factory: Callable[[], Any] | None
    ) -> None:
        """A waiter whose wait ran out leaves the holder's lock alone: once it has given up,
        the lock is still held, and the next waiter still waits."""
        for peer in self._peers(store, store_factory):
            try:
                if not peer.lock(key, 10):
                    violated(f"{peer.what} could not take a free lock")
                with store.lock(key, timeout=0.2) as held:
                    if held:
                        violated(f"lock() yielded True while {peer.what} held it")
                with store.lock(key, timeout=0.2) as again:
                    if again:
                        violated(
                            f"after a waiter gave up, the lock of {peer.what} was free: the"
                            " waiter released a lock it never held"
                        )
                peer.unlock()
            finally:
                peer.close()

    def test_lock_excludes_other_processes(
        self, store: Any, key: str, store_factory: Callable[[], Any] | None, tmp_path: Path
    ) -> None:
        """For a store that leaves the process, the lock is exclusive among processes: workers
        in separate processes contending for one key hold it one at a time."""
        factory = self._factory(store, store_factory)
        log = tmp_path / "lock-holders.log"
        peers = [spawn_peer(factory) for _ in range(3)]
        try:
            for peer in peers:
                peer.ready()
            for peer in peers:
                peer.send("contend", key, 4, 0.02, str(log))
            refused = [p.what for p in peers if not p.expect("contended", timeout=300)[1]]
        finally:
            for peer in peers:
                peer.close()
        if refused:
            violated(f"lock() with a 60 s timeout yielded False in {', '.join(refused)}")
        lines = log.read_text(encoding="ascii").split("\n")[:-1]
        for enter, leave in zip(lines[::2], lines[1::2], strict=False):
            holder = enter.split()[0]
            if not enter.endswith(" enter") or leave != f"{holder} exit":
                violated(
                    "two processes held the lock at the same time (holders' log:"
                    f" {' / '.join(lines[:12])} ...)"
                )

    def test_lock_of_a_live_holder_in_another_process_is_not_taken(
        self,
        store: Any,
        key: str,
        store_factory: Callable[[], Any] | None,
        dead_holder_timeout: float,
    ) -> None:
        """For a store that leaves the process, a lock held by a live process is never taken
        from it: a waiter elsewhere waits (and gets False when its timeout runs out)."""
        factory = self._factory(store, store_factory)
        wait = min(max(dead_holder_timeout / 2, 1.0), 5.0)
        peer = spawn_peer(factory).ready()
        try:
            if not peer.lock(key, 10):
                violated("the peer process could not take a free lock")
            with store.lock(key, timeout=wait) as held:
                if held:
                    violated(
                        f"a lock held by the live process {peer.pid} was taken by a waiter"
                        f" within {wait:g} s"
                    )
            peer.unlock()
        finally:
            peer.close()

    def test_lock_of_a_killed_holder_is_freed(
        self,
        store: Any,
        key: str,
        store_factory: Callable[[], Any] | None,
        dead_holder_timeout: float,
    ) -> None:
        """For a store that leaves the process, the lock of a process killed while holding it
        is free again within ``dead_holder_timeout`` seconds: a crash never blocks logins for
        longer."""
        factory = self._factory(store, store_factory)
        peer = spawn_peer(factory).ready()
        try:
            if not peer.lock(key, 10):
                violated("the peer process could not take a free lock")
            peer.kill()
        finally:
            peer.close()
        with store.lock(key, timeout=dead_holder_timeout) as held:
            if not held:
                violated(
                    f"the lock was still taken {dead_holder_timeout:g} s after its holder"
                    f" (process {peer.pid}) was killed"
                )

    # --- what it keeps outside the process -----------------------------------------------------

    def test_another_instance_sees_the_same_sessions(
        self, store: Any, key: str, store_factory: Callable[[], Any] | None
    ) -> None:
        """For a store that leaves the process, another instance over the same storage (what
        another worker builds) sees the sessions this one puts and deletes."""
        other = self._factory(store, store_factory)()
        tokens = make_tokens()
        store.put(key, tokens)
        got = other.get(key)
        if got is None or got.access_token != tokens.access_token:
            violated("store_factory() built a store that does not see this store's sessions")
        other.delete(key)
        if store.get(key) is not None:
            violated("a session deleted through another instance was still returned")

    def test_sessions_at_rest_hold_no_token(
        self, store: Any, key: str, raw_storage: RawStorage | None
    ) -> None:
        """A store that leaves the process keeps sessions encrypted: no byte it writes holds an
        access or refresh token in clear (nor base64 or hex of one)."""
        raw = self._raw(store, raw_storage)
        tokens = make_tokens()
        store.put(key, tokens)
        entry = raw.read(key)
        if not entry:
            violated("raw_storage.read(key) found nothing right after put(key)")
        kept = raw.dump()
        for token in (tokens.access_token, tokens.refresh_token):
            assert token is not None
            for form in encodings(token.value.reveal()):
                if form in kept:
                    violated(
                        "the bytes the store keeps hold a token (in clear, base64 or hex):"
                        " encrypt sessions with ksef_auth.sealing"
                    )

    @pytest.mark.parametrize(
        "damage",
        ["empty", "truncated", "last byte changed", "middle byte changed", "random bytes"],
    )
    def test_corrupt_entry_is_a_miss(
        self, store: Any, key: str, raw_storage: RawStorage | None, damage: str
    ) -> None:
        """A damaged entry is a miss: ``get`` returns None (it may log a warning), never raises
        and never returns a session; the next ``put`` stores a good one again."""
        raw = self._raw(store, raw_storage)
        store.put(key, make_tokens())
        blob = raw.read(key) or b""
        if not blob:
            violated("raw_storage.read(key) found nothing right after put(key)")
        raw.write(key, _damaged(blob, damage))
        self._expect_miss(store, key, f"an entry with {damage}")
        fresh = make_tokens()
        store.put(key, fresh)
        got = store.get(key)
        if got is None or got.access_token != fresh.access_token:
            violated(f"after a damaged entry ({damage}), put() and get() did not work again")

    def test_entry_copied_from_another_key_is_a_miss(
        self, store: Any, key: str, raw_storage: RawStorage | None
    ) -> None:
        """An entry copied from another key is a miss, never that key's session: one context
        is never handed another context's tokens (bind each entry to its key)."""
        raw = self._raw(store, raw_storage)
        other_key = key.replace(f"Nip:{NIPS[0]}", f"Nip:{NIPS[1]}")
        store.put(other_key, make_tokens(nip=NIPS[1]))
        blob = raw.read(other_key)
        if not blob:
            violated("raw_storage.read(key) found nothing right after put(key)")
        raw.write(key, blob)
        self._expect_miss(store, key, "an entry copied from another key")

    @pytest.mark.parametrize(
        "data",
        [b'{"hello": "world"}', b"\x89PNG\r\n\x1a\n", "zażółć gęślą jaźń".encode("utf-16")],
        ids=["json", "png", "utf-16"],
    )
    def test_foreign_data_is_a_miss(
        self, store: Any, key: str, raw_storage: RawStorage | None, data: bytes
    ) -> None:
        """Data that is not one of this store's entries (another program's, another format) is
        a miss: ``get`` returns None and never raises."""
        raw = self._raw(store, raw_storage)
        store.put(key, make_tokens())
        raw.write(key, data)
        self._expect_miss(store, key, "foreign data")

    # --- helpers --------------------------------------------------------------------------------

    def _factory(self, store: Any, store_factory: Callable[[], Any] | None) -> Callable[[], Any]:
        if not getattr(store, "leaves_process", False):
            pytest.skip("the store keeps its sessions in this process (leaves_process = False)")
        if store_factory is None:
            violated(
                "the store leaves the process: provide a `store_factory` fixture (a picklable"
                " callable building another instance over the same storage)"
            )
        return store_factory

    def _raw(self, store: Any, raw_storage: RawStorage | None) -> RawStorage:
        if not getattr(store, "leaves_process", False):
            pytest.skip("the store keeps its sessions in this process (leaves_process = False)")
        if raw_storage is None:
            violated(
                "the store leaves the process: provide a `raw_storage` fixture"
                " (ksef_auth.testing.RawStorage) so the kit can look at what it keeps"
            )
        return raw_storage

    def _peers(self, store: Any, store_factory: Callable[[], Any] | None) -> Iterator[Peer]:
        """A peer thread, then (for a store that leaves the process) a peer process."""
        yield thread_peer(store).ready()
        if getattr(store, "leaves_process", False):
            if store_factory is None:
                violated("the store leaves the process: provide a `store_factory` fixture")
            yield spawn_peer(store_factory).ready()

    def _expect_miss(self, store: Any, key: str, what: str) -> None:
        try:
            got = store.get(key)
        except Exception as exc:
            violated(f"get() of {what} raised {type(exc).__name__}: {exc}")
        if got is not None:
            violated(f"get() of {what} returned a session")


def _damaged(blob: bytes, damage: str) -> bytes:
    if damage == "empty":
        return b""
    if damage == "truncated":
        return blob[: len(blob) // 2]
    if damage == "last byte changed":
        return blob[:-1] + bytes([blob[-1] ^ 0x01])
    if damage == "middle byte changed":
        middle = len(blob) // 2
        return blob[:middle] + bytes([blob[middle] ^ 0x80]) + blob[middle + 1 :]
    return os.urandom(len(blob))
