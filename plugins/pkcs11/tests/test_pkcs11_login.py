"""XAdES logins with keys on SoftHSM2 against the simulator (which verifies every signature):
RSA and EC, from a strategy file's table, 16 threads at once through one token, after a fork;
and the enrollment path: a key made on the token, a CSR signed there, the certificate kept."""

from __future__ import annotations

import multiprocessing
import threading
from typing import Any

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec, padding
from hsm_support import NIP, PIN, LocalCa, SoftHsm, seal_subject

import ksef_auth
from ksef_auth import (
    ContextIdentifier,
    CredentialRequest,
    Environment,
    KeySpec,
    SecretRef,
    Strategy,
    build_csr,
)
from ksef_auth_pkcs11 import Pkcs11Key, Pkcs11KeyStore

pytest.importorskip("ksef_auth_xades")
pytest.importorskip("ksef_auth_simulator")


@pytest.fixture
def simulator(make_ksef_simulator: Any, ca: LocalCa) -> Any:
    return make_ksef_simulator(require_xades=True, trusted_ca_pems=[ca.pem])


REQUEST = CredentialRequest.for_login("http://127.0.0.1:1/v2", NIP, method="xades")


def config(base_url: str, credential: dict[str, Any], **signer: Any) -> dict[str, Any]:
    return {
        "strategy": {
            "seal": {
                "environment": base_url,
                "context": NIP,
                "credential": credential,
                "signer": {"use": "xades", **signer},
                "store": "memory",
            }
        }
    }


@pytest.mark.parametrize("algorithm", ["ec-p256", "rsa-2048"])
def test_xades_login_with_a_key_on_the_token(
    simulator: Any, enroll: Any, algorithm: str, capsys: pytest.CaptureFixture[str]
) -> None:
    table = enroll(algorithm)
    strategy = ksef_auth.load(config(simulator.base_url, table)).strategy("seal")
    assert strategy.token()
    current = strategy.session.current()
    assert current is not None and current.method == "xades"
    operation = list(simulator.sim.operations.values())[-1]
    assert operation.subject["subjectIdentifier"] == {"type": "Nip", "value": NIP}
    assert PIN not in repr(strategy) + capsys.readouterr().out


def test_xades_login_with_a_p384_seal_imported_onto_the_token(
    simulator: Any, softhsm: SoftHsm, token: str, pin: SecretRef, ca: LocalCa
) -> None:
    """A qualified seal's key on P-384 (as many seals are): the token returns a raw 96-byte
    r || s, which becomes the DER the signer expects; the simulator verifies the login."""
    from ksef_auth_pkcs11 import Pkcs11Source
    from ksef_auth_pkcs11.module import TokenSelector, token_session
    from ksef_auth_pkcs11.objects import store_certificate
    from ksef_auth_pkcs11.pin import PinSource

    key = ec.generate_private_key(ec.SECP384R1())
    softhsm.import_key(token, key, key_label="seal-p384", key_id=b"\x38\x04")
    certificate = ca.issue(key.public_key())
    session = token_session(softhsm.module, TokenSelector(label=token))
    session.run(
        lambda s: store_certificate(s, certificate, label="seal-p384", key_id=b"\x38\x04"),
        PinSource(pin),
        writable=True,
    )
    source = Pkcs11Source(module=softhsm.module, token_label=token, label="seal-p384", pin=pin)
    credential = source.load(REQUEST)
    signature = credential.key.sign(b"<SignedInfo/>")
    key.public_key().verify(signature, b"<SignedInfo/>", ec.ECDSA(hashes.SHA256()))  # DER
    table = {"use": "pkcs11", "module": softhsm.module, "token_label": token,
             "label": "seal-p384", "pin": {"env": "TEST_TOKEN_PIN"}}  # fmt: skip
    strategy = ksef_auth.load(config(simulator.base_url, table)).strategy("seal")
    assert strategy.token()
    operation = list(simulator.sim.operations.values())[-1]
    assert operation.subject["subjectIdentifier"] == {"type": "Nip", "value": NIP}


def test_xades_login_verifying_the_chain(simulator: Any, enroll: Any) -> None:
    """The CA certificate kept on the token goes along with the seal (verifyCertificateChain)."""
    table = enroll("ec-p256")
    strategy = ksef_auth.load(
        config(simulator.base_url, table, verify_certificate_chain=True)
    ).strategy("seal")
    assert strategy.token()


def test_sixteen_threads_log_in_through_one_token(simulator: Any, enroll: Any) -> None:
    table = enroll("ec-p256")
    loaded = ksef_auth.load(config(simulator.base_url, table)).strategy("seal")
    source = loaded.credential
    from ksef_auth_memory import MemoryStore
    from ksef_auth_xades import XadesSigner

    strategies = [
        Strategy(
            name=f"seal-{i}",
            environment=Environment.of(simulator.base_url),
            context=ContextIdentifier.nip(NIP),
            credential=source,
            signer=XadesSigner(),
            store=MemoryStore(),
        )
        for i in range(16)
    ]
    barrier = threading.Barrier(16)
    errors: list[BaseException] = []
    tokens: list[str] = []

    def login(strategy: Strategy) -> None:
        try:
            barrier.wait(timeout=60)
            tokens.append(strategy.token())
        except BaseException as exc:  # noqa: BLE001 (collected and reported below)
            errors.append(exc)

    threads = [threading.Thread(target=login, args=(s,)) for s in strategies]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=180)
    assert not errors, errors
    assert len(set(tokens)) == 16  # sixteen sessions, each signed on the token


