"""The ``ksef-certificate`` source: logins as InternalCertificate, unattended renewal (due by
KSeF's record, once, with events, retried after a failure without breaking logins), and the
certificates that can no longer log in."""

from __future__ import annotations

import datetime as dt
import time
from pathlib import Path
from typing import Any

import pytest
from conftest import NIP, PASSWORD, PASSWORD_ENV, Recorder, ksef_strategy, seal_strategy
from cryptography.hazmat.primitives import hashes

from ksef_auth import (
    CertificateError,
    ConfigError,
    CredentialRequest,
    NotAvailable,
    SecretRef,
)
from ksef_auth.manager import PluginManager
from ksef_auth_ksefcert import (
    CertificatesClient,
    Enrolled,
    KsefCertificateSource,
    Pkcs12KeyStore,
    enroll,
)
from ksef_auth_ksefcert.records import serial_of


def enrolled_file(simulator: Any, path: Path, **options: Any) -> Enrolled:
    client = CertificatesClient(seal_strategy(simulator.base_url))
    return enroll(
        client, Pkcs12KeyStore(path, SecretRef.env(PASSWORD_ENV)), name="Serwer ERP", **options
    )


def wait_for(condition: Any, timeout: float = 20.0) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        if time.monotonic() > deadline:
            raise AssertionError("condition not met in time")
        time.sleep(0.02)


def source_of(strategy: Any) -> KsefCertificateSource:
    assert isinstance(strategy.credential, KsefCertificateSource)
    return strategy.credential


def last_method(simulator: Any) -> str:
    return str(list(simulator.sim.operations.values())[-1].method)


def test_logs_in_as_internal_certificate(simulator: Any, tmp_path: Path, password: str) -> None:
    enrolled = enrolled_file(simulator, tmp_path / "server.p12")
    strategy = ksef_strategy(simulator.base_url, tmp_path / "server.p12")
    assert strategy.token()
    assert last_method(simulator) == "InternalCertificate"
    expected = enrolled.certificate.fingerprint(hashes.SHA256()).hex().upper()
    assert strategy.load_credential().fingerprint == expected
    source_of(strategy).renewal.join(10)  # the first check: not due, nothing renewed
    assert simulator.sim.ksef_certificates.find(enrolled.serial).last_use is not None
    assert len(simulator.sim.ksef_certificates.issued) == 1


