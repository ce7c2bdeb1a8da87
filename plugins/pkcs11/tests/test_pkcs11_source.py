"""The pkcs11 source on SoftHSM2: keys generated on the token or imported, certificates beside
them or in a file, every typed error, and the PIN nowhere."""

from __future__ import annotations

import logging
from pathlib import Path
from typing import Any

import pytest
from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec, padding
from hsm_support import NIP, PIN, SO_PIN, WRONG_PIN, LocalCa, SoftHsm, software_key

from ksef_auth import CertificateCredential, CredentialRequest, NotAvailable, SecretRef
from ksef_auth.testing import CredentialSourceContract
from ksef_auth_pkcs11 import (
    CertificateMismatch,
    CertificateNotFound,
    KeyNotFound,
    PinIncorrect,
    Pkcs11Error,
    Pkcs11Key,
    Pkcs11Source,
    TokenNotPresent,
)
from ksef_auth_pkcs11.module import TokenSelector, token_session
from ksef_auth_pkcs11.objects import store_certificate
from ksef_auth_pkcs11.pin import PinSource

REQUEST = CredentialRequest.for_login("http://127.0.0.1:1/v2", NIP, method="xades")


def source_from(table: dict[str, Any], **changes: Any) -> Pkcs11Source:
    """The source a strategy file's table builds (the PIN reference as config makes it)."""
    options = {k: v for k, v in table.items() if k != "use"}
    if "pin" in options:
        options["pin"] = SecretRef.env(options["pin"]["env"])
    options.update(changes)
    return Pkcs11Source(**options)


def assert_no_pin(text: str) -> None:
    assert PIN not in text and SO_PIN not in text and WRONG_PIN not in text


class TestPkcs11Contract(CredentialSourceContract):
    @pytest.fixture
    def credential_request(self) -> CredentialRequest:
        return REQUEST

    @pytest.fixture
    def table(self, enroll: Any) -> dict[str, Any]:
        return enroll("ec-p256")

    @pytest.fixture
    def source(self, table: dict[str, Any]) -> Pkcs11Source:
        return source_from(table)

    @pytest.fixture
    def unavailable_source(self, softhsm: SoftHsm, pin: SecretRef) -> Pkcs11Source:
        return Pkcs11Source(module=softhsm.module, token_label="not-inserted", label="x", pin=pin)

    @pytest.fixture
    def rotate(self, table: dict[str, Any], store: Any, ca: LocalCa) -> Any:
        """A renewed certificate for the same key, written beside it: the latest-ending wins."""

        def renew() -> None:
            from ksef_auth_pkcs11.module import TokenSelector, token_session

            session = token_session(table["module"], TokenSelector(label=table["token_label"]))
            key_id = bytes.fromhex(table["id"])

            def public(s: Any) -> Any:
                from ksef_auth_pkcs11.key import find_private_key
                from ksef_auth_pkcs11.objects import key_public_key

                return key_public_key(s, find_private_key(s, session, label=None, key_id=key_id))

            renewed = ca.issue(session.run(public, store.pin_source), days=60)
            session.run(
                lambda s: store_certificate(s, renewed, label=table["label"], key_id=key_id),
                store.pin_source,
                writable=True,
            )

        return renew

    @pytest.fixture
    def keyed_source(self, enroll: Any, softhsm: SoftHsm, pin: SecretRef) -> Pkcs11Source:
        from ksef_auth.testing import NIPS

        first = enroll("ec-p256", label=f"seal-{NIPS[0]}")
        enroll("ec-p256", label=f"seal-{NIPS[1]}")
        return source_from(first, label="seal-{nip}", id=None)

    @pytest.fixture
    def failing_sources(
        self, table: dict[str, Any], store: Any, ca: LocalCa, monkeypatch: pytest.MonkeyPatch
    ) -> dict[str, Pkcs11Source]:
        from ksef_auth import KeySpec

        other = store.generate(KeySpec(label="other"))
        wrong = ca.issue(software_key("ec").public_key())
        session = token_session(table["module"], TokenSelector(label=table["token_label"]))
        assert other.id is not None
        session.run(
            lambda s: store_certificate(s, wrong, label="other", key_id=other.id),
            store.pin_source,
            writable=True,
        )
        monkeypatch.setenv("KIT_WRONG_PIN", WRONG_PIN)
        return {
            "wrong PIN": source_from(table, pin=SecretRef.env("KIT_WRONG_PIN")),
            "certificate of another key": source_from(table, label="other", id=None),
            "key without a certificate": source_from(
                table, label=None, id=store.generate(KeySpec(label="bare")).id.hex()
            ),
        }


