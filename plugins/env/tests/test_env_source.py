from __future__ import annotations

import logging
from collections.abc import Callable
from pathlib import Path

import pytest

from ksef_auth import (
    ConfigError,
    ContextIdentifier,
    CredentialError,
    CredentialRequest,
    Environment,
    KsefToken,
    NotAvailable,
    SharedSecret,
)
from ksef_auth.testing import NIPS, CredentialSourceContract
from ksef_auth_env import EnvToken, context_from_env

REQUEST = CredentialRequest.for_login("http://127.0.0.1:1/v2", "5261040828")

SECRET = "20251010-EC-1DCE3E3000-12ECB5B36E-45|nip-5261040828|" + "ab" * 32


class TestEnvTokenContract(CredentialSourceContract):
    @pytest.fixture
    def source(self, monkeypatch: pytest.MonkeyPatch) -> EnvToken:
        monkeypatch.setenv("KSEF_TEST_TOKEN", SECRET)
        return EnvToken(var="KSEF_TEST_TOKEN")

    @pytest.fixture
    def unavailable_source(self, monkeypatch: pytest.MonkeyPatch) -> EnvToken:
        monkeypatch.delenv("KSEF_TEST_MISSING", raising=False)
        monkeypatch.delenv("KSEF_TEST_MISSING_FILE", raising=False)
        return EnvToken(var="KSEF_TEST_MISSING")

    @pytest.fixture
    def rotate(self, monkeypatch: pytest.MonkeyPatch) -> Callable[[], None]:
        return lambda: monkeypatch.setenv("KSEF_TEST_TOKEN", SECRET.replace("ab", "cd"))

    @pytest.fixture
    def keyed_source(self, monkeypatch: pytest.MonkeyPatch) -> EnvToken:
        monkeypatch.setenv(f"KIT_TOKEN_{NIPS[0]}", SECRET + "0")
        monkeypatch.setenv(f"KIT_TOKEN_{NIPS[1]}", SECRET + "1")
        monkeypatch.delenv(f"KIT_TOKEN_{NIPS[2]}", raising=False)
        monkeypatch.delenv(f"KIT_TOKEN_{NIPS[2]}_FILE", raising=False)
        return EnvToken(var="KIT_TOKEN_{nip}")

    @pytest.fixture
    def failing_sources(
        self, monkeypatch: pytest.MonkeyPatch, tmp_path: Path
    ) -> dict[str, EnvToken]:
        empty = tmp_path / "empty"
        empty.write_text("\n")
        empty.chmod(0o600)
        cases = {"absent": tmp_path / "absent", "empty": empty, "a directory": tmp_path}
        sources = {}
        for n, (name, path) in enumerate(cases.items()):
            monkeypatch.delenv(f"KIT_BROKEN_{n}", raising=False)
            monkeypatch.setenv(f"KIT_BROKEN_{n}_FILE", str(path))
            sources[f"NAME_FILE {name}"] = EnvToken(var=f"KIT_BROKEN_{n}")
        return sources


class TestEnvTokenFileContract(TestEnvTokenContract):
    """The NAME_FILE form: the token in a file (a mounted secret)."""

    @pytest.fixture
    def token_file(self, tmp_path: Path) -> Path:
        path = tmp_path / "token"
        path.write_text(SECRET + "\n")
        path.chmod(0o600)
        return path

    @pytest.fixture
    def source(self, monkeypatch: pytest.MonkeyPatch, token_file: Path) -> EnvToken:
        monkeypatch.delenv("KSEF_TEST_TOKEN", raising=False)
        monkeypatch.setenv("KSEF_TEST_TOKEN_FILE", str(token_file))
        return EnvToken(var="KSEF_TEST_TOKEN")

    @pytest.fixture
    def secret_files(self, token_file: Path) -> list[Path]:
        return [token_file]

    @pytest.fixture
    def rotate(self, token_file: Path) -> Callable[[], None]:
        return lambda: token_file.write_text(SECRET.replace("ab", "cd"))


def test_reads_the_conventional_variable(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("KSEF2_TOKEN", f"  {SECRET}\n")
    credential = EnvToken().load(REQUEST)
    assert isinstance(credential, KsefToken)
    assert credential.token.reveal() == SECRET
    assert credential.source == "env:KSEF2_TOKEN"


def test_name_file_convention(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    secret_file = tmp_path / "token"
    secret_file.write_text(SECRET + "\n")
    secret_file.chmod(0o600)  # a file others may read is refused
    monkeypatch.delenv("KSEF2_TOKEN", raising=False)
    monkeypatch.setenv("KSEF2_TOKEN_FILE", str(secret_file))
    assert EnvToken().load(REQUEST).token.reveal() == SECRET  # type: ignore[union-attr]


def test_name_file_unreadable_is_an_error_not_unavailable(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    monkeypatch.delenv("KSEF2_TOKEN", raising=False)
    monkeypatch.setenv("KSEF2_TOKEN_FILE", str(tmp_path / "absent"))
    with pytest.raises(CredentialError, match="KSEF2_TOKEN_FILE points to") as info:
        EnvToken().load(REQUEST)
    assert not isinstance(info.value, NotAvailable)


def test_shared_secret_kind(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("SHOP_KEY", "s3cr3t-value")
    assert isinstance(EnvToken(var="SHOP_KEY", kind="shared-secret").load(REQUEST), SharedSecret)


def test_missing_variable_is_reported_by_check(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("KSEF2_TOKEN", raising=False)
    monkeypatch.delenv("KSEF2_TOKEN_FILE", raising=False)
    with pytest.raises(NotAvailable, match="KSEF2_TOKEN is not set"):
        EnvToken().check(Environment.of("test"), ContextIdentifier.nip("5261040828"))


def test_invalid_variable_name_rejected() -> None:
    with pytest.raises(ValueError, match="environment variable name"):
        EnvToken(var="not a name")


def test_secret_never_in_repr_str_or_logs(
    monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    monkeypatch.setenv("KSEF2_TOKEN", SECRET)
    credential = EnvToken().load(REQUEST)
    caplog.set_level(logging.DEBUG)
    logging.getLogger("test").info("credential %s %r", credential, credential)
    assert SECRET not in caplog.text
    assert SECRET not in repr(credential) and SECRET not in str(credential)


def test_context_from_env(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("KSEF2_NIP", "526-104-08-28")
    assert context_from_env() == ContextIdentifier.nip("5261040828")
    monkeypatch.setenv("KSEF2_NIP", "5261040827")
    with pytest.raises(ConfigError, match="KSEF2_NIP: NIP 5261040827 is invalid"):
        context_from_env()
