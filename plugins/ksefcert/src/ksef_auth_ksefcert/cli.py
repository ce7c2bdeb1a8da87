"""``ksef-auth cert enroll | list | show | revoke | limits | renew | shorten``: KSeF certificates.

Each command logs in with a profile (``--profile``, default the current one) and works on the
KSeF certificates of the subject that profile logs in as. ``enroll`` needs a XAdES profile (a
qualified seal or signature, a test seal on TEST, or a KSeF certificate); it prints what it
made and offers a profile that logs in with it. Nothing secret is ever printed: passwords and
PINs are given by reference (``--p12-password-env VAR``, ``-O pin=env:VAR``).
"""

from __future__ import annotations

import json
import re
import sys
import time
from datetime import datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any

import click

from ksef_auth.cli.profile import config_option, json_option, profile_option, profile_store

if TYPE_CHECKING:
    from ksef_auth import KeyStore, Strategy
    from ksef_auth.profiles import ProfileStore
    from ksef_auth_ksefcert.client import CertificatesClient
    from ksef_auth_ksefcert.records import EnrollmentStatus

REASONS = {
    "unspecified": "Unspecified",
    "superseded": "Superseded",
    "key-compromise": "KeyCompromise",
}


def cert_group(cli: click.Group) -> click.Group:
    """The ``cert`` group of ``cli``: core's (``ksef_auth.cli.group(cli, "cert")``) when this
    ksef-auth has it, else the one another plugin made, else a new one."""
    import ksef_auth.cli as core_cli

    core_group = getattr(core_cli, "group", None)
    if callable(core_group) and not isinstance(core_group, click.Group):
        try:
            found = core_group(cli, "cert")
        except (LookupError, TypeError):
            found = None
        if isinstance(found, click.Group):
            return found
    existing = cli.commands.get("cert")
    if isinstance(existing, click.Group):
        return existing
    group = click.Group("cert", help="Certificates: KSeF certificates, test certificates.")
    cli.add_command(group)
    return group


def _strategy(config_path: Path | None, profile_name: str | None) -> tuple[ProfileStore, str]:
    profiles = profile_store(config_path)
    return profiles, profiles.resolve(profile_name)


def _client(config_path: Path | None, profile_name: str | None) -> CertificatesClient:
    from ksef_auth_ksefcert.client import CertificatesClient

    profiles, name = _strategy(config_path, profile_name)
    return CertificatesClient(profiles.strategy(name))


def _refuse_ksef_token(strategy: Strategy, name: str, rule: str) -> None:
    """KSeF refuses a KSeF-token login what ``rule`` says: a usage error before asking."""
    if getattr(strategy.signer, "method", "") == "ksef-token":
        raise click.UsageError(
            f"profile {name!r} logs in with a KSeF token, and KSeF {rule}: use a profile with a"
            " qualified seal or signature (a test seal on TEST), or a KSeF certificate"
        )


def _own_serial(config_path: Path | None, profile_name: str | None) -> str:
    """The serial number of the certificate the profile logs in with."""
    from ksef_auth import CertificateCredential
    from ksef_auth_ksefcert.records import serial_of

    profiles, name = _strategy(config_path, profile_name)
    credential = profiles.strategy(name).load_credential(purpose="check")
    if not isinstance(credential, CertificateCredential):
        raise click.UsageError(
            f"profile {name!r} does not log in with a certificate: give the SERIAL"
        )
    return serial_of(credential.certificate)


def _when(moment: datetime | None) -> str:
    return f"{moment:%Y-%m-%d %H:%M}" if moment is not None else "-"


def _emit(data: Any) -> None:
    click.echo(json.dumps(data, indent=2, default=str))


def _time_option(ctx: click.Context, param: click.Parameter, value: str | None) -> Any:
    if value is None:
        return None
    from ksef_auth.model import parse_timestamp

    try:
        return parse_timestamp(value)
    except ValueError:
        raise click.BadParameter(f"{value!r} is not an ISO 8601 date-time") from None


_SERIAL = re.compile(r"^[0-9A-F]{16}$")


def _serial_argument(ctx: click.Context, param: click.Parameter, value: str | None) -> Any:
    """A KSeF serial number, checked before anything is sent (lower case is taken)."""
    if value is None:
        return None
    serial = value.strip().upper()
    if not _SERIAL.match(serial):
        raise click.BadParameter(
            f"{value!r} is not a KSeF certificate serial number: 16 hexadecimal digits, as"
            " `ksef-auth cert list` shows them"
        )
    return serial