@pytest.mark.parametrize("algorithm", ["ec-p256", "rsa-2048"])
def test_a_generated_key_and_its_certificate(enroll: Any, ca: LocalCa, algorithm: str) -> None:
    table = enroll(algorithm, label="seal")
    credential = source_from(table).load(REQUEST)
    assert isinstance(credential, CertificateCredential)
    assert isinstance(credential.key, Pkcs11Key)
    assert credential.certificate.public_key() == credential.key.public_key()
    assert list(credential.chain) == [ca.certificate]  # found by its subject on the token
    assert credential.source == f"pkcs11:{table['token_label']}/seal"
    assert credential.key.description.endswith(f"on PKCS#11 token {table['token_label']!r}")
    # the signature is made on the token and verifies with the certificate
    data = b"<SignedInfo>...</SignedInfo>"
    signature = credential.key.sign(data)
    public = credential.certificate.public_key()
    if isinstance(public, ec.EllipticCurvePublicKey):
        public.verify(signature, data, ec.ECDSA(hashes.SHA256()))  # DER, as KeyHandle says
    else:
        public.verify(signature, data, padding.PKCS1v15(), hashes.SHA256())  # type: ignore[union-attr]
    with pytest.raises(InvalidSignature):
        public.verify(signature, b"other", ec.ECDSA(hashes.SHA256())) if isinstance(
            public, ec.EllipticCurvePublicKey
        ) else public.verify(signature, b"other", padding.PKCS1v15(), hashes.SHA256())  # type: ignore[union-attr]


@pytest.mark.parametrize("hash_name", ["sha384", "sha512"])
def test_other_hashes(enroll: Any, hash_name: str) -> None:
    credential = source_from(enroll("rsa-2048")).load(REQUEST)
    signature = credential.key.sign(b"data", hash_name)  # type: ignore[arg-type]
    algorithm = hashes.SHA384() if hash_name == "sha384" else hashes.SHA512()
    credential.certificate.public_key().verify(signature, b"data", padding.PKCS1v15(), algorithm)  # type: ignore[union-attr]


@pytest.mark.parametrize("algorithm", ["ec", "rsa"])
def test_an_imported_key_with_its_certificate_written_by_id(
    softhsm: SoftHsm, token: str, pin: SecretRef, ca: LocalCa, algorithm: str
) -> None:
    key = software_key(algorithm)
    softhsm.import_key(token, key, key_label="imported", key_id=b"\x4a\x01")
    certificate = ca.issue(key.public_key())
    session = token_session(softhsm.module, TokenSelector(label=token))
    session.run(
        lambda s: store_certificate(s, certificate, label="imported", key_id=b"\x4a\x01"),
        PinSource(pin),
        writable=True,
    )
    by_id = Pkcs11Source(module=softhsm.module, token_label=token, id="4a:01", pin=pin)
    assert by_id.load(REQUEST).certificate == certificate
    by_label = Pkcs11Source(module=softhsm.module, token_label=token, label="imported", pin=pin)
    assert by_label.load(REQUEST).certificate == certificate


