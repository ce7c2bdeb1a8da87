"""ksef-auth-command: a KSeF token printed by a program.

Password managers and secret agents can print a secret on demand (``pass show ksef/token``,
``op read op://Finance/KSeF/token``, ``vault kv get -field=token secret/ksef``). This source runs
such a program at each login and reads the token from its standard output, so the token is never
stored in a file or a variable. Arguments may name the login's context, so one strategy serves
every client of a firm (``{nip}``, ``{context}``: see ``CredentialRequest.fill``).

.. code-block:: toml

    credential = { use = "command", command = ["pass", "show", "ksef/{nip}"] }
"""

from __future__ import annotations

import shutil
import subprocess

import attrs

from ksef_auth import (
    ContextIdentifier,
    CredentialError,
    CredentialRequest,
    Environment,
    KsefToken,
    NotAvailable,
    Register,
    hookimpl,
    template_fields,
)

__all__ = ["CommandToken"]


def _argv(value: object) -> tuple[str, ...]:
    if isinstance(value, str):
        return tuple(value.split())
    return tuple(str(part) for part in value)  # type: ignore[attr-defined]


def _not_empty(
    instance: object, attribute: attrs.Attribute[tuple[str, ...]], value: tuple[str, ...]
) -> None:
    if not value:
        raise ValueError("command must name a program, e.g. ['pass', 'show', 'ksef/token']")
    for part in value:
        template_fields(part)  # an unknown {placeholder} is reported when the strategy loads


@attrs.frozen
class CommandToken:
    """A KSeF token printed on standard output by a program (run at each login)."""

    command: tuple[str, ...] = attrs.field(
        converter=_argv,
        validator=_not_empty,
        metadata={"help": "The program and its arguments, as a list; it prints the token."},
    )
    timeout: float = attrs.field(
        default=10.0, converter=float, metadata={"help": "Seconds to wait for the program."}
    )

    def check(self, environment: Environment, context: ContextIdentifier) -> None:
        """Called when a strategy is loaded: is the program there at all?"""
        if shutil.which(self.command[0]) is None:
            raise NotAvailable(f"program {self.command[0]!r} is not installed or not on PATH")

    def load(self, request: CredentialRequest) -> KsefToken:
        """Run the program for this login's context; its standard output is the token."""
        program = self.command[0]
        argv = [request.fill(part) for part in self.command]
        try:
            done = subprocess.run(
                argv,
                capture_output=True,
                text=True,
                timeout=self.timeout,
                stdin=subprocess.DEVNULL,
                check=False,
            )
        except FileNotFoundError:
            raise NotAvailable(f"program {program!r} is not installed or not on PATH") from None
        except subprocess.TimeoutExpired:
            raise CredentialError(
                f"{program!r} did not print a token within {self.timeout:g} s;"
                " is it waiting for a password? unlock it first"
            ) from None
        if done.returncode != 0:
            # stderr only: stdout may hold (part of) the secret
            reason = (done.stderr.strip().splitlines() or ["no message"])[0][:200]
            raise CredentialError(f"{program!r} failed with status {done.returncode}: {reason}")
        token = done.stdout.strip()
        if not token:
            raise CredentialError(f"{program!r} printed nothing; it should print the KSeF token")
        return KsefToken(token, source=f"command:{program}")


@hookimpl
def ksef_auth_register_credential_sources(register: Register) -> None:
    register("command", CommandToken)
