"""paas: platform variables in the environment and in PLATFORM_VARIABLES."""

from __future__ import annotations

import base64
import json
import logging
from collections.abc import Callable
from typing import Any

import pytest
from cloud_support import SECRET

from ksef_auth import (
    ContextIdentifier,
    CredentialError,
    CredentialRequest,
    Environment,
    KsefToken,
    NotAvailable,
    SharedSecret,
)
from ksef_auth.testing import NIPS, CredentialSourceContract
from ksef_auth_cloud import PaasToken

REQUEST = CredentialRequest.for_login("http://127.0.0.1:1/v2", "5261040828")

ALL = (
    "KSEFPL_API_TOKEN",
    "KSEF2_TOKEN",
    "PLATFORM_VARIABLES",
    "MAGENTO_CLOUD_VARIABLES",
)
ENV = Environment.of("test")
CONTEXT = ContextIdentifier.nip("5261040828")


def encoded(variables: Any) -> str:
    return base64.b64encode(json.dumps(variables).encode()).decode()


@pytest.fixture(autouse=True)
def clean(monkeypatch: pytest.MonkeyPatch) -> None:
    for name in ALL:
        monkeypatch.delenv(name, raising=False)


class TestPaasContract(CredentialSourceContract):
    @pytest.fixture
    def source(self, monkeypatch: pytest.MonkeyPatch) -> PaasToken:
        monkeypatch.setenv("KSEFPL_API_TOKEN", SECRET)
        return PaasToken()

    @pytest.fixture
    def unavailable_source(self) -> PaasToken:
        return PaasToken()

    @pytest.fixture
    def rotate(self, monkeypatch: pytest.MonkeyPatch) -> Callable[[], None]:
        return lambda: monkeypatch.setenv("KSEFPL_API_TOKEN", SECRET[::-1])

    @pytest.fixture
    def keyed_source(self, monkeypatch: pytest.MonkeyPatch) -> PaasToken:
        monkeypatch.setenv(f"KIT_TOKEN_{NIPS[0]}", SECRET + "0")  # one in the environment,
        variables = {f"env:KIT_TOKEN_{NIPS[1]}": SECRET + "1"}  # one in PLATFORM_VARIABLES
        monkeypatch.setenv("PLATFORM_VARIABLES", encoded(variables))
        monkeypatch.delenv(f"KIT_TOKEN_{NIPS[2]}", raising=False)
        return PaasToken(names=["KIT_TOKEN_{nip}"])

    @pytest.fixture
    def failing_sources(self, monkeypatch: pytest.MonkeyPatch) -> dict[str, PaasToken]:
        monkeypatch.setenv("KIT_VARIABLES_1", "%%% not base64 %%%")
        monkeypatch.setenv(
            "KIT_VARIABLES_2", base64.b64encode(b"\xff\xfe" + SECRET.encode()).decode()
        )
        monkeypatch.setenv(
            "KIT_VARIABLES_3", base64.b64encode(b'{"KSEF2_TOKEN": "' + SECRET.encode()).decode()
        )
        monkeypatch.setenv("KIT_VARIABLES_4", encoded({"env:KSEF2_TOKEN": {"token": SECRET}}))
        return {
            f"PLATFORM_VARIABLES {problem}": PaasToken(
                names=["KSEF2_TOKEN"], platform_variables=[f"KIT_VARIABLES_{n}"]
            )
            for n, problem in enumerate(("not base64", "not UTF-8", "not JSON", "not a string"), 1)
        }