def test_a_missing_file_is_not_available_and_a_wrong_password_fails_at_load(
    simulator: Any, tmp_path: Path, password: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    source = KsefCertificateSource(tmp_path / "absent.p12", SecretRef.env(PASSWORD_ENV))
    request = CredentialRequest.for_login(simulator.base_url, NIP)
    with pytest.raises(NotAvailable):
        source.load(request)
    enrolled_file(simulator, tmp_path / "server.p12")
    monkeypatch.setenv(PASSWORD_ENV, "wrong")
    with pytest.raises(ConfigError) as caught:
        ksef_strategy(simulator.base_url, tmp_path / "server.p12")
    assert "wrong password" in str(caught.value) and PASSWORD_ENV in str(caught.value)
    assert "wrong" not in str(caught.value).replace("wrong password", "")


def test_renews_when_kseF_moves_the_end_date(
    simulator: Any, tmp_path: Path, password: str, manager: PluginManager, recorder: Recorder
) -> None:
    path = tmp_path / "server.p12"
    old = enrolled_file(simulator, path)
    strategy = ksef_strategy(
        simulator.base_url, path, manager, renew_before_days=30, check_interval=0.3
    )
    source = source_of(strategy)
    strategy.token()
    source.renewal.join(10)
    assert serial_of(strategy.load_credential().certificate) == old.serial  # not due yet
    client = CertificatesClient(strategy)
    client.shorten(old.serial, dt.datetime.now(dt.UTC) + dt.timedelta(days=10))
    time.sleep(0.35)  # the next look at KSeF's record is due
    old_fingerprint = strategy.load_credential().fingerprint
    source.renewal.join(20)
    renewed = strategy.load_credential()
    assert renewed.fingerprint != old_fingerprint
    new_serial = serial_of(renewed.certificate)
    assert new_serial != old.serial
    assert renewed.certificate.subject == old.certificate.subject
    record = simulator.sim.ksef_certificates.find(new_serial)
    assert record is not None and record.name == "Serwer ERP"  # the same name
    manager.observers.flush()
    assert recorder.names() == ["certificate_expiring", "certificate_renewed"]
    expiring, done = recorder.events
    assert expiring.serial == old.serial and 9 <= expiring.days_left <= 10
    assert done.new_serial == new_serial and done.new_fingerprint == renewed.fingerprint
    assert done.context.value == NIP and done.strategy == "server"
    assert simulator.sim.ksef_certificates.find(old.serial).status(time.time()) == "Active"
    # the next login uses the successor
    strategy.session.login()
    assert last_method(simulator) == "InternalCertificate"
    login = list(simulator.sim.ksef_certificates.logins.values())[-1]
    assert login == new_serial


def test_revoke_superseded(simulator: Any, tmp_path: Path, password: str) -> None:
    path = tmp_path / "server.p12"
    old = enrolled_file(simulator, path)
    strategy = ksef_strategy(simulator.base_url, path, revoke_superseded=True)
    outcome = source_of(strategy).renew_now(strategy, force=True)
    assert outcome.action == "renewed" and outcome.successor is not None
    assert simulator.sim.ksef_certificates.find(old.serial).revoked


def test_a_failed_renewal_is_retried_and_never_breaks_logins(
    simulator: Any, tmp_path: Path, password: str, manager: PluginManager, recorder: Recorder
) -> None:
    path = tmp_path / "server.p12"
    old = enrolled_file(simulator, path)
    settings = simulator.sim.ksef_certificates.settings
    settings.enrollment_limit = 1  # used up by the first enrollment: the renewal is refused
    strategy = ksef_strategy(
        simulator.base_url, path, manager, renew_before_days=1000, retry_interval=0.3
    )
    source = source_of(strategy)
    assert strategy.token()
    source.renewal.join(20)
    assert serial_of(strategy.load_credential().certificate) == old.serial
    manager.observers.flush()
    failures = [e for e in recorder.events if e.detail.startswith("renewal failed")]
    assert failures and "25006" in failures[0].detail
    assert "enrollment limit" in failures[0].detail
    strategy.session.login()  # logins go on with the current certificate
    status, note = source.renewal_status(strategy.load_credential())
    assert status == "warn" and "25006" in note
    source.renewal.join(20)  # a retry the login may have started (on a slow machine), failed too
    settings.enrollment_limit = None

    def renewed() -> bool:
        strategy.load_credential()  # starts the retry once retry_interval has passed
        source.renewal.join(20)
        return serial_of(strategy.load_credential().certificate) != old.serial

    wait_for(renewed)
    manager.observers.flush()
    assert recorder.names()[-1] == "certificate_renewed"


def test_one_renewal_per_certificate_among_threads(
    simulator: Any, tmp_path: Path, password: str
) -> None:
    from concurrent.futures import ThreadPoolExecutor

    path = tmp_path / "server.p12"
    enrolled_file(simulator, path)
    strategy = ksef_strategy(simulator.base_url, path, renew_before_days=1000)
    with ThreadPoolExecutor(8) as pool:
        list(pool.map(lambda _: strategy.token(), range(32)))
    source_of(strategy).renewal.join(20)
    assert len(simulator.sim.ksef_certificates.issued) == 2  # the original and one successor


def test_an_ended_or_revoked_certificate_says_how_to_start_over(
    simulator: Any, tmp_path: Path, password: str
) -> None:
    path = tmp_path / "server.p12"
    old = enrolled_file(simulator, path)
    strategy = ksef_strategy(simulator.base_url, path, renew=False)
    source = source_of(strategy)
    strategy.token()
    simulator.sim.ksef_certificates.revoke_serial(old.serial)
    outcome = source.renew_now(strategy)
    assert outcome.action == "unusable"
    with pytest.raises(CertificateError) as caught:
        strategy.load_credential()
    assert "revoked" in str(caught.value) and "ksef-auth cert enroll" in str(caught.value)
    short = tmp_path / "short.p12"
    simulator.sim.ksef_certificates.settings.validity = 1.0
    enrolled_file(simulator, short)
    time.sleep(1.1)
    other = KsefCertificateSource(short, SecretRef.env(PASSWORD_ENV))
    with pytest.raises(CertificateError, match="cannot renew itself"):
        other.load(CredentialRequest.for_login(simulator.base_url, NIP))
    assert PASSWORD not in str(caught.value)


def test_doctor_note(simulator: Any, tmp_path: Path, password: str) -> None:
    path = tmp_path / "server.p12"
    enrolled = enrolled_file(simulator, path)
    source = KsefCertificateSource(path, SecretRef.env(PASSWORD_ENV))
    credential = source.load(CredentialRequest.for_login(simulator.base_url, NIP))
    status, note = source.renewal_status(credential)
    due = enrolled.certificate.not_valid_after_utc - dt.timedelta(days=60)
    assert status == "ok" and note == f"renews itself from {due:%Y-%m-%d} (60 days before its end)"
    off = KsefCertificateSource(path, SecretRef.env(PASSWORD_ENV), renew=False)
    assert off.renewal_status(credential) == ("ok", "unattended renewal is off (renew = false)")
    soon = KsefCertificateSource(path, SecretRef.env(PASSWORD_ENV), renew_before_days=800)
    assert soon.renewal_status(credential)[0] == "warn"


def test_options_are_validated_when_loaded(simulator: Any, tmp_path: Path, password: str) -> None:
    enrolled_file(simulator, tmp_path / "server.p12")
    for options, words in (
        ({"renew_before_days": 0}, "greater than 0"),
        ({"algorithm": "dsa"}, "algorithm"),
        ({"successor_name": "x"}, "5-100"),
    ):
        with pytest.raises(ConfigError, match=words):
            ksef_strategy(simulator.base_url, tmp_path / "server.p12", **options)


def test_no_secret_in_repr(tmp_path: Path, password: str) -> None:
    source = KsefCertificateSource(tmp_path / "server.p12", SecretRef.env(PASSWORD_ENV))
    assert PASSWORD not in repr(source) and "server.p12" in repr(source)


def test_where_it_is_kept_is_said_once(tmp_path: Path) -> None:
    for options in ({}, {"path": tmp_path / "a.p12", "vault": "a-entry"}):
        with pytest.raises(ValueError, match="kept, once"):
            KsefCertificateSource(**options)  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="needs its password"):
        KsefCertificateSource(path=tmp_path / "a.p12")


def test_one_renewal_at_a_time_in_a_process_even_with_an_in_process_store(
    simulator: Any, tmp_path: Path, password: str
) -> None:
    from concurrent.futures import ThreadPoolExecutor

    path = tmp_path / "server.p12"
    enrolled_file(simulator, path)
    strategy = ksef_strategy(simulator.base_url, path, renew=False)  # memory store: no exclusion
    source = source_of(strategy)
    with ThreadPoolExecutor(4) as pool:
        outcomes = list(pool.map(lambda _: source.renew_now(strategy, force=True), range(4)))
    actions = sorted(o.action for o in outcomes)
    assert actions.count("renewed") == 1, actions
    assert set(actions) <= {"renewed", "renewed-elsewhere"}
    assert len(simulator.sim.ksef_certificates.issued) == 2