def test_the_certificate_from_a_file(
    softhsm: SoftHsm, token: str, pin: SecretRef, ca: LocalCa, tmp_path: Path
) -> None:
    key = software_key("ec")
    softhsm.import_key(token, key, key_label="filed", key_id=b"\x07")
    certificate = ca.issue(key.public_key())
    path = tmp_path / "seal.pem"
    path.write_bytes(certificate.public_bytes(serialization.Encoding.PEM) + ca.pem)
    source = Pkcs11Source(
        module=softhsm.module, token_label=token, label="filed", pin=pin, certificate=path
    )
    credential = source.load(REQUEST)
    assert credential.certificate == certificate and list(credential.chain) == [ca.certificate]
    other = tmp_path / "other.pem"
    other.write_bytes(
        ca.issue(software_key("ec").public_key()).public_bytes(serialization.Encoding.PEM)
    )
    with pytest.raises(CertificateMismatch, match="does not belong to key 'filed'"):
        Pkcs11Source(
            module=softhsm.module, token_label=token, label="filed", pin=pin, certificate=other
        ).load(REQUEST)


def test_a_token_by_slot_or_serial_and_several_tokens(softhsm: SoftHsm, enroll: Any) -> None:
    from ksef_auth_pkcs11.inventory import inventory
    from ksef_auth_pkcs11.module import forget_all, module_for

    table = enroll("ec-p256")
    softhsm.new_token()  # at least two tokens now
    forget_all()  # SoftHSM2 lists tokens when initialized: start as a new process would
    with pytest.raises(Pkcs11Error, match="tokens match the token .*: set token_label, slot"):
        source_from(table, token_label=None).load(REQUEST)
    slots = inventory(module_for(softhsm.module))["slots"]
    ours = next(s for s in slots if (s["token"] or {}).get("label") == table["token_label"])
    by_slot = source_from(table, token_label=None, slot=ours["slot"])
    assert by_slot.load(REQUEST).certificate
    by_serial = source_from(table, token_label=None, token_serial=ours["token"]["serial"])
    assert by_serial.load(REQUEST).certificate


def test_the_label_may_name_the_context(enroll: Any) -> None:
    table = enroll("ec-p256", label=f"seal-{NIP}")
    source = source_from(table, label="seal-{nip}", id=None)
    assert source.load(REQUEST).source.endswith(f"/seal-{NIP}")


def test_generated_keys_never_leave_the_token(
    softhsm: SoftHsm, enroll: Any, pin: SecretRef
) -> None:
    from pkcs11 import Attribute, ObjectClass
    from pkcs11.exceptions import AttributeSensitive

    table = enroll("ec-p256")
    enroll("rsa-2048", label="rsa")

    def attributes(session: Any) -> list[dict[str, Any]]:
        rows = []
        for key in list(session.get_objects({Attribute.CLASS: ObjectClass.PRIVATE_KEY})):
            row = {
                name: key[attribute]
                for name, attribute in (
                    ("extractable", Attribute.EXTRACTABLE),
                    ("sensitive", Attribute.SENSITIVE),
                    ("never_extractable", Attribute.NEVER_EXTRACTABLE),
                    ("always_sensitive", Attribute.ALWAYS_SENSITIVE),
                    ("token", Attribute.TOKEN),
                    ("private", Attribute.PRIVATE),
                    ("decrypt", Attribute.DECRYPT),
                    ("unwrap", Attribute.UNWRAP),
                )
            }
            secret = Attribute.VALUE if key.key_type.name == "EC" else Attribute.PRIVATE_EXPONENT
            with pytest.raises(AttributeSensitive):
                key[secret]  # the token refuses to hand the key out
            rows.append(row)
        return rows

    session = token_session(softhsm.module, TokenSelector(label=table["token_label"]))
    rows = session.run(attributes, PinSource(pin))
    assert len(rows) == 2
    for row in rows:
        assert row == {
            "extractable": False,
            "sensitive": True,
            "never_extractable": True,
            "always_sensitive": True,
            "token": True,
            "private": True,
            "decrypt": False,
            "unwrap": False,
        }


def test_repr_and_pickling(enroll: Any) -> None:
    import pickle

    source = source_from(enroll("ec-p256"))
    credential = source.load(REQUEST)
    assert "environment variable TEST_TOKEN_PIN" in repr(source)
    assert_no_pin(repr(source) + repr(credential) + repr(credential.key))
    with pytest.raises(TypeError, match="cannot be pickled"):
        pickle.dumps(credential.key)


# --- the typed errors ----------------------------------------------------------------------------


