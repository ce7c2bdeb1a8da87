"""The ksef-token and hmac signers: units, and logins against the simulator over real HTTP."""

from __future__ import annotations

import base64
import json
import shutil
import subprocess
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import padding, rsa
from cryptography.x509.oid import NameOID

from ksef_auth import (
    Challenge,
    ContextIdentifier,
    CredentialError,
    Environment,
    KsefToken,
    PublicKeyCertificate,
    SharedSecret,
    SignRequest,
    Strategy,
)
from ksef_auth.components import options_of
from ksef_auth.manager import PluginManager
from ksef_auth.testing import SignerContract
from ksef_auth_token import HmacSigner, KsefTokenSigner
from ksef_auth_token.hmac_signer import authorisation
from ksef_auth_token.ksef_token import current_key

pytest.importorskip("ksef_auth_simulator")
pytest.importorskip("ksef_auth_memory")

from ksef_auth_memory import MemoryStore  # noqa: E402
from ksef_auth_simulator import RunningSimulator, Simulator, serve  # noqa: E402
from ksef_auth_simulator.pytest_plugin import fast_config  # noqa: E402

NIP = "5261040828"
OTHER_NIP = "7010002139"
CONTEXT = ContextIdentifier.nip(NIP)
ENV = Environment.of("http://127.0.0.1:1/v2")
CHALLENGE = Challenge(
    "20250514-CR-226FB7B000-3ACF9BE4C0-10", "2025-07-11T12:23:56.0154302+00:00", 1752236636015
)


class TestKsefTokenSignerContract(SignerContract):
    @pytest.fixture
    def signer(self) -> KsefTokenSigner:
        return KsefTokenSigner()

    @pytest.fixture
    def credential(self) -> KsefToken:
        return KsefToken("20251010-EC-1DCE3E3000-12ECB5B36E-45|nip-5261040828|" + "ab" * 32)


class TestHmacSignerContract(SignerContract):
    @pytest.fixture
    def signer(self) -> HmacSigner:
        return HmacSigner()

    @pytest.fixture
    def credential(self) -> SharedSecret:
        return SharedSecret("a-shared-secret-of-the-shop-0123456789")


@pytest.fixture(scope="module")
def running() -> Iterator[RunningSimulator]:
    with serve(Simulator(fast_config())) as served:
        yield served


def key_pair(
    valid_from: datetime, usage: str = "KsefTokenEncryption", name: str = "k"
) -> tuple[rsa.RSAPrivateKey, PublicKeyCertificate]:
    key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    subject = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "Ministerstwo Finansów")])
    cert = (
        x509.CertificateBuilder()
        .subject_name(subject)
        .issuer_name(subject)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(valid_from)
        .not_valid_after(valid_from + timedelta(days=365))
        .sign(key, hashes.SHA256())
    )
    from cryptography.hazmat.primitives.serialization import Encoding

    entry = PublicKeyCertificate(
        certificate=cert.public_bytes(Encoding.DER),
        public_key_id=name,
        usage=(usage,),
        valid_from=valid_from,
        valid_to=valid_from + timedelta(days=365),
    )
    return key, entry


# --- ksef-token -----------------------------------------------------------------------------------


def test_ksef_token_encrypts_token_and_timestamp_with_oaep_sha256() -> None:
    now = datetime.now(UTC)
    key, entry = key_pair(now - timedelta(days=1))
    token = "20251010-EC-1DCE3E3000-12ECB5B36E-45|nip-5261040828|" + "ab" * 32
    submission = KsefTokenSigner().sign(
        SignRequest(CHALLENGE, CONTEXT, KsefToken(token), ENV, (entry,))
    )
    body = json.loads(submission.content)
    assert submission.path == "/auth/ksef-token"
    assert submission.kind == "operation"
    assert body["challenge"] == CHALLENGE.challenge
    assert body["contextIdentifier"] == {"type": "Nip", "value": NIP}
    assert body["publicKeyId"] == "k"
    assert "authorizationPolicy" not in body
    oaep = padding.OAEP(mgf=padding.MGF1(hashes.SHA256()), algorithm=hashes.SHA256(), label=None)
    plain = key.decrypt(base64.b64decode(body["encryptedToken"]), oaep).decode()
    assert plain == f"{token}|1752236636015"
    assert token not in repr(submission)


