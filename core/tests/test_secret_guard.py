"""The secret guard, run in pytests of its own: it fails a test for each way a secret gets out
(output, logs at any level, warnings, error messages, a subprocess's output it is shown),
names where, and never shows the secret itself; it learns the secrets wherever they are born."""

from __future__ import annotations

import textwrap

import pytest

# loaded here so that the nested pytests (which unload what they import) share them
from cryptography.hazmat.primitives import serialization  # noqa: F401
from cryptography.hazmat.primitives.asymmetric import ec  # noqa: F401

pytest_plugins = ["pytester"]

# the tests below run deliberately leaky tests in nested pytests
pytestmark = pytest.mark.secret_guard_off("runs deliberately leaky tests in a nested pytest")

LEAKY = """
import logging
import warnings

import pytest

from ksef_auth import CredentialError, Secret
from ksef_auth.secret import note_secret
from ksef_auth.testing.secret_guard import inspect

TOKEN = "20251010-EC-1DCE3E3000-12ECB5B36E-45|nip-5261040828|" + "ab" * 32


def test_printed():
    print("the token is", Secret(TOKEN).reveal())


def test_logged_at_debug():
    logging.getLogger("ksef_auth.plugin").debug("sending %s", Secret(TOKEN).reveal())


def test_in_a_warning():
    warnings.warn(f"odd token {Secret(TOKEN).reveal()}", UserWarning)


def test_in_an_error_caught():
    try:
        raise CredentialError(f"token {Secret(TOKEN).reveal()} refused")
    except CredentialError:
        pass


def test_noted_by_a_server():
    note_secret("a-jwt-the-test-server-issued-0123456789")
    print("got a-jwt-the-test-server-issued-0123456789")


def test_in_a_subprocess_output():
    Secret(TOKEN)
    inspect(f"ksef-auth says {TOKEN}", "output of ksef-auth token")


def test_a_private_key_logged():
    from cryptography.hazmat.primitives import serialization
    from cryptography.hazmat.primitives.asymmetric import ec

    from ksef_auth import LocalKey

    key = ec.generate_private_key(ec.SECP256R1())
    LocalKey(key)
    pem = key.private_bytes(
        serialization.Encoding.PEM,
        serialization.PrivateFormat.PKCS8,
        serialization.NoEncryption(),
    )
    logging.getLogger("ksef_auth.plugin").warning("loaded %s", pem.decode())


def test_clean():
    secret = Secret(TOKEN)
    print("the token is", secret, repr(secret))
    logging.getLogger("ksef_auth.plugin").debug("fingerprint %s", secret.fingerprint())


@pytest.mark.shows_secret("prints the token on purpose")
def test_shown_on_purpose():
    print(Secret(TOKEN).reveal())


@pytest.mark.shows_secret("prints the token on purpose, but logs it too")
def test_shown_on_purpose_but_logged():
    print(Secret(TOKEN).reveal())
    logging.getLogger("ksef_auth.plugin").info("%s", Secret(TOKEN).reveal())


def test_short_values_are_not_tracked():
    print(Secret("pw12345").reveal())
"""

TOKEN_TAIL = "ab" * 4


LEAKS = {
    "test_printed": "captured stdout call",
    "test_logged_at_debug": "log record of ksef_auth.plugin",
    "test_in_a_warning": "a warning (UserWarning)",
    "test_in_an_error_caught": "the message of a CredentialError",
    "test_noted_by_a_server": "captured stdout call",
    "test_in_a_subprocess_output": "captured output of ksef-auth token",
    "test_a_private_key_logged": "log record of ksef_auth.plugin",
    "test_shown_on_purpose_but_logged": "log record of ksef_auth.plugin",
}
CLEAN = ["test_clean", "test_shown_on_purpose", "test_short_values_are_not_tracked"]
GUARDED = ["-p", "ksef_auth.testing.secret_guard", "-p", "no:cacheprovider"]
GUARDED += ["-o", "asyncio_default_fixture_loop_scope=function"]


def run_guarded(pytester: pytest.Pytester) -> dict[str, tuple[str, str]]:
    """test name -> (the outcome of its worst report, the text of the guard's verdict)."""
    pytester.makepyfile(test_leaky=textwrap.dedent(LEAKY))
    recorder = pytester.inline_run(*GUARDED)
    result: dict[str, tuple[str, str]] = {}
    for report in recorder.getreports("pytest_runtest_logreport"):
        name = report.nodeid.split("::")[-1]
        verdict = report.longreprtext if "secret guard" in report.longreprtext else ""
        if name not in result or report.failed:
            result[name] = (report.outcome, verdict)
    return result


def test_each_secret_let_out_fails_its_test_and_nothing_else(pytester: pytest.Pytester) -> None:
    """Every leak fails its test with a verdict naming where it was seen and where the secret
    was made, masking the secret; clean tests, output marked ``shows_secret`` and values too
    short to track pass."""
    outcome = run_guarded(pytester)
    for test, where in LEAKS.items():
        status, verdict = outcome[test]
        assert status == "failed", (test, verdict)
        assert f"in {where}" in verdict, (test, verdict)
        assert "test_leaky.py:" in verdict or "keys.py" in verdict  # where it was made
        assert "<a secret>" in verdict
        assert TOKEN_TAIL not in verdict  # the secret itself is never shown
    for test in CLEAN:
        assert outcome[test] == ("passed", ""), test


def test_the_summary_says_it_is_on(pytester: pytest.Pytester) -> None:
    pytester.makepyfile(test_one="def test_one():\n    pass\n")
    result = pytester.runpytest(*GUARDED)
    result.stdout.fnmatch_lines(["secret guard: * secrets watched, in every test"])


def test_the_simulator_reports_the_tokens_it_issues() -> None:
    pytest.importorskip("ksef_auth_simulator")
    from ksef_auth.secret import watch
    from ksef_auth_simulator import Simulator, SimulatorConfig

    seen: list[str] = []
    stop = watch(seen.append)
    try:
        token = Simulator(SimulatorConfig(rate_limits=False)).issue_ksef_token("5261040828")
    finally:
        stop()
    assert token in seen