def test_a_token_that_is_not_there(softhsm: SoftHsm, pin: SecretRef) -> None:
    source = Pkcs11Source(module=softhsm.module, token_label="nowhere", label="seal", pin=pin)
    with pytest.raises(TokenNotPresent, match="token 'nowhere' is not present") as info:
        source.load(REQUEST)
    assert isinstance(info.value, NotAvailable)  # a chain moves on
    assert "insert the token" in str(info.value)


def test_a_token_deleted_while_in_use(softhsm: SoftHsm, enroll: Any) -> None:
    table = enroll("ec-p256")
    credential = source_from(table).load(REQUEST)
    credential.key.sign(b"before")
    softhsm.delete_token(table["token_label"])
    with pytest.raises(TokenNotPresent) as info:
        credential.key.sign(b"after")
    assert table["token_label"] in str(info.value)
    with pytest.raises(TokenNotPresent):
        source_from(table).load(REQUEST)


def test_a_missing_key_lists_the_keys_there(enroll: Any) -> None:
    table = enroll("ec-p256", label="seal")
    with pytest.raises(KeyNotFound, match=r"no private key with label 'other' on token") as info:
        source_from(table, label="other", id=None).load(REQUEST)
    assert isinstance(info.value, NotAvailable)  # none here: a chain moves on
    assert f"'seal' (id {table['id']})" in str(info.value)
    with pytest.raises(KeyNotFound, match="id 00ff"):
        source_from(table, id="00ff").load(REQUEST)


def test_two_keys_with_one_label(enroll: Any) -> None:
    table = enroll("ec-p256", label="twin")
    enroll("ec-p256", label="twin")
    with pytest.raises(
        Pkcs11Error, match="2 private keys .* have label 'twin': set id too"
    ) as info:
        source_from(table, id=None).load(REQUEST)
    assert not isinstance(info.value, NotAvailable)  # two keys is a problem, not "none here"
    assert source_from(table).load(REQUEST)  # the id tells them apart


def test_a_certificate_of_another_key(
    softhsm: SoftHsm, store: Any, pin: SecretRef, ca: LocalCa
) -> None:
    from ksef_auth import KeySpec

    key = store.generate(KeySpec(label="lonely"))
    wrong = ca.issue(software_key("ec").public_key())
    session = token_session(softhsm.module, TokenSelector(label=store.token_label))
    assert key.id is not None
    session.run(
        lambda s: store_certificate(s, wrong, label="lonely", key_id=key.id),
        PinSource(pin),
        writable=True,
    )
    source = Pkcs11Source(
        module=softhsm.module, token_label=store.token_label, label="lonely", pin=pin
    )
    with pytest.raises(CertificateMismatch, match="belongs to another key") as info:
        source.load(REQUEST)
    assert "CN=Firma Testowa" in str(info.value)


def test_a_key_without_a_certificate(softhsm: SoftHsm, store: Any, pin: SecretRef) -> None:
    from ksef_auth import KeySpec

    store.generate(KeySpec(label="bare"))
    source = Pkcs11Source(
        module=softhsm.module, token_label=store.token_label, label="bare", pin=pin
    )
    with pytest.raises(
        CertificateNotFound, match="no certificate with the id or label of key 'bare'"
    ):
        source.load(REQUEST)