OPENSSL = shutil.which("openssl")


def openssl_decrypt(ciphertext: bytes, key: rsa.RSAPrivateKey, mgf1: str, tmp_path: Path):
    """``openssl pkeyutl -decrypt`` with RSA-OAEP, OAEP hash SHA-256 and MGF1 ``mgf1``."""
    from cryptography.hazmat.primitives import serialization

    pem = tmp_path / "key.pem"
    pem.touch(mode=0o600)
    pem.write_bytes(
        key.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),
        )
    )
    (tmp_path / "token.bin").write_bytes(ciphertext)
    options = ["rsa_padding_mode:oaep", "rsa_oaep_md:sha256", f"rsa_mgf1_md:{mgf1}"]
    return subprocess.run(
        [
            str(OPENSSL),
            "pkeyutl",
            "-decrypt",
            "-inkey",
            str(pem),
            "-in",
            str(tmp_path / "token.bin"),
        ]
        + [arg for option in options for arg in ("-pkeyopt", option)],
        capture_output=True,
        timeout=60,
    )


@pytest.mark.skipif(OPENSSL is None, reason="no openssl command (Debian: apt-get install openssl)")
@pytest.mark.parametrize("length", ["typical", "longest"])
def test_openssl_decrypts_the_encrypted_token(length: str, tmp_path: Path) -> None:
    """OpenSSL, not the code that encrypted it, reads ``token|timestampMs`` back with
    RSA-OAEP SHA-256/MGF1-SHA-256, and refuses it with MGF1-SHA-1 (Java's default pitfall)."""
    now = datetime.now(UTC)
    key, entry = key_pair(now - timedelta(days=1))
    token = "20251010-EC-1DCE3E3000-12ECB5B36E-45|nip-5261040828|" + "ab" * 32
    if length == "longest":  # KSeF tokens are at most 160 characters
        token = token.replace("nip-5261040828", "internalId-5261040828-12345").ljust(160, "f")
    submission = KsefTokenSigner().sign(
        SignRequest(CHALLENGE, CONTEXT, KsefToken(token), ENV, (entry,))
    )
    ciphertext = base64.b64decode(json.loads(submission.content)["encryptedToken"])

    decrypted = openssl_decrypt(ciphertext, key, "sha256", tmp_path)
    assert decrypted.returncode == 0, decrypted.stderr
    assert decrypted.stdout == f"{token}|{CHALLENGE.timestamp_ms}".encode()
    assert openssl_decrypt(ciphertext, key, "sha1", tmp_path).returncode != 0


def test_the_newest_valid_key_of_the_right_usage_is_chosen() -> None:
    now = datetime.now(UTC)
    _, old = key_pair(now - timedelta(days=30), name="old")
    _, new = key_pair(now - timedelta(days=1), name="new")
    _, future = key_pair(now + timedelta(days=1), name="future")
    _, other = key_pair(now - timedelta(hours=1), usage="SymmetricKeyEncryption", name="sym")
    assert current_key([old, new, future, other]).public_key_id == "new"


def test_authorization_policy_ips_are_classified() -> None:
    now = datetime.now(UTC)
    _, entry = key_pair(now - timedelta(days=1))
    signer = KsefTokenSigner(authorization_policy_ips="192.168.0.1, 10.0.0.1-10.0.0.9, 10.1.0.0/16")
    body = json.loads(
        signer.sign(SignRequest(CHALLENGE, CONTEXT, KsefToken("a|b|c"), ENV, (entry,))).content
    )
    assert body["authorizationPolicy"] == {
        "allowedIps": {
            "ip4Addresses": ["192.168.0.1"],
            "ip4Ranges": ["10.0.0.1-10.0.0.9"],
            "ip4Masks": ["10.1.0.0/16"],
        }
    }
    with pytest.raises(ValueError, match="not an IPv4"):
        KsefTokenSigner(authorization_policy_ips=["300.1.1.1"])


