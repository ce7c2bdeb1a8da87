"""What plugins build: credential sources, signers and session stores, and how they are registered.

A plugin hands the core *factories* (usually classes) through the register hooks in
:mod:`ksef_auth.hookspecs`. A factory's keyword arguments are its *options*: they are what a
strategy file may set, and the core validates them before anything runs. For an attrs class the
options are read off its fields (``metadata={"help": ..., "secret": True}``); for anything else,
pass ``options=`` to ``register`` or let the core read the call signature.
"""

from __future__ import annotations

import inspect
import os
import warnings
from collections.abc import Callable, Iterator, Mapping, Sequence
from contextlib import AbstractContextManager
from pathlib import Path
from typing import TYPE_CHECKING, Any, Literal, Protocol, runtime_checkable

import attrs

from ksef_auth.errors import ConfigError
from ksef_auth.model import (
    ContextIdentifier,
    Credential,
    CredentialRequest,
    Environment,
    SessionTokens,
    SignRequest,
    Submission,
)
from ksef_auth.secret import Secret

if TYPE_CHECKING:
    from cryptography import x509

    from ksef_auth.keys import KeyHandle, KeySpec

Kind = Literal["credential_source", "signer", "session_store", "key_store"]

# --- the component contracts -------------------------------------------------------------------


@runtime_checkable
class CredentialSource(Protocol):
    """Produces the credential for one login. Built once per strategy and shared by every context
    the strategy serves, so it must take the context from the request, never remember it."""

    def load(self, request: CredentialRequest) -> Credential:
        """Return the credential for ``request`` (its environment, context, signer method and
        purpose), or raise :class:`~ksef_auth.errors.NotAvailable` when this source has nothing
        for it here (a chain then tries its next source). Any other
        :class:`~ksef_auth.errors.CredentialError` stops the chain. A source keyed by context
        (a variable, file or secret per NIP) names it with :meth:`CredentialRequest.fill`; a
        source with one credential for every context may ignore the request. Read the secret
        again at each call (a rotated one is then picked up), and never put it in a message."""
        ...


def as_source(source: Any) -> CredentialSource:
    """``source`` itself, or, for a source written for contract 1 (``load()`` without a request),
    an adapter that calls it and warns once with a :class:`DeprecationWarning`.

    A contract-1 source cannot tell contexts apart: it hands every context the same credential.
    """
    load = getattr(source, "load", None)
    if load is None or not callable(load):
        raise TypeError(f"{type(source).__name__} has no load(request) method")
    if isinstance(source, _Contract1Source) or _takes_request(load):
        return source  # type: ignore[no-any-return]
    warnings.warn(
        f"credential source {type(source).__name__} implements load() without a request"
        " (ksef-auth contract 1); contract 2 calls load(request) with the login's environment"
        " and context. It is used as it is, the same credential for every context: update it"
        " (see the CHANGELOG)",
        DeprecationWarning,
        stacklevel=3,
    )
    return _Contract1Source(source)


def _takes_request(load: Callable[..., Any]) -> bool:
    try:
        parameters = inspect.signature(load).parameters.values()
    except (TypeError, ValueError):
        return True  # cannot tell (a builtin): assume the current contract
    return any(
        p.kind in (p.POSITIONAL_ONLY, p.POSITIONAL_OR_KEYWORD, p.VAR_POSITIONAL) for p in parameters
    )


class _Contract1Source:
    """Adapts a contract-1 source (``load()``) to ``load(request)``."""

    def __init__(self, source: Any) -> None:
        self.source = source

    def load(self, request: CredentialRequest) -> Credential:
        return self.source.load()  # type: ignore[no-any-return]

    def check(self, environment: Environment, context: ContextIdentifier) -> None:
        check = getattr(self.source, "check", None)
        if check is not None:
            check(environment, context)

    def __repr__(self) -> str:
        return repr(self.source)


@runtime_checkable
class Signer(Protocol):
    """Turns a challenge and a credential into the request that proves identity to KSeF.

    Pure: no network. ``method`` names it in reports (``ksef-token``, ``xades``, ...);
    ``challenge_path`` is where the flow fetches its challenge (``/auth/challenge`` for KSeF 2.0).
    """

    method: str
    challenge_path: str

    def sign(self, request: SignRequest) -> Submission: ...