def test_a_wrong_pin_is_refused_once_and_never_shown(
    softhsm: SoftHsm, enroll: Any, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    table = enroll("ec-p256")
    from ksef_auth_pkcs11.module import forget_all

    forget_all()  # a new process, as far as the token is concerned: no session yet
    caplog.set_level(logging.DEBUG)
    monkeypatch.setenv("TEST_TOKEN_PIN", WRONG_PIN)
    source = source_from(table)
    with pytest.raises(
        PinIncorrect, match="refused the PIN from environment variable TEST_TOKEN_PIN"
    ) as info:
        source.load(REQUEST)
    assert_no_pin(str(info.value))
    with pytest.raises(PinIncorrect, match="refused this PIN .* before; it is not tried again"):
        source.load(REQUEST)
    monkeypatch.setenv("TEST_TOKEN_PIN", PIN)  # fixed where it is read from: works at once
    assert source.load(REQUEST)
    assert_no_pin(caplog.text)


def test_an_unreadable_or_missing_pin(
    softhsm: SoftHsm, enroll: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    table = enroll("ec-p256")
    from ksef_auth_pkcs11.module import forget_all

    forget_all()
    monkeypatch.delenv("TEST_TOKEN_PIN")
    with pytest.raises(Pkcs11Error, match="environment variable TEST_TOKEN_PIN is not set"):
        source_from(table).load(REQUEST)
    no_pin = {k: v for k, v in table.items() if k != "pin"}
    with pytest.raises(Pkcs11Error, match="needs a PIN to sign"):
        source_from(no_pin).load(REQUEST)


def test_options_are_checked_when_built(softhsm: SoftHsm, pin: SecretRef) -> None:
    with pytest.raises(ValueError, match="set label or id"):
        Pkcs11Source(module=softhsm.module)
    with pytest.raises(ValueError, match="at most one of token_label, slot and token_serial"):
        Pkcs11Source(module=softhsm.module, label="x", token_label="a", slot=1)
    with pytest.raises(ValueError, match="hexadecimal"):
        Pkcs11Source(module=softhsm.module, id="xyz")
    with pytest.raises(ValueError, match="pin or pin_prompt, not both"):
        Pkcs11Source(module=softhsm.module, label="x", pin=pin, pin_prompt=True)
    with pytest.raises(TypeError, match="never inline"):
        Pkcs11Source(module=softhsm.module, label="x", pin=PIN)  # type: ignore[arg-type]


def test_no_module(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("KSEF_AUTH_PKCS11_MODULE", raising=False)
    with pytest.raises(NotAvailable, match="no PKCS#11 module is set"):
        Pkcs11Source(label="x").load(REQUEST)
    with pytest.raises(NotAvailable, match="does not exist here"):
        Pkcs11Source(label="x", module=str(tmp_path / "nope.so")).load(REQUEST)
    junk = tmp_path / "junk.so"
    junk.write_bytes(b"not a library")
    with pytest.raises(Pkcs11Error, match="cannot be loaded"):
        Pkcs11Source(label="x", module=str(junk)).load(REQUEST)


def test_check_finds_problems_before_any_login(enroll: Any) -> None:
    from ksef_auth import ContextIdentifier, Environment

    table = enroll("ec-p256")
    source_from(table).check(Environment.of("test"), ContextIdentifier.nip(NIP))
    with pytest.raises(KeyNotFound):
        source_from(table, label="absent", id=None).check(
            Environment.of("test"), ContextIdentifier.nip(NIP)
        )


def test_a_key_that_wants_the_pin_for_every_signature(
    softhsm: SoftHsm, token: str, pin: SecretRef, ca: LocalCa
) -> None:
    """Qualified signature cards mark the key CKA_ALWAYS_AUTHENTICATE: the PIN is given again
    (a context-specific login) for each signature."""
    from pkcs11 import Attribute, KeyType
    from pkcs11.util.ec import encode_named_curve_parameters

    from ksef_auth_pkcs11.key import public_key_of

    session = token_session(softhsm.module, TokenSelector(label=token))

    def make(s: Any) -> Any:
        public, private = s.generate_keypair(
            KeyType.EC,
            store=True,
            label="qes",
            id=b"\x51",
            private_template={Attribute.ALWAYS_AUTHENTICATE: True, Attribute.SIGN: True},
            public_template={Attribute.EC_PARAMS: encode_named_curve_parameters("secp256r1")},
        )
        certificate = ca.issue(public_key_of(public))
        store_certificate(s, certificate, label="qes", key_id=b"\x51")
        return certificate

    certificate = session.run(make, PinSource(pin), writable=True)
    credential = Pkcs11Source(module=softhsm.module, token_label=token, label="qes", pin=pin).load(
        REQUEST
    )
    for data in (b"first", b"second"):
        signature = credential.key.sign(data)
        certificate.public_key().verify(signature, data, ec.ECDSA(hashes.SHA256()))  # type: ignore[call-arg,arg-type]
