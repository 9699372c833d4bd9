"""Therapists' sign-in: invites, argon2 password hashes, login sessions and the login rate limit.

Secrets never reach the database in the clear: an invite token and a session id are stored as their SHA-256,
passwords as argon2id hashes. Every function here is its own short transaction.
"""

from __future__ import annotations

import hashlib
import math
import re
import secrets
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import TYPE_CHECKING, Any

from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError, VerifyMismatchError
from sqlalchemy import delete, func, select

from jedi_academy.errors import AcademyError
from jedi_academy.store.models import LoginAttempt, Therapist, WebAccount, WebSession

if TYPE_CHECKING:
    from jedi_academy.store import Database

INVITE_DAYS = 7
SESSION_DAYS = 14
ANONYMOUS_HOURS = 24  # the signed CSRF cookie of a browser that has not signed in (nothing is stored for it)
MIN_PASSWORD = 10
MAX_PASSWORD = 1024
MIN_PASSWORD_SCORE = 3  # zxcvbn's 0-4: 3 is "safely unguessable" (about 10^8 guesses or more)
MAX_EMAIL = 320  # RFC 5321's path limit
MAX_NAME = 200
EMAIL = re.compile(r"^[^@\s<>\"']+@[^@\s<>\"']+\.[^@\s<>\"']+$")

_hasher = PasswordHasher()
# Verifying against this keeps a wrong email as slow as a wrong password (no account enumeration by timing).
_DUMMY_HASH = _hasher.hash(secrets.token_hex(16))


def sha256(text: str) -> str:
    return hashlib.sha256(text.encode()).hexdigest()


def now() -> datetime:
    return datetime.now(UTC)


def _aware(moment: datetime) -> datetime:
    """SQLite hands back naive datetimes; everything stored here is UTC."""
    return moment if moment.tzinfo is not None else moment.replace(tzinfo=UTC)


def normalise_email(email: str) -> str:
    email = email.strip().lower()
    if len(email) > MAX_EMAIL:
        raise AcademyError(f"an email address has at most {MAX_EMAIL} characters")
    if not EMAIL.match(email):
        raise AcademyError(f"{email!r} is not an email address")
    return email


def check_password(password: str, *related: str) -> None:
    """Length bounds, then zxcvbn's estimate (its dictionaries hold the common-password lists and English
    words; ``related`` are the account's own name and email, which a password must not lean on)."""
    if len(password) < MIN_PASSWORD:
        raise AcademyError(f"a password needs at least {MIN_PASSWORD} characters")
    if len(password) > MAX_PASSWORD:
        raise AcademyError(f"a password may have at most {MAX_PASSWORD} characters")
    from zxcvbn import zxcvbn

    # zxcvbn's time grows with the length; the first 100 characters decide whether it is guessable
    own_words = {piece for text in related if text for piece in (text, text.split("@")[0], *text.split())}
    verdict = zxcvbn(password[:100], user_inputs=sorted(own_words))
    if verdict["score"] < MIN_PASSWORD_SCORE:
        advice = verdict["feedback"].get("warning") or "it is too easy to guess"
        tips = " ".join(verdict["feedback"].get("suggestions") or [])
        raise AcademyError(f"this password is too easy to guess: {advice.rstrip('.')}", tips or None)


def check_name(name: str) -> str:
    name = " ".join(name.split())
    if not name:
        raise AcademyError("a name is needed")
    if len(name) > MAX_NAME:
        raise AcademyError(f"a name may have at most {MAX_NAME} characters")
    return name


# ---------------------------------------------------------------- accounts and invites


def email_taken(database: Database, email: str) -> bool:
    with database.session() as session:
        found = session.scalars(select(WebAccount).where(WebAccount.email == normalise_email(email))).first()
        return found is not None


def account_email(database: Database, therapist: str) -> tuple[str, str, str | None]:
    """(id, name, sign-in email or None) of a therapist named by name or id (``academy invite``)."""
    from jedi_academy.sessions.records import get_therapist

    with database.session() as session:
        row = get_therapist(session, therapist)
        account = session.get(WebAccount, row.id)
        return row.id, row.name, account.email if account is not None else None


def invite(database: Database, therapist_id: str, email: str) -> str:
    """Create (or renew) the therapist's account with a one-time invite; returns the invite token."""
    email = normalise_email(email)
    token = secrets.token_urlsafe(32)
    with database.session() as session:
        if session.get(Therapist, therapist_id) is None:
            raise AcademyError(f"unknown therapist {therapist_id}")
        taken = session.scalars(select(WebAccount).where(WebAccount.email == email)).first()
        if taken is not None and taken.therapist_id != therapist_id:
            raise AcademyError(f"the email {email} belongs to another therapist")
        account = session.get(WebAccount, therapist_id)
        if account is None:
            account = WebAccount(therapist_id=therapist_id, email=email)
            session.add(account)
        account.email = email
        account.invite_sha256 = sha256(token)
        account.invite_expires_at = now() + timedelta(days=INVITE_DAYS)
    return token


