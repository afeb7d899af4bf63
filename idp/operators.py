"""Operators' roles and what each role may do in the console (``/admin``).

Three roles, held by ordinary accounts (an operator signs in like anyone else):

- ``administrator``: everything.
- ``helpdesk``: looks after citizens (create, disable, enable, unlock, temporary passwords,
  end sessions) and reads the rest of the console that concerns them; changes no service,
  department, certificate or key, reads no audit log beyond a citizen's sign-ins.
- ``auditor``: reads everything, changes nothing.

Each console view names one permission and :func:`allowed` decides; the check runs on the
server for every request, whatever the page shows. The first administrator is made with
``onetrip users grant-role USERNAME administrator``.
"""

from __future__ import annotations

from sqlalchemy import delete, select
from sqlalchemy.orm import Session

from config import audit
from config.errors import Refusal
from idp.models import OperatorRole, User

ROLES = ("administrator", "helpdesk", "auditor")

_READ_ALL = frozenset(ROLES)
_CITIZEN_CARE = frozenset({"administrator", "helpdesk"})
_ADMIN = frozenset({"administrator"})
_AUDIT = frozenset({"administrator", "auditor"})

#: permission -> the roles that have it.
PERMISSIONS: dict[str, frozenset[str]] = {
    "overview.read": _READ_ALL,
    "citizens.read": _READ_ALL,
    "citizens.write": _CITIZEN_CARE,  # create, disable, enable, unlock, passwords, sessions
    "citizens.erase": _ADMIN,
    "citizens.export": _ADMIN,
    "services.read": _READ_ALL,
    "services.write": _ADMIN,
    "departments.read": _READ_ALL,
    "departments.write": _ADMIN,
    "pki.read": _READ_ALL,
    "pki.write": _ADMIN,  # issue, revoke
    "keys.read": _READ_ALL,
    "keys.write": _ADMIN,
    "audit.read": _AUDIT,
    "audit.export": _AUDIT,
}


class RoleError(Refusal):
    """A refused role change; the description is fit to show the operator."""


def allowed(roles: set[str] | frozenset[str], permission: str) -> bool:
    """Whether any of ``roles`` has ``permission`` (unknown permissions: nobody)."""
    return bool(PERMISSIONS.get(permission, frozenset()) & set(roles))


def roles_of(session: Session, user_id: int) -> set[str]:
    return set(session.scalars(select(OperatorRole.role).where(OperatorRole.user_id == user_id)))


def operators(session: Session) -> list[tuple[str, str]]:
    """Every (username, role), by username."""
    rows = session.execute(
        select(User.username, OperatorRole.role)
        .join(OperatorRole, OperatorRole.user_id == User.id)
        .order_by(User.username, OperatorRole.role)
    )
    return [tuple(row) for row in rows]


def _check_role(role: str) -> str:
    if role not in ROLES:
        raise RoleError(
            "invalid_request", f"unknown role {role!r}; choose one of {', '.join(ROLES)}"
        )
    return role


def grant_role(session: Session, user: User, role: str, *, actor: str) -> bool:
    """Give ``user`` ``role``; False if it already had it (nothing is written then)."""
    _check_role(role)
    if session.get(OperatorRole, (user.id, role)) is not None:
        return False
    session.add(OperatorRole(user_id=user.id, role=role, granted_by=actor))
    audit.record(session, "operator.grant_role", actor=actor, subject=user.username, role=role)
    return True


def revoke_role(session: Session, user: User, role: str, *, actor: str) -> bool:
    """Take ``role`` from ``user``; False if it did not have it."""
    _check_role(role)
    gone = session.execute(
        delete(OperatorRole).where(OperatorRole.user_id == user.id, OperatorRole.role == role)
    ).rowcount
    if gone:
        audit.record(session, "operator.revoke_role", actor=actor, subject=user.username, role=role)
    return bool(gone)
