"""The conformance kit proves the source keeps the contract; one subclass, two fixtures."""

from __future__ import annotations

import sys
from collections.abc import Callable
from pathlib import Path

import pytest

from ksef_auth import CredentialRequest
from ksef_auth.testing import NIPS, CredentialSourceContract
from ksef_auth_command import CommandToken

REQUEST = CredentialRequest.for_login("http://127.0.0.1:1/v2", "5261040828")


PRINT_FILE = "import sys; print(open(sys.argv[1]).read())"


class TestCommandToken(CredentialSourceContract):
    @pytest.fixture
    def token_file(self, tmp_path: Path) -> Path:
        """What the "password manager" (a Python one-liner) prints."""
        path = tmp_path / "token"
        path.write_text("tok" * 4 + "-from-a-program")
        return path

    @pytest.fixture
    def source(self, token_file: Path) -> CommandToken:
        return CommandToken(command=[sys.executable, "-c", PRINT_FILE, str(token_file)])

    @pytest.fixture
    def unavailable_source(self) -> CommandToken:
        return CommandToken(command=["no-such-program-anywhere"])

    @pytest.fixture
    def rotate(self, token_file: Path) -> Callable[[], None]:
        return lambda: token_file.write_text("kot" * 4 + "-rotated")

    @pytest.fixture
    def keyed_source(self, tmp_path: Path) -> CommandToken:
        for nip in NIPS[:2]:
            (tmp_path / nip).write_text(f"token-for-{nip}")
        return CommandToken(command=[sys.executable, "-c", PRINT_FILE, str(tmp_path / "{nip}")])

    def test_a_context_without_a_credential_is_not_available(self) -> None:  # type: ignore[override]
        pytest.skip("a program that has no token fails: that is an error, not 'not available'")


def test_a_failing_program_is_a_credential_error_without_its_output() -> None:
    from ksef_auth import CredentialError

    program = "import sys; print('half-a-secret'); sys.exit('vault is sealed')"
    with pytest.raises(CredentialError, match="vault is sealed") as info:
        CommandToken(command=[sys.executable, "-c", program]).load(REQUEST)
    assert "half-a-secret" not in str(info.value)