def _reference_option(ctx: click.Context, param: click.Parameter, value: str | None) -> Any:
    if value is None:
        return None
    reference = value.strip()
    if len(reference) != 36:  # the spec's ReferenceNumber
        raise click.BadParameter(
            f"{value!r} is not an enrollment reference number (36 characters, like"
            " 20261021-EH-1A2B3C4D5E-6F7A8B9C0D-1E, as `cert enroll` prints it)"
        )
    return reference


# --- enroll --------------------------------------------------------------------------------------


class _Display:
    """The wait for KSeF, on stderr: one line redrawn on a terminal, a line per status else."""

    def __init__(self, quiet: bool) -> None:
        self.quiet = quiet
        self.live = not quiet and sys.stderr.isatty()
        self.last: int | None = None

    def __call__(self, status: EnrollmentStatus, waited: float) -> None:
        if self.quiet:
            return
        text = f"enrollment {status.reference}: {status.code} {status.description} ({waited:.1f} s)"
        if self.live:
            click.echo("\r\x1b[2K" + text, nl=False, err=True)
            if status.done:
                click.echo("", err=True)
        elif status.code != self.last:
            click.echo(text, err=True)
        self.last = status.code


def _secret_option(value: str, name: str) -> Any:
    from ksef_auth import SecretRef

    kind, _, rest = value.partition(":")
    if kind == "env" and rest:
        return SecretRef.env(rest)
    if kind == "file" and rest:
        return SecretRef.file(Path(rest).expanduser())
    raise click.BadParameter(
        f"{name} is a secret: give it as env:VARIABLE or file:PATH, never its value",
        param_hint="--key-store-option",
    )


def _key_store(name: str, raw: tuple[str, ...]) -> KeyStore:
    from ksef_auth.manager import default_manager

    registration = default_manager().get("key_store", name)
    options: dict[str, Any] = {}
    for item in raw:
        key, sep, value = item.partition("=")
        if not sep or not key:
            raise click.BadParameter(f"{item!r}: write KEY=VALUE", param_hint="--key-store-option")
        option = registration.option(key)
        if option is None:
            known = ", ".join(o.name for o in registration.options) or "none"
            raise click.BadParameter(
                f"key store {name!r} has no option {key!r} (options: {known})",
                param_hint="--key-store-option",
            )
        options[key] = _secret_option(value, key) if option.secret else value
    try:
        return registration.factory(**options)  # type: ignore[no-any-return]
    except (TypeError, ValueError) as exc:
        raise click.BadParameter(f"key store {name!r}: {exc}") from None


def label_for(name: str) -> str:
    """A key label from a certificate name: ``Serwer ERP`` -> ``serwer-erp`` (ASCII letters,
    digits and ``-``, as vault entries, PKCS#11 labels and KMS aliases all accept)."""
    import re
    import unicodedata

    ascii_name = unicodedata.normalize("NFKD", name.replace("ł", "l").replace("Ł", "L"))
    ascii_name = ascii_name.encode("ascii", "ignore").decode()
    return re.sub(r"[^a-z0-9]+", "-", ascii_name.lower()).strip("-") or "ksef-certificate"


def _password_ref(env: str | None, file: Path | None) -> Any:
    from ksef_auth import SecretRef

    if env and file:
        raise click.UsageError("--p12-password-env and --p12-password-file exclude each other")
    if file is not None:
        return SecretRef.file(file.expanduser().resolve())
    variable = env or "KSEF2_P12_PASSWORD"
    ref = SecretRef.env(variable)
    if ref.problem():
        raise click.UsageError(
            f"the PKCS#12 password is read from the environment variable {variable}, which is"
            " not set: export it (or name another with --p12-password-env VAR, or a file with"
            " --p12-password-file PATH)"
        )
    return ref


