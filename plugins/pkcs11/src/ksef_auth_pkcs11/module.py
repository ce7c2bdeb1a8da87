"""PKCS#11 modules and token sessions: opened once per process, safe across threads and forks.

**One lock per module.** python-pkcs11 initializes a module with ``C_Initialize(NULL)``, which by
the PKCS#11 standard tells the module that the application will not call it from several
threads at once, so the module may skip its own locking (SoftHSM2 does). Every call into a module
therefore holds that module's lock (:attr:`Module.lock`); signing takes a few milliseconds on a
token, so serializing is cheap and always correct.

**One logged-in session per token.** Login state belongs to the application and the token, not
to a session: one session, logged in once, serves every key on the token and every thread.
:class:`TokenSession` opens it on first use, with the PIN, and keeps it.

**A token that goes away.** When an operation fails because the session or token is gone
(``CKR_DEVICE_REMOVED``, ``CKR_TOKEN_NOT_PRESENT``, ``CKR_SESSION_HANDLE_INVALID``, ...), the
session is dropped and opened again once: a token pulled out and put back keeps working. When
the token is not found, the module is re-initialized once and asked again (some modules, SoftHSM2
among them, list tokens only at initialization); still missing is :class:`TokenNotPresent`.

**Forks.** A child process re-initializes the module before its first call (PKCS#11 requires it;
sessions are not inherited) and gets fresh locks.
"""

from __future__ import annotations

import logging
import os
import threading
from collections.abc import Callable
from pathlib import Path
from typing import Any, TypeVar

import attrs

from ksef_auth import NotAvailable
from ksef_auth_pkcs11.errors import PinIncorrect, PinLocked, Pkcs11Error, TokenNotPresent
from ksef_auth_pkcs11.pin import PinSource

__all__ = [
    "MODULE_ENV",
    "Module",
    "TokenSelector",
    "TokenSession",
    "forget_all",
    "module_for",
    "resolve_module",
    "token_session",
]

log = logging.getLogger("ksef_auth.pkcs11")

T = TypeVar("T")

MODULE_ENV = "KSEF_AUTH_PKCS11_MODULE"
#: where common modules live, named in the message when no module is configured
KNOWN_MODULES = (
    "/usr/lib/softhsm/libsofthsm2.so",
    "/usr/lib/x86_64-linux-gnu/softhsm/libsofthsm2.so",
    "/usr/lib/aarch64-linux-gnu/softhsm/libsofthsm2.so",
    "/usr/local/lib/softhsm/libsofthsm2.so",
    "/opt/homebrew/lib/softhsm/libsofthsm2.so",
    "/usr/lib/x86_64-linux-gnu/opensc-pkcs11.so",
    "/usr/lib/aarch64-linux-gnu/opensc-pkcs11.so",
    "/usr/lib/opensc-pkcs11.so",
    "/usr/local/lib/opensc-pkcs11.so",
    "/Library/OpenSC/lib/opensc-pkcs11.so",
)


def resolve_module(option: str | os.PathLike[str] | None) -> str:
    """The module path: the option, else ``$KSEF_AUTH_PKCS11_MODULE``. Raises
    :class:`~ksef_auth.NotAvailable` (naming the modules found on this machine) when none is
    set or the file is not here."""
    path = str(option) if option else os.environ.get(MODULE_ENV, "")
    if not path:
        found = [m for m in KNOWN_MODULES if Path(m).is_file()]
        hint = f" (found here: {', '.join(found)})" if found else ""
        raise NotAvailable(
            f"no PKCS#11 module is set: set module to the token's PKCS#11 library{hint}, or"
            f" {MODULE_ENV}"
        )
    if not Path(path).is_file():
        raise NotAvailable(
            f"PKCS#11 module {path} does not exist here: install the token's middleware (for"
            " SoftHSM2: apt-get install softhsm2) or fix module"
        )
    return path


# --- modules -----------------------------------------------------------------------------------


