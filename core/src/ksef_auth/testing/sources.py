"""The credential source contract as tests: subclass :class:`CredentialSourceContract`.

Every test's docstring is the rule it checks; a failure quotes it.
"""

from __future__ import annotations

import re
import stat
from collections.abc import Callable, Iterator, Mapping
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import attrs
import pytest

from ksef_auth.errors import CredentialError, NotAvailable
from ksef_auth.model import ContextIdentifier, CredentialRequest
from ksef_auth.secret import watch
from ksef_auth.testing.file_reads import files_read
from ksef_auth.testing.stores import violated
from ksef_auth.testing.tokens import NIPS, secrets_of

__all__ = ["CredentialSourceContract", "error_text"]

MIN_SECRET = 8  # shorter strings are too likely to appear in a message by chance
_PEM_ARMOR = re.compile(rb"^(-----[A-Z0-9 ]+-----|[A-Za-z-]+: .*)$")


def error_text(error: BaseException) -> str:
    """Everything a user may see of ``error``: its message, ``repr``, arguments, notes, and the
    errors it was raised from (shown in a traceback unless suppressed with ``from None``)."""
    parts: list[str] = []
    seen: BaseException | None = error
    while seen is not None and len(parts) < 100:
        parts += [str(seen), repr(seen), *map(str, seen.args), *getattr(seen, "__notes__", ())]
        if seen.__cause__ is not None:
            seen = seen.__cause__
        elif seen.__context__ is not None and not seen.__suppress_context__:
            seen = seen.__context__
        else:
            seen = None
    return "\n".join(parts)


def _fragments(data: bytes) -> set[str]:
    """The secret-looking pieces of a secret file: its stripped text and each long line (PEM
    armour and headers excepted). Empty for binary content."""
    try:
        data.decode("utf-8")
    except UnicodeDecodeError:
        return set()
    lines = [line.strip() for line in data.splitlines()]
    found = {
        line.decode("utf-8")
        for line in lines
        if len(line) >= MIN_SECRET and not _PEM_ARMOR.match(line)
    }
    whole = data.strip().decode("utf-8")
    if len(whole) >= MIN_SECRET and not any(_PEM_ARMOR.match(line) for line in lines):
        found.add(whole)
    return found


@contextmanager
def _secrets_made() -> Iterator[set[str]]:
    """Every secret value made (``Secret``, ``note_secret``) in the block."""
    made: set[str] = set()
    stop = watch(made.add)
    try:
        yield made
    finally:
        stop()


@attrs.frozen
class _Damage:
    name: str
    make: Callable[[bytes], bytes]


