"""SoftHSM2 in a private folder for the whole run (SOFTHSM2_CONF must be set before the module is
first initialized), a new token per test, the card simulator, and a test CA.

Where SoftHSM2 is not installed the tests are not collected, and test_softhsm.py says so in one
skipped line; the nox session ``plugin(pkcs11)`` installs it (apt-get) and runs them.
"""

from __future__ import annotations

import shutil
import subprocess
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
from hsm_support import NOT_INSTALLED, PIN, LocalCa, SoftHsm, find_softhsm

from ksef_auth import KeySpec, SecretRef
from ksef_auth_pkcs11 import Pkcs11KeyStore
from ksef_auth_pkcs11.module import forget_all

if find_softhsm() is None:
    collect_ignore_glob = ["test_pkcs11_*.py"]  # test_softhsm.py reports it, once


@pytest.fixture(scope="session")
def softhsm(tmp_path_factory: pytest.TempPathFactory) -> Iterator[SoftHsm]:
    found = find_softhsm()
    if found is None:
        pytest.skip(NOT_INSTALLED)
    module, util = found
    hsm = SoftHsm(module, util, tmp_path_factory.mktemp("softhsm"))
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv("SOFTHSM2_CONF", str(hsm.conf))
        try:
            yield hsm
        finally:
            forget_all()


@pytest.fixture
def token(softhsm: SoftHsm) -> str:
    """A new token's label."""
    return softhsm.new_token()


@pytest.fixture
def pin(monkeypatch: pytest.MonkeyPatch) -> SecretRef:
    monkeypatch.setenv("TEST_TOKEN_PIN", PIN)
    return SecretRef.env("TEST_TOKEN_PIN")


@pytest.fixture(scope="session")
def ca() -> LocalCa:
    return LocalCa()


@pytest.fixture
def store(softhsm: SoftHsm, token: str, pin: SecretRef) -> Pkcs11KeyStore:
    return Pkcs11KeyStore(module=softhsm.module, token_label=token, pin=pin)


Enroll = Callable[..., dict[str, Any]]


@pytest.fixture
def enroll(store: Pkcs11KeyStore, ca: LocalCa) -> Enroll:
    """``enroll("ec-p256", label="seal")``: a key generated on the token, a certificate from the
    test CA for it, both kept there; returns the credential table (a dict)."""

    def make(algorithm: str = "ec-p256", *, label: str = "seal", **issue: Any) -> dict[str, Any]:
        key = store.generate(KeySpec(algorithm=algorithm, label=label))  # type: ignore[arg-type]
        certificate = ca.issue(key.public_key(), **issue)
        return dict(store.keep(key, certificate, [ca.certificate]))

    return make


# --- the card simulator ---------------------------------------------------------------------------


@pytest.fixture(scope="session")
def cardsim_module(softhsm: SoftHsm, tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """cardsim.c built into a PKCS#11 module in front of a private copy of SoftHSM2 (a copy, so
    that its instance is not the one python-pkcs11 loads directly)."""
    compiler = shutil.which("cc") or shutil.which("gcc") or shutil.which("clang")
    if compiler is None:
        pytest.skip("no C compiler to build the card simulator (apt-get install gcc)")
    folder = tmp_path_factory.mktemp("cardsim")
    backend = folder / "libsofthsm2-copy.so"
    shutil.copyfile(softhsm.module, backend)
    module = folder / "cardsim.so"
    source = Path(__file__).with_name("cardsim.c")
    subprocess.run(
        [compiler, "-shared", "-fPIC", "-O1", "-o", str(module), str(source), "-ldl"],
        check=True,
        capture_output=True,
        timeout=120,
    )
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv("CARDSIM_MODULE", str(backend))
        yield str(module)


@pytest.fixture
def card(cardsim_module: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """This test's card state folder (``tries``, ``removed``): a fresh card with 3 PIN tries."""
    state = tmp_path / "card"
    state.mkdir()
    monkeypatch.setenv("CARDSIM_STATE", str(state))
    return state
