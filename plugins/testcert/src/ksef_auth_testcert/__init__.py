"""ksef-auth-testcert: self-signed KSeF test certificates.

The credential source ``test-certificate`` makes a seal (``organizationIdentifier=VATPL-<NIP>``)
or personal (``serialNumber=TINPL-<NIP>`` / ``PNOPL-<PESEL>``) certificate with an RSA-2048 or
EC P-256 key, once per source. KSeF accepts such certificates only on TEST; local simulators
accept them too. DEMO and PRODUCTION are refused before any login.

The CLI command ``ksef-auth cert new-test`` writes one to disk (PEM and PKCS#12).
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from ksef_auth import Register, hookimpl
from ksef_auth_testcert.source import REFUSAL, TestCertificateSource

if TYPE_CHECKING:
    import click

__all__ = ["REFUSAL", "TestCertificateSource"]


@hookimpl
def ksef_auth_register_credential_sources(register: Register) -> None:
    register("test-certificate", TestCertificateSource)


@hookimpl
def ksef_auth_register_commands(cli: click.Group) -> None:
    from ksef_auth.cli import group
    from ksef_auth_testcert.cli import new_test

    group(cli, "cert").add_command(new_test)
