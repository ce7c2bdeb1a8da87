"""The plugin contract of ksef-auth: every hook a plugin may implement.

A plugin is a module registered in the entry-point group ``ksef_auth`` whose functions carry
``@ksef_auth.hookimpl`` and are named after the hooks below. There are three families:

* **register hooks** hand the core named factories of credential sources, signers, session
  stores and key stores (the component contracts are in :mod:`ksef_auth.components`). They run
  once, when the plugin is loaded; the core resolves names when a strategy is built, so the hot
  path never calls a hook.
* **observer hooks** tell plugins what happened to a session. They run on a background thread,
  after the fact: they cannot block the caller, and what they raise is logged and dropped.
* **the CLI hook** lets a plugin add commands to ``ksef-auth``.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import pluggy

from ksef_auth.plugin import PROJECT

if TYPE_CHECKING:
    import click

    from ksef_auth.components import Register
    from ksef_auth.errors import KsefAuthError
    from ksef_auth.events import CertificateEvent, SessionEvent

hookspec = pluggy.HookspecMarker(PROJECT)

#: The version of this contract. 2: ``CredentialSource.load(request)`` gets a
#: :class:`~ksef_auth.model.CredentialRequest` (contract 1: ``load()`` without arguments, still
#: accepted with a ``DeprecationWarning``). The CHANGELOG says what changed in each version.
CONTRACT_VERSION = 2

# --- register hooks -----------------------------------------------------------------------------


@hookspec
def ksef_auth_register_credential_sources(register: Register) -> None:
    """Register credential source factories: ``register("env", EnvSource)``.

    A factory is called with the options a strategy sets (keyword arguments) and returns an
    object with ``load(request: CredentialRequest) -> Credential`` (see ``CredentialSource``).
    The request carries the environment, the context and the signer method of the login, so one
    source can serve many contexts (``var = "KSEF_TOKEN_{nip}"``: see
    ``CredentialRequest.fill``). ``load`` raises ``NotAvailable`` when the source has nothing for
    the request here, so a chain moves on.
    """


@hookspec
def ksef_auth_register_signers(register: Register) -> None:
    """Register signer factories: ``register("ksef-token", KsefTokenSigner)``.

    A signer turns ``SignRequest`` (challenge, context, credential, KSeF's public keys) into a
    ``Submission`` (path, body, content type) without any network I/O (see ``Signer``).
    """


@hookspec
def ksef_auth_register_session_stores(register: Register) -> None:
    """Register session store factories: ``register("memory", MemoryStore)``.

    A store keeps ``SessionTokens`` by key and offers ``lock(key, timeout)`` so that only one
    process sharing the store logs in or refreshes a session at a time (see ``SessionStore``).
    Stores that leave the process must encrypt what they keep.
    """


@hookspec
def ksef_auth_register_key_stores(register: Register) -> None:
    """Register key store factories: ``register("pkcs11", Pkcs11KeyStore)``.

    A key store makes new private keys where they will live and keeps the certificate issued
    for them (see ``KeyStore``): ``ksef-auth cert enroll --key-store NAME`` uses it, so that a
    KSeF certificate's key is generated inside a token or a KMS and never leaves it.
    """


# --- the CLI hook -------------------------------------------------------------------------------


@hookspec
def ksef_auth_register_commands(cli: click.Group) -> None:
    """Add commands to the ``ksef-auth`` CLI: ``cli.add_command(my_command)``.

    Import heavy modules inside the commands, not here: this runs on every CLI start.
    """


# --- observer hooks -----------------------------------------------------------------------------


@hookspec
def ksef_auth_login_started(event: SessionEvent) -> None:
    """A login (challenge, sign, submit, poll, redeem) has started for ``event.context``."""


@hookspec
def ksef_auth_session_opened(event: SessionEvent) -> None:
    """A login succeeded: a new session exists (``event.reference_number``)."""


@hookspec
def ksef_auth_session_refreshed(event: SessionEvent) -> None:
    """The session's access token was renewed with its refresh token."""


@hookspec
def ksef_auth_session_expired(event: SessionEvent) -> None:
    """The session could not be refreshed (refresh token expired or revoked, or near its end);
    a new login follows when a token is next asked for."""


@hookspec
def ksef_auth_session_revoked(event: SessionEvent) -> None:
    """The session was revoked through ``DELETE /auth/sessions/current`` (logout), or another
    session of the context through ``DELETE /auth/sessions/{ref}`` (then ``reference_number`` is
    None and ``detail`` names the session revoked)."""


@hookspec
def ksef_auth_authentication_failed(event: SessionEvent, error: KsefAuthError) -> None:
    """A login or refresh failed with ``error`` (typed; its message holds no secret)."""


@hookspec
def ksef_auth_credential_fallback(event: SessionEvent) -> None:
    """A rotation's primary credential is not usable (KSeF refused it: a pending or revoked
    KSeF token, a certificate without permissions; or it cannot be loaded), so logins use the
    secondary (``event.credential_fingerprint``) until the primary
    (``event.rejected_fingerprint``) works again. Once per episode, not per call."""


@hookspec
def ksef_auth_certificate_expiring(event: CertificateEvent) -> None:
    """A certificate in use is within its renewal margin (``event.valid_to``,
    ``event.days_left``): once per process and certificate when first seen, then after each
    renewal attempt that failed (``event.detail`` says why; the old certificate stays in use while
    it is valid). Fired by credential sources that renew their certificate (``ksef-certificate``).
    """


@hookspec
def ksef_auth_certificate_renewed(event: CertificateEvent) -> None:
    """A certificate was renewed and its successor stored where the old one was: the process
    that renewed it fires this (``event.fingerprint`` the old one, ``event.new_fingerprint`` and
    ``event.new_serial`` its successor); the next login of every process sharing the storage
    uses the successor."""


@hookspec
def ksef_auth_system_warning(event: SessionEvent) -> None:
    """KSeF answered with ``X-System-Warning`` (an early notice of what it will reject in
    future; the request itself succeeded). ``event.detail`` is the warning, ``[code] message``.
    Called once per distinct warning and environment in a process; the warnings seen so far are
    in ``ksef_auth.system_warnings.recent(environment)``."""