@runtime_checkable
class SessionStore(Protocol):
    """Keeps sessions between calls, threads and (for shared stores) processes.

    Keys are opaque strings built by the session manager from the environment, the context and
    the credential's fingerprint; they never contain a secret. A store says where sessions live
    with a class attribute ``leaves_process`` (see below); one that keeps them outside the
    process keeps them encrypted (:mod:`ksef_auth.sealing`), each entry bound to its key.
    :class:`ksef_auth.testing.SessionStoreContract` checks every rule written here.
    """

    def get(self, key: str) -> SessionTokens | None:
        """The stored session, or None. An entry lives while its refresh token is valid (or,
        without one, its access token): one whose every token has expired is never returned,
        one whose access token alone has expired is (the session manager refreshes it). An
        entry that cannot be read (damaged, another key's, another program's, sealed with a key
        no longer configured) is a miss: None, perhaps with a logged warning, never an error."""
        ...

    def put(self, key: str, tokens: SessionTokens) -> None:
        """Store (replace) the session; it may be dropped once its last token has expired."""
        ...

    def delete(self, key: str) -> None:
        """Forget the session (after a revocation). Deleting a missing key is not an error."""
        ...

    def lock(self, key: str, timeout: float) -> AbstractContextManager[bool]:
        """Exclusive right to log in or refresh ``key`` among everyone sharing this store: the
        threads of this process and, for a store that leaves the process, other processes.

        Waits up to ``timeout`` seconds; yields True when held, False when the wait ran out
        (the caller re-reads the store and proceeds). It is released when the block ends, by
        returning or by raising; a waiter that gave up never releases the holder's lock; a
        live holder's lock is never taken from it, and a dead holder's is free again within
        a bounded time (a lock that expires, or one the operating system drops with its
        process). Failures to reach the store are :class:`~ksef_auth.errors.StoreError`."""
        ...


# Attribute every session store declares (a class attribute):
#   leaves_process: bool
# True when sessions are kept outside this process (files, Redis, a database): then they are
# encrypted at rest and the lock holds across processes. False when they stay in its memory.


@runtime_checkable
class KeyStore(Protocol):
    """Makes new private keys where they will live (a PKCS#11 token, a KMS, this process) and
    keeps the certificate issued for them: what a KSeF-certificate enrollment uses, so that the
    key of a certificate KSeF issues may never exist in memory.

    Build the request with :func:`ksef_auth.keys.build_csr` through the returned handle.
    """

    def generate(self, spec: KeySpec) -> KeyHandle:
        """A new key for ``spec`` (``ec-p256`` or ``rsa-2048``, labelled ``spec.label``).
        Raises :class:`~ksef_auth.errors.CredentialError` (never with a PIN or password in it)
        when it cannot be made."""
        ...

    def keep(
        self, key: KeyHandle, certificate: x509.Certificate, chain: Sequence[x509.Certificate]
    ) -> Mapping[str, Any]:
        """Keep ``certificate`` (and its chain) with ``key``; return the credential table a
        strategy file uses to load both later, e.g. ``{"use": "pkcs11", "label": "..."}``
        (references only, never a secret)."""
        ...


# Optional member of a credential source, called once for every strategy that uses it (each
# context of a family too, and each source of a chain), when the strategy is built:
#   def attach(self, strategy: ksef_auth.Strategy) -> None
# for a source that acts on KSeF by itself: ``ksef-certificate`` keeps the strategy to renew its
# certificate over the strategy's own session, under the session store's lock, with events
# through the strategy's plugin manager. ``load`` must not call the strategy (it runs inside the
# session manager's lock): work that needs the session runs on a thread of the source's own.
#
# Optional member of a credential source that renews its certificate, for ``ksef-auth doctor``:
#   def renewal_status(self, credential: CertificateCredential) -> tuple[str, str]
# ("ok" or "warn", and one line saying when it renews itself, or why it has not yet).
#
# Optional member of a credential source that can keep a new secret where its load() will
# find it (``ksef-auth tokens create --save-to NAME`` uses it; the vault source has it):
#   def save(self, request: CredentialRequest, credential: Credential) -> str
# returns where it was kept, for people (never the secret); raises CredentialError if it cannot.
SaveFn = Callable[[CredentialRequest, Credential], str]
#
# Optional member any component may have, called when a strategy is loaded:
#   def check(self, environment: Environment, context: ContextIdentifier) -> None
# raise ConfigError / CredentialError / NotAvailable to report a problem before any login.
CheckFn = Callable[[Environment, ContextIdentifier], None]
#
# Optional member of a session store that leaves the process:
#   def rate_limiter(self) -> ksef_auth.pacing.RateLimiter
# a limiter shared by everyone who shares the store, so they share KSeF's rate limits too.

# --- secrets in options -------------------------------------------------------------------------


