"""The conformance kit proves the source keeps the contract; one subclass, two fixtures."""

from __future__ import annotations

import sys

import pytest

from ksef_auth import CredentialRequest
from ksef_auth.testing import CredentialSourceContract
from ksef_auth_command import CommandToken

REQUEST = CredentialRequest.for_login("http://127.0.0.1:1/v2", "5261040828")


class TestCommandToken(CredentialSourceContract):
    @pytest.fixture
    def source(self) -> CommandToken:
        # the token is computed, so that it appears nowhere in the source's own repr
        return CommandToken(command=[sys.executable, "-c", "print('tok' * 4 + '-from-a-program')"])

    @pytest.fixture
    def unavailable_source(self) -> CommandToken:
        return CommandToken(command=["no-such-program-anywhere"])


def test_a_failing_program_is_a_credential_error_without_its_output() -> None:
    from ksef_auth import CredentialError

    program = "import sys; print('half-a-secret'); sys.exit('vault is sealed')"
    with pytest.raises(CredentialError, match="vault is sealed") as info:
        CommandToken(command=[sys.executable, "-c", program]).load(REQUEST)
    assert "half-a-secret" not in str(info.value)