class Module:
    """One PKCS#11 library loaded in this process, with the lock every call to it holds.

    ``generation`` changes whenever the module is (re-)initialized, which ends every session
    opened before; :class:`TokenSession` compares it to know.
    """

    def __init__(self, path: str) -> None:
        self.path = path
        self.lock = threading.RLock()
        self.generation = 0
        self._lib: Any = None
        self._pid: int | None = None

    def lib(self) -> Any:
        """The initialized ``pkcs11.lib`` for this process (call with :attr:`lock` held)."""
        import pkcs11

        pid = os.getpid()
        if self._lib is None:
            try:
                self._lib = pkcs11.lib(self.path)
            except pkcs11.PKCS11Error as exc:
                raise Pkcs11Error(
                    f"PKCS#11 module {self.path} cannot be loaded ({describe_error(exc)}): is it"
                    " a PKCS#11 library for this platform?"
                ) from None
            self._pid = pid
            self.generation += 1
        elif self._pid != pid:
            self.reinitialize()  # a forked child: PKCS#11 must be initialized again
        return self._lib

    def reinitialize(self) -> None:
        """``C_Finalize`` then ``C_Initialize``: every session ends, the token list is read
        again (call with :attr:`lock` held)."""
        import pkcs11

        try:
            self._lib.reinitialize()
        except pkcs11.PKCS11Error as exc:
            raise Pkcs11Error(
                f"PKCS#11 module {self.path} cannot be initialized again ({describe_error(exc)})"
            ) from None
        self._pid = os.getpid()
        self.generation += 1

    def __repr__(self) -> str:
        return f"Module({self.path!r})"


_MODULES: dict[str, Module] = {}
_SESSIONS: dict[tuple[str, TokenSelector], TokenSession] = {}
_REGISTRY = threading.Lock()


def module_for(path: str) -> Module:
    """The process's :class:`Module` for ``path`` (one per path)."""
    with _REGISTRY:
        module = _MODULES.get(path)
        if module is None:
            module = _MODULES[path] = Module(path)
        return module


def _after_fork_in_child() -> None:
    global _REGISTRY
    _REGISTRY = threading.Lock()
    for module in _MODULES.values():
        module.lock = threading.RLock()  # a lock held by a thread of the parent stays held


if hasattr(os, "register_at_fork"):
    os.register_at_fork(after_in_child=_after_fork_in_child)


# --- errors ------------------------------------------------------------------------------------

#: python-pkcs11 exceptions meaning the session or the token is gone: drop it, open it again
GONE = (
    "TokenNotPresent",
    "TokenNotRecognised",
    "DeviceRemoved",
    "DeviceError",
    "SessionHandleInvalid",
    "SessionClosed",
    "ObjectHandleInvalid",
    "KeyHandleInvalid",
    "UserNotLoggedIn",
    "GeneralError",
    "CryptokiNotInitialized",
)


def describe_error(exc: BaseException) -> str:
    """``CKR_DEVICE_REMOVED`` style name of a python-pkcs11 exception (never its arguments,
    which could echo a template)."""
    return type(exc).__name__


def is_gone(exc: BaseException) -> bool:
    return type(exc).__name__ in GONE


# --- tokens ------------------------------------------------------------------------------------


@attrs.frozen
class TokenSelector:
    """Which token: by ``label``, by ``slot`` id, by ``serial``, or the only one there is."""

    label: str | None = None
    slot: int | None = None
    serial: str | None = None

    def __attrs_post_init__(self) -> None:
        given = [v for v in (self.label, self.slot, self.serial) if v is not None]
        if len(given) > 1:
            raise ValueError("set at most one of token_label, slot and token_serial")

    def describe(self) -> str:
        if self.label is not None:
            return f"token {self.label!r}"
        if self.slot is not None:
            return f"the token in slot {self.slot}"
        if self.serial is not None:
            return f"the token with serial {self.serial}"
        return "the token"

    def matches(self, token: Any) -> bool:
        if self.label is not None:
            return bool(token.label == self.label)
        if self.slot is not None:
            return bool(token.slot.slot_id == self.slot)
        if self.serial is not None:
            return _serial(token) == self.serial
        return True

    def find(self, module: Module) -> Any:
        """The token (a ``pkcs11.Token``); the module is read again once when it is missing."""
        token, present = self._search(module)
        if token is None:
            module.reinitialize()
            token, present = self._search(module)
        if token is None:
            there = "; ".join(present) or "no initialized token in any slot"
            raise TokenNotPresent(
                f"{self.describe()} is not present in PKCS#11 module {module.path} (there:"
                f" {there}): insert the token, or fix token_label / slot"
            )
        return token

    def _search(self, module: Module) -> tuple[Any, list[str]]:
        import pkcs11

        present: list[str] = []
        found: list[Any] = []
        for slot in module.lib().get_slots(token_present=True):
            try:
                token = slot.get_token()
                flags = token.flags
            except pkcs11.PKCS11Error:
                continue  # a slot whose token just went away, or that cannot be read
            if not flags & pkcs11.TokenFlag.TOKEN_INITIALIZED:
                continue
            present.append(f"{token.label!r} in slot {slot.slot_id}")
            if self.matches(token):
                found.append(token)
        if len(found) > 1:
            raise Pkcs11Error(
                f"{len(found)} tokens match {self.describe()} in PKCS#11 module {module.path}"
                f" ({'; '.join(present)}): set token_label, slot or token_serial"
            )
        return (found[0] if found else None), present


