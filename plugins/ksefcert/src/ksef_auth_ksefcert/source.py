"""The credential source ``ksef-certificate``: a KSeF certificate that renews itself.

The certificate and its key live in an encrypted PKCS#12 file or a vault entry (written by
``ksef-auth cert enroll``); the source loads them for every login, and the renewal
(:mod:`.renewal`) replaces them with a successor before the certificate ends. Sign with
``xades``::

    [strategy.server]
    environment = "test"
    context = { nip = "5261040828" }
    credential = { use = "ksef-certificate", path = "server.p12", password = { env = "P12_PASS" } }
    # or:       { use = "ksef-certificate", vault = "server-cert" }
    # or:       { use = "ksef-certificate", aws_secret = "ksef/server" }
    signer = "xades"
    store = { use = "redis", url = "redis://cache:6379/0", key = { env = "STORE_KEY" } }

Every process that shares the file (and the store, whose lock makes one of them renew) sees the
successor at its next login.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import TYPE_CHECKING, Literal

import attrs

from ksef_auth import (
    CertificateCredential,
    CertificateError,
    ContextIdentifier,
    CredentialRequest,
    Environment,
    SecretRef,
)
from ksef_auth.values import parse_bool
from ksef_auth_ksefcert.pkcs12_file import Pkcs12File
from ksef_auth_ksefcert.renewal import Holder, Outcome, Renewal, RenewalPolicy

if TYPE_CHECKING:
    from ksef_auth import Strategy


def _optional_path(value: str | os.PathLike[str] | None) -> Path | None:
    return None if value is None or value == "" else Path(value).expanduser()


def _positive(instance: object, attribute: attrs.Attribute[float], value: float) -> None:
    if value <= 0:
        raise ValueError(f"{attribute.name} must be greater than 0, got {value}")


@attrs.define(eq=False)
class KsefCertificateSource:
    """A KSeF certificate and its key, in an encrypted PKCS#12 file, the vault or AWS Secrets
    Manager, renewed by
    itself before it ends (over the strategy's own session, once among processes sharing the
    session store)."""

    path: Path | None = attrs.field(
        default=None,
        converter=_optional_path,
        metadata={
            "path": True,
            "help": "The PKCS#12 file holding the certificate and key (ksef-auth cert enroll"
            " --p12 writes it); renewal replaces it.",
        },
    )
    password: SecretRef | None = attrs.field(
        default=None,
        metadata={
            "secret": True,
            "help": "The password of the PKCS#12 file (or of the PKCS#12 in aws_secret).",
        },
    )
    vault: str | None = attrs.field(
        default=None,
        metadata={
            "help": "Instead of path: the vault entry holding them (ksef-auth cert enroll"
            " --key-store vault writes it); renewal replaces it. Needs ksef-auth-vault."
        },
    )
    vault_path: Path | None = attrs.field(
        default=None,
        converter=_optional_path,
        metadata={"path": True, "help": "The vault file (default: the vault's own default)."},
    )
    vault_key: SecretRef | None = attrs.field(
        default=None,
        metadata={
            "secret": True,
            "help": "The vault's key (default: $KSEF_AUTH_VAULT_KEY, else vault.key beside it).",
        },
    )
    aws_secret: str | None = attrs.field(
        default=None,
        metadata={
            "help": "Instead of path: the AWS Secrets Manager secret holding them (name or"
            " ARN); renewal puts the successor in it. With password, the key is a PKCS#12"
            " encrypted with it. Needs ksef-auth-cloud."
        },
    )
    aws_region: str | None = attrs.field(
        default=None, metadata={"help": "The secret's AWS region (default: AWS_REGION)."}
    )
    aws_endpoint_url: str | None = attrs.field(
        default=None, metadata={"help": "Another Secrets Manager endpoint (tests, VPC)."}
    )
    renew: bool = attrs.field(
        default=True,
        converter=parse_bool,
        metadata={"help": "Renew the certificate unattended before it ends."},
    )
    renew_before_days: float = attrs.field(
        default=60.0,
        converter=float,
        validator=_positive,
        metadata={"help": "Renew this many days before the certificate ends (KSeF's date)."},
    )
    check_interval: float = attrs.field(
        default=6 * 3600.0,
        converter=float,
        validator=_positive,
        metadata={
            "help": "Seconds between two looks at KSeF's record of the certificate (its end"
            " date may be moved, it may be revoked), per process."
        },
    )
    retry_interval: float = attrs.field(
        default=900.0,
        converter=float,
        validator=_positive,
        metadata={"help": "Seconds before a failed renewal is tried again."},
    )
    enrollment_deadline: float = attrs.field(
        default=120.0,
        converter=float,
        validator=_positive,
        metadata={"help": "Seconds to wait for KSeF to issue the successor."},
    )
    revoke_superseded: bool = attrs.field(
        default=False,
        converter=parse_bool,
        metadata={"help": "Revoke the old certificate once its successor is stored."},
    )
    successor_name: str | None = attrs.field(
        default=None,
        metadata={"help": "The successor's certificate name (default: the current one's)."},
    )
    algorithm: Literal["same", "ec-p256", "rsa-2048"] = attrs.field(
        default="same",
        validator=attrs.validators.in_(("same", "ec-p256", "rsa-2048")),
        metadata={"help": "The successor's key: same (as the current one), ec-p256 or rsa-2048."},
    )
    _renewal: Renewal = attrs.field(init=False, repr=False)

    def __attrs_post_init__(self) -> None:
        places = [p for p in (self.path, self.vault, self.aws_secret) if p is not None]
        if len(places) != 1:
            raise ValueError(
                "say where the KSeF certificate is kept, once: path (a PKCS#12 file, with"
                " password), vault (an entry name) or aws_secret (a Secrets Manager secret)"
            )
        if self.path is not None and self.password is None:
            raise ValueError(f"the PKCS#12 file {self.path} needs its password (by reference)")
        if self.successor_name is not None:
            from ksef_auth_ksefcert.enrollment import check_name

            check_name(self.successor_name)
        policy = RenewalPolicy(
            enabled=self.renew,
            renew_before_days=self.renew_before_days,
            check_interval=self.check_interval,
            retry_interval=self.retry_interval,
            enrollment_deadline=self.enrollment_deadline,
            revoke_superseded=self.revoke_superseded,
            successor_name=self.successor_name,
            algorithm=self.algorithm,
        )
        self._renewal = Renewal(self.holder(), policy)

    def holder(self) -> Holder:
        """Where the certificate is kept: the PKCS#12 file or the vault entry."""
        if self.vault is not None:
            from ksef_auth_ksefcert.vault_entry import VaultEntry

            return VaultEntry(self.vault, self.vault_path, self.vault_key)
        if self.aws_secret is not None:
            from ksef_auth_ksefcert.aws_secret import AwsSecret

            return AwsSecret(self.aws_secret, self.aws_region, self.aws_endpoint_url, self.password)
        assert self.path is not None and self.password is not None
        return Pkcs12File(self.path, self.password)

    @property
    def renewal(self) -> Renewal:
        return self._renewal

    def load(self, request: CredentialRequest) -> CertificateCredential:
        """The certificate in the file now; for a login, its renewal is looked after."""
        credential = self._renewal.holder.load(request)
        if request.purpose == "login":
            problem = self._renewal.problem(credential)
            if problem:
                raise CertificateError(problem)
            self._renewal.consider(credential, request)
        return credential

    def attach(self, strategy: Strategy) -> None:
        """A strategy logs in with this source: the renewal works over its session."""
        self._renewal.attach(strategy)

    def check(self, environment: Environment, context: ContextIdentifier) -> None:
        """The file opens with the password and holds a certificate with its key."""
        self.load(CredentialRequest(environment=environment, context=context, purpose="check"))

    def renewal_status(self, credential: CertificateCredential) -> tuple[str, str]:
        """``("ok" | "warn", text)``: when the certificate renews itself (``ksef-auth doctor``)."""
        return self._renewal.status_note(credential)

    def renew_now(self, strategy: Strategy, *, force: bool = False) -> Outcome:
        """Check the certificate at KSeF and renew it when due (or ``force``), now, waiting up
        to 60 s for another process's renewal to finish (``ksef-auth cert renew``)."""
        credential = self._renewal.holder.load(strategy.credential_request)
        return self._renewal.run(strategy, credential, lock_timeout=60.0, force=force)

    def __repr__(self) -> str:
        return f"KsefCertificateSource({self._renewal.holder.where}, renew={self.renew})"