def invited_account(database: Database, token: str) -> tuple[str, str] | None:
    """(therapist name, email) of a valid, unused invite."""
    with database.session() as session:
        account = session.scalars(select(WebAccount).where(WebAccount.invite_sha256 == sha256(token))).first()
        if account is None or account.invite_expires_at is None or _aware(account.invite_expires_at) < now():
            return None
        therapist = session.get(Therapist, account.therapist_id)
        assert therapist is not None
        return therapist.name, account.email


def accept_invite(database: Database, token: str, password: str) -> str:
    """Set the first password; the invite is spent. Returns the therapist id."""
    with database.session() as session:
        account = session.scalars(select(WebAccount).where(WebAccount.invite_sha256 == sha256(token))).first()
        if account is None or account.invite_expires_at is None or _aware(account.invite_expires_at) < now():
            raise AcademyError(
                "this invite link is invalid, used or expired; ask your operator for a new one"
            )
        therapist = session.get(Therapist, account.therapist_id)
        check_password(password, account.email, therapist.name if therapist else "")
        account.password_hash = _hasher.hash(password)
        account.password_changed_at = now()
        account.invite_sha256 = None
        account.invite_expires_at = None
        return account.therapist_id


def register(database: Database, name: str, email: str, password: str) -> str | None:
    """Self-registration (when the server allows it): a new therapist with a password; None, after the same
    work, when the email already has an account (the caller answers both alike: no account enumeration)."""
    from jedi_academy.sessions import add_therapist

    name = check_name(name)
    email = normalise_email(email)
    check_password(password, name, email)
    password_hash = _hasher.hash(password)
    with database.session() as session:
        if session.scalars(select(WebAccount).where(WebAccount.email == email)).first() is not None:
            return None
    therapist = add_therapist(database, name)
    with database.session() as session:
        session.add(
            WebAccount(
                therapist_id=therapist.id,
                email=email,
                password_hash=password_hash,
                password_changed_at=now(),
            )
        )
    return therapist.id


def authenticate(database: Database, email: str, password: str) -> str | None:
    """The therapist id when the password matches, else None (same work either way)."""
    email = email.strip().lower()
    with database.session() as session:
        account = session.scalars(select(WebAccount).where(WebAccount.email == email)).first()
        stored = account.password_hash if account is not None else None
        therapist_id = account.therapist_id if account is not None else None
    try:
        _hasher.verify(stored or _DUMMY_HASH, password)
    except (VerifyMismatchError, VerificationError, InvalidHashError):
        return None
    if stored is None or _disabled(database, therapist_id):
        return None
    if _hasher.check_needs_rehash(stored):
        with database.session() as session:
            row = session.get(WebAccount, therapist_id)
            if row is not None:
                row.password_hash = _hasher.hash(password)
    return therapist_id


class WrongPassword(AcademyError):
    """The current password given to change it was wrong (counted by the caller's throttle)."""


def verify_current_password(database: Database, therapist_id: str, current: str) -> None:
    """Raises WrongPassword unless ``current`` is the account's password (a dummy hash is verified when there
    is no account, so both cases take the same time)."""
    with database.session() as session:
        account = session.get(WebAccount, therapist_id)
        stored = account.password_hash if account is not None else None
    try:
        _hasher.verify(stored or _DUMMY_HASH, current)
    except (VerifyMismatchError, VerificationError, InvalidHashError):
        raise WrongPassword("the current password is wrong") from None


def change_password(database: Database, therapist_id: str, current: str, new: str) -> None:
    with database.session() as session:
        account = session.get(WebAccount, therapist_id)
        email = account.email if account is not None else ""
    check_password(new, email, therapist_name(database, therapist_id))
    verify_current_password(database, therapist_id, current)
    with database.session() as session:
        account = session.get(WebAccount, therapist_id)
        assert account is not None
        account.password_hash = _hasher.hash(new)
        account.password_changed_at = now()


def _disabled(database: Database, therapist_id: str | None) -> bool:
    """A disabled therapist (`academy therapist disable`) cannot sign in."""
    with database.session() as session:
        row = session.get(Therapist, therapist_id) if therapist_id else None
        return row is not None and row.disabled_at is not None


def therapist_name(database: Database, therapist_id: str) -> str:
    with database.session() as session:
        row = session.get(Therapist, therapist_id)
        return row.name if row is not None else "?"


# ---------------------------------------------------------------- login sessions


