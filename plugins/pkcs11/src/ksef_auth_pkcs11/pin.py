"""Where a token's PIN comes from: a secret reference (a variable, a file) or a prompt on the
terminal; never a value in a strategy file. The PIN is read only to log in, and not kept."""

from __future__ import annotations

import hashlib
import sys

import attrs

from ksef_auth import ConfigError, Secret, SecretRef
from ksef_auth_pkcs11.errors import Pkcs11Error

__all__ = ["PinSource", "pin_ref"]


def pin_ref(value: SecretRef | None) -> SecretRef | None:
    """attrs converter: a :class:`~ksef_auth.SecretRef` or None, never a plain string."""
    if value is None or isinstance(value, SecretRef):
        return value
    raise TypeError(
        "the PIN is given by reference: SecretRef.env(NAME) or SecretRef.file(PATH)"
        ' ({ env = "NAME" } or { file = "path" } in a strategy file), or pin_prompt = true;'
        " never inline"
    )


@attrs.frozen
class PinSource:
    """``ref`` (a variable or a file) or, with ``prompt``, the terminal."""

    ref: SecretRef | None = None
    prompt: bool = False

    def __attrs_post_init__(self) -> None:
        if self.ref is not None and self.prompt:
            raise ValueError("set pin or pin_prompt, not both")

    @property
    def configured(self) -> bool:
        return self.ref is not None or self.prompt

    def describe(self) -> str:
        """Where the PIN is read from (never the PIN)."""
        if self.ref is not None:
            return self.ref.describe()
        return "the prompt" if self.prompt else "nowhere"

    def problem(self) -> str | None:
        """Why the PIN cannot be read now (None when it can); reads nothing secret."""
        if self.ref is not None:
            return self.ref.problem()
        return None

    def get(self, token: str) -> Secret:
        """The PIN for ``token`` (named in the prompt). Raises :class:`Pkcs11Error` when it
        cannot be read."""
        if self.ref is not None:
            try:
                pin = self.ref.get()
            except ConfigError as exc:
                raise Pkcs11Error(f"the PIN of {token} cannot be read: {exc.reason}") from None
            if not pin:
                raise Pkcs11Error(f"the PIN of {token} ({self.ref.describe()}) is empty")
            return pin
        if not sys.stdin.isatty():
            raise Pkcs11Error(
                f"pin_prompt is set but there is no terminal to ask the PIN of {token} on: run"
                ' interactively, or give pin = { env = "NAME" } for unattended use'
            )
        import getpass

        return Secret(getpass.getpass(f"PIN of {token}: "))

    @staticmethod
    def fingerprint(pin: Secret, token_serial: str) -> str:
        """A one-way mark of a PIN for a token, kept in memory (never the PIN): to never try a
        refused PIN twice, and to tell the PIN a token was opened with."""
        text = f"ksef-auth-pkcs11/pin\x00{token_serial}\x00{pin.reveal()}"
        return hashlib.sha256(text.encode("utf-8")).hexdigest()
