"""Privacy on the way in: keyed pseudonyms for authors and typed placeholders for identifiers in bodies.

A plain hash of a username can be reversed by hashing a list of usernames; an HMAC cannot without the key.
The key is created once per data directory; keep it out of anything you share, and delete it when the study
ends to make the pseudonyms unlinkable for good.
"""

from __future__ import annotations

import hashlib
import hmac
import os
import re
import secrets
from pathlib import Path
from typing import TYPE_CHECKING

from jedi_academy.errors import AcademyError

if TYPE_CHECKING:
    from jedi_academy.config import Settings

SECRET_RELPATH = ("secrets", "reddit-pseudonym.key")
PSEUDONYM_HEX_CHARS = 32  # 128 bits: collisions are not a concern at Reddit's scale
DELETED_AUTHORS = frozenset({"[deleted]", "[removed]", ""})


def secret_path(settings: Settings) -> Path:
    return settings.path(*SECRET_RELPATH)


def load_or_create_secret(settings: Settings) -> bytes:
    """The data directory's pseudonymisation key, created (random, 256 bits, mode 0600) on first use."""
    path = secret_path(settings)
    if not path.exists():
        path.parent.mkdir(parents=True, exist_ok=True)
        try:
            fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        except FileExistsError:
            pass  # another process created it first: use theirs
        else:
            with os.fdopen(fd, "w", encoding="ascii") as handle:
                handle.write(secrets.token_hex(32) + "\n")
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

    def fingerprint(self) -> str:
        """Identifies the key (not reversible to it), so a resumed run can check it uses the same one."""
        return hmac.new(self._key, b"fingerprint", hashlib.sha256).hexdigest()[:16]

    def body_digest(self, normalised_body: str) -> bytes:
        """Keyed digest for duplicate detection: checkpoints hold nothing that confirms a guessed text."""
        return hashlib.blake2b(normalised_body.encode("utf-8"), digest_size=16, key=self._key[:64]).digest()


# Order matters: e-mail addresses before URLs (their domain would look like one), URLs before Reddit
# mentions (reddit.com/r/ADHD/... is one URL, not a URL plus a mention).
_EMAIL = re.compile(r"(?<![\w.+-])[A-Za-z0-9._%+-]+@[A-Za-z0-9-]+(?:\.[A-Za-z0-9-]+)*\.[A-Za-z]{2,}\b")
_TLDS = "com|org|net|edu|gov|io|co|uk|de|ca|au|info|me|ly|gl|us|tv|be|it|fr|nl|ru|jp|in|gg|tk|to|fm|am"
_URL = re.compile(
    r"(?:\b(?:https?|ftp)://|\bwww\.)[^\s<>\"'\])]+"
    rf"|\b[A-Za-z0-9-]+(?:\.[A-Za-z0-9-]+)*\.(?:{_TLDS})\b(?:/[^\s<>\"'\])]*)?",
    re.IGNORECASE,
)
_USER = re.compile(r"(?<![\w/])/?(?:u|user)/[A-Za-z0-9_-]{2,20}\b", re.IGNORECASE)
_SUBREDDIT = re.compile(r"(?<![\w/])/?r/[A-Za-z0-9][A-Za-z0-9_]{1,20}\b", re.IGNORECASE)
_PHONE = re.compile(
    r"(?<![\w+])(?:"
    r"\+\d{1,3}[ .-]?(?:\(\d{1,4}\)[ .-]?)?\d{1,4}(?:[ .-]?\d{2,4}){1,4}"  # international, with +
    r"|(?:1[ .-])?(?:\(\d{3}\) ?|\d{3}[ .-])\d{3}[ .-]\d{4}"  # North American
    r"|0\d{2,4}[ -]?\d{3,4}[ -]?\d{3,4}"  # national format with a trunk 0 (UK, EU, AU)
    r")(?![\w])"
)
# Cheap tests that rule out most bodies before the costlier patterns run.
_URL_HINT = re.compile(rf"://|www\.|\.(?:{_TLDS})\b", re.IGNORECASE)
_PHONE_HINT = re.compile(r"\d[ .()-]?\d[ .()-]?\d")
_TRAILING_PUNCTUATION = ".,;:!?"
_ENTITIES = (("&lt;", "<"), ("&gt;", ">"), ("&amp;", "&"))


def _url(match: re.Match[str]) -> str:
    text = match.group(0)
    trimmed = text.rstrip(_TRAILING_PUNCTUATION)
    return "[URL]" + text[len(trimmed) :]


def _phone(match: re.Match[str]) -> str:
    digits = sum(ch.isdigit() for ch in match.group(0))
    return "[PHONE]" if 9 <= digits <= 15 else match.group(0)


def unescape_reddit(text: str) -> str:
    """Reddit's API escaped exactly these three characters in comment bodies."""
    if "&" not in text:
        return text
    for entity, char in _ENTITIES:
        text = text.replace(entity, char)
    return text


def scrub(text: str) -> str:
    """Replace e-mail addresses, URLs, u/ and /u/ usernames, r/ subreddit mentions and phone numbers with
    ``[EMAIL]``, ``[URL]``, ``[USER]``, ``[SUBREDDIT]`` and ``[PHONE]``. Names, places and other
    quasi-identifiers in free text are not caught: review anything before publishing it."""
    text = unescape_reddit(text)
    if "@" in text:
        text = _EMAIL.sub("[EMAIL]", text)
    if _URL_HINT.search(text):
        text = _URL.sub(_url, text)
    if "/" in text:
        text = _USER.sub("[USER]", text)
        text = _SUBREDDIT.sub("[SUBREDDIT]", text)
    if _PHONE_HINT.search(text):
        text = _PHONE.sub(_phone, text)
    return text
