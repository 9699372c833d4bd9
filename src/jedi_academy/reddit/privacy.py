"""Privacy on the way in: keyed pseudonyms for authors and comment ids (scrubbing bodies is in
:mod:`jedi_academy.reddit.scrubbing`).

A plain hash of a username can be reversed by hashing a list of usernames; an HMAC cannot without the key.
The key is created once per data directory; keep it out of anything you share, and delete it when the study
ends to make the pseudonyms unlinkable for good.
"""

from __future__ import annotations

import hashlib
import hmac
import os
import secrets
from pathlib import Path
from typing import TYPE_CHECKING

from jedi_academy.errors import AcademyError
from jedi_academy.reddit.private import private_dir
from jedi_academy.reddit.scrubbing import scrub, unescape_reddit

__all__ = ["Pseudonymizer", "load_or_create_secret", "scrub", "secret_path", "unescape_reddit"]

if TYPE_CHECKING:
    from jedi_academy.config import Settings

SECRET_RELPATH = ("secrets", "reddit-pseudonym.key")
PSEUDONYM_HEX_CHARS = 32  # 128 bits: collisions are not a concern at Reddit's scale
COMMENT_ID_HEX_CHARS = 24  # 96 bits: billions of comments without a collision
DELETED_AUTHORS = frozenset({"[deleted]", "[removed]", ""})


def secret_path(settings: Settings) -> Path:
    """The key file: the ``pseudonym_key_file`` setting, else one inside the data directory."""
    return settings.pseudonym_key_file or settings.path(*SECRET_RELPATH)


def load_or_create_secret(settings: Settings) -> bytes:
    """The data directory's pseudonymisation key, created (random, 256 bits, mode 0600, in a 0700 folder)
    on first use. An existing key that others may read is refused: it may have been copied already.
    A key named by the ``pseudonym_key_file`` setting is never created: a missing one is an error, since a
    fresh random key in its place would silently change every pseudonym."""
    path = secret_path(settings)
    if settings.pseudonym_key_file is not None and not path.is_file():
        raise AcademyError(
            f"the pseudonymisation key {path} (setting pseudonym_key_file) does not exist",
            "create it with `python -c 'import secrets; print(secrets.token_hex(32))' > KEY; chmod 600 KEY`,"
            " or unset pseudonym_key_file to use one inside the data directory",
        )
    if not path.exists():
        private_dir(path.parent)
        try:
            fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        except FileExistsError:
            pass  # another process created it first: use theirs
        else:
            with os.fdopen(fd, "w", encoding="ascii") as handle:
                handle.write(secrets.token_hex(32) + "\n")
    mode = path.stat().st_mode & 0o777
    if mode & 0o077:
        raise AcademyError(
            f"the pseudonymisation key {path} can be read by others (mode {mode:04o})",
            f"make it private with `chmod 600 {path}`, and consider whether it was copied",
        )
    try:
        key = bytes.fromhex(path.read_text(encoding="ascii").strip())
    except (OSError, ValueError) as exc:
        raise AcademyError(
            f"cannot read the pseudonymisation key {path}: {exc}",
            "restore the file from backup; deleting it changes every pseudonym",
        ) from exc
    if len(key) < 16:
        raise AcademyError(
            f"the pseudonymisation key {path} is too short", "it must hold at least 16 hex bytes"
        )
    return key


class Pseudonymizer:
    def __init__(self, key: bytes) -> None:
        self._key = key

    def author(self, name: object) -> str | None:
        """A stable pseudonym for a username; deleted or missing authors become ``None`` (never one shared
        pseudo-user). Reddit usernames are case-insensitive, so case does not change the pseudonym."""
        if not isinstance(name, str) or name.strip() in DELETED_AUTHORS:
            return None
        message = b"reddit-author\0" + name.strip().lower().encode("utf-8")
        return hmac.digest(self._key, message, "sha256").hex()[:PSEUDONYM_HEX_CHARS]

    def comment_id(self, comment_id: str) -> str:
        """A stable pseudonym for a Reddit comment id (the id would lead straight to the comment and its
        author). With the key, ``comment_id(original)`` finds a comment again, e.g. to honour a removal
        request; without it, the pseudonym cannot be mapped back."""
        message = b"reddit-comment\0" + comment_id.strip().lower().encode("utf-8")
        return hmac.digest(self._key, message, "sha256").hex()[:COMMENT_ID_HEX_CHARS]

    def fingerprint(self) -> str:
        """Identifies the key (not reversible to it), so a resumed run can check it uses the same one."""
        return hmac.new(self._key, b"fingerprint", hashlib.sha256).hexdigest()[:16]

    def body_digest(self, normalised_body: str) -> bytes:
        """Keyed digest for duplicate detection: checkpoints hold nothing that confirms a guessed text."""
        return hashlib.blake2b(normalised_body.encode("utf-8"), digest_size=16, key=self._key[:64]).digest()
