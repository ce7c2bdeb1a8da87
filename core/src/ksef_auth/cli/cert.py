"""``ksef-auth cert``: certificates. Core gives the group and ``cert show FILE``; plugins add the
rest (``ksef-auth-testcert``: ``new-test``; ``ksef-auth-ksefcert``: enrollment) with
``ksef_auth.cli.group(cli, "cert").add_command(...)`` in their ``ksef_auth_register_commands``.

A plugin's own ``show`` (ksefcert's ``cert show SERIAL``: KSeF's record of a certificate) joins
core's: ``cert show`` with an existing file inspects the file, anything else goes to the
plugin's command.

``cert show`` reads a PEM bundle, a DER certificate or a PKCS#12 file and prints what KSeF reads
from each certificate (subject, the NIP or PESEL identity, validity, SHA-256 fingerprint, key
type): never key material. A PKCS#12 password comes from ``--password-env VAR``, else a hidden
prompt on a terminal.
"""

from __future__ import annotations

import os
import re
import sys
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any

import click

from ksef_auth.cli.profile import emit_json, json_option, variable_name
from ksef_auth.errors import CertificateError, CredentialError, WrongPassword

if TYPE_CHECKING:
    from cryptography import x509

_ORG_NIP = re.compile(r"VATPL.*?(\d{10})")
_SERIAL_PESEL = re.compile(r"(PNOPL|PESEL).*?(\d{11})")
_SERIAL_NIP = re.compile(r"(TINPL|NIP).*?(\d{10})")
_CURVES = {"secp256r1": "P-256", "secp384r1": "P-384", "secp521r1": "P-521"}


class CertGroup(click.Group):
    """The ``cert`` group: a plugin's ``show`` becomes the one for anything but a file."""

    other_show: click.Command | None = None

    def add_command(self, cmd: click.Command, name: str | None = None) -> None:
        name = name or cmd.name
        core = self.commands.get("show")
        if name == "show" and core is not None and cmd is not core:
            self.other_show = cmd  # core's (added first) keeps the name; it hands non-files over
            names = [p.human_readable_name for p in cmd.params if isinstance(p, click.Argument)]
            summary = (cmd.help or "").split("\n\n")[0].strip().rstrip(".")
            core.epilog = (
                f"Anything but a file ({', '.join(names) or 'no argument'}) goes to the other"
                f" show: {summary}. Its options: ksef-auth cert show SERIAL --help"
            )
            return
        super().add_command(cmd, name)

    def resolve_command(
        self, ctx: click.Context, args: list[str]
    ) -> tuple[str | None, click.Command | None, list[str]]:
        name, command, rest = super().resolve_command(ctx, args)
        if name == "show" and self.other_show is not None and not _for_core(ctx, rest):
            return name, self.other_show, rest
        return name, command, rest


def _for_core(ctx: click.Context, args: list[str]) -> bool:
    """A file to inspect, or ``--help`` alone: core's ``show``."""
    positional = [a for a in args if not a.startswith("-")]
    if not positional:
        return any(a in ctx.help_option_names for a in args)
    return Path(positional[0]).is_file()


@click.group(cls=CertGroup)
def cert() -> None:
    """Certificates: inspect files (show FILE); plugins add more (new-test, enroll, ...)."""


def identity(certificate: x509.Certificate) -> dict[str, str] | None:
    """The identifier KSeF reads from the subject (KSeF's rules for XAdES logins): a seal's
    ``organizationIdentifier`` VATPL-<NIP>, or a person's ``serialNumber`` PNOPL-<PESEL> /
    TINPL-<NIP>; None when it carries neither (only fingerprint logins can work)."""
    from cryptography.x509.oid import NameOID

    def values(oid: x509.ObjectIdentifier) -> list[str]:
        return [str(a.value) for a in certificate.subject.get_attributes_for_oid(oid)]

    for value in values(NameOID.ORGANIZATION_IDENTIFIER):
        found = _ORG_NIP.search(value)
        if found:
            return {"kind": "NIP", "value": found.group(1), "from": "organizationIdentifier"}
    for value in values(NameOID.SERIAL_NUMBER):
        pesel = _SERIAL_PESEL.search(value)
        if pesel:
            return {"kind": "PESEL", "value": pesel.group(2), "from": "serialNumber"}
        nip = _SERIAL_NIP.search(value)
        if nip:
            return {"kind": "NIP", "value": nip.group(2), "from": "serialNumber"}
    return None


def key_type(public_key: Any) -> str:
    """``RSA 2048``, ``EC P-256``, ... (the public key's kind and size; nothing secret)."""
    from cryptography.hazmat.primitives.asymmetric import ec, ed448, ed25519, rsa

    if isinstance(public_key, rsa.RSAPublicKey):
        return f"RSA {public_key.key_size}"
    if isinstance(public_key, ec.EllipticCurvePublicKey):
        return f"EC {_CURVES.get(public_key.curve.name, public_key.curve.name)}"
    if isinstance(public_key, ed25519.Ed25519PublicKey | ed448.Ed448PublicKey):
        return type(public_key).__name__.replace("PublicKey", "") + " (KSeF does not accept it)"
    return type(public_key).__name__