def test_first_name_wins(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("KSEF2_TOKEN", "second")
    monkeypatch.setenv("KSEFPL_API_TOKEN", f" {SECRET}\n")
    credential = PaasToken().load(REQUEST)
    assert isinstance(credential, KsefToken)
    assert credential.token.reveal() == SECRET
    assert credential.source == "paas:KSEFPL_API_TOKEN"


def test_falls_back_to_the_next_name(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("KSEFPL_API_TOKEN", "")  # empty counts as unset
    monkeypatch.setenv("KSEF2_TOKEN", SECRET)
    credential = PaasToken().load(REQUEST)
    assert credential.source == "paas:KSEF2_TOKEN"


def test_names_option(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("SHOP_TOKEN", SECRET)
    monkeypatch.setenv("KSEFPL_API_TOKEN", "not this one")
    assert PaasToken(names=["SHOP_TOKEN"]).load(REQUEST).token.reveal() == SECRET  # type: ignore[union-attr]
    assert PaasToken(names="SHOP_TOKEN").names == ("SHOP_TOKEN",)


def test_platform_variables_env_prefixed(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("PLATFORM_VARIABLES", encoded({"env:KSEFPL_API_TOKEN": SECRET, "x": "y"}))
    credential = PaasToken().load(REQUEST)
    assert credential.token.reveal() == SECRET  # type: ignore[union-attr]
    assert credential.source == "paas:PLATFORM_VARIABLES[env:KSEFPL_API_TOKEN]"


def test_platform_variables_plain_name(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("PLATFORM_VARIABLES", encoded({"KSEF2_TOKEN": SECRET}))
    credential = PaasToken().load(REQUEST)
    assert credential.source == "paas:PLATFORM_VARIABLES[KSEF2_TOKEN]"


def test_adobe_commerce_cloud_variables(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("MAGENTO_CLOUD_VARIABLES", encoded({"KSEFPL_API_TOKEN": SECRET}))
    credential = PaasToken().load(REQUEST)
    assert credential.source == "paas:MAGENTO_CLOUD_VARIABLES[KSEFPL_API_TOKEN]"


def test_environment_beats_platform_variables_for_the_same_name(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("PLATFORM_VARIABLES", encoded({"env:KSEFPL_API_TOKEN": "older"}))
    monkeypatch.setenv("KSEFPL_API_TOKEN", SECRET)
    assert PaasToken().load(REQUEST).source == "paas:KSEFPL_API_TOKEN"


def test_name_order_beats_place(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("PLATFORM_VARIABLES", encoded({"KSEFPL_API_TOKEN": SECRET}))
    monkeypatch.setenv("KSEF2_TOKEN", "second choice")
    assert PaasToken().load(REQUEST).source == "paas:PLATFORM_VARIABLES[KSEFPL_API_TOKEN]"


def test_shared_secret_kind(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("KSEFPL_API_TOKEN", SECRET)
    assert isinstance(PaasToken(kind="shared-secret").load(REQUEST), SharedSecret)


def test_unset_everywhere_names_what_was_looked_at(monkeypatch: pytest.MonkeyPatch) -> None:
    with pytest.raises(NotAvailable) as info:
        PaasToken().load(REQUEST)
    message = str(info.value)
    assert "KSEFPL_API_TOKEN and KSEF2_TOKEN not set" in message
    assert "PLATFORM_VARIABLES and MAGENTO_CLOUD_VARIABLES not set" in message
    monkeypatch.setenv("PLATFORM_VARIABLES", encoded({"OTHER": "x"}))
    with pytest.raises(NotAvailable, match="looked in the environment and PLATFORM_VARIABLES"):
        PaasToken().load(REQUEST)


@pytest.mark.parametrize(
    ("value", "problem"),
    [
        ("%%% not base64 %%%", "is not valid base64"),
        (base64.b64encode(b"\xff\xfe" + SECRET.encode()).decode(), "does not decode to UTF-8"),
        (base64.b64encode(b'{"KSEF2_TOKEN": "' + SECRET.encode()).decode(), "valid JSON"),
        (encoded([SECRET]), "holds a JSON list, not an object"),
    ],
)
def test_malformed_platform_variables_is_an_error_without_the_value(
    monkeypatch: pytest.MonkeyPatch, value: str, problem: str
) -> None:
    monkeypatch.setenv("PLATFORM_VARIABLES", value)
    with pytest.raises(CredentialError, match=problem) as info:
        PaasToken().load(REQUEST)
    assert not isinstance(info.value, NotAvailable)
    assert SECRET not in str(info.value) and value not in str(info.value)
    with pytest.raises(CredentialError, match=problem):
        PaasToken().check(ENV, CONTEXT)


def test_non_string_value_is_an_error(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("PLATFORM_VARIABLES", encoded({"env:KSEF2_TOKEN": {"token": SECRET}}))
    with pytest.raises(CredentialError, match="is a JSON dict, not a string") as info:
        PaasToken().load(REQUEST)
    assert SECRET not in str(info.value)


def test_platform_variables_is_read_only_when_needed(monkeypatch: pytest.MonkeyPatch) -> None:
    """A variable found in the environment wins before PLATFORM_VARIABLES is decoded."""
    monkeypatch.setenv("KSEFPL_API_TOKEN", SECRET)
    monkeypatch.setenv("PLATFORM_VARIABLES", "%%%")
    assert PaasToken().load(REQUEST).token.reveal() == SECRET  # type: ignore[union-attr]


def test_check_is_local_and_says_not_available(monkeypatch: pytest.MonkeyPatch) -> None:
    with pytest.raises(NotAvailable, match="KSEFPL_API_TOKEN"):
        PaasToken().check(ENV, CONTEXT)
    monkeypatch.setenv("KSEF2_TOKEN", SECRET)
    PaasToken().check(ENV, CONTEXT)


def test_invalid_options_are_rejected() -> None:
    with pytest.raises(ValueError, match="at least one"):
        PaasToken(names=[])
    with pytest.raises(ValueError, match="environment variable names"):
        PaasToken(names=["not a name"])
    with pytest.raises(ValueError, match="must be in"):
        PaasToken(kind="password")  # type: ignore[arg-type]


def test_secret_never_in_repr_or_logs(
    monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    monkeypatch.setenv("PLATFORM_VARIABLES", encoded({"env:KSEFPL_API_TOKEN": SECRET}))
    caplog.set_level(logging.DEBUG)
    source = PaasToken()
    credential = source.load(REQUEST)
    logging.getLogger("test").info("loaded %s %r from %r", credential, credential, source)
    assert SECRET not in caplog.text
    assert SECRET not in repr(credential) and SECRET not in repr(source)