@click.command("enroll")
@profile_option
@config_option
@click.option("--name", "certificate_name", required=True, help="The certificate's name in KSeF.")
@click.option(
    "--type",
    "certificate_type",
    type=click.Choice(["authentication", "offline"]),
    default="authentication",
    show_default=True,
    help="authentication: logs in through XAdES; offline: signs offline invoices' QR codes.",
)
@click.option("--ec/--rsa", "ec", default=True, help="EC P-256 (default, recommended) or RSA-2048.")
@click.option(
    "--p12",
    type=click.Path(dir_okay=False, path_type=Path),
    help="Keep the certificate and key in this encrypted PKCS#12 file (0600).",
)
@click.option("--p12-password-env", metavar="VAR", help="Variable holding its password.")
@click.option(
    "--p12-password-file",
    type=click.Path(dir_okay=False, path_type=Path),
    help="File holding its password.",
)
@click.option("--key-store", metavar="NAME", help="Make the key in this key store (pkcs11, kms).")
@click.option(
    "--key-store-option",
    "-O",
    "key_store_options",
    multiple=True,
    metavar="KEY=VALUE",
    help="An option of the key store; secrets as env:VAR or file:PATH. Repeatable.",
)
@click.option(
    "--key-label",
    metavar="LABEL",
    help="The key's name where it lives (vault entry, PKCS#11 label, KMS alias); default: from"
    " --name.",
)
@click.option("--valid-from", callback=_time_option, help="Start of validity (ISO 8601).")
@click.option("--wait", "deadline", type=float, default=120.0, show_default=True, help="Seconds.")
@click.option("--make-profile", metavar="NAME", help="Save a profile that logs in with it.")
@click.option("--force", is_flag=True, help="Replace an existing file or profile.")
@json_option
def enroll_command(
    profile_name: str | None,
    config_path: Path | None,
    certificate_name: str,
    certificate_type: str,
    ec: bool,
    p12: Path | None,
    p12_password_env: str | None,
    p12_password_file: Path | None,
    key_store: str | None,
    key_store_options: tuple[str, ...],
    key_label: str | None,
    valid_from: datetime | None,
    deadline: float,
    make_profile: str | None,
    force: bool,
    as_json: bool,
) -> None:
    """Enroll a KSeF certificate for the subject the profile logs in as (after a XAdES login).

    \b
    ksef-auth cert enroll --profile seal --name "Serwer ERP" --p12 server.p12 \\
        --p12-password-env SERVER_P12_PASSWORD --make-profile server
    ksef-auth cert enroll --profile seal --name "Serwer ERP" --key-store vault \\
        --make-profile server
    ksef-auth cert enroll --profile seal --name "Serwer HSM" --key-store pkcs11 \\
        -O pin=env:TOKEN_PIN
    """
    from ksef_auth_ksefcert.client import CertificatesClient
    from ksef_auth_ksefcert.enrollment import check_name, enroll
    from ksef_auth_ksefcert.pkcs12_file import Pkcs12KeyStore

    try:
        check_name(certificate_name)
    except ValueError as exc:
        raise click.BadParameter(str(exc), param_hint="--name") from None
    if (p12 is None) == (key_store is None):
        raise click.UsageError("say where to keep the key: --p12 FILE or --key-store NAME")
    if key_store_options and key_store is None:
        raise click.UsageError("--key-store-option needs --key-store")
    profiles, name = _strategy(config_path, profile_name)
    strategy = profiles.strategy(name)
    _refuse_ksef_token(strategy, name, "enrolls certificates only after a XAdES login (code 25002)")
    if make_profile is not None:
        from ksef_auth.profiles import check_name as check_profile_name

        try:
            check_profile_name(make_profile)
        except ValueError as exc:
            raise click.BadParameter(str(exc), param_hint="--make-profile") from None
        if make_profile in profiles.names() and not force:
            raise click.UsageError(f"profile {make_profile!r} exists; pass --force to replace it")
    if key_store is not None:
        store: KeyStore = _key_store(key_store, key_store_options)
        kept_in = f"key store {key_store}"
    else:
        assert p12 is not None
        password = _password_ref(p12_password_env, p12_password_file)
        store = Pkcs12KeyStore(p12.expanduser().resolve(), password, replace=force)
        kept_in = f"{p12} (encrypted; password from {password.describe()})"
    kind = "Authentication" if certificate_type == "authentication" else "Offline"
    started = time.monotonic()
    enrolled = enroll(
        CertificatesClient(strategy),
        store,
        name=certificate_name,
        certificate_type=kind,  # type: ignore[arg-type]
        algorithm="ec-p256" if ec else "rsa-2048",
        label=key_label or label_for(certificate_name),
        valid_from=valid_from,
        deadline=deadline,
        progress=_Display(quiet=as_json),
    )
    took = time.monotonic() - started
    saved = _offer_profile(profiles, name, enrolled, make_profile, force, quiet=as_json)
    certificate = enrolled.certificate
    from cryptography.hazmat.primitives import hashes

    report = {
        "serial": enrolled.serial,
        "name": enrolled.name,
        "type": enrolled.certificate_type,
        "subject": certificate.subject.rfc4514_string(),
        "validFrom": certificate.not_valid_before_utc.isoformat(),
        "validTo": certificate.not_valid_after_utc.isoformat(),
        "fingerprint": certificate.fingerprint(hashes.SHA256()).hex().upper(),
        "keptIn": kept_in,
        "credential": enrolled.credential,
        "profile": saved,
        "renewsItself": _renews(enrolled),
        "seconds": round(took, 2),
    }
    if as_json:
        _emit(report)
        return
    click.echo(f"certificate: {enrolled.serial} ({enrolled.name}, {enrolled.certificate_type})")
    click.echo(f"subject:     {report['subject']}")
    click.echo(
        f"valid:       {certificate.not_valid_before_utc:%Y-%m-%d %H:%M} .."
        f" {certificate.not_valid_after_utc:%Y-%m-%d %H:%M} UTC"
    )
    click.echo(f"fingerprint: {report['fingerprint']}")
    click.echo(f"kept in:     {kept_in}")
    if saved and _renews(enrolled):
        click.echo(f"profile:     {saved} (logs in with it; renews it by itself)")
    elif saved:
        click.echo(f"profile:     {saved} (logs in with it)")
    if not _renews(enrolled) and enrolled.certificate_type == "Authentication":
        click.echo(
            f"renewal:     not unattended for a key in {kept_in}: enroll its successor the"
            f" same way before {certificate.not_valid_after_utc:%Y-%m-%d} (ksef-auth doctor"
            " warns 30 days before)"
        )