def test_ksef_token_refuses_other_credentials_before_any_network() -> None:
    with pytest.raises(CredentialError, match="needs a KSeF token"):
        KsefTokenSigner().preflight(SharedSecret("x"), CONTEXT, ENV)
    with pytest.raises(CredentialError, match="KSeF 1.0"):
        KsefTokenSigner().preflight(KsefToken("ABCDEF0123"), CONTEXT, ENV)


def test_options_are_the_attrs_fields_with_help() -> None:
    (option,) = options_of(KsefTokenSigner)
    assert option.name == "authorization_policy_ips" and option.help
    assert {o.name for o in options_of(HmacSigner)} == {"challenge_path", "session_path"}


def test_the_plugin_registers_both_signers() -> None:
    import ksef_auth_token

    manager = PluginManager(autoload=False)
    manager.register(ksef_auth_token, name="token")
    assert manager.get("signer", "ksef-token").factory is KsefTokenSigner
    assert manager.get("signer", "hmac").factory is HmacSigner


# --- hmac -----------------------------------------------------------------------------------------


def test_hmac_signs_challenge_plus_timestamp() -> None:
    challenge = Challenge("abc123", "2025-07-11T12:23:56.0154302+00:00", 0)
    for credential, secret in ((KsefToken("tok"), "tok"), (SharedSecret("shh"), "shh")):
        submission = HmacSigner().sign(SignRequest(challenge, CONTEXT, credential, ENV))
        body = json.loads(submission.content)
        assert submission.kind == "session" and submission.path == "/hmac/session"
        assert body["authorisation"] == authorisation(secret, "abc123", challenge.timestamp)
        assert body["timestamp"] == challenge.timestamp
        assert body["contextIdentifier"] == {"type": "Nip", "value": NIP}


def test_hmac_paths_are_options() -> None:
    signer = HmacSigner(challenge_path="/gw/challenge", session_path="/gw/session")
    assert signer.challenge_path == "/gw/challenge"
    with pytest.raises(ValueError, match="starting with '/'"):
        HmacSigner(session_path="gw/session")


# --- against the simulator ------------------------------------------------------------------------


class Source:
    def __init__(self, credential: KsefToken | SharedSecret) -> None:
        self.credential = credential

    def load(self, request: object) -> KsefToken | SharedSecret:
        return self.credential


def strategy(running: RunningSimulator, signer: object, credential: object, nip: str) -> Strategy:
    return Strategy(
        name="t",
        environment=Environment.of(running.base_url),
        context=ContextIdentifier.nip(nip),
        credential=Source(credential),  # type: ignore[arg-type]
        signer=signer,  # type: ignore[arg-type]
        store=MemoryStore(),
        manager=PluginManager(autoload=False),
    )


def test_ksef_token_login_against_the_simulator(running: RunningSimulator) -> None:
    token = running.sim.issue_ksef_token(NIP)
    s = strategy(running, KsefTokenSigner(), KsefToken(token), NIP)
    assert s.token()
    current = s.session.current()
    assert current is not None and current.refresh_token is not None
    assert current.method == "ksef-token"


def test_ksef_token_with_an_ip_policy_against_the_simulator(running: RunningSimulator) -> None:
    token = running.sim.issue_ksef_token(OTHER_NIP)
    signer = KsefTokenSigner(authorization_policy_ips=["127.0.0.1", "10.0.0.0/8"])
    s = strategy(running, signer, KsefToken(token), OTHER_NIP)
    with s.client() as client:
        assert client.get("/auth/sessions").status_code == 200


