from __future__ import annotations

import hashlib
import logging
import os
import stat
import subprocess
import sys
import textwrap
import threading
import time
from functools import partial
from pathlib import Path

import pytest

from ksef_auth import ConfigError, ContextIdentifier, Environment, SecretRef, StoreError
from ksef_auth.sealing import entry_name, generate_key
from ksef_auth.testing import RawStorage, SessionStoreContract, make_tokens
from ksef_auth_file import KEY_ENV, FileStore, default_path

KEY = "http://127.0.0.1:1/v2|Nip:5261040828|tok:0123456789abcdef"
ENV = Environment.of("http://127.0.0.1:1/v2")
CONTEXT = ContextIdentifier.nip("5261040828")


def mode(path: Path) -> int:
    return stat.S_IMODE(path.stat().st_mode)


def raw_files(directory: Path) -> RawStorage:
    """What the kit sees of a file store: the session files themselves."""

    def read(key: str) -> bytes | None:
        file = directory / entry_name(key)
        return file.read_bytes() if file.exists() else None

    def write(key: str, data: bytes) -> None:
        (directory / entry_name(key)).write_bytes(data)

    def dump() -> bytes:
        return b"".join(f.read_bytes() for f in sorted(directory.rglob("*")) if f.is_file())

    return RawStorage(read=read, write=write, dump=dump)


