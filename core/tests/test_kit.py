"""The conformance kit proved by mutation: a correct third-party store, source and signer pass
it, and each deliberately broken variant fails the very rule it breaks (run in a pytest of its
own).

The built-in stores and sources run the kit in their own test suites.
"""

from __future__ import annotations

import textwrap

import pytest

from tests.kit_plugins import SqliteStoreKit, TokenDirectoryKit, TokenSignerKit

pytest_plugins = ["pytester"]


class TestSqliteStore(SqliteStoreKit):
    """The correct store passes every rule."""


class TestTokenDirectory(TokenDirectoryKit):
    """The correct source passes every rule."""


class TestTokenSigner(TokenSignerKit):
    """The correct signer passes every rule."""


STORE_MUTANTS = {
    "OneProcessLockStore": [
        "test_lock_excludes_other_processes",
        "test_lock_of_a_live_holder_in_another_process_is_not_taken",
    ],
    "StealingLockStore": ["test_lock_of_a_live_holder_in_another_process_is_not_taken"],
    "KeepsLockOnRaiseStore": ["test_lock_is_released_when_the_holder_raises"],
    "WaiterReleasesStore": ["test_a_waiter_that_timed_out_leaves_the_holders_lock"],
    "NeverFreedLockStore": ["test_lock_of_a_killed_holder_is_freed"],
    "AccessExpiryStore": ["test_entry_lives_while_its_refresh_token_does"],
    "ReturnsExpiredStore": [
        "test_entry_with_every_token_expired_is_not_returned",
        "test_entry_expires_while_stored",
    ],
    "PlaintextStore": ["test_sessions_at_rest_hold_no_token"],
    "CorruptRaisesStore": ["test_corrupt_entry_is_a_miss", "test_foreign_data_is_a_miss"],
    "UnboundEntriesStore": ["test_entry_copied_from_another_key_is_a_miss"],
}

SOURCE_MUTANTS = {
    "OpenFileNotAvailable": ["test_secret_file_open_to_others_is_refused"],
    "NoPermissionCheck": ["test_secret_file_open_to_others_is_refused"],
    "TokenInMessage": [
        "test_error_paths_are_credential_errors_without_secrets",
        "test_damaged_secret_file_is_a_credential_error_without_its_content",
    ],
    "UntypedErrors": ["test_damaged_secret_file_is_a_credential_error_without_its_content"],
    "CachesForever": ["test_a_rotated_secret_is_picked_up"],
    "RemembersContext": [
        "test_each_context_gets_its_own_credential",
        "test_a_context_without_a_credential_is_not_available",
    ],
}

SIGNER_MUTANTS = {
    "ClearTokenSigner": ["test_the_secret_is_not_sent_in_clear"],
    "NetworkSigner": ["test_sign_makes_no_network_call"],
    "ReplayingSigner": ["test_the_submission_answers_this_challenge"],
}

MODULE = """
from tests import kit_plugins as plugins

class TestMutant(plugins.{kit}):
    {attribute} = plugins.{mutant}
"""


def run_kit(pytester: pytest.Pytester, kit: str, attribute: str, mutant: str, rules: list[str]):
    pytester.makepyfile(
        test_mutant=textwrap.dedent(MODULE.format(kit=kit, attribute=attribute, mutant=mutant))
    )
    return inline_run(pytester, "-k", " or ".join(rules))


def inline_run(pytester: pytest.Pytester, *args: str) -> pytest.HookRecorder:
    """The kit in a pytest of its own (no cache, the same asyncio settings as this one)."""
    options = ["-p", "no:cacheprovider", "-o", "asyncio_default_fixture_loop_scope=function"]
    return pytester.inline_run(*options, *args)


def assert_fails_each(recorder: pytest.HookRecorder, mutant: str, rules: list[str]) -> None:
    reports = [r for r in recorder.getreports("pytest_runtest_logreport") if r.when == "call"]
    for rule in rules:
        ran = [r for r in reports if r.nodeid.split("::")[-1].split("[")[0] == rule]
        assert ran, f"{rule} did not run against {mutant}"
        passed = [r.nodeid for r in ran if not r.failed]
        assert not passed, f"the kit passed {mutant} on {passed}"
        for report in ran:
            assert "The rule:" in report.longreprtext, report.longreprtext  # the kit's verdict


