"""Citizens' accounts: creation, lookup, password checks."""

from __future__ import annotations

import re
import secrets

from sqlalchemy import bindparam, select
from sqlalchemy.orm import Session

from config import audit
from idp.models import User
from idp.passwords import Passwords

USERNAME = re.compile(r"^[a-z0-9][a-z0-9._-]{1,62}[a-z0-9]$")
EMAIL = re.compile(r"^[^@\s]+@[^@\s]+\.[^@\s]+$")
MIN_PASSWORD = 8
MAX_PASSWORD = 1024


class UserError(ValueError):
    """A refused account change; the message is fit to show the operator."""


def validate_password(password: str) -> None:
    if len(password) < MIN_PASSWORD:
        raise UserError(f"password must have at least {MIN_PASSWORD} characters")
    if len(password) > MAX_PASSWORD:
        raise UserError(f"password must have at most {MAX_PASSWORD} characters")


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
) -> User:
    username = username.strip().lower()
    if not USERNAME.match(username):
        raise UserError("username must be 3-64 characters of a-z, 0-9, '.', '_' or '-'")
    if not name.strip():
        raise UserError("name must not be empty")
    if not EMAIL.match(email):
        raise UserError(f"not an email address: {email!r}")
    validate_password(password)
    if session.scalar(select(User.id).where(User.username == username)) is not None:
        raise UserError(f"user {username!r} already exists")
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


#: What a password login needs of an account, read on every attempt (see ``RowReader``).
SIGN_IN_COLUMNS = select(User.id, User.username, User.password_hash, User.disabled).where(
    User.username == bindparam("username")
)


def get_user(session: Session, username: str) -> User:
    user = find_user(session, username)
    if user is None:
        raise UserError(f"no user {username!r}")
    return user