def _serial(token: Any) -> str:
    serial = token.serial
    text = serial.decode("ascii", "replace") if isinstance(serial, bytes) else str(serial)
    return text.strip()


class TokenSession:
    """The logged-in session of one token in this process, shared by every key on it and every
    thread. :meth:`run` calls a function with the session, holding the module's lock."""

    def __init__(self, module: Module, selector: TokenSelector) -> None:
        self.module = module
        self.selector = selector
        self.label: str | None = selector.label
        self.serial: str | None = None
        self.epoch = 0
        """Changes whenever a new session is opened: objects found before must be found again."""
        self._session: Any = None
        self._writable = False
        self._generation = -1
        self._refused: set[str] = set()
        self._opened_with: str | None = None

    def describe(self) -> str:
        if self.label is not None:
            return f"token {self.label!r}"
        return self.selector.describe()

    def run(self, action: Callable[[Any], T], pin: PinSource, *, writable: bool = False) -> T:
        """``action(session)`` with the module's lock held. A session or token that went away is
        opened again once; errors become :mod:`ksef_auth_pkcs11.errors` classes."""
        import pkcs11

        with self.module.lock:
            for attempt in (1, 2):
                session = self._open(pin, writable)
                try:
                    return action(session)
                except pkcs11.PKCS11Error as exc:
                    if not is_gone(exc):
                        raise Pkcs11Error(
                            f"{self.describe()} in PKCS#11 module {self.module.path} failed:"
                            f" {describe_error(exc)}"
                        ) from None
                    log.info("%s: %s; opening the session again", self.describe(), type(exc))
                    self._drop()
                    if attempt == 2:
                        raise TokenNotPresent(
                            f"{self.describe()} stopped answering ({describe_error(exc)}): is it"
                            " still inserted? Put it back and try again"
                        ) from None
            raise AssertionError("unreachable")

    def check_pin(self, pin: PinSource) -> None:
        """When the token is already open in this process, refuse a PIN read from a variable or
        file that is not the one it was opened with (the token itself would not be asked: its
        login belongs to the whole process). A prompt is not asked again."""
        with self.module.lock:
            if self._session is None or self._opened_with is None or pin.ref is None:
                return
            if pin.problem():
                raise Pkcs11Error(f"the PIN of {self.describe()} cannot be read: {pin.problem()}")
            if pin.fingerprint(pin.get(self.describe()), self.serial or "") != self._opened_with:
                raise PinIncorrect(
                    f"the PIN from {pin.describe()} is not the one {self.describe()} was opened"
                    " with in this process: fix it there (the token was not asked again)"
                )

    def close(self) -> None:
        with self.module.lock:
            self._drop()

    # --- internals -------------------------------------------------------------------------------

    def _drop(self) -> None:
        import pkcs11

        session, self._session = self._session, None
        if session is not None and self._generation == self.module.generation:
            try:
                session.close()
            except pkcs11.PKCS11Error:
                pass

    def _open(self, pin: PinSource, writable: bool) -> Any:
        module = self.module
        module.lib()
        if self._session is not None and self._generation != module.generation:
            self._session = None  # the module was initialized again: that session is gone
        if self._session is not None and (self._writable or not writable):
            return self._session
        self._drop()
        token = self.selector.find(module)
        self.label = token.label
        self.serial = _serial(token)
        self._session = self._login(token, pin, writable)
        self._writable = writable
        self._generation = module.generation
        self.epoch += 1
        return self._session

    def _login(self, token: Any, pin: PinSource, writable: bool) -> Any:
        import pkcs11

        flags = token.flags
        if not flags & pkcs11.TokenFlag.LOGIN_REQUIRED and not pin.configured:
            return self._call(lambda: token.open(rw=writable))
        if flags & pkcs11.TokenFlag.USER_PIN_LOCKED:
            raise self._locked()
        if not pin.configured:
            if flags & pkcs11.TokenFlag.PROTECTED_AUTHENTICATION_PATH:
                return self._call(lambda: token.open(rw=writable, user_pin=pkcs11.PROTECTED_AUTH))
            raise Pkcs11Error(
                f'{self.describe()} needs a PIN to sign: set pin = {{ env = "NAME" }} (or'
                ' { file = "path" }), or pin_prompt = true for a terminal'
            )
        secret = pin.get(self.describe())
        fingerprint = pin.fingerprint(secret, self.serial or "")
        if fingerprint in self._refused:
            raise PinIncorrect(
                f"{self.describe()} refused this PIN (from {pin.describe()}) before; it is not"
                " tried again, since each wrong try brings the token closer to locking its PIN:"
                " fix the PIN where it is read from"
            )
        try:
            session = token.open(rw=writable, user_pin=secret.reveal())
            self._opened_with = fingerprint
            return session
        except pkcs11.UserAlreadyLoggedIn:
            return self._call(lambda: token.open(rw=writable))  # another of our sessions is
        except pkcs11.PinLocked:
            raise self._locked() from None
        except (pkcs11.PinIncorrect, pkcs11.PinInvalid, pkcs11.PinLenRange) as exc:
            self._refused.add(fingerprint)
            raise PinIncorrect(
                f"{self.describe()} refused the PIN from {pin.describe()}"
                f" ({describe_error(exc)}){self._tries_left(token)}: fix the PIN there; it is"
                " not tried again in this process"
            ) from None
        except pkcs11.PinExpired:
            raise PinIncorrect(
                f"the PIN of {self.describe()} has expired: change it with the token's tool"
                " (e.g. pkcs11-tool --change-pin), then update it where it is read from"
            ) from None
        except pkcs11.PKCS11Error as exc:
            if is_gone(exc):
                raise TokenNotPresent(
                    f"{self.describe()} went away while logging in ({describe_error(exc)})"
                ) from None
            raise Pkcs11Error(
                f"logging in to {self.describe()} failed: {describe_error(exc)}"
            ) from None

    def _call(self, opener: Callable[[], T]) -> T:
        import pkcs11

        try:
            return opener()
        except pkcs11.PKCS11Error as exc:
            raise Pkcs11Error(
                f"opening a session on {self.describe()} failed: {describe_error(exc)}"
            ) from None

    def _locked(self) -> PinLocked:
        return PinLocked(
            f"the user PIN of {self.describe()} is locked after too many wrong tries: unlock it"
            " with the security officer's PIN or PUK (e.g. pkcs11-tool --unlock-pin --login"
            " --login-type so), then set the right PIN where it is read from"
        )

    def _tries_left(self, token: Any) -> str:
        import pkcs11

        try:
            flags = token.slot.get_token().flags  # read again: a Token keeps the flags it had
        except pkcs11.PKCS11Error:
            return ""
        if flags & pkcs11.TokenFlag.USER_PIN_LOCKED:
            return "; the token has now locked its PIN (unlock it with the SO PIN or PUK)"
        if flags & pkcs11.TokenFlag.USER_PIN_FINAL_TRY:
            return "; one more wrong PIN locks the token"
        if flags & pkcs11.TokenFlag.USER_PIN_COUNT_LOW:
            return "; few tries are left before the token locks its PIN"
        return ""

    def __repr__(self) -> str:
        return f"TokenSession({self.describe()}, module={self.module.path!r})"


def token_session(module_path: str, selector: TokenSelector) -> TokenSession:
    """The process's :class:`TokenSession` for ``selector`` in the module at ``module_path``."""
    module = module_for(module_path)
    with _REGISTRY:
        key = (module_path, selector)
        session = _SESSIONS.get(key)
        if session is None:
            session = _SESSIONS[key] = TokenSession(module, selector)
        return session


def forget_all() -> None:
    """Close every session and finalize every module of this process (tests, shutdown)."""
    with _REGISTRY:
        sessions = list(_SESSIONS.values())
        _SESSIONS.clear()
        modules = list(_MODULES.values())
        _MODULES.clear()
    for session in sessions:
        session.close()
    import pkcs11

    for module in modules:
        with module.lock:
            try:
                pkcs11.unload(module.path)
            except pkcs11.PKCS11Error:
                pass