@attrs.frozen
class SecretRef:
    """A secret option's value: a reference resolved when the secret is needed, never inline.

    ``SecretRef.env("KSEF2_KEY_PASSWORD")``, ``SecretRef.file("/run/secrets/p12")``, or in Python
    code ``SecretRef.value(Secret("..."))``.
    """

    env_var: str | None = None
    path: str | None = None
    literal: Secret | None = None

    @classmethod
    def env(cls, name: str) -> SecretRef:
        return cls(env_var=name)

    @classmethod
    def file(cls, path: str | os.PathLike[str]) -> SecretRef:
        return cls(path=os.fspath(path))

    @classmethod
    def value(cls, secret: Secret | str) -> SecretRef:
        return cls(literal=Secret(secret))

    def describe(self) -> str:
        if self.env_var:
            return f"environment variable {self.env_var}"
        if self.path:
            return f"file {self.path}"
        return "a value given in code"

    def problem(self) -> str | None:
        """Why the secret cannot be read now (None when it can). Reads nothing secret."""
        if self.env_var is not None:
            if self.env_var not in os.environ:
                return f"environment variable {self.env_var} is not set"
            return None
        if self.path is not None:
            path = Path(self.path)
            if not path.is_file():
                return f"file {self.path} does not exist or is not a file"
            if not os.access(path, os.R_OK):
                return f"file {self.path} is not readable by this user"
        return None

    def get(self) -> Secret:
        """Read the secret. Raises :class:`ConfigError` naming the reference when it cannot."""
        problem = self.problem()
        if problem:
            raise ConfigError(f"{problem}; set it or change the reference")
        if self.env_var is not None:
            return Secret(os.environ[self.env_var])
        if self.path is not None:
            return Secret(Path(self.path).read_text(encoding="utf-8").strip())
        assert self.literal is not None
        return self.literal


# --- registration -------------------------------------------------------------------------------

_MISSING = object()


@attrs.frozen
class Option:
    """One option a factory accepts."""

    name: str
    type: str = "str"
    required: bool = False
    default: Any = None
    help: str = ""
    secret: bool = False
    path: bool = False
    """A file path: relative paths in a strategy file are taken relative to that file."""


@attrs.frozen
class Registration:
    """A named factory one plugin registered for one kind of component."""

    kind: Kind
    name: str
    factory: Callable[..., Any] = attrs.field(repr=False)
    options: tuple[Option, ...]
    summary: str
    plugin: str

    def option(self, name: str) -> Option | None:
        return next((o for o in self.options if o.name == name), None)


def options_of(factory: Callable[..., Any]) -> tuple[Option, ...]:
    """Read a factory's options off its attrs fields or its call signature."""
    if attrs.has(factory):  # type: ignore[arg-type]
        result = []
        for field in attrs.fields(factory):  # type: ignore[arg-type]
            if not field.init or field.name.startswith("_"):
                continue
            name = field.alias or field.name
            required = field.default is attrs.NOTHING
            default = None
            if isinstance(field.default, attrs.Factory):  # type: ignore[arg-type]
                default = field.default.factory()  # type: ignore[attr-defined]
            elif not required:
                default = field.default
            type_name = (
                field.type if isinstance(field.type, str) else getattr(field.type, "__name__", "")
            )
            secret = bool(field.metadata.get("secret")) or "SecretRef" in str(type_name)
            is_path = bool(field.metadata.get("path"))
            result.append(
                Option(
                    name,
                    str(type_name),
                    required,
                    default,
                    field.metadata.get("help", ""),
                    secret,
                    is_path,
                )
            )
        return tuple(result)
    result = []
    for param in inspect.signature(factory).parameters.values():
        if param.kind in (param.VAR_POSITIONAL, param.VAR_KEYWORD):
            continue
        annotation = param.annotation if param.annotation is not param.empty else ""
        required = param.default is param.empty
        secret = "SecretRef" in str(annotation)
        default = None if required else param.default
        result.append(Option(param.name, str(annotation), required, default, "", secret))
    return tuple(result)


class Register:
    """The callback a register hook gets: ``register(name, factory, summary=..., options=...)``."""

    def __init__(self, kind: Kind, plugin: str, sink: Callable[[Registration], None]) -> None:
        self.kind = kind
        self.plugin = plugin
        self._sink = sink

    def __call__(
        self,
        name: str,
        factory: Callable[..., Any],
        *,
        summary: str = "",
        options: tuple[Option, ...] | None = None,
    ) -> None:
        doc = inspect.getdoc(factory) or ""
        self._sink(
            Registration(
                kind=self.kind,
                name=name,
                factory=factory,
                options=options if options is not None else options_of(factory),
                summary=summary or doc.split("\n\n")[0].replace("\n", " "),
                plugin=self.plugin,
            )
        )


def iter_kinds() -> Iterator[Kind]:
    yield from ("credential_source", "signer", "session_store", "key_store")
