"""ksef-auth-ksefcert: KSeF certificates, enrolled after one XAdES login and renewed unattended.

* credential source ``ksef-certificate`` (:class:`KsefCertificateSource`): a KSeF certificate
  kept in an encrypted PKCS#12 file, renewed by itself before it ends;
* key store ``pkcs12-file`` (:class:`Pkcs12KeyStore`): keys made in this process, kept with their
  certificate in an encrypted PKCS#12 file; key store ``aws-secrets-manager``: the same, kept in
  an AWS Secrets Manager secret (needs ``ksef-auth-cloud``);
* :class:`CertificatesClient`: the KSeF certificate endpoints over a strategy's session, and
  :func:`enroll`, one enrollment end to end through any key store;
* CLI: ``ksef-auth cert enroll | list | show | revoke | limits | renew | shorten``.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from ksef_auth import Register, hookimpl
from ksef_auth_ksefcert.client import CertificatesClient
from ksef_auth_ksefcert.enrollment import Enrolled, enroll
from ksef_auth_ksefcert.errors import CertificateNotIssued, EnrollmentRejected
from ksef_auth_ksefcert.pkcs12_file import Pkcs12File, Pkcs12KeyStore
from ksef_auth_ksefcert.records import (
    CertificateInfo,
    EnrollmentData,
    EnrollmentStatus,
    Limits,
    RetrievedCertificate,
)
from ksef_auth_ksefcert.renewal import Outcome, Renewal, RenewalPolicy
from ksef_auth_ksefcert.source import KsefCertificateSource

if TYPE_CHECKING:
    import click

__all__ = [
    "CertificateInfo",
    "CertificateNotIssued",
    "CertificatesClient",
    "Enrolled",
    "EnrollmentData",
    "EnrollmentRejected",
    "EnrollmentStatus",
    "KsefCertificateSource",
    "Limits",
    "Outcome",
    "Pkcs12File",
    "Pkcs12KeyStore",
    "Renewal",
    "RenewalPolicy",
    "RetrievedCertificate",
    "enroll",
]


@hookimpl
def ksef_auth_register_credential_sources(register: Register) -> None:
    register("ksef-certificate", KsefCertificateSource)


@hookimpl
def ksef_auth_register_key_stores(register: Register) -> None:
    from ksef_auth_ksefcert.aws_secret import AwsSecretKeyStore

    register("pkcs12-file", Pkcs12KeyStore)
    register("aws-secrets-manager", AwsSecretKeyStore)


@hookimpl
def ksef_auth_register_commands(cli: click.Group) -> None:
    from ksef_auth_ksefcert.cli import COMMANDS, cert_group

    group = cert_group(cli)
    for command in COMMANDS:
        group.add_command(command, command.name)
