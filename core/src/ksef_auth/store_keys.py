"""Where a session store's encryption keys come from: one rule for every store that encrypts.

In this order:

1. the store's ``key`` option, a reference (``key = { env = "MY_STORE_KEY" }`` or
   ``key = { file = "/run/secrets/store-key" }``) to one key or several, newest first, separated
   by commas, spaces or newlines (a :class:`~ksef_auth.sealing.KeyRing`: see rotation there);
2. the environment variable ``KSEF_AUTH_STORE_KEY`` (:data:`KEY_ENV`), same format;
3. for a store kept on one machine (the ``file`` store), a key generated once into a private
   file (0600, in a 0700 folder), by default :func:`default_key_file`:
   ``store.key`` in the user's state directory (``~/.local/state/ksef-auth/store.key`` on
   Linux), never beside the application. A store shared by several machines (``redis``) never
   generates one: every machine must hold the same key, so it asks for 1 or 2 instead.

A store builds one :class:`StoreKeys` from its options, calls :meth:`StoreKeys.check` in its
``check()`` (nothing is created) and :meth:`StoreKeys.ring` on first use (the key file is
created then), and keeps the ring::

    from ksef_auth.store_keys import StoreKeys, default_key_file

    keys = StoreKeys("my-store", option=self.key, generated=default_key_file())
    ring = keys.ring()                       # raises ConfigError naming where the key came from
    blob = ring.seal(tokens, key)

After a rotation (``key = "NEW,OLD"`` everywhere), a store's ``rekey()`` (``ksef-auth file
rekey``, ``ksef-auth redis rekey``) seals every entry again with the newest key, in place, and
returns a :class:`RekeyReport`; once it reports nothing left over, ``OLD`` can be dropped.

Messages name where a key comes from (``environment variable KSEF_AUTH_STORE_KEY``, a file's
path), never the key.
"""

from __future__ import annotations

import logging
import os
from pathlib import Path

import attrs

from ksef_auth.components import SecretRef
from ksef_auth.errors import ConfigError
from ksef_auth.files import check_private, create_private_once
from ksef_auth.sealing import KeyRing, generate_key

__all__ = [
    "KEY_ENV",
    "KEY_FILE_NAME",
    "RekeyReport",
    "StoreKeys",
    "default_key_file",
    "resolve_store_keys",
]

log = logging.getLogger("ksef_auth.store_keys")

KEY_ENV = "KSEF_AUTH_STORE_KEY"
"""The environment variable every encrypting store reads when its ``key`` option is not set."""
KEY_FILE_NAME = "store.key"


def default_key_file() -> Path:
    """``store.key`` in the user's state directory: ``platformdirs.user_state_dir("ksef-auth")``,
    e.g. ``~/.local/state/ksef-auth/store.key`` on Linux (``$XDG_STATE_HOME`` is honoured)."""
    import platformdirs

    return Path(platformdirs.user_state_dir("ksef-auth")) / KEY_FILE_NAME


@attrs.frozen
class StoreKeys:
    """The key rule for one store: its ``key`` option, else :data:`KEY_ENV`, else (when
    ``generated`` is a path) a key generated once into that file.

    ``store`` names the store in messages (``"file"``, ``"redis"``).
    """

    store: str
    option: SecretRef | None = None
    generated: Path | None = None

    def origin(self) -> str:
        """Where the keys come from now, for messages and reprs (never the key)."""
        if self.option is not None:
            return f"option 'key' ({self.option.describe()})"
        if KEY_ENV in os.environ:
            return f"environment variable {KEY_ENV}"
        if self.generated is not None:
            return f"key file {self.generated}"
        return "none"

    def configured(self) -> bool:
        """Whether a key can come from somewhere (without reading it)."""
        return self.option is not None or KEY_ENV in os.environ or self.generated is not None

    def ring(self) -> KeyRing:
        """The keys, generating the key file first when that is where they come from.

        Raises :class:`ConfigError` naming the origin when there is no key or it is malformed.
        """
        target = self._to_generate()
        if target is not None:
            _generate(target)
        return self._load()

    def check(self) -> None:
        """What :meth:`ring` would find, without creating anything: a key that is given is
        parsed, an existing key file must be private and hold a key, a key file still to be
        generated needs nothing yet. Raises :class:`ConfigError`."""
        if self._to_generate() is None:
            self._load()

    def _to_generate(self) -> Path | None:
        """The key file to generate, when that is where the keys come from and it is missing."""
        if self.option is not None or KEY_ENV in os.environ or self.generated is None:
            return None
        return None if self.generated.exists() else self.generated

    def _load(self) -> KeyRing:
        if self.option is not None:
            return _parse(self.option.get().reveal(), self.origin())
        if KEY_ENV in os.environ:
            return _parse(os.environ[KEY_ENV], self.origin())
        if self.generated is None:
            raise ConfigError(
                f"the {self.store} store needs an encryption key: set its option 'key' (by"
                f' reference, e.g. key = {{ env = "{KEY_ENV}" }}) or the environment variable'
                f" {KEY_ENV}; make a key with"
                ' python -c "from ksef_auth.sealing import generate_key; print(generate_key())"'
            )
        return _read_key_file(self.generated)


def resolve_store_keys(
    option: SecretRef | None, *, store: str, generated: Path | None = None
) -> KeyRing:
    """``StoreKeys(store, option, generated).ring()``: the key ring of a store."""
    return StoreKeys(store, option, generated).ring()


def _parse(text: str, origin: str) -> KeyRing:
    try:
        return KeyRing.parse(text)
    except ConfigError as exc:
        raise ConfigError(f"{origin}: {exc.reason}") from None


def _generate(path: Path) -> None:
    """Generate a key into ``path`` unless another process just did."""
    try:
        path.parent.mkdir(mode=0o700, parents=True, exist_ok=True)
        if create_private_once(path, generate_key() + "\n"):
            log.info("generated the session encryption key %s", path)
    except OSError as exc:
        raise ConfigError(f"cannot create the key file {path}: {exc.strerror}") from None


def _read_key_file(path: Path) -> KeyRing:
    check_private(path, fix=False)
    try:
        text = path.read_text(encoding="ascii")
    except (OSError, UnicodeDecodeError) as exc:
        reason = exc.strerror if isinstance(exc, OSError) else "it is not text"
        raise ConfigError(f"cannot read key file {path}: {reason}") from None
    return _parse(text, f"key file {path}")


@attrs.define
class RekeyReport:
    """What a store's ``rekey()`` did: entries re-sealed with the newest key, entries that
    already were, and the entries it could not re-seal (by entry name, a hash: never a NIP)."""

    store: str
    resealed: int = 0
    current: int = 0
    problems: list[tuple[str, str]] = attrs.field(factory=list)

    def failed(self, entry: str, reason: str) -> None:
        self.problems.append((entry, reason))

    @property
    def complete(self) -> bool:
        """True when every entry is now sealed with the newest key (older keys can go)."""
        return not self.problems

    def summary(self) -> str:
        text = (
            f"{self.store}: {self.resealed} session(s) re-sealed with the newest key,"
            f" {self.current} already were"
        )
        if self.complete:
            return text + "; nothing is sealed with an older key any more: older keys can go"
        lines = [
            text + f"; {len(self.problems)} could not be re-sealed (keep the older keys until"
            " they are re-sealed or expire):"
        ]
        lines += [f"  {entry[:16]}: {reason}" for entry, reason in self.problems[:20]]
        if len(self.problems) > 20:
            lines.append(f"  ... and {len(self.problems) - 20} more")
        return "\n".join(lines)
