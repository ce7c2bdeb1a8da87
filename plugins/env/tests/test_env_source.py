from __future__ import annotations

import logging
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
from ksef_auth.testing import CredentialSourceContract
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


def test_reads_the_conventional_variable(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("KSEF2_TOKEN", f"  {SECRET}\n")
    credential = EnvToken().load(REQUEST)
    assert isinstance(credential, KsefToken)
    assert credential.token.reveal() == SECRET
    assert credential.source == "env:KSEF2_TOKEN"


def test_name_file_convention(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    secret_file = tmp_path / "token"
    secret_file.write_text(SECRET + "\n")
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
