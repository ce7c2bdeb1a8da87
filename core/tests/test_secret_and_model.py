from __future__ import annotations

import json
import logging
import pickle
from datetime import UTC, datetime, timedelta

import pytest

from ksef_auth import (
    ConfigError,
    ContextIdentifier,
    Environment,
    KsefToken,
    Secret,
    SessionTokens,
    SharedSecret,
)
from ksef_auth.errors import CredentialChainError, KsefError
from ksef_auth.model import parse_timestamp
from ksef_auth.testing import make_tokens

VALUE = "20251010-EC-1DCE3E3000-12ECB5B36E-45|nip-5261040828|" + "cd" * 32


def test_secret_hides_its_value_everywhere(caplog: pytest.LogCaptureFixture) -> None:
    secret = Secret(VALUE)
    caplog.set_level(logging.DEBUG)
    logging.getLogger("t").debug("a %s %r %s", secret, secret, f"{secret} {secret!r} {secret:>10}")
    for text in (repr(secret), str(secret), f"{secret}", caplog.text, str([secret])):
        assert VALUE not in text
    assert secret.reveal() == VALUE


def test_secret_refuses_pickle_and_json() -> None:
    with pytest.raises(TypeError, match="cannot be pickled"):
        pickle.dumps(Secret(VALUE))
    with pytest.raises(TypeError):
        json.dumps({"token": Secret(VALUE)})


def test_secret_compares_and_fingerprints_without_revealing() -> None:
    assert Secret(VALUE) == Secret(VALUE)
    assert Secret(VALUE) != Secret(VALUE + "x")
    assert len(Secret(VALUE).fingerprint()) == 16
    assert Secret(VALUE).fingerprint() not in VALUE
    with pytest.raises(AttributeError):
        Secret(VALUE)._value = "other"  # type: ignore[misc]


def test_credentials_and_sessions_redact_in_repr_and_exceptions() -> None:
    token = KsefToken(VALUE)
    tokens = make_tokens()
    access = tokens.access_token.value.reveal()
    for text in (repr(token), repr(SharedSecret(VALUE)), repr(tokens), str(tokens)):
        assert VALUE not in text and access not in text
    # an exception that carries these objects still prints no secret
    error = KsefError(f"failed for {token!r} with {tokens!r}")
    assert VALUE not in str(error) and access not in str(error)
    chain = CredentialChainError([("env", f"bad {token}")])
    assert VALUE not in str(chain)


def test_session_tokens_round_trip_through_dict() -> None:
    tokens = make_tokens()
    again = SessionTokens.from_dict(json.loads(json.dumps(tokens.to_dict())))
    assert again == tokens


@pytest.mark.parametrize(
    ("value", "name", "url"),
    [
        ("test", "test", "https://api-test.ksef.mf.gov.pl/v2"),
        ("DEMO", "demo", "https://api-demo.ksef.mf.gov.pl/v2"),
        ("prod", "production", "https://api.ksef.mf.gov.pl/v2"),
        ("https://api.ksef.mf.gov.pl/v2/", "production", "https://api.ksef.mf.gov.pl/v2"),
        ("http://127.0.0.1:8765/v2", "custom", "http://127.0.0.1:8765/v2"),
    ],
)
def test_environments(value: str, name: str, url: str) -> None:
    environment = Environment.of(value)
    assert (environment.name, environment.base_url) == (name, url)


def test_environment_rules() -> None:
    assert Environment.of("http://127.0.0.1:1/v2").is_loopback
    assert Environment.of("http://localhost:1/v2").accepts_test_certificates
    assert not Environment.of("production").accepts_test_certificates
    assert not Environment.of("demo").is_loopback
    with pytest.raises(ValueError, match="unknown environment 'staging'"):
        Environment.of("staging")
    with pytest.raises(ValueError, match="http"):
        Environment.of("ftp://x/v2")


@pytest.mark.parametrize(
    "url",
    [
        "http://ksef.example.com/v2",
        "http://10.0.0.5:8080/v2",
        "http://api-test.ksef.mf.gov.pl/v2",
        "http://localhost.example.com/v2",
    ],
)
def test_plain_http_is_refused_when_the_environment_is_built(url: str) -> None:
    with pytest.raises(ValueError, match="plain http") as info:
        Environment.of(url)
    assert "loopback" in str(info.value)


@pytest.mark.parametrize(
    "url", ["http://localhost:8765/v2", "http://127.0.0.2:1/v2", "http://[::1]:8765/v2"]
)
def test_plain_http_to_loopback_is_accepted(url: str) -> None:
    assert Environment.of(url).is_loopback


@pytest.mark.parametrize(
    "url",
    [
        "https://user:hunter2secret@ksef.example.com/v2",
        "https://hunter2secret@ksef.example.com/v2",
        "http://user:hunter2secret@127.0.0.1:8765/v2",
    ],
)
def test_user_info_in_a_base_url_is_refused_and_never_echoed(url: str) -> None:
    with pytest.raises(ValueError, match="user name or password") as info:
        Environment.of(url)
    assert "hunter2secret" not in str(info.value)


def test_a_bad_url_is_refused_without_its_user_info() -> None:
    for url in ("https://u:hunter2secret@host:notaport/v2", "hunter2secret@nowhere"):
        with pytest.raises(ValueError) as info:
            Environment.of(url)
        assert "hunter2secret" not in str(info.value)


@pytest.mark.parametrize(
    ("kind", "value", "normalized"),
    [
        ("Nip", "526-104-08-28", "5261040828"),
        ("nip", "5261040828", "5261040828"),
        ("InternalId", "5265877635-12345", "5265877635-12345"),
        ("NipVatUe", "5265877635-atu12345678", "5265877635-ATU12345678"),
        ("PeppolId", "PPL123456", "PPL123456"),
    ],
)
def test_context_identifiers(kind: str, value: str, normalized: str) -> None:
    assert ContextIdentifier(kind, value).value == normalized  # type: ignore[arg-type]


@pytest.mark.parametrize(
    ("kind", "value", "reason"),
    [
        ("Nip", "5261040827", "check digit"),
        ("InternalId", "5261040827-12345", "check digit"),
        ("InternalId", "5261040828-123", "must look like"),
        ("PeppolId", "PL123456", "must look like"),
        ("Pesel", "44051401359", "unknown context type"),
    ],
)
def test_invalid_context_identifiers(kind: str, value: str, reason: str) -> None:
    with pytest.raises(ValueError, match=reason):
        ContextIdentifier(kind, value)  # type: ignore[arg-type]


def test_ksef_timestamps_with_seven_digits() -> None:
    parsed = parse_timestamp("2025-07-11T12:23:56.0154302+00:00")
    assert int(parsed.timestamp() * 1000) == 1752236636015
    assert parse_timestamp("2025-10-21T08:36:29Z") == datetime(2025, 10, 21, 8, 36, 29, tzinfo=UTC)
    assert parse_timestamp("2025-10-21T10:36:29+02:00") - timedelta(hours=0) == datetime(
        2025, 10, 21, 8, 36, 29, tzinfo=UTC
    )


def test_config_error_names_file_and_key() -> None:
    error = ConfigError("bad", source="a.toml", key="strategy.x.signer")
    assert str(error) == "a.toml:strategy.x.signer: bad"