def test_hmac_login_against_the_simulator(running: RunningSimulator) -> None:
    token = running.sim.issue_ksef_token(NIP)
    for credential in (KsefToken(token), SharedSecret(token)):
        s = strategy(running, HmacSigner(), credential, NIP)
        assert s.token()
        current = s.session.current()
        assert current is not None and current.refresh_token is None
        with s.client() as client:
            assert client.get("/auth/sessions").status_code == 200


# --- refused before anything is sent --------------------------------------------------------------


def sign_request(token: str, entry: PublicKeyCertificate, context: ContextIdentifier = CONTEXT):
    return SignRequest(CHALLENGE, context, KsefToken(token), ENV, (entry,))


def test_a_token_too_long_for_rsa_oaep_is_a_credential_error() -> None:
    _, entry = key_pair(datetime.now(UTC) - timedelta(days=1))
    fits = f"20250101-EC-1111111111-2222222222-33|nip-{NIP}|" + "a" * 100
    KsefTokenSigner().sign(sign_request(fits, entry))  # ~150 bytes + timestamp: fits
    too_long = fits + "b" * 60  # over the 190 bytes a 2048-bit key takes
    with pytest.raises(CredentialError) as info:
        KsefTokenSigner().sign(sign_request(too_long, entry))
    message = str(info.value)
    assert "RSA-OAEP" in message and "2048-bit" in message and "190 bytes" in message
    assert too_long not in message and "a" * 20 not in message


def test_a_token_with_bytes_that_are_not_utf8_is_a_credential_error() -> None:
    _, entry = key_pair(datetime.now(UTC) - timedelta(days=1))
    # what os.environ or a file read with surrogateescape gives for latin-1 bytes
    token = f"20250101-EC-1111111111-2222222222-33|nip-{NIP}|za\udcbf" + "c" * 60
    credential = KsefToken(token)
    assert credential.fingerprint  # the session key can still be made
    for call in (
        lambda: KsefTokenSigner().preflight(credential, CONTEXT, ENV),
        lambda: KsefTokenSigner().sign(sign_request(token, entry)),
        lambda: HmacSigner().preflight(credential, CONTEXT, ENV),
    ):
        with pytest.raises(CredentialError, match="not UTF-8 at position"):
            call()


def test_a_token_issued_for_another_nip_is_refused_before_sending(
    running: RunningSimulator,
) -> None:
    token = running.sim.issue_ksef_token(OTHER_NIP)  # "...|nip-7010002139|..."
    before = running.sim.counters()["endpoints"].get("POST /auth/ksef-token", {}).get("calls", 0)
    s = strategy(running, KsefTokenSigner(), KsefToken(token, source="env KSEF_TOKEN"), NIP)
    with pytest.raises(CredentialError) as info:
        s.token()
    message = str(info.value)
    assert f"Nip:{OTHER_NIP}" in message and f"Nip:{NIP}" in message
    assert "env KSEF_TOKEN" in message  # which source gave it
    assert "grant" not in message and token not in message
    after = running.sim.counters()["endpoints"].get("POST /auth/ksef-token", {}).get("calls", 0)
    assert after == before  # nothing was submitted


def test_token_context_reading() -> None:
    from ksef_auth_token.ksef_token import token_context

    ref = "20251010-EC-1DCE3E3000-12ECB5B36E-45"
    assert token_context(f"{ref}|nip-{NIP}|ab") == ContextIdentifier.nip(NIP)
    internal = ContextIdentifier.internal_id("5265877635-12345")
    assert token_context(f"{ref}|internalId-5265877635-12345|ab") == internal
    assert token_context(f"{ref}|something-else|ab") is None  # unknown: KSeF decides
    assert token_context("no bars at all") is None
    signer = KsefTokenSigner()
    # a token of a NIP's internal context may be presented for that NIP's contexts: KSeF decides
    signer.preflight(KsefToken(f"{ref}|nip-5265877635|ab"), internal, ENV)