#: where a renewing ``ksef-certificate`` source can keep a successor (the credential's ``use``)
RENEWING = ("pkcs12", "vault", "aws-secrets-manager")


def _renews(enrolled: Any) -> bool:
    return enrolled.credential.get("use") in RENEWING


def _profile_for(profiles: ProfileStore, base: str, enrolled: Any) -> Any:
    from ksef_auth.profiles import Profile

    origin = profiles.get(base)
    table = dict(enrolled.credential)
    renewing = _renews(enrolled)
    if table.get("use") == "pkcs12":
        table["use"] = "ksef-certificate"
    elif table.get("use") in ("vault", "aws-secrets-manager"):  # the same place, renewing
        renamed = {
            "name": "vault",
            "path": "vault_path",
            "key": "vault_key",
            "secret_id": "aws_secret",
            "region": "aws_region",
            "endpoint_url": "aws_endpoint_url",
            "password": "password",
        }
        table = {"use": "ksef-certificate"} | {
            renamed[k]: v for k, v in table.items() if k in renamed
        }
    return Profile(
        environment=origin.environment,
        nip=origin.nip,
        credential=table,
        signer="xades",
        store=origin.store,
        description=f"KSeF certificate {enrolled.name!r}"
        + (" (renews itself)" if renewing else f" ({enrolled.serial})"),
    )


def _offer_profile(
    profiles: ProfileStore,
    base: str,
    enrolled: Any,
    name: str | None,
    force: bool,
    *,
    quiet: bool,
) -> str | None:
    if enrolled.certificate_type != "Authentication":
        if not quiet:
            click.echo("(an Offline certificate signs offline invoices' QR codes; no login)")
        return None
    profile = _profile_for(profiles, base, enrolled)
    if name is None and not quiet and sys.stdin.isatty():
        name = (
            click.prompt(
                "Save a profile that logs in with it? Name (empty: no)",
                default="",
                show_default=False,
            ).strip()
            or None
        )
    if name is None:
        if not quiet:
            from ksef_auth.profiles import dump_toml

            click.echo("To log in with it, add this profile (or enroll with --make-profile NAME):")
            click.echo(dump_toml({"strategy": {"NAME": profile.to_table()}}).rstrip())
        return None
    profiles.save(name, profile, overwrite=force)
    return name


# --- list, show, revoke, limits -----------------------------------------------------------------