@dataclass(frozen=True)
class LoginSession:
    token: str  # the raw id: only ever in the signed cookie
    therapist_id: str | None
    csrf_token: str


def new_session(database: Database, therapist_id: str) -> LoginSession:
    """A signed-in browser's session (anonymous visitors have none: see the web app's CSRF cookie)."""
    token = secrets.token_urlsafe(32)
    csrf = secrets.token_urlsafe(32)
    lifetime = timedelta(days=SESSION_DAYS)
    with database.session() as session:
        session.execute(delete(WebSession).where(WebSession.expires_at < now()))
        session.add(
            WebSession(
                id_sha256=sha256(token),
                therapist_id=therapist_id,
                csrf_token=csrf,
                expires_at=now() + lifetime,
            )
        )
    return LoginSession(token, therapist_id, csrf)


def load_session(database: Database, token: str) -> LoginSession | None:
    with database.session() as session:
        row = session.get(WebSession, sha256(token))
        if row is None:
            return None
        therapist = session.get(Therapist, row.therapist_id) if row.therapist_id else None
        if _aware(row.expires_at) < now() or (therapist is not None and therapist.disabled_at is not None):
            session.delete(row)
            return None
        return LoginSession(token, row.therapist_id, row.csrf_token)


def drop_session(database: Database, token: str) -> None:
    with database.session() as session:
        session.execute(delete(WebSession).where(WebSession.id_sha256 == sha256(token)))


def drop_other_sessions(database: Database, therapist_id: str, keep: str) -> None:
    """After a password change every other browser signed in as this therapist is signed out."""
    with database.session() as session:
        session.execute(
            delete(WebSession).where(
                WebSession.therapist_id == therapist_id, WebSession.id_sha256 != sha256(keep)
            )
        )


# ---------------------------------------------------------------- throttling


@dataclass(frozen=True)
class RateLimit:
    """Progressive delays, as OWASP recommends over lockouts: after a few free failures each further one
    doubles the wait before the next try (up to ``max_delay_s``), so guessing is slow while the owner, who
    knows the password, waits at most ``max_delay_s`` and is never locked out."""

    free_per_account: int = 3  # failed sign-ins (or current-password checks) for one account
    free_per_address: int = 20  # failures from one client address, over all accounts
    max_delay_s: int = 60
    window: timedelta = timedelta(minutes=15)
    registrations_per_address: int = 5  # per window


def _delay(failures: int, free: int, limit: RateLimit) -> float:
    if failures < free:
        return 0.0
    return float(min(2 ** (failures - free + 1), limit.max_delay_s))


def _failures(session: Any, key: str, since: datetime) -> tuple[int, datetime | None]:
    count, last = session.execute(
        select(func.count(), func.max(LoginAttempt.at)).where(
            LoginAttempt.key == key, LoginAttempt.at >= since, LoginAttempt.succeeded.is_(False)
        )
    ).one()
    return int(count or 0), _aware(last) if last is not None else None


def wait_seconds(database: Database, account_key: str, address: str, limit: RateLimit) -> int:
    """Seconds before ``account_key`` (``email:…`` or ``password:…``) may be tried again from ``address``."""
    since = now() - limit.window
    wait = 0.0
    with database.session() as session:
        for key, free in ((account_key, limit.free_per_account), (f"ip:{address}", limit.free_per_address)):
            count, last = _failures(session, key, since)
            if last is not None:
                ready = last + timedelta(seconds=_delay(count, free, limit))
                wait = max(wait, (ready - now()).total_seconds())
    return math.ceil(wait) if wait > 0 else 0


def record_attempt(
    database: Database, account_key: str, address: str, succeeded: bool, limit: RateLimit
) -> None:
    with database.session() as session:
        old = now() - 2 * limit.window
        session.execute(delete(LoginAttempt).where(LoginAttempt.at < old))  # keep the table small
        if succeeded:  # a success clears the account's failures (not the address's)
            session.execute(delete(LoginAttempt).where(LoginAttempt.key == account_key))
            return
        session.add(LoginAttempt(key=account_key, succeeded=False))
        session.add(LoginAttempt(key=f"ip:{address}", succeeded=False))


def login_key(email: str) -> str:
    return f"email:{email.strip().lower()[:MAX_EMAIL]}"


def password_key(therapist_id: str) -> str:
    return f"password:{therapist_id}"


def registration_allowed(database: Database, address: str, limit: RateLimit) -> bool:
    """Counts this registration attempt from ``address``; False once the window's allowance is spent."""
    key = f"register:{address}"
    with database.session() as session:
        count, _ = _failures(session, key, now() - limit.window)
        if count >= limit.registrations_per_address:
            return False
        session.add(LoginAttempt(key=key, succeeded=False))
    return True
