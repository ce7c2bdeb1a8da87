"""One-line strategies: :func:`strategy` from keyword arguments, :func:`strategy_from_env` from
the ``KSEF2_*`` variables ksef2-cli and its SDK use.

::

    import ksef_auth
    from ksef_auth import SecretRef

    shop = ksef_auth.strategy(env="test", nip="5261040828", token=SecretRef.env("KSEF2_TOKEN"))
    seal = ksef_auth.strategy(
        env="production", nip="5261040828",
        certificate="seal.p12", password=SecretRef.env("KSEF2_P12_PASSWORD"),
    )
    app = ksef_auth.strategy_from_env()       # KSEF2_PROFILE, else KSEF2_ENV + KSEF2_NIP + ...

Both build an ordinary strategy file (a dict) and load it, so every check of
:func:`ksef_auth.load` applies and errors say what to fix. The same arguments give the same
strategy object (so the same session manager and cached token): calling the one-liner in a
request handler logs in once, not per request. The plugins they name (``env`` and
``ksef-token`` for tokens; ``pkcs12`` or ``pem`` and ``xades`` for certificates;
``test-certificate`` for ``test_certificate=True``) must be installed.
"""

from __future__ import annotations

import json
import os
import threading
from collections.abc import Mapping
from pathlib import Path
from typing import TYPE_CHECKING, Any

from ksef_auth.components import SecretRef
from ksef_auth.errors import ConfigError

if TYPE_CHECKING:
    from ksef_auth.manager import PluginManager
    from ksef_auth.strategy import Strategy

ENV_VARIABLES: dict[str, str] = {
    "KSEF2_PROFILE": "use this profile (from KSEF2_CONFIG)",
    "KSEF2_ENV": "test (default), demo, production, a URL",
    "KSEF2_NIP": "the context NIP",
    "KSEF2_TOKEN": "a KSeF token (or KSEF2_TOKEN_FILE)",
    "KSEF2_P12_PATH": "else a .p12/.pfx file",
    "KSEF2_P12_PASSWORD": "its password",
    "KSEF2_CERT_PATH": "else a PEM/DER certificate",
    "KSEF2_KEY_PATH": "and its private key",
    "KSEF2_KEY_PASSWORD": "the key's password",
}
"""The variables :func:`strategy_from_env` reads, and what each means."""

_P12_SUFFIXES = (".p12", ".pfx")
_made: dict[tuple[str, int], tuple[Strategy, PluginManager | None]] = {}
_made_lock = threading.Lock()


def _loaded(
    table: dict[str, Any], name: str, check: bool, manager: PluginManager | None
) -> Strategy:
    """The strategy of ``table``, loaded once per (table, name, manager): the same arguments
    give the same object. The table names secrets by reference only, so it is a fine key (the
    manager is kept with the strategy, so its id stays its own)."""
    from ksef_auth.config import load
    from ksef_auth.model import Environment

    try:  # "test" may mean a simulator (KSEF_AUTH_TEST_URL): the key holds where it points
        where = Environment.of(str(table.get("environment"))).base_url
    except ValueError:
        where = ""  # load() says what is wrong with it
    key = (json.dumps([table, name, check, where], sort_keys=True, default=str), id(manager))
    with _made_lock:
        found = _made.get(key)
        if found is None:
            config = load({"strategy": {name: table}}, manager=manager, check=check)
            found = _made[key] = (config.strategy(name), manager)
        return found[0]


def _reference(value: SecretRef | None, what: str) -> dict[str, str] | None:
    """A secret option as a strategy file writes it: ``{env = ...}`` or ``{file = ...}``."""
    if value is None:
        return None
    if not isinstance(value, SecretRef):
        raise ConfigError(
            f"{what} takes a reference, SecretRef.env(NAME) or SecretRef.file(PATH), never the"
            " secret itself"
        )
    if value.env_var is not None:
        return {"env": value.env_var}
    if value.path is not None:
        return {"file": value.path}
    raise ConfigError(f"{what}: SecretRef.value(...) cannot be used here; use SecretRef.env(NAME)")


def credential_table(
    *,
    token: SecretRef | None = None,
    certificate: str | os.PathLike[str] | None = None,
    key: str | os.PathLike[str] | None = None,
    password: SecretRef | None = None,
    test_certificate: bool = False,
) -> tuple[dict[str, Any], str]:
    """The credential table and the signer name for a token, a certificate or a test one."""
    given = [n for n, v in (("token", token), ("certificate", certificate)) if v is not None]
    if test_certificate:
        given.append("test_certificate")
    if len(given) != 1:
        raise ConfigError(
            "give exactly one of token=SecretRef.env(NAME), certificate=PATH or"
            f" test_certificate=True (got {', '.join(given) or 'none'})"
        )
    if token is not None:
        if not isinstance(token, SecretRef):
            raise ConfigError(
                "token takes a reference, SecretRef.env(NAME), never the token itself"
            )
        if token.env_var is None:
            raise ConfigError(
                "token takes SecretRef.env(NAME); for a file, set NAME_FILE to its path and pass"
                " SecretRef.env(NAME)"
            )
        return {"use": "env", "var": token.env_var}, "ksef-token"
    if test_certificate:
        return {"use": "test-certificate"}, "xades"
    assert certificate is not None
    path = str(Path(certificate).expanduser())
    secret = _reference(password, "password")
    table: dict[str, Any]
    if path.lower().endswith(_P12_SUFFIXES):
        if key is not None:
            raise ConfigError("key= goes with a PEM certificate, not with a .p12/.pfx file")
        table = {"use": "pkcs12", "path": path}
    else:
        table = {"use": "pem", "certificate": path}
        if key is not None:
            table["key"] = str(Path(key).expanduser())
    if secret is not None:
        table["password"] = secret
    return table, "xades"