@pytest.mark.parametrize(("mutant", "rules"), STORE_MUTANTS.items(), ids=list(STORE_MUTANTS))
def test_the_kit_fails_a_broken_store(
    pytester: pytest.Pytester, mutant: str, rules: list[str]
) -> None:
    recorder = run_kit(pytester, "SqliteStoreKit", "store_class", mutant, rules)
    assert_fails_each(recorder, mutant, rules)


LEAKY = pytest.mark.secret_guard_off("the kit's verdict on a leaky source quotes what it leaked")


@pytest.mark.parametrize(
    ("mutant", "rules"),
    [
        pytest.param(m, r, marks=[LEAKY] if m == "TokenInMessage" else [])
        for m, r in SOURCE_MUTANTS.items()
    ],
    ids=list(SOURCE_MUTANTS),
)
def test_the_kit_fails_a_broken_source(
    pytester: pytest.Pytester, mutant: str, rules: list[str]
) -> None:
    recorder = run_kit(pytester, "TokenDirectoryKit", "source_class", mutant, rules)
    assert_fails_each(recorder, mutant, rules)


@pytest.mark.parametrize(("mutant", "rules"), SIGNER_MUTANTS.items(), ids=list(SIGNER_MUTANTS))
def test_the_kit_fails_a_broken_signer(
    pytester: pytest.Pytester, mutant: str, rules: list[str]
) -> None:
    recorder = run_kit(pytester, "TokenSignerKit", "signer_class", mutant, rules)
    assert_fails_each(recorder, mutant, rules)


def test_a_store_must_say_whether_it_leaves_the_process(pytester: pytest.Pytester) -> None:
    """A store without ``leaves_process`` fails, so that no shared store skips the process and
    encryption rules by saying nothing."""
    pytester.makepyfile(
        test_silent="""
        from tests import kit_plugins as plugins

        class Silent(plugins.SqliteStore):
            leaves_process = None

        class TestSilent(plugins.SqliteStoreKit):
            store_class = Silent
        """
    )
    recorder = inline_run(pytester, "-k", "leave_the_process")
    assert_fails_each(
        recorder, "a store without leaves_process", ["test_says_whether_sessions_leave_the_process"]
    )


def test_a_shared_store_must_give_the_kit_its_other_processes(pytester: pytest.Pytester) -> None:
    """A store that leaves the process but gives no ``store_factory`` or ``raw_storage`` fails
    the process and at-rest rules instead of skipping them."""
    pytester.makepyfile(
        test_lazy="""
        import pytest
        from tests import kit_plugins as plugins

        class TestLazy(plugins.SqliteStoreKit):
            @pytest.fixture
            def store(self, tmp_path, monkeypatch):
                monkeypatch.setenv("KIT_KEY", plugins.generate_key())
                return plugins.SqliteStore(str(tmp_path / "s.db"), plugins.SecretRef.env("KIT_KEY"))

            @pytest.fixture
            def store_factory(self):
                return None

            @pytest.fixture
            def raw_storage(self):
                return None
        """
    )
    rules = ["test_lock_excludes_other_processes", "test_sessions_at_rest_hold_no_token"]
    recorder = inline_run(pytester, "-k", " or ".join(rules))
    assert_fails_each(recorder, "a store without store_factory and raw_storage", rules)


def test_a_source_reading_an_undeclared_file_fails(pytester: pytest.Pytester) -> None:
    """A source whose fixtures do not declare a file it reads fails, so that no secret file
    escapes the permission rule by not being listed."""
    pytester.makepyfile(
        test_undeclared="""
        import pytest
        from tests import kit_plugins as plugins

        class TestUndeclared(plugins.TokenDirectoryKit):
            @pytest.fixture
            def secret_files(self):
                return []
        """
    )
    rule = "test_every_file_read_is_declared"
    recorder = inline_run(pytester, "-k", rule)
    assert_fails_each(recorder, "a source with undeclared files", [rule])
