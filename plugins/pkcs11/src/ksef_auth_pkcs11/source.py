"""The ``pkcs11`` credential source: a certificate and the key that signs for it on a token."""

from __future__ import annotations

import os
from pathlib import Path
from typing import TYPE_CHECKING, Any

import attrs

from ksef_auth import (
    CertificateCredential,
    ContextIdentifier,
    CredentialRequest,
    Environment,
    SecretRef,
    template_fields,
)
from ksef_auth.certificates import describe, load_certificates
from ksef_auth.files import read_credential_file
from ksef_auth_pkcs11.errors import CertificateMismatch, Pkcs11Error
from ksef_auth_pkcs11.key import Pkcs11Key, find_private_key
from ksef_auth_pkcs11.module import MODULE_ENV, TokenSelector, resolve_module, token_session
from ksef_auth_pkcs11.objects import certificate_for, chain_for, pairs
from ksef_auth_pkcs11.pin import PinSource, pin_ref

if TYPE_CHECKING:
    from cryptography import x509

__all__ = ["Pkcs11Source", "parse_id"]


def parse_id(value: str | bytes | None) -> bytes | None:
    """A key id as bytes from hex (``01a2``, ``01:a2``, ``0x01a2``); None stays None."""
    if value is None or isinstance(value, bytes):
        return value
    text = str(value).strip().lower().removeprefix("0x").replace(":", "").replace(" ", "")
    try:
        return bytes.fromhex(text)
    except ValueError:
        raise ValueError(f"id must be hexadecimal (e.g. 01a2 or 01:a2), got {value!r}") from None


def _path(value: str | os.PathLike[str] | None) -> Path | None:
    return None if value is None or str(value) == "" else Path(value).expanduser()


def _module(value: str | os.PathLike[str] | None) -> str | None:
    return None if value is None or str(value) == "" else str(Path(value).expanduser())


def _label(instance: object, attribute: attrs.Attribute[Any], value: str | None) -> None:
    if value is not None:
        template_fields(value)


@attrs.define(eq=False)
class Pkcs11Source:
    """A certificate and its key on a PKCS#11 token (smart card, USB token, HSM); the key signs
    on the token and never leaves it."""

    label: str | None = attrs.field(
        default=None,
        validator=_label,
        metadata={
            "help": "Label of the private key on the token (CKA_LABEL); may hold the context,"
            " e.g. seal-{nip}."
        },
    )
    id: bytes | None = attrs.field(
        default=None,
        converter=parse_id,
        metadata={"help": "Id of the private key (CKA_ID) in hex, e.g. 01a2."},
    )
    module: str | None = attrs.field(
        default=None,
        converter=_module,
        metadata={
            "help": f"The PKCS#11 library (.so, .dylib, .dll); default: ${MODULE_ENV}.",
            "path": True,
        },
    )
    token_label: str | None = attrs.field(
        default=None, metadata={"help": "Label of the token; default: the only token present."}
    )
    slot: int | None = attrs.field(
        default=None, metadata={"help": "Slot id of the token, instead of token_label."}
    )
    token_serial: str | None = attrs.field(
        default=None, metadata={"help": "Serial number of the token, instead of token_label."}
    )
    pin: SecretRef | None = attrs.field(
        default=None,
        converter=pin_ref,
        metadata={
            "help": 'The user PIN, by reference: { env = "NAME" } or { file = "path" }.',
            "secret": True,
        },
    )
    pin_prompt: bool = attrs.field(
        default=False,
        metadata={"help": "Ask for the PIN on the terminal (interactive use) instead of pin."},
    )
    certificate: Path | None = attrs.field(
        default=None,
        converter=_path,
        metadata={
            "help": "The certificate file (PEM or DER, with its chain), when it is not on the"
            " token.",
            "path": True,
        },
    )

    def __attrs_post_init__(self) -> None:
        if self.label is None and self.id is None:
            raise ValueError("set label or id (or both) of the key on the token")
        self.selector  # noqa: B018  (validates token_label / slot / token_serial)
        PinSource(self.pin, self.pin_prompt)

    @property
    def selector(self) -> TokenSelector:
        return TokenSelector(self.token_label, self.slot, self.token_serial)

    @property
    def pin_source(self) -> PinSource:
        return PinSource(self.pin, self.pin_prompt)

    # --- the CredentialSource contract ----------------------------------------------------------

    def load(self, request: CredentialRequest) -> CertificateCredential:
        label = request.fill(self.label) if self.label is not None else None
        module = resolve_module(self.module)
        token = token_session(module, self.selector)
        pin = self.pin_source
        token.check_pin(pin)
        file_certificates = self._file_certificates()

        def find(session: Any) -> tuple[Pkcs11Key, x509.Certificate, list[x509.Certificate]]:
            obj = find_private_key(session, token, label=label, key_id=self.id)
            name = _name(label, self.id)
            if file_certificates is not None:
                leaf = max(
                    (c for c in file_certificates if pairs(session, obj, c)),
                    key=lambda c: c.not_valid_after_utc,
                    default=None,
                )
                if leaf is None:
                    raise CertificateMismatch(
                        f"the certificate in {self.certificate} ({describe(file_certificates[0])})"
                        f" does not belong to key {name} on {token.describe()}: give the"
                        " certificate issued for this key"
                    )
                pool = [c for c in file_certificates if c is not leaf]
            else:
                leaf, pool = certificate_for(session, token, obj, name)
            return Pkcs11Key(token, pin, obj, leaf.public_key()), leaf, pool

        key, leaf, pool = token.run(find, pin)
        chain = chain_for(leaf, pool)
        where = token.label if token.label is not None else token.describe()
        what = label if label is not None else f"id={(self.id or b'').hex()}"
        return CertificateCredential(leaf, key, chain=chain, source=f"pkcs11:{where}/{what}")

    def check(self, environment: Environment, context: ContextIdentifier) -> None:
        """The module loads, the token is present and, when the PIN comes from a variable or a
        file, it opens the token and the key and certificate are found (no prompt here)."""
        module = resolve_module(self.module)
        problem = self.pin_source.problem()
        if problem:
            raise Pkcs11Error(f"the PIN cannot be read: {problem}")
        if self.pin_prompt:
            token = token_session(module, self.selector)
            with token.module.lock:
                self.selector.find(token.module)
            return
        self.load(CredentialRequest(environment=environment, context=context, purpose="check"))

    # --- internals ------------------------------------------------------------------------------

    def _file_certificates(self) -> list[x509.Certificate] | None:
        if self.certificate is None:
            return None
        data = read_credential_file(self.certificate, "certificate file")
        return load_certificates(data, f"certificate file {self.certificate}")

    def __repr__(self) -> str:
        return (
            f"Pkcs11Source(key={_name(self.label, self.id)}, token={self.selector.describe()!r},"
            f" module={self.module!r}, pin={self.pin_source.describe()!r})"
        )


def _name(label: str | None, key_id: bytes | None) -> str:
    if label is not None:
        return repr(label) if key_id is None else f"{label!r} (id {key_id.hex()})"
    assert key_id is not None
    return f"id {key_id.hex()}"