def strategy(
    *,
    env: str = "test",
    nip: str,
    token: SecretRef | None = None,
    certificate: str | os.PathLike[str] | None = None,
    key: str | os.PathLike[str] | None = None,
    password: SecretRef | None = None,
    test_certificate: bool = False,
    store: str | Mapping[str, Any] = "memory",
    refresh: Mapping[str, Any] | None = None,
    name: str = "default",
    check: bool = True,
    manager: PluginManager | None = None,
) -> Strategy:
    """A strategy in one call.

    ``env``: ``test``, ``demo``, ``production`` or a base URL; ``nip``: the context. Then
    exactly one credential: ``token=SecretRef.env("KSEF2_TOKEN")``; or ``certificate`` (a
    ``.p12``/``.pfx`` file, or a PEM/DER certificate with ``key``) with its ``password``
    (a :class:`SecretRef`); or ``test_certificate=True`` (a self-signed seal: TEST and local
    simulators only). ``store`` is any session store, by name or table (default ``memory``).
    """

    credential, signer = credential_table(
        token=token,
        certificate=certificate,
        key=key,
        password=password,
        test_certificate=test_certificate,
    )
    table: dict[str, Any] = {
        "environment": env,
        "context": {"nip": nip},
        "credential": credential,
        "signer": signer,
        "store": dict(store) if isinstance(store, Mapping) else store,
    }
    if refresh:
        table["refresh"] = dict(refresh)
    return _loaded(table, name, check, manager)


def environment_table(environ: Mapping[str, str] | None = None) -> dict[str, Any]:
    """The strategy table the ``KSEF2_*`` variables describe (no store): ConfigError naming
    the variables when they do not describe one."""
    env = os.environ if environ is None else environ
    nip = env.get("KSEF2_NIP", "").strip()
    if not nip:
        raise ConfigError(
            "KSEF2_NIP is not set: export KSEF2_NIP=<the context NIP> and KSEF2_TOKEN=<a KSeF"
            " token> (KSEF2_ENV: test, demo or production), or KSEF2_PROFILE=<a profile>"
        )
    if env.get("KSEF2_TOKEN") or env.get("KSEF2_TOKEN_FILE"):
        credential, signer = credential_table(token=SecretRef.env("KSEF2_TOKEN"))
    elif env.get("KSEF2_P12_PATH"):
        password = SecretRef.env("KSEF2_P12_PASSWORD") if "KSEF2_P12_PASSWORD" in env else None
        credential, signer = credential_table(certificate=env["KSEF2_P12_PATH"], password=password)
    elif env.get("KSEF2_CERT_PATH"):
        if not env.get("KSEF2_KEY_PATH"):
            raise ConfigError("KSEF2_CERT_PATH is set but KSEF2_KEY_PATH (its key) is not")
        password = SecretRef.env("KSEF2_KEY_PASSWORD") if "KSEF2_KEY_PASSWORD" in env else None
        credential, signer = credential_table(
            certificate=env["KSEF2_CERT_PATH"], key=env["KSEF2_KEY_PATH"], password=password
        )
    else:
        raise ConfigError(
            "KSEF2_NIP is set but no credential is: export KSEF2_TOKEN=<a KSeF token>, or"
            " KSEF2_P12_PATH=<file.p12> (with KSEF2_P12_PASSWORD), or KSEF2_CERT_PATH and"
            " KSEF2_KEY_PATH"
        )
    return {
        "environment": env.get("KSEF2_ENV", "").strip() or "test",
        "context": {"nip": nip},
        "credential": credential,
        "signer": signer,
    }


def strategy_from_env(
    environ: Mapping[str, str] | None = None,
    *,
    store: str | Mapping[str, Any] = "memory",
    name: str = "env",
    check: bool = True,
    manager: PluginManager | None = None,
) -> Strategy:
    """The strategy the ``KSEF2_*`` variables describe (:data:`ENV_VARIABLES`).

    ``KSEF2_PROFILE`` set: that profile (from ``KSEF2_CONFIG``, else the default profiles
    file). Otherwise ``KSEF2_ENV`` (default ``test``), ``KSEF2_NIP`` and a credential:
    ``KSEF2_TOKEN``, else ``KSEF2_P12_PATH`` (+ ``KSEF2_P12_PASSWORD``), else
    ``KSEF2_CERT_PATH`` + ``KSEF2_KEY_PATH`` (+ ``KSEF2_KEY_PASSWORD``). The secrets stay in the
    environment: the strategy names the variables and reads them at each login.
    """

    env = os.environ if environ is None else environ
    profile = env.get("KSEF2_PROFILE", "").strip()
    if profile:
        from ksef_auth.profiles import CONFIG_ENV, ProfileStore, default_path

        path = env.get(CONFIG_ENV) or default_path()
        return ProfileStore(path).strategy(profile, check=check, manager=manager)
    table = environment_table(env)
    table["store"] = dict(store) if isinstance(store, Mapping) else store
    return _loaded(table, name, check, manager)


__all__ = [
    "ENV_VARIABLES",
    "credential_table",
    "environment_table",
    "strategy",
    "strategy_from_env",
]