@click.command("list")
@profile_option
@config_option
@click.option(
    "--status", type=click.Choice(["Active", "Blocked", "Revoked", "Expired"]), help="Only these."
)
@click.option("--type", "certificate_type", type=click.Choice(["Authentication", "Offline"]))
@json_option
def list_command(
    profile_name: str | None,
    config_path: Path | None,
    status: str | None,
    certificate_type: str | None,
    as_json: bool,
) -> None:
    """The KSeF certificates of the subject the profile logs in as, newest first."""
    found = _client(config_path, profile_name).query(
        status=status,
        certificate_type=certificate_type,  # type: ignore[arg-type]
    )
    if as_json:
        _emit([item.to_json() for item in found])
        return
    if not found:
        click.echo("no KSeF certificates")
        return
    header = ("serial", "status", "type", "valid to", "last use")
    click.echo("{:<16}  {:<8}  {:<14}  {:<16}  {:<16}  name".format(*header))
    for item in found:
        click.echo(
            f"{item.serial:<16}  {item.status:<8}  {item.type:<14}  {_when(item.valid_to):<16}"
            f"  {_when(item.last_use):<16}  {item.name}"
        )


@click.command("show")
@click.argument("serial", required=False, callback=_serial_argument)
@profile_option
@config_option
@click.option(
    "--enrollment",
    "reference",
    metavar="REF",
    callback=_reference_option,
    help="Show an enrollment's status.",
)
@click.option(
    "--pem",
    "pem_path",
    type=click.Path(dir_okay=False, path_type=Path),
    help="Write the certificate (public, PEM) to this file.",
)
@json_option
def show_command(
    serial: str | None,
    profile_name: str | None,
    config_path: Path | None,
    reference: str | None,
    pem_path: Path | None,
    as_json: bool,
) -> None:
    """A KSeF certificate's record and the certificate itself (default: the one the profile
    logs in with), or an enrollment's status."""
    if serial is not None and reference is not None:
        raise click.UsageError("give a SERIAL or --enrollment REF, not both")
    client = _client(config_path, profile_name)
    if reference is not None:
        status = client.status(reference)
        data = {
            "reference": status.reference,
            "code": status.code,
            "description": status.description,
            "details": list(status.details),
            "serial": status.serial,
        }
        if as_json:
            _emit(data)
        else:
            click.echo(f"enrollment {reference}: {status.code} {status.description}")
            for detail in status.details:
                click.echo(f"  {detail}")
            if status.serial:
                click.echo(f"certificate: {status.serial}")
        return
    serial = serial or _own_serial(config_path, profile_name)
    info = client.find(serial)
    if info is None:
        raise click.ClickException(f"no KSeF certificate {serial} for this subject")
    retrieved = [c for c in client.retrieve([serial]) if c.serial == serial]
    from cryptography.hazmat.primitives import hashes, serialization

    data = info.to_json()
    if retrieved:
        certificate = retrieved[0].certificate()
        pem = certificate.public_bytes(serialization.Encoding.PEM).decode()
        data["subjectName"] = certificate.subject.rfc4514_string()
        data["issuer"] = certificate.issuer.rfc4514_string()
        data["fingerprint"] = certificate.fingerprint(hashes.SHA256()).hex().upper()
        data["certificate"] = pem
        if pem_path is not None:
            pem_path.write_text(pem, encoding="ascii")
    if as_json:
        _emit(data)
        return
    for key in ("serial", "name", "type", "status", "subject", "subjectName", "issuer"):
        if key in data:
            click.echo(f"{key + ':':<13}{data[key]}")
    click.echo(f"{'valid:':<13}{_when(info.valid_from)} .. {_when(info.valid_to)} UTC")
    click.echo(f"{'last use:':<13}{_when(info.last_use)}")
    if "fingerprint" in data:
        click.echo(f"{'fingerprint:':<13}{data['fingerprint']}")
    if pem_path is not None:
        click.echo(f"{'written to:':<13}{pem_path}")


