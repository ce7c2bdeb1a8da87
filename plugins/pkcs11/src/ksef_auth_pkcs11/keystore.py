"""The ``pkcs11`` key store: a new key generated inside the token (``CKA_EXTRACTABLE`` false,
``CKA_SENSITIVE`` true, so it can sign and nothing else, and never leaves), and the certificate
issued for it written beside it (same ``CKA_ID``)."""

from __future__ import annotations

import os
from collections.abc import Mapping, Sequence
from typing import TYPE_CHECKING, Any

import attrs

from ksef_auth import CredentialError, KeySpec, SecretRef
from ksef_auth.certificates import describe, same_public_key
from ksef_auth_pkcs11.errors import CertificateMismatch, Pkcs11Error
from ksef_auth_pkcs11.key import Pkcs11Key, public_key_of
from ksef_auth_pkcs11.module import MODULE_ENV, TokenSelector, resolve_module, token_session
from ksef_auth_pkcs11.objects import certificates_on, store_certificate
from ksef_auth_pkcs11.pin import PinSource, pin_ref
from ksef_auth_pkcs11.source import _module

if TYPE_CHECKING:
    from cryptography import x509

    from ksef_auth import KeyHandle

__all__ = ["Pkcs11KeyStore", "private_template"]


def private_template() -> dict[Any, Any]:
    """What a generated private key is: a token object, private, sensitive, never
    extractable, able to sign and nothing else."""
    from pkcs11 import Attribute

    return {
        Attribute.TOKEN: True,
        Attribute.PRIVATE: True,
        Attribute.SENSITIVE: True,
        Attribute.EXTRACTABLE: False,
        Attribute.SIGN: True,
        Attribute.DECRYPT: False,
        Attribute.UNWRAP: False,
        Attribute.DERIVE: False,
    }


@attrs.define(eq=False)
class Pkcs11KeyStore:
    """New keys generated inside a PKCS#11 token, kept there with their certificates."""

    module: str | None = attrs.field(
        default=None,
        converter=_module,
        metadata={"help": f"The PKCS#11 library; default: ${MODULE_ENV}.", "path": True},
    )
    token_label: str | None = attrs.field(
        default=None, metadata={"help": "Label of the token; default: the only token present."}
    )
    slot: int | None = attrs.field(default=None, metadata={"help": "Slot id of the token."})
    token_serial: str | None = attrs.field(
        default=None, metadata={"help": "Serial number of the token."}
    )
    pin: SecretRef | None = attrs.field(
        default=None,
        converter=pin_ref,
        metadata={"help": "The user PIN, by reference.", "secret": True},
    )
    pin_prompt: bool = attrs.field(
        default=False, metadata={"help": "Ask for the PIN on the terminal instead of pin."}
    )

    def __attrs_post_init__(self) -> None:
        TokenSelector(self.token_label, self.slot, self.token_serial)
        PinSource(self.pin, self.pin_prompt)

    def generate(self, spec: KeySpec) -> Pkcs11Key:
        """A key pair generated on the token, labelled ``spec.label``, with a new random id."""
        from pkcs11 import Attribute, KeyType, MechanismFlag
        from pkcs11.util.ec import encode_named_curve_parameters

        token = token_session(resolve_module(self.module), self._selector)
        pin = self.pin_source
        token.check_pin(pin)
        key_id = os.urandom(8)
        common = {"store": True, "label": spec.label, "id": key_id}
        public_template: dict[Any, Any] = {
            Attribute.TOKEN: True,
            Attribute.VERIFY: True,
            Attribute.ENCRYPT: False,
            Attribute.WRAP: False,
        }

        def make(session: Any) -> Pkcs11Key:
            if spec.algorithm == "ec-p256":
                public_template[Attribute.EC_PARAMS] = encode_named_curve_parameters("secp256r1")
                public, private = session.generate_keypair(
                    KeyType.EC,
                    capabilities=MechanismFlag.SIGN | MechanismFlag.VERIFY,
                    public_template=public_template,
                    private_template=private_template(),
                    **common,
                )
            else:
                public, private = session.generate_keypair(
                    KeyType.RSA,
                    2048,
                    capabilities=MechanismFlag.SIGN | MechanismFlag.VERIFY,
                    public_template=public_template,
                    private_template=private_template(),
                    **common,
                )
            if private[Attribute.EXTRACTABLE] or not private[Attribute.SENSITIVE]:
                private.destroy()
                public.destroy()
                raise Pkcs11Error(
                    f"{token.describe()} made a key that is extractable or not sensitive"
                    " against the template: it was destroyed; use a token that honours"
                    " CKA_EXTRACTABLE = false"
                )
            return Pkcs11Key(token, pin, private, public_key_of(public))

        return token.run(make, pin, writable=True)

    def keep(
        self, key: KeyHandle, certificate: x509.Certificate, chain: Sequence[x509.Certificate]
    ) -> Mapping[str, Any]:
        """Write ``certificate`` beside ``key`` on the token (and each chain certificate not yet
        there); the credential table that loads them: ``{"use": "pkcs11", ...}``."""
        token = token_session(resolve_module(self.module), self._selector)
        if not isinstance(key, Pkcs11Key) or key.token is not token or key.id is None:
            raise CredentialError(
                f"the pkcs11 key store keeps certificates for keys it generated on"
                f" {token.describe()}, not for a {key.description} key"
            )
        if not same_public_key(key.public_key(), certificate.public_key()):  # type: ignore[arg-type]
            raise CertificateMismatch(
                f"the certificate {describe(certificate)} is not for the key {key!r}: nothing was"
                " written to the token"
            )
        label = key.label or key.id.hex()
        key_id = key.id

        def write(session: Any) -> None:
            from cryptography.hazmat.primitives import hashes

            present = [c for _, c in certificates_on(session)]
            if certificate not in present:
                store_certificate(session, certificate, label=label, key_id=key_id)
            for authority in chain:
                if authority in present:
                    continue
                name = describe(authority).split(",")[0]
                store_certificate(
                    session,
                    authority,
                    label=f"CA {name}"[:64],
                    key_id=authority.fingerprint(hashes.SHA1())[:8],  # an id, not security
                )

        token.run(write, key.pin, writable=True)
        table: dict[str, Any] = {"use": "pkcs11", "id": key_id.hex(), "label": label}
        if self.module:
            table["module"] = self.module
        for name in ("token_label", "slot", "token_serial"):
            if getattr(self, name) is not None:
                table[name] = getattr(self, name)
        if token.label is not None and not any(n in table for n in ("slot", "token_serial")):
            table["token_label"] = token.label
        if self.pin is not None and self.pin.env_var:
            table["pin"] = {"env": self.pin.env_var}
        elif self.pin is not None and self.pin.path:
            table["pin"] = {"file": self.pin.path}
        elif self.pin_prompt:
            table["pin_prompt"] = True
        return table

    @property
    def pin_source(self) -> PinSource:
        return PinSource(self.pin, self.pin_prompt)

    @property
    def _selector(self) -> TokenSelector:
        return TokenSelector(self.token_label, self.slot, self.token_serial)

    def __repr__(self) -> str:
        pin = self.pin_source.describe()
        token = self._selector.describe()
        return f"Pkcs11KeyStore(token={token!r}, module={self.module!r}, pin={pin!r})"
