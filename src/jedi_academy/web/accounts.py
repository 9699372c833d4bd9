"""Therapists' sign-in: invites, argon2 password hashes, login sessions and the login rate limit.

Secrets never reach the database in the clear: an invite token and a session id are stored as their SHA-256,
passwords as argon2id hashes. Every function here is its own short transaction.
"""

from __future__ import annotations

import hashlib
import re
import secrets
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import TYPE_CHECKING

from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError, VerifyMismatchError
from sqlalchemy import delete, func, select

from jedi_academy.errors import AcademyError
from jedi_academy.store.models import LoginAttempt, Therapist, WebAccount, WebSession

if TYPE_CHECKING:
    from jedi_academy.store import Database

INVITE_DAYS = 7
SESSION_DAYS = 14
ANONYMOUS_HOURS = 24  # a browser that never signs in (its session only holds a CSRF token)
MIN_PASSWORD = 10
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
    if not EMAIL.match(email):
        raise AcademyError(f"{email!r} is not an email address")
    return email


def check_password(password: str) -> None:
    if len(password) < MIN_PASSWORD:
        raise AcademyError(f"a password needs at least {MIN_PASSWORD} characters")
    if len(password) > 1024:
        raise AcademyError("a password may have at most 1024 characters")


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
    check_password(password)
    with database.session() as session:
        account = session.scalars(select(WebAccount).where(WebAccount.invite_sha256 == sha256(token))).first()
        if account is None or account.invite_expires_at is None or _aware(account.invite_expires_at) < now():
            raise AcademyError(
                "this invite link is invalid, used or expired; ask your operator for a new one"
            )
        account.password_hash = _hasher.hash(password)
        account.password_changed_at = now()
        account.invite_sha256 = None
        account.invite_expires_at = None
        return account.therapist_id


def register(database: Database, name: str, email: str, password: str) -> str:
    """Self-registration (when the server allows it): a new therapist with a password."""
    from jedi_academy.sessions import add_therapist

    email = normalise_email(email)
    check_password(password)
    with database.session() as session:
        if session.scalars(select(WebAccount).where(WebAccount.email == email)).first() is not None:
            raise AcademyError("an account with this email exists; sign in instead")
    therapist = add_therapist(database, name)
    with database.session() as session:
        session.add(
            WebAccount(
                therapist_id=therapist["id"],
                email=email,
                password_hash=_hasher.hash(password),
                password_changed_at=now(),
            )
        )
    return therapist["id"]


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
    if stored is None:
        return None
    if _hasher.check_needs_rehash(stored):
        with database.session() as session:
            row = session.get(WebAccount, therapist_id)
            if row is not None:
                row.password_hash = _hasher.hash(password)
    return therapist_id


def change_password(database: Database, therapist_id: str, current: str, new: str) -> None:
    check_password(new)
    with database.session() as session:
        account = session.get(WebAccount, therapist_id)
        stored = account.password_hash if account is not None else None
    try:
        _hasher.verify(stored or _DUMMY_HASH, current)
    except (VerifyMismatchError, VerificationError, InvalidHashError):
        raise AcademyError("the current password is wrong") from None
    with database.session() as session:
        account = session.get(WebAccount, therapist_id)
        assert account is not None
        account.password_hash = _hasher.hash(new)
        account.password_changed_at = now()


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


def new_session(database: Database, therapist_id: str | None = None) -> LoginSession:
    token = secrets.token_urlsafe(32)
    csrf = secrets.token_urlsafe(32)
    lifetime = timedelta(days=SESSION_DAYS) if therapist_id else timedelta(hours=ANONYMOUS_HOURS)
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
        if _aware(row.expires_at) < now():
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


# ---------------------------------------------------------------- rate limit


@dataclass(frozen=True)
class RateLimit:
    per_email: int = 5  # failures per window for one account
    per_address: int = 30  # failures per window from one client address
    window: timedelta = timedelta(minutes=15)


def login_blocked(database: Database, email: str, address: str, limit: RateLimit) -> bool:
    since = now() - limit.window
    with database.session() as session:

        def failures(key: str) -> int:
            return (
                session.scalar(
                    select(func.count())
                    .select_from(LoginAttempt)
                    .where(
                        LoginAttempt.key == key, LoginAttempt.at >= since, LoginAttempt.succeeded.is_(False)
                    )
                )
                or 0
            )

        return (
            failures(f"email:{email.strip().lower()}") >= limit.per_email
            or failures(f"ip:{address}") >= limit.per_address
        )


def record_login(
    database: Database, email: str, address: str, succeeded: bool, limit: RateLimit | None = None
) -> None:
    window = (limit or RateLimit()).window
    with database.session() as session:
        session.execute(delete(LoginAttempt).where(LoginAttempt.at < now() - 2 * window))  # keep it small
        for key in (f"email:{email.strip().lower()[:300]}", f"ip:{address}"):
            if succeeded:
                # a successful sign-in clears the account's failures (not the address's)
                if key.startswith("email:"):
                    session.execute(delete(LoginAttempt).where(LoginAttempt.key == key))
                continue
            session.add(LoginAttempt(key=key, succeeded=False))
