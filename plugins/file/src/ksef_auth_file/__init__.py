"""ksef-auth-file: an encrypted session store in files, shared by the processes of one machine.

One file per session in a private directory (0700), each file 0600, written to a temporary file
and renamed into place so a reader never sees half of one. The file name is the SHA-256 of the
store key, and the content is sealed with AES-256-GCM (:mod:`ksef_auth.sealing`). Logins and
refreshes of one session are serialized across processes with ``fcntl.flock`` on a per-session
lock file. POSIX only (Linux, macOS, BSD): on Windows use the ``redis`` or ``memory`` store.

The encryption key follows :mod:`ksef_auth.store_keys`: the ``key`` option, else the
``KSEF_AUTH_STORE_KEY`` environment variable, else a key generated once into ``store.key`` in the
user's state directory (0600; a ``store.key`` that ksef-auth-file 0.1 generated beside the
sessions directory is still used). That last default protects a copy of the sessions directory
alone, not a user who can read both.

``store.rate_limiter()`` shares KSeF's rate limits between the processes of the machine;
``ksef-auth file rekey`` re-seals every session with the newest key after a rotation.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from ksef_auth import Register, hookimpl
from ksef_auth.store_keys import KEY_ENV
from ksef_auth_file.limiter import FileRateLimiter
from ksef_auth_file.store import FileStore, default_path

if TYPE_CHECKING:
    import click

__all__ = ["KEY_ENV", "FileRateLimiter", "FileStore", "default_path"]


@hookimpl
def ksef_auth_register_session_stores(register: Register) -> None:
    register("file", FileStore)


@hookimpl
def ksef_auth_register_commands(cli: click.Group) -> None:
    from ksef_auth_file.cli import file_group

    cli.add_command(file_group)
