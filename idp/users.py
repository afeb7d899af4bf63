"""Citizens' accounts: creation, lookup, password checks and every change of a password."""

from __future__ import annotations

import re
import secrets

from sqlalchemy import bindparam, exists, select
from sqlalchemy.orm import Session

from config import audit
from config.errors import Refusal
from config.settings import Settings
from idp.clients import secret_digest
from idp.models import ErasedAccount, TotpCredential, User
from idp.passwords import WEAKNESS, Passwords, weakness

USERNAME = re.compile(r"^[a-z0-9][a-z0-9._-]{1,62}[a-z0-9]$")
EMAIL = re.compile(r"^[^@\s]+@[^@\s]+\.[^@\s]+$")
MIN_PASSWORD = 8
MAX_PASSWORD = 1024


class UserError(Refusal):
    """A refused account change; the description is fit to show the operator."""


def validate_password(password: str, related: tuple[str, ...] = ()) -> None:
    """Length bounds, then zxcvbn's estimate (issue 13), which knows ``related``: the
    account's username, name and email."""
    if len(password) < MIN_PASSWORD:
        raise UserError("invalid_request", f"password must have at least {MIN_PASSWORD} characters")
    if len(password) > MAX_PASSWORD:
        raise UserError("invalid_request", f"password must have at most {MAX_PASSWORD} characters")
    if reason := weakness(password, related):
        raise UserError("invalid_request", f"password is too easy to guess: {WEAKNESS[reason]}")


def create_user(
    session: Session,
    passwords: Passwords,
    username: str,
    *,
    name: str,
    email: str,
    password: str,
    phone_number: str | None = None,
    actor: str = "cli",
    settings: Settings | None = None,
) -> User:
    """A new account. With ``settings``, a username that belonged to an erased account is
    refused (the console and the CLI pass them; see :func:`erased_name`)."""
    username = username.strip().lower()
    if not USERNAME.match(username):
        raise UserError(
            "invalid_request", "username must be 3-64 characters of a-z, 0-9, '.', '_' or '-'"
        )
    if not name.strip():
        raise UserError("invalid_request", "name must not be empty")
    if not EMAIL.match(email):
        raise UserError("invalid_request", f"not an email address: {email!r}")
    validate_password(password, (username, name, email))
    if session.scalar(select(User.id).where(User.username == username)) is not None:
        raise UserError("invalid_request", f"user {username!r} already exists")
    if settings is not None and session.get(ErasedAccount, erased_name(settings, username)):
        raise UserError(
            "invalid_request", f"the username {username!r} belonged to an erased account"
        )
    user = User(
        username=username,
        public_sub=secrets.token_urlsafe(16),
        name=name.strip(),
        email=email,
        email_verified=False,
        phone_number=phone_number,
        password_hash=passwords.hash(password),
        always_face=False,
        disabled=False,
    )
    session.add(user)
    session.flush()
    audit.record(session, "user.create", actor=actor, subject=username)
    return user


def find_user(session: Session, username: str) -> User | None:
    return session.scalar(select(User).where(User.username == username.strip().lower()))


#: What a password login needs of an account, read on every attempt as one Core row
#: (``Database.first``), with whether a second step must follow the password (idp/login_steps.py).
SIGN_IN_COLUMNS = select(
    User.id,
    User.username,
    User.password_hash,
    User.disabled,
    User.password_must_change,
    exists().where(TotpCredential.user_id == User.id).label("has_totp"),
).where(User.username == bindparam("username"))


def get_user(session: Session, username: str) -> User:
    user = find_user(session, username)
    if user is None:
        raise UserError("invalid_request", f"no user {username!r}")
    return user


def erased_name(settings: Settings, username: str) -> str:
    """The tombstone of ``username``: a keyed hash, so the name itself is not kept."""
    return secret_digest(settings, f"erased-username:{username.strip().lower()}")


def set_password(
    session: Session,
    passwords: Passwords,
    user: User,
    password: str,
    *,
    actor: str,
    temporary: bool = False,
    ip: str | None = None,
) -> None:
    """Every password change goes through here: the citizen's own, a forced change at
    login, an operator's temporary password and the CLI's. ``temporary`` makes the next
    login ask for a new one. The strength rules live in :func:`validate_password`."""
    validate_password(password, (user.username, user.name, user.email))
    user.password_hash = passwords.hash(password)
    user.password_must_change = temporary
    audit.record(
        session,
        "user.password.temporary" if temporary else "user.password.change",
        actor=actor,
        subject=user.username,
        ip=ip,
    )