_DAMAGES = (
    _Damage("two values", lambda b: b.strip() + b" " + b.strip() + b"\n"),
    _Damage("not UTF-8", lambda b: b"\xff\xfe" + b.strip() + b"\n"),
    _Damage("a NUL inside", lambda b: b.strip()[:8] + b"\x00" + b.strip()[8:]),
    _Damage("truncated", lambda b: b[: max(1, len(b) // 2)]),
    _Damage("empty", lambda b: b"\n"),
)


class CredentialSourceContract:
    """Tests every credential source must pass.

    Provide ``source`` (configured so that it has a credential for ``credential_request``) and
    ``unavailable_source`` (configured so that it has none here), ``rotate`` (changes the secret
    ``source`` reads) and ``keyed_source`` (one credential per context); a source that reads
    files lists them in ``secret_files`` and ``public_files``; ``failing_sources`` gives one
    source per error path. Override ``credential_request`` when the source serves another
    environment or signer method.
    """

    # --- fixtures -------------------------------------------------------------------------------

    @pytest.fixture
    def source(self) -> Any:
        """A source with a credential for ``credential_request``."""
        raise NotImplementedError("provide a `source` fixture")

    @pytest.fixture
    def unavailable_source(self) -> Any:
        """A source with nothing for ``credential_request`` here (variable unset, no file)."""
        raise NotImplementedError("provide an `unavailable_source` fixture")

    @pytest.fixture
    def credential_request(self) -> CredentialRequest:
        """The login the sources are asked for: TEST-like loopback environment, NIP 5261040828."""
        return CredentialRequest.for_login(
            "http://127.0.0.1:1/v2", NIPS[0], method="ksef-token", strategy="kit"
        )

    @pytest.fixture
    def rotate(self) -> Callable[[], None] | None:
        """A function that replaces the secret ``source`` reads by another one (writes a new
        token into its file or variable, stores a new certificate...), as an operator rotating
        it would. Return None only for a source whose secret cannot change under it, and say
        why in the fixture's docstring."""
        pytest.fail(
            "provide a `rotate` fixture: a function that replaces the secret `source` reads (or"
            " return None from it for a source whose secret cannot change, saying why)",
            pytrace=False,
        )

    @pytest.fixture
    def keyed_source(self) -> Any:
        """For a source that keeps one credential per context: a source with credentials for
        ``NIPS[0]`` and ``NIPS[1]`` (different ones) and none for ``NIPS[2]``. None for a source
        with one credential for every context."""
        pytest.fail(
            "provide a `keyed_source` fixture: a source with credentials for"
            " ksef_auth.testing.NIPS[0] and NIPS[1] and none for NIPS[2], or return None from"
            " it for a source with one credential for every context",
            pytrace=False,
        )

    @pytest.fixture
    def secret_files(self) -> list[Path]:
        """The files ``source`` reads that hold a secret (a token, a private key, a PKCS#12
        file): the kit changes their permissions and damages their content."""
        return []

    @pytest.fixture
    def public_files(self) -> list[Path]:
        """The files ``source`` reads that hold nothing secret (a certificate, an encrypted
        vault): they may be readable by anyone."""
        return []

    @pytest.fixture
    def failing_sources(self) -> Mapping[str, Any]:
        """One source per error path (``{"wrong password": ..., "damaged key": ...}``), each of
        whose ``load(credential_request)`` must raise a ``CredentialError`` (not
        ``NotAvailable``) without any secret in it."""
        return {}

    # --- loading --------------------------------------------------------------------------------

    def test_load_returns_a_credential_with_a_fingerprint(
        self, source: Any, credential_request: CredentialRequest
    ) -> None:
        """``load(request)`` returns a credential whose fingerprint identifies it (8+ chars)."""
        credential = source.load(credential_request)
        fingerprint = getattr(credential, "fingerprint", None)
        if not isinstance(fingerprint, str) or len(fingerprint) < 8:
            violated(f"the credential's fingerprint is {fingerprint!r}")

    def test_the_same_secret_gives_the_same_fingerprint(
        self, source: Any, credential_request: CredentialRequest
    ) -> None:
        """Loading the same secret twice gives the same fingerprint: sessions are stored under
        it, so a fingerprint that changes at every load would mean a new login every time."""
        first = source.load(credential_request).fingerprint
        if source.load(credential_request).fingerprint != first:
            violated("two loads of an unchanged secret gave different fingerprints")

    def test_unavailable_raises_not_available(
        self, unavailable_source: Any, credential_request: CredentialRequest
    ) -> None:
        """A source with nothing here raises ``NotAvailable``, so a chain moves on."""
        try:
            unavailable_source.load(credential_request)
        except NotAvailable:
            return
        except Exception as exc:
            violated(f"load() raised {type(exc).__name__}, not NotAvailable: {exc}")
        violated("load() of `unavailable_source` returned a credential")

    def test_errors_are_credential_errors(
        self, unavailable_source: Any, credential_request: CredentialRequest
    ) -> None:
        """What ``load`` raises on purpose is a ``CredentialError`` with a message."""
        with pytest.raises(CredentialError) as info:
            unavailable_source.load(credential_request)
        if not str(info.value).strip():
            violated(f"load() raised {type(info.value).__name__} with an empty message")

    def test_no_secret_in_repr_or_errors(
        self, source: Any, credential_request: CredentialRequest
    ) -> None:
        """Neither the credential's nor the source's repr shows the secret."""
        credential = source.load(credential_request)
        for value in secrets_of(credential):
            if value in repr(credential) or value in repr(source):
                violated("repr() of the credential or of the source shows the secret")

    # --- errors ---------------------------------------------------------------------------------

    def test_error_paths_are_credential_errors_without_secrets(
        self,
        source: Any,
        failing_sources: Mapping[str, Any],
        credential_request: CredentialRequest,
        secret_files: list[Path],
        public_files: list[Path],
        tmp_path_factory: pytest.TempPathFactory,
    ) -> None:
        """Each error path (``failing_sources``) raises a ``CredentialError`` that is not
        ``NotAvailable`` (a broken credential stops the chain) and whose message, arguments and
        causes hold no secret: not the token, password or key, nor anything of the files it read
        (other than ``public_files``)."""
        if not failing_sources:
            pytest.skip("no `failing_sources` given")
        known = self._known_secrets(source, credential_request, secret_files)
        temporary = tmp_path_factory.getbasetemp()
        public = {Path(p).resolve() for p in public_files}
        for name, failing in failing_sources.items():
            with _secrets_made() as made, files_read(under=temporary) as read:
                try:
                    failing.load(credential_request)
                except NotAvailable as exc:
                    violated(f"error path {name!r} raised NotAvailable ({exc}): say what is wrong")
                except CredentialError as exc:
                    for path in read - public:  # what it read is as secret as what it loads
                        made |= _fragments(path.read_bytes())
                    self._no_secret(error_text(exc), known | made, f"error path {name!r}")
                    if not str(exc).strip():
                        violated(f"error path {name!r} raised an empty message")
                except Exception as exc:
                    violated(
                        f"error path {name!r} raised {type(exc).__name__}, not a CredentialError"
                    )
                else:
                    violated(f"error path {name!r} loaded a credential")

    def test_damaged_secret_file_is_a_credential_error_without_its_content(
        self,
        source: Any,
        secret_files: list[Path],
        credential_request: CredentialRequest,
    ) -> None:
        """A damaged secret file (two values, not UTF-8, a NUL, truncated, empty) either loads
        or raises a ``CredentialError`` (never another exception) whose message holds nothing
        of the file's content."""
        if not secret_files:
            pytest.skip("the source reads no secret file")
        known = self._known_secrets(source, credential_request, secret_files)
        for path in secret_files:
            original = path.read_bytes()
            try:
                for damage in _DAMAGES:
                    damaged = damage.make(original)
                    _rewrite(path, damaged)
                    where = f"{path.name} with {damage.name}"
                    with _secrets_made() as made:
                        try:
                            source.load(credential_request)
                        except CredentialError as exc:
                            secrets = known | made | _fragments(damaged)
                            self._no_secret(error_text(exc), secrets, where)
                        except Exception as exc:
                            violated(
                                f"load() of {where} raised {type(exc).__name__}, not a"
                                f" CredentialError: {type(exc).__name__}"
                            )
            finally:
                _rewrite(path, original)

    # --- files ----------------------------------------------------------------------------------

    def test_secret_file_open_to_others_is_refused(
        self,
        source: Any,
        secret_files: list[Path],
        credential_request: CredentialRequest,
    ) -> None:
        """A secret file of this user that its group or others may read is refused with a
        ``CredentialError`` naming the file (not ``NotAvailable``: the chain must not move on
        silently); mode 0600 loads. (A file of another user, such as a platform's secret
        mount, is that user's to protect.)"""
        if not secret_files:
            pytest.skip("the source reads no secret file")
        for path in secret_files:
            before = stat.S_IMODE(path.stat().st_mode)
            try:
                for mode in (0o640, 0o604):
                    path.chmod(mode)
                    if stat.S_IMODE(path.stat().st_mode) != mode:
                        pytest.skip(f"this file system does not keep mode {mode:o}")
                    try:
                        source.load(credential_request)
                    except NotAvailable as exc:
                        violated(
                            f"{path.name} with mode {mode:o} was treated as not available ({exc})"
                        )
                    except CredentialError as exc:
                        if str(path) not in str(exc) and path.name not in str(exc):
                            violated(
                                f"the refusal of {path} (mode {mode:o}) does not name it: {exc}"
                            )
                    else:
                        violated(f"{path} with mode {mode:o} was read")
                path.chmod(0o600)
                source.load(credential_request)
            finally:
                path.chmod(before)

    def test_every_file_read_is_declared(
        self,
        source: Any,
        secret_files: list[Path],
        public_files: list[Path],
        credential_request: CredentialRequest,
        tmp_path_factory: pytest.TempPathFactory,
    ) -> None:
        """Every file (under the test's temporary folders) that ``load`` reads is listed in
        ``secret_files`` (it holds a secret: the kit checks that permissions are enforced) or
        ``public_files``."""
        declared = {Path(p).resolve() for p in [*secret_files, *public_files]}
        with files_read(under=tmp_path_factory.getbasetemp()) as read:
            source.load(credential_request)
        undeclared = sorted(str(p) for p in read - declared)
        if undeclared:
            violated(
                f"load() read {', '.join(undeclared)}, listed in neither `secret_files` nor"
                " `public_files`"
            )

    # --- change ---------------------------------------------------------------------------------

    def test_a_rotated_secret_is_picked_up(
        self,
        source: Any,
        rotate: Callable[[], None] | None,
        credential_request: CredentialRequest,
    ) -> None:
        """The source reads its secret again at each ``load``: after the secret is rotated, the
        next load returns the new one (with a new fingerprint), never a cached old one."""
        if rotate is None:
            pytest.skip("the source's secret cannot change (`rotate` is None)")
        before = source.load(credential_request)
        rotate()
        after = source.load(credential_request)
        if after.fingerprint == before.fingerprint or (
            secrets_of(before) and secrets_of(before) == secrets_of(after)
        ):
            violated("after the secret was rotated, load() still returned the old credential")

    def test_each_context_gets_its_own_credential(
        self, keyed_source: Any, credential_request: CredentialRequest
    ) -> None:
        """A source that keeps one credential per context gives each context its own, whatever
        it was asked before: the source serves every context of a strategy and must take the
        context from the request, never remember it."""
        if keyed_source is None:
            pytest.skip("the source has one credential for every context (`keyed_source` None)")
        first = keyed_source.load(_for(credential_request, NIPS[0]))
        second = keyed_source.load(_for(credential_request, NIPS[1]))
        again = keyed_source.load(_for(credential_request, NIPS[0]))
        if first.fingerprint == second.fingerprint:
            violated(f"NIP {NIPS[0]} and NIP {NIPS[1]} were given the same credential")
        if again.fingerprint != first.fingerprint:
            violated(f"NIP {NIPS[0]} got another credential after NIP {NIPS[1]} was loaded")

    def test_a_context_without_a_credential_is_not_available(
        self, keyed_source: Any, credential_request: CredentialRequest
    ) -> None:
        """A source that keeps one credential per context raises ``NotAvailable`` for a context
        it has none for, even right after serving another context: never a neighbour's."""
        if keyed_source is None:
            pytest.skip("the source has one credential for every context (`keyed_source` None)")
        keyed_source.load(_for(credential_request, NIPS[0]))
        try:
            keyed_source.load(_for(credential_request, NIPS[2]))
        except NotAvailable:
            return
        except Exception as exc:
            violated(f"NIP {NIPS[2]} (no credential) raised {type(exc).__name__}: {exc}")
        violated(f"NIP {NIPS[2]}, for which the source has no credential, was given one")

    # --- helpers --------------------------------------------------------------------------------

    def _known_secrets(
        self, source: Any, request: CredentialRequest, secret_files: list[Path]
    ) -> set[str]:
        with _secrets_made() as made:
            credential = source.load(request)
        found = set(secrets_of(credential)) | made
        for path in secret_files:
            found |= _fragments(path.read_bytes())
        return {s for s in found if len(s) >= MIN_SECRET}

    def _no_secret(self, text: str, secrets: set[str], where: str) -> None:
        for secret in secrets:
            if len(secret) >= MIN_SECRET and secret in text:
                shown = text.replace(secret, "<the secret>")
                violated(f"the error of {where} holds a secret: {shown}")


def _for(request: CredentialRequest, nip: str) -> CredentialRequest:
    return attrs.evolve(request, context=ContextIdentifier.nip(nip))


def _rewrite(path: Path, data: bytes) -> None:
    """Replace the content of ``path`` keeping its mode (as an editor saving it would)."""
    mode = stat.S_IMODE(path.stat().st_mode)
    path.write_bytes(data)
    path.chmod(mode)
