"""What a real card does and SoftHSM2 does not: PINs that lock after three wrong tries, and a
token pulled out of its reader (and put back). Through the card simulator (cardsim.c), a
PKCS#11 module in front of SoftHSM2."""

from __future__ import annotations

import logging
from pathlib import Path
from typing import Any

import pytest
from hsm_support import NIP, PIN, WRONG_PIN, LocalCa, SoftHsm

from ksef_auth import CredentialRequest, KeySpec, NotAvailable, SecretRef
from ksef_auth_pkcs11 import (
    PinIncorrect,
    PinLocked,
    Pkcs11KeyStore,
    Pkcs11Source,
    TokenNotPresent,
)

REQUEST = CredentialRequest.for_login("http://127.0.0.1:1/v2", NIP, method="xades")


@pytest.fixture
def seal(
    softhsm: SoftHsm, cardsim_module: str, card: Path, pin: SecretRef, ca: LocalCa
) -> Pkcs11Source:
    """A seal on a card: key generated on it, certificate written beside it."""
    label = softhsm.new_token("card")
    store = Pkcs11KeyStore(module=cardsim_module, token_label=label, pin=pin)
    key = store.generate(KeySpec(algorithm="ec-p256", label="seal"))
    store.keep(key, ca.issue(key.public_key()), [ca.certificate])
    return Pkcs11Source(module=cardsim_module, token_label=label, label="seal", pin=pin)


def fresh_process() -> None:
    """Forget every session, as a new process starts (the card keeps its state)."""
    from ksef_auth_pkcs11.module import forget_all

    forget_all()


def tries(card: Path) -> int:
    path = card / "tries"
    return int(path.read_text()) if path.exists() else 3


def test_one_wrong_pin_costs_one_try_however_often_the_login_is_retried(
    seal: Pkcs11Source, card: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    fresh_process()
    monkeypatch.setenv("TEST_TOKEN_PIN", WRONG_PIN)
    for _ in range(5):  # the session manager may ask again and again: the card is asked once
        with pytest.raises(PinIncorrect):
            seal.load(REQUEST)
    assert tries(card) == 2
    monkeypatch.setenv("TEST_TOKEN_PIN", PIN)
    assert seal.load(REQUEST)
    assert tries(card) == 3  # a right PIN restores the counter, as cards do


def test_the_last_try_is_named(
    seal: Pkcs11Source, card: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    fresh_process()
    (card / "tries").write_text("2\n")
    monkeypatch.setenv("TEST_TOKEN_PIN", WRONG_PIN)
    with pytest.raises(PinIncorrect, match="one more wrong PIN locks the token") as info:
        seal.load(REQUEST)
    assert PIN not in str(info.value) and WRONG_PIN not in str(info.value)


def test_a_locked_pin(
    seal: Pkcs11Source,
    card: Path,
    monkeypatch: pytest.MonkeyPatch,
    caplog: pytest.LogCaptureFixture,
) -> None:
    fresh_process()
    caplog.set_level(logging.DEBUG)
    (card / "tries").write_text("0\n")
    with pytest.raises(
        PinLocked, match="user PIN of token .* is locked .* security officer"
    ) as info:
        seal.load(REQUEST)
    assert "PUK" in str(info.value)
    assert tries(card) == 0  # not even tried: the token says it is locked
    assert PIN not in str(info.value) + caplog.text


def test_locked_by_wrong_tries(
    softhsm: SoftHsm, cardsim_module: str, card: Path, ca: LocalCa, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Three processes each trying a different wrong PIN lock the card; the fourth is told."""
    label = softhsm.new_token("card")
    for attempt in range(3):
        fresh_process()
        monkeypatch.setenv("TEST_TOKEN_PIN", f"wrong-{attempt}")
        source = Pkcs11Source(
            module=cardsim_module,
            token_label=label,
            label="seal",
            pin=SecretRef.env("TEST_TOKEN_PIN"),
        )
        with pytest.raises(PinIncorrect):
            source.load(REQUEST)
    fresh_process()
    monkeypatch.setenv("TEST_TOKEN_PIN", PIN)
    with pytest.raises(PinLocked):
        source.load(REQUEST)


def test_a_card_not_in_the_reader(seal: Pkcs11Source, card: Path) -> None:
    fresh_process()
    (card / "removed").touch()
    with pytest.raises(TokenNotPresent, match="is not present .* insert the token") as info:
        seal.load(REQUEST)
    assert isinstance(info.value, NotAvailable)


def test_a_card_pulled_out_while_in_use_and_put_back(seal: Pkcs11Source, card: Path) -> None:
    credential = seal.load(REQUEST)
    credential.key.sign(b"before")
    (card / "removed").touch()
    with pytest.raises(TokenNotPresent, match="is not present .* insert the token"):
        credential.key.sign(b"while out")
    (card / "removed").unlink()
    signature = credential.key.sign(b"back in")  # a new session, logged in again
    from cryptography.hazmat.primitives import hashes
    from cryptography.hazmat.primitives.asymmetric import ec

    credential.certificate.public_key().verify(signature, b"back in", ec.ECDSA(hashes.SHA256()))  # type: ignore[call-arg,arg-type]


def test_a_chain_moves_on_from_a_card_not_here(
    seal: Pkcs11Source, card: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from ksef_auth import CredentialChain, KsefToken

    class Fallback:
        def load(self, request: Any) -> KsefToken:
            return KsefToken("20251010-EC-1DCE3E3000-12ECB5B36E-45|nip-5261040828|" + "ab" * 32)

    fresh_process()
    (card / "removed").touch()
    chain = CredentialChain([("pkcs11", seal), ("fallback", Fallback())])
    assert isinstance(chain.load(REQUEST), KsefToken)