def describe_certificate(certificate: x509.Certificate, now: datetime) -> dict[str, Any]:
    from cryptography import x509 as x509_module
    from cryptography.hazmat.primitives import hashes

    start, end = certificate.not_valid_before_utc, certificate.not_valid_after_utc
    if now < start:
        validity = "not valid yet"
    elif now > end:
        validity = "expired"
    else:
        validity = f"{(end - now).days} days left"
    usages: list[str] = []
    try:
        usage = certificate.extensions.get_extension_for_class(x509_module.KeyUsage).value
        usages = [
            name
            for name in ("digital_signature", "content_commitment", "key_cert_sign")
            if getattr(usage, name)
        ]
    except x509_module.ExtensionNotFound:
        pass
    names = {
        "digital_signature": "digitalSignature",
        "content_commitment": "nonRepudiation",
        "key_cert_sign": "keyCertSign",
    }
    self_signed = certificate.issuer == certificate.subject
    return {
        "subject": certificate.subject.rfc4514_string(),
        "identity": identity(certificate),
        "issuer": certificate.issuer.rfc4514_string(),
        "serial": format(certificate.serial_number, "X"),
        "valid_from": start.isoformat(timespec="seconds"),
        "valid_until": end.isoformat(timespec="seconds"),
        "validity": validity,
        "fingerprint_sha256": certificate.fingerprint(hashes.SHA256()).hex().upper(),
        "key": key_type(certificate.public_key()),
        "key_usage": [names[u] for u in usages],
        "self_signed": self_signed,
    }


def read_file(path: Path, password_env: str | None) -> dict[str, Any]:
    """What ``path`` holds: its format, whether a private key is in it, its certificates."""
    from ksef_auth.certificates import (
        PEM_MARKER,
        has_private_key,
        load_certificates,
        load_private_key,
    )

    where = f"file {path}"
    try:
        data = path.read_bytes()
    except OSError as exc:
        raise CredentialError(f"cannot read {path}: {exc.strerror}") from None
    password: bytes | None = None
    if password_env:
        value = os.environ.get(password_env)
        if value is None:
            raise CredentialError(f"environment variable {password_env} is not set")
        password = value.encode()
    key: dict[str, Any] | None = None
    if PEM_MARKER in data:
        kind = "PEM"
        certificates = load_certificates(data, where) if b"CERTIFICATE-----" in data else []
        if has_private_key(data):
            encrypted = b"ENCRYPTED PRIVATE KEY" in data or b"Proc-Type: 4,ENCRYPTED" in data
            key = {"present": True, "encrypted": encrypted, "type": None}
            if not encrypted or password is not None:
                private = load_private_key(data, where, password, f"variable {password_env}")
                key["type"] = key_type(private.public_key())
    else:
        try:
            kind, certificates = "DER", load_certificates(data, where)
        except CertificateError:
            kind = "PKCS#12"
            private_key, certificates = _open_pkcs12(data, where, password, password_env)
            key = {"present": private_key is not None, "encrypted": True, "type": None}
            if private_key is not None:
                key["type"] = key_type(private_key.public_key())
    now = datetime.now(UTC)
    return {
        "file": str(path),
        "format": kind,
        "private_key": key,
        "certificates": [describe_certificate(c, now) for c in certificates],
    }


def _open_pkcs12(
    data: bytes, where: str, password: bytes | None, password_env: str | None
) -> tuple[Any, list[x509.Certificate]]:
    from ksef_auth.certificates import open_pkcs12

    hint = "pass --password-env VAR (the name of a variable holding it)"
    if password is not None:
        return open_pkcs12(data, where, [password], f"variable {password_env}")
    try:
        return open_pkcs12(data, where, [None, b""], "nowhere", no_password_hint=hint)
    except WrongPassword:
        if not sys.stdin.isatty():
            raise
    typed = click.prompt(f"Password for {where}", hide_input=True, default="", show_default=False)
    return open_pkcs12(data, where, [typed.encode()], "the prompt")


@cert.command()
@click.argument("file", type=click.Path(dir_okay=False, exists=True, path_type=Path))
@click.option(
    "--password-env",
    metavar="VAR",
    callback=variable_name,
    help="NAME of the variable holding the PKCS#12 (or encrypted key) password.",
)
@json_option
def show(file: Path, password_env: str | None, as_json: bool) -> None:
    """Show what a certificate file holds (PEM, DER or PKCS#12): subject, NIP or PESEL, validity,
    SHA-256 fingerprint, key type. Never key material. (With ksef-auth-ksefcert, a serial
    number instead of a file shows KSeF's record of that certificate.)

    \b
    ksef-auth cert show seal.p12 --password-env KSEF2_P12_PASSWORD
    """
    report = read_file(file, password_env)
    if as_json:
        emit_json(report)
        return
    key = report["private_key"]
    holds = "no private key"
    if key and key["present"]:
        holds = "a private key" + (f" ({key['type']})" if key["type"] else " (encrypted)")
    count = len(report["certificates"])
    click.echo(
        f"{file}: {report['format']}, {count} certificate{'s' if count != 1 else ''}, {holds}"
    )
    for index, item in enumerate(report["certificates"], 1):
        if count > 1:
            click.echo(f"certificate {index}:")
        ident = item["identity"]
        shown = f"{ident['kind']} {ident['value']} (from {ident['from']})" if ident else "none"
        colour = "red" if item["validity"] in ("expired", "not valid yet") else None
        lines = [
            ("subject", item["subject"]),
            ("identity", shown),
            ("issuer", "itself (self-signed)" if item["self_signed"] else item["issuer"]),
            ("serial", item["serial"]),
            ("valid", f"{item['valid_from'][:10]} .. {item['valid_until'][:10]}"),
            ("fingerprint", item["fingerprint_sha256"]),
            ("key", item["key"]),
        ]
        if item["key_usage"]:
            lines.append(("key usage", ", ".join(item["key_usage"])))
        for label, value in lines:
            click.echo(f"  {label + ':':<13}{value}")
        click.secho(f"  {'status:':<13}{item['validity']}", fg=colour)