class TestFileStoreContract(SessionStoreContract):
    @pytest.fixture
    def store_factory(self, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> partial[FileStore]:
        monkeypatch.setenv("KSEF_KIT_FILE_KEY", generate_key())  # inherited by spawned workers
        return partial(
            FileStore, path=tmp_path / "sessions", key=SecretRef.env("KSEF_KIT_FILE_KEY")
        )

    @pytest.fixture
    def store(self, store_factory: partial[FileStore]) -> FileStore:
        return store_factory()

    @pytest.fixture
    def raw_storage(self, tmp_path: Path) -> RawStorage:
        return raw_files(tmp_path / "sessions")

    @pytest.fixture
    def dead_holder_timeout(self) -> float:
        return 5.0  # flock ends with its process


class TestFileStoreWithGeneratedKeyContract(TestFileStoreContract):
    @pytest.fixture
    def store_factory(self, tmp_path: Path) -> partial[FileStore]:
        return partial(FileStore, path=tmp_path / "state" / "sessions")  # XDG_STATE_HOME: conftest

    @pytest.fixture
    def raw_storage(self, tmp_path: Path) -> RawStorage:
        return raw_files(tmp_path / "state" / "sessions")


def test_default_path_is_the_user_state_directory() -> None:
    import platformdirs

    assert FileStore().path == Path(platformdirs.user_state_dir("ksef-auth")) / "sessions"
    assert default_path() == FileStore(path="").path


def test_files_are_private_and_named_by_hash(tmp_path: Path, state_key: Path) -> None:
    store = FileStore(path=tmp_path / "sessions")
    store.put(KEY, make_tokens())
    directory = tmp_path / "sessions"
    file = directory / hashlib.sha256(KEY.encode()).hexdigest()
    assert mode(directory) == 0o700
    assert mode(file) == 0o600
    assert mode(state_key) == 0o600
    assert not (tmp_path / "store.key").exists()  # never beside the sessions
    names = sorted(p.name for p in directory.iterdir() if not p.name.startswith(".pruned"))
    assert names == [file.name]  # no temp file left


def test_file_holds_no_secret_nor_the_key(tmp_path: Path) -> None:
    store = FileStore(path=tmp_path / "s")
    tokens = make_tokens()
    store.put(KEY, tokens)
    data = next((tmp_path / "s").iterdir()).read_bytes()
    assert tokens.access_token.value.reveal().encode() not in data
    assert tokens.refresh_token is not None
    assert tokens.refresh_token.value.reveal().encode() not in data
    assert b"5261040828" not in data
    assert KEY.encode() not in data


def test_existing_loose_directory_is_tightened(tmp_path: Path) -> None:
    directory = tmp_path / "s"
    directory.mkdir(mode=0o755)
    directory.chmod(0o755)
    FileStore(path=directory, key=SecretRef.value(generate_key())).put(KEY, make_tokens())
    assert mode(directory) == 0o700


def test_environment_variable_is_the_default_key(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv(KEY_ENV, generate_key())
    FileStore(path=tmp_path / "s").put(KEY, make_tokens())
    assert not (tmp_path / "store.key").exists()
    assert FileStore(path=tmp_path / "s").get(KEY) is not None
    monkeypatch.setenv(KEY_ENV, generate_key())
    assert FileStore(path=tmp_path / "s").get(KEY) is None  # another key: a miss


def test_wrong_key_is_a_miss_with_a_warning(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    FileStore(path=tmp_path / "s", key=SecretRef.value(generate_key())).put(KEY, make_tokens())
    other = FileStore(path=tmp_path / "s", key=SecretRef.value(generate_key()))
    with caplog.at_level(logging.WARNING, logger="ksef_auth.store.file"):
        assert other.get(KEY) is None
    assert "cannot be decrypted with the configured key" in caplog.text
    # the next login simply replaces the entry
    fresh = make_tokens()
    other.put(KEY, fresh)
    got = other.get(KEY)
    assert got is not None and got.access_token == fresh.access_token


def test_rotation_reads_old_sessions_and_writes_with_the_new_key(tmp_path: Path) -> None:
    old, new = generate_key(), generate_key()
    FileStore(path=tmp_path / "s", key=SecretRef.value(old)).put(KEY, make_tokens())
    rotated = FileStore(path=tmp_path / "s", key=SecretRef.value(f"{new},{old}"))
    assert rotated.get(KEY) is not None
    rotated.put(KEY, make_tokens())
    assert FileStore(path=tmp_path / "s", key=SecretRef.value(new)).get(KEY) is not None


def test_a_file_moved_to_another_key_does_not_open(tmp_path: Path) -> None:
    store = FileStore(path=tmp_path / "s", key=SecretRef.value(generate_key()))
    store.put(KEY, make_tokens())
    other_key = KEY.replace("5261040828", "1234563218")
    name = hashlib.sha256
    (tmp_path / "s" / name(KEY.encode()).hexdigest()).rename(
        tmp_path / "s" / name(other_key.encode()).hexdigest()
    )
    assert store.get(other_key) is None


def test_garbage_file_is_a_miss(tmp_path: Path) -> None:
    store = FileStore(path=tmp_path / "s", key=SecretRef.value(generate_key()))
    store.put(KEY, make_tokens())
    (tmp_path / "s" / hashlib.sha256(KEY.encode()).hexdigest()).write_bytes(b"hello")
    assert store.get(KEY) is None


def test_key_file_open_to_others_is_refused(tmp_path: Path, state_key: Path) -> None:
    store = FileStore(path=tmp_path / "s")
    store.put(KEY, make_tokens())
    state_key.chmod(0o644)
    fresh = FileStore(path=tmp_path / "s")
    with pytest.raises(StoreError, match=r"store.key is open to other users \(mode 644\)"):
        fresh.get(KEY)
    with pytest.raises(ConfigError, match="chmod 600"):
        fresh.check(ENV, CONTEXT)


def test_malformed_key_is_reported_without_the_key(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv(KEY_ENV, "c2hvcnQ")
    store = FileStore(path=tmp_path / "s")
    with pytest.raises(ConfigError, match=f"environment variable {KEY_ENV}: .* not 32") as info:
        store.check(ENV, CONTEXT)
    assert "c2hvcnQ" not in str(info.value)
    with pytest.raises(StoreError, match="not 32"):
        store.put(KEY, make_tokens())


def test_check_creates_nothing(tmp_path: Path, state_key: Path) -> None:
    FileStore(path=tmp_path / "s").check(ENV, CONTEXT)
    assert list(tmp_path.iterdir()) == []
    assert not state_key.exists()


def test_repr_names_the_reference_not_the_key(tmp_path: Path) -> None:
    key = generate_key()
    store = FileStore(path=tmp_path / "s", key=SecretRef.value(key))
    assert key not in repr(store)
    assert "a value given in code" in repr(store)


def test_concurrent_stores_agree_on_one_generated_key(tmp_path: Path) -> None:
    barrier = threading.Barrier(8)
    stores = [FileStore(path=tmp_path / "s") for _ in range(8)]

    def first_put(store: FileStore) -> None:
        barrier.wait()
        store.put(f"{KEY}-{id(store)}", make_tokens())

    threads = [threading.Thread(target=first_put, args=(s,)) for s in stores]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    for store in stores:
        for other in stores:
            assert store.get(f"{KEY}-{id(other)}") is not None


def test_old_files_are_pruned_in_the_background(tmp_path: Path) -> None:
    store = FileStore(path=tmp_path / "s", key=SecretRef.value(generate_key()))
    store.put("old", make_tokens(access_ttl=-7200, refresh_ttl=-7200))
    assert store._pruning is not None
    store._pruning.join(10)
    old_file = tmp_path / "s" / hashlib.sha256(b"old").hexdigest()
    long_ago = time.time() - 7200
    os.utime(old_file, (long_ago, long_ago))
    store.put("expired-but-just-written", make_tokens(access_ttl=-7200, refresh_ttl=-7200))
    assert store._pruning.is_alive() is False  # at most hourly
    os.utime(tmp_path / "s" / ".pruned", (long_ago, long_ago))
    store._pruned_at = 0.0
    store.put(KEY, make_tokens())
    store._pruning.join(10)
    names = {p.name for p in (tmp_path / "s").iterdir()}
    assert old_file.name not in names
    assert hashlib.sha256(b"expired-but-just-written").hexdigest() in names
    assert store.get(KEY) is not None


def test_another_process_s_recent_pruning_is_not_repeated(tmp_path: Path) -> None:
    first = FileStore(path=tmp_path / "s", key=SecretRef.value(generate_key()))
    first.put(KEY, make_tokens())
    second = FileStore(path=tmp_path / "s", key=first.key)
    second.put(KEY + "x", make_tokens())
    assert second._pruning is None  # .pruned is fresh: the machine pruned within the hour


def test_registered_through_the_entry_point() -> None:
    from ksef_auth.manager import PluginManager

    registration = PluginManager(only="file").get("session_store", "file")
    assert registration.factory is FileStore
    options = {o.name: o for o in registration.options}
    assert list(options) == ["path", "key"]
    assert "user state directory" in options["key"].help
    assert options["key"].secret and not options["path"].secret
    assert options["path"].path


def test_a_strategy_file_places_a_relative_path_beside_it(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from ksef_auth.config import load
    from ksef_auth.errors import PluginNotFound

    monkeypatch.setenv("K_TEST_TOKEN", "some-ksef-token")
    (tmp_path / "ksef-auth.toml").write_text(
        "[strategy.shop]\n"
        'environment = "http://127.0.0.1:1/v2"\n'
        'context = "5261040828"\n'
        'credential = { use = "env", var = "K_TEST_TOKEN" }\n'
        'signer = "ksef-token"\n'
        'store = { use = "file", path = "state/sessions" }\n'
    )
    try:
        store = load(tmp_path / "ksef-auth.toml").strategy().store
    except PluginNotFound as exc:
        pytest.skip(f"needs the env and token plugins: {exc}")
    assert isinstance(store, FileStore)
    assert store.path == tmp_path / "state" / "sessions"
    assert not (tmp_path / "state").exists()  # loading and checking create nothing


# --- across processes --------------------------------------------------------------------------


def run_python(code: str, **env: str) -> subprocess.Popen[str]:
    return subprocess.Popen(
        [sys.executable, "-c", textwrap.dedent(code)],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env={**os.environ, **env},
    )


def test_a_session_written_by_one_process_is_read_by_another(tmp_path: Path) -> None:
    writer = run_python(
        f"""
        from ksef_auth.testing import make_tokens
        from ksef_auth_file import FileStore
        tokens = make_tokens()
        FileStore(path={str(tmp_path / "s")!r}).put({KEY!r}, tokens)
        print(tokens.access_token.value.reveal())
        """
    )
    out, err = writer.communicate(timeout=30)
    assert writer.returncode == 0, err
    got = FileStore(path=tmp_path / "s").get(KEY)
    assert got is not None and got.access_token.value.reveal() == out.strip()


def test_lock_excludes_another_process(tmp_path: Path) -> None:
    ready = tmp_path / "ready"
    holder = run_python(
        f"""
        import pathlib, time
        from ksef_auth import SecretRef
        from ksef_auth_file import FileStore
        store = FileStore(path={str(tmp_path / "s")!r})
        with store.lock({KEY!r}, timeout=5) as held:
            assert held
            pathlib.Path({str(ready)!r}).touch()
            time.sleep(1.5)
        """
    )
    try:
        deadline = time.monotonic() + 20
        while not ready.exists():
            assert holder.poll() is None, holder.communicate()[1]
            assert time.monotonic() < deadline
            time.sleep(0.02)
        seen_ready = time.monotonic()
        store = FileStore(path=tmp_path / "s")
        started = time.monotonic()
        with store.lock(KEY, timeout=0.3) as held:
            assert held is False
        assert 0.25 <= time.monotonic() - started < 5  # waited the timeout, then gave up
        with store.lock(KEY, timeout=10) as held:
            assert held is True
            # the holder sleeps 1.5 s after signalling: we got the lock only once it let go
            assert time.monotonic() - seen_ready >= 1.4
    finally:
        holder.wait(timeout=20)
    assert holder.returncode == 0, holder.communicate()[1]


def test_lock_is_released_when_the_holder_dies(tmp_path: Path) -> None:
    ready = tmp_path / "ready"
    holder = run_python(
        f"""
        import os, pathlib, time
        from ksef_auth_file import FileStore
        store = FileStore(path={str(tmp_path / "s")!r})
        with store.lock({KEY!r}, timeout=5):
            pathlib.Path({str(ready)!r}).touch()
            time.sleep(60)
        """
    )
    try:
        deadline = time.monotonic() + 20
        while not ready.exists():
            assert holder.poll() is None and time.monotonic() < deadline
            time.sleep(0.02)
        holder.kill()
        holder.wait(timeout=10)
        with FileStore(path=tmp_path / "s").lock(KEY, timeout=5) as held:
            assert held is True
    finally:
        if holder.poll() is None:
            holder.kill()
            holder.wait()
