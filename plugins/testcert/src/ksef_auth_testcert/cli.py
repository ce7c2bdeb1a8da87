"""``ksef-auth cert new-test``: write a self-signed KSeF test certificate to a directory.

Writes ``cert.pem``, ``key.pem`` (0600, encrypted with the password) and ``cert.p12``
(0600; password from ``--p12-password-env VAR`` or a prompt, unencrypted only with
``--p12-no-password``), then prints the paths and the SHA-256 fingerprint. Never prints key
material.
"""

from __future__ import annotations

import os
from pathlib import Path

import click


@click.command("new-test")
@click.option("--nip", help="NIP of the subject (seal: VATPL-<NIP>; personal: TINPL-<NIP>).")
@click.option(
    "--pesel", help="PESEL of a personal certificate (PNOPL-<PESEL>); implies --personal."
)
@click.option("--personal", is_flag=True, help="A personal certificate instead of a company seal.")
@click.option("--ec", is_flag=True, help="ECDSA P-256 key instead of RSA-2048.")
@click.option(
    "--out",
    "out",
    required=True,
    type=click.Path(file_okay=False, path_type=Path),
    help="Directory to write cert.pem, key.pem and cert.p12 into (created 0700 if missing).",
)
@click.option(
    "--p12-password-env",
    "password_env",
    metavar="VAR",
    help="Environment variable holding the password for cert.p12 (else you are prompted).",
)
@click.option(
    "--p12-no-password",
    "no_password",
    is_flag=True,
    help="Write cert.p12 without a password (only for throw-away test certificates).",
)
@click.option("--force", is_flag=True, help="Overwrite existing files.")
def new_test(
    nip: str | None,
    pesel: str | None,
    personal: bool,
    ec: bool,
    out: Path,
    password_env: str | None,
    no_password: bool,
    force: bool,
) -> None:
    """Make a self-signed test certificate (accepted only by KSeF TEST and local simulators)."""
    from ksef_auth.nip import normalize_nip, normalize_pesel
    from ksef_auth_testcert.builder import make_test_certificate
    from ksef_auth_testcert.files import (
        certificate_pem,
        key_pem,
        pkcs12_bytes,
        write_private,
        write_public,
    )

    try:
        nip = normalize_nip(nip) if nip else None
        pesel = normalize_pesel(pesel) if pesel else None
    except ValueError as exc:
        raise click.BadParameter(str(exc)) from None
    kind = "personal" if (personal or pesel) else "seal"
    if kind == "seal" and not nip:
        raise click.UsageError("a seal needs --nip (or use --personal --pesel PESEL)")
    if password_env and no_password:
        raise click.UsageError("--p12-password-env and --p12-no-password exclude each other")

    paths = {name: out / name for name in ("cert.pem", "key.pem", "cert.p12")}
    existing = [str(p) for p in paths.values() if p.exists()]
    if existing and not force:
        raise click.UsageError(f"{', '.join(existing)} already exist; use --force to overwrite")

    password: bytes | None
    if no_password:
        password = None
    elif password_env:
        value = os.environ.get(password_env)
        if not value:
            raise click.UsageError(f"environment variable {password_env} is not set or empty")
        password = value.encode()
    else:
        password = click.prompt(
            "Password for cert.p12", hide_input=True, confirmation_prompt=True
        ).encode()

    certificate, key = make_test_certificate(
        kind,  # type: ignore[arg-type]
        nip=nip,
        pesel=pesel,
        key_type="ec" if ec else "rsa",
    )
    out.mkdir(parents=True, exist_ok=True, mode=0o700)
    write_public(paths["cert.pem"], certificate_pem(certificate))
    write_private(paths["key.pem"], key_pem(key, password))
    write_private(paths["cert.p12"], pkcs12_bytes(certificate, key, password))

    from cryptography.hazmat.primitives import hashes

    fingerprint = certificate.fingerprint(hashes.SHA256()).hex().upper()
    click.echo(f"subject:     {certificate.subject.rfc4514_string()}")
    click.echo(
        f"valid:       {certificate.not_valid_before_utc:%Y-%m-%d %H:%M} .. "
        f"{certificate.not_valid_after_utc:%Y-%m-%d %H:%M} UTC"
    )
    click.echo(f"fingerprint: {fingerprint}")
    click.echo(f"certificate: {paths['cert.pem']}")
    protection = "no password" if password is None else "encrypted with the password"
    click.echo(f"key:         {paths['key.pem']} ({protection}, mode 0600)")
    click.echo(f"pkcs12:      {paths['cert.p12']} ({protection}, mode 0600)")
    click.echo("Accepted only by KSeF TEST and local simulators, never by DEMO or PRODUCTION.")