def test_signatures_from_many_threads_all_verify(enroll: Any) -> None:
    from ksef_auth import CredentialRequest

    table = enroll("rsa-2048")
    credential = (
        ksef_auth.load(config("http://127.0.0.1:1/v2", table))
        .strategy("seal")
        .credential.load(CredentialRequest.for_login("http://127.0.0.1:1/v2", NIP))
    )
    public = credential.certificate.public_key()
    failures: list[BaseException] = []

    def work(n: int) -> None:
        try:
            for i in range(20):
                data = f"{n}-{i}".encode()
                public.verify(credential.key.sign(data), data, padding.PKCS1v15(), hashes.SHA256())  # type: ignore[union-attr]
        except BaseException as exc:  # noqa: BLE001
            failures.append(exc)

    threads = [threading.Thread(target=work, args=(n,)) for n in range(16)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=180)
    assert not failures, failures


def _sign_in_child(key: Pkcs11Key, queue: Any) -> None:
    try:
        queue.put(("ok", key.sign(b"from the child")))
    except BaseException as exc:  # noqa: BLE001
        queue.put(("error", repr(exc)))


def test_a_forked_worker_signs_with_the_parents_source(enroll: Any) -> None:
    """Gunicorn-style workers forked after the parent used the token: PKCS#11 must be set up
    again in the child, which the module registry does by itself."""
    from ksef_auth import CredentialRequest

    table = enroll("ec-p256")
    credential = (
        ksef_auth.load(config("http://127.0.0.1:1/v2", table))
        .strategy("seal")
        .credential.load(CredentialRequest.for_login("http://127.0.0.1:1/v2", NIP))
    )
    credential.key.sign(b"in the parent")
    context = multiprocessing.get_context("fork")
    queue = context.Queue()
    child = context.Process(target=_sign_in_child, args=(credential.key, queue))
    child.start()
    status, value = queue.get(timeout=60)
    child.join(timeout=60)
    assert status == "ok", value
    public = credential.certificate.public_key()
    public.verify(value, b"from the child", ec.ECDSA(hashes.SHA256()))  # type: ignore[call-arg,arg-type]
    credential.key.sign(b"the parent still signs")


# --- enrollment: a key made on the token, its CSR signed there ----------------------------------


@pytest.mark.parametrize("algorithm", ["ec-p256", "rsa-2048"])
def test_the_csr_is_signed_on_the_token(store: Pkcs11KeyStore, algorithm: str) -> None:
    key = store.generate(KeySpec(algorithm=algorithm, label="ksef-cert"))  # type: ignore[arg-type]
    csr = build_csr(key, seal_subject())
    assert csr.is_signature_valid  # cryptography's own verification
    assert csr.public_key() == key.public_key()
    assert csr.subject == seal_subject()
    der = csr.public_bytes(serialization.Encoding.DER)
    assert x509.load_der_x509_csr(der).is_signature_valid  # and after a round trip


def test_enroll_then_log_in(simulator: Any, store: Pkcs11KeyStore, ca: LocalCa) -> None:
    """What `ksef-auth cert enroll --key-store pkcs11` does, step by step: generate on the
    token, build the CSR through the key, have it issued, keep it, log in with the table."""
    key = store.generate(KeySpec(algorithm="ec-p256", label=f"ksef-{NIP}"))
    csr = build_csr(key, seal_subject())
    certificate = ca.issue(csr.public_key(), csr.subject)
    table = dict(store.keep(key, certificate, [ca.certificate]))
    assert table["use"] == "pkcs11" and table["label"] == f"ksef-{NIP}"
    assert table["pin"] == {"env": "TEST_TOKEN_PIN"}  # a reference, never the PIN
    assert PIN not in repr(table)
    assert ksef_auth.load(config(simulator.base_url, table)).strategy("seal").token()


def test_keep_refuses_a_certificate_for_another_key(store: Pkcs11KeyStore, ca: LocalCa) -> None:
    from ksef_auth_pkcs11 import CertificateMismatch

    key = store.generate(KeySpec(label="mine"))
    other = ca.issue(ec.generate_private_key(ec.SECP256R1()).public_key())
    with pytest.raises(CertificateMismatch, match="nothing was written"):
        store.keep(key, other, [])


def test_keep_refuses_keys_from_elsewhere(store: Pkcs11KeyStore, ca: LocalCa) -> None:
    from ksef_auth import CredentialError, LocalKey

    local = LocalKey(ec.generate_private_key(ec.SECP256R1()))
    with pytest.raises(CredentialError, match="keeps certificates for keys it generated"):
        store.keep(local, ca.issue(local.public_key()), [])


def test_the_key_store_is_registered_for_enrollment() -> None:
    from ksef_auth.manager import PluginManager

    manager = PluginManager(only="pkcs11")
    assert manager.get("key_store", "pkcs11").factory is Pkcs11KeyStore
    assert manager.get("credential_source", "pkcs11").plugin == "pkcs11"