@click.command("revoke")
@click.argument("serial", callback=_serial_argument)
@profile_option
@config_option
@click.option(
    "--reason", type=click.Choice(list(REASONS)), default="unspecified", show_default=True
)
@click.option("--yes", is_flag=True, help="Do not ask for confirmation.")
def revoke_command(
    serial: str, profile_name: str | None, config_path: Path | None, reason: str, yes: bool
) -> None:
    """Revoke a KSeF certificate: it can no longer log in (this cannot be undone)."""
    from ksef_auth_ksefcert.client import CertificatesClient

    profiles, name = _strategy(config_path, profile_name)
    strategy = profiles.strategy(name)
    _refuse_ksef_token(strategy, name, "revokes certificates only after a certificate login")
    if not yes:
        click.confirm(f"Revoke KSeF certificate {serial}? It cannot be undone", abort=True)
    CertificatesClient(strategy).revoke(serial, REASONS[reason])  # type: ignore[arg-type]
    click.echo(f"revoked {serial} ({REASONS[reason]})")


@click.command("limits")
@profile_option
@config_option
@json_option
def limits_command(profile_name: str | None, config_path: Path | None, as_json: bool) -> None:
    """How many enrollments and active certificates the subject has left."""
    limits = _client(config_path, profile_name).limits()
    if as_json:
        _emit(
            {
                "canRequest": limits.can_request,
                "enrollment": {
                    "limit": limits.enrollment.limit,
                    "remaining": limits.enrollment.remaining,
                },
                "certificate": {
                    "limit": limits.certificate.limit,
                    "remaining": limits.certificate.remaining,
                },
            }
        )
        return
    click.echo(f"can enroll:   {'yes' if limits.can_request else 'no'}")
    click.echo(f"enrollments:  {limits.enrollment.remaining} of {limits.enrollment.limit} left")
    click.echo(f"certificates: {limits.certificate.remaining} of {limits.certificate.limit} left")


# --- renew, shorten -------------------------------------------------------------------------------


def _renewing_source(strategy: Strategy) -> Any:
    from ksef_auth_ksefcert.source import KsefCertificateSource

    candidates = [strategy.credential]
    sources = getattr(strategy.credential, "sources", None)
    if sources is not None:
        candidates = [source for _, source in sources]
    for candidate in candidates:
        if isinstance(candidate, KsefCertificateSource):
            return candidate
    raise click.UsageError(
        f"profile {strategy.name!r} does not log in with a ksef-certificate credential"
    )


@click.command("renew")
@profile_option
@config_option
@click.option("--force", is_flag=True, help="Renew even when it is not due yet.")
def renew_command(profile_name: str | None, config_path: Path | None, force: bool) -> None:
    """Renew the profile's KSeF certificate now if it is due (what happens unattended)."""
    profiles, name = _strategy(config_path, profile_name)
    strategy = profiles.strategy(name)
    source = _renewing_source(strategy)
    outcome = source.renew_now(strategy, force=force)
    messages = {
        "not-due": f"not due: it ends {_when(outcome.valid_to)} UTC",
        "renewed-elsewhere": "another process already renewed it",
        "busy": f"another process is renewing it ({outcome.detail})",
        "unusable": f"it cannot renew itself: {outcome.detail}",
    }
    if outcome.successor is not None:
        click.echo(
            f"renewed: {outcome.successor.serial} (valid to"
            f" {outcome.successor.certificate.not_valid_after_utc:%Y-%m-%d %H:%M} UTC)"
            f" stored in {source.renewal.holder.where}"
        )
    else:
        click.echo(messages.get(outcome.action, outcome.action))


@click.command("shorten")
@click.argument("serial", required=False, callback=_serial_argument)
@click.option("--valid-to", callback=_time_option, help="The new end (ISO 8601).")
@click.option("--days-left", type=float, help="Or: end it this many days from now.")
@profile_option
@config_option
def shorten_command(
    serial: str | None,
    valid_to: datetime | None,
    days_left: float | None,
    profile_name: str | None,
    config_path: Path | None,
) -> None:
    """TEST and simulators only: end a KSeF certificate (default: the one the profile logs in
    with) earlier, to rehearse its renewal."""
    from datetime import UTC, timedelta

    if (valid_to is None) == (days_left is None):
        raise click.UsageError("give --valid-to ISO or --days-left N")
    if valid_to is None:
        assert days_left is not None
        valid_to = datetime.now(UTC) + timedelta(days=days_left)
    serial = serial or _own_serial(config_path, profile_name)
    _client(config_path, profile_name).shorten(serial, valid_to)
    click.echo(f"{serial} now ends {valid_to:%Y-%m-%d %H:%M} UTC")


COMMANDS = (
    enroll_command,
    list_command,
    show_command,
    revoke_command,
    limits_command,
    renew_command,
    shorten_command,
)
