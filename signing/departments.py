"""Departments: who seals, with which certificate, and which officers may sign for them.

Creating a department generates its key in custody and has OneTrip's CA issue its
``department`` e-seal certificate in the same transaction as the department row and the
audit event, so a failure leaves neither a department without a seal nor a stray seal.
"""

from __future__ import annotations

import re
import secrets

from asn1crypto import x509 as asn1_x509
from sqlalchemy import select
from sqlalchemy.exc import IntegrityError

from certs import profiles
from certs.authority import authority
from certs.models import Certificate
from config import audit
from config.runtime import Runtime
from idp.models import User
from signing.engine import Seal
from signing.models import Department, Member

CODE = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_-]{0,31}$")


class DepartmentError(ValueError):
    """A refused department operation; ``code`` is a stable machine-readable reason."""

    def __init__(self, code: str, message: str, status: int = 400) -> None:
        super().__init__(message)
        self.code, self.message, self.status = code, message, status


def create(
    runtime: Runtime, code: str, name: str, name_en: str | None = None, actor: str | None = None
) -> dict:
    if not CODE.match(code):
        raise DepartmentError(
            "invalid_code", "a department code is 1-32 letters, digits, '-' or '_'"
        )
    name = name.strip()
    if not name or len(name) > 255:
        raise DepartmentError("invalid_name", "a department name is 1-255 characters")
    ca = authority(runtime)
    ca.ensure()
    label = f"dept-{code}-{secrets.token_hex(4)}"
    subject = profiles.department_subject(
        organization_zh=name,
        organization_en=(name_en or code).strip(),
        common_name=name,
        country="CN",
    )
    try:
        with runtime.db.write() as session:
            if session.execute(select(Department.id).where(Department.code == code)).first():
                raise DepartmentError("exists", f"department {code} already exists", 409)
            public = ca.custody.generate(session, label)
            issued = ca.issue(
                "department",
                subject=subject,
                public_key=public,
                key_label=label,
                actor=actor,
                session=session,
            )
            session.add(
                Department(
                    code=code,
                    name=name,
                    name_en=name_en,
                    key_label=label,
                    cert_serial=issued.serial,
                )
            )
            audit.record(
                session,
                "signing.department.create",
                actor=actor,
                subject=code,
                name=name,
                certificate=issued.serial,
            )
    except IntegrityError:
        raise DepartmentError("exists", f"department {code} already exists", 409) from None
    return get(runtime, code)


def add_member(runtime: Runtime, code: str, username: str, actor: str | None = None) -> dict:
    with runtime.db.write() as session:
        dept = _department(session, code)
        user = session.execute(select(User).where(User.username == username)).scalar_one_or_none()
        if user is None:
            raise DepartmentError("unknown_user", f"no user named {username}", 404)
        if session.get(Member, (dept.id, user.id)) is None:
            session.add(Member(department_id=dept.id, user_id=user.id))
            audit.record(
                session,
                "signing.department.add_member",
                actor=actor,
                subject=code,
                username=username,
            )
    return get(runtime, code)


def remove_member(runtime: Runtime, code: str, username: str, actor: str | None = None) -> dict:
    """Take USERNAME's right to sign for ``code`` away (refused if it had none)."""
    with runtime.db.write() as session:
        dept = _department(session, code)
        user_id = session.execute(
            select(User.id).where(User.username == username)
        ).scalar_one_or_none()
        member = session.get(Member, (dept.id, user_id)) if user_id is not None else None
        if member is None:
            raise DepartmentError("not_a_member", f"{username} is not a member of {code}", 404)
        session.delete(member)
        audit.record(
            session,
            "signing.department.remove_member",
            actor=actor,
            subject=code,
            username=username,
        )
    return get(runtime, code)


def department_id(session, code: str) -> int:
    return _department(session, code).id


def _department(session, code: str) -> Department:
    dept = session.execute(select(Department).where(Department.code == code)).scalar_one_or_none()
    if dept is None:
        raise DepartmentError("unknown_department", f"no department with code {code}", 404)
    return dept


def _as_dict(session, dept: Department) -> dict:
    members = session.execute(
        select(User.username)
        .join(Member, Member.user_id == User.id)
        .where(Member.department_id == dept.id)
        .order_by(User.username)
    ).scalars()
    return {
        "code": dept.code,
        "name": dept.name,
        "name_en": dept.name_en,
        "certificate_serial": dept.cert_serial,
        "members": list(members),
        "created_at": dept.created_at.isoformat() + "Z",
    }


def get(runtime: Runtime, code: str) -> dict:
    with runtime.db.read() as session:
        return _as_dict(session, _department(session, code))


def list_all(runtime: Runtime) -> list[dict]:
    with runtime.db.read() as session:
        depts = session.execute(select(Department).order_by(Department.code)).scalars().all()
        return [_as_dict(session, d) for d in depts]


def seal(runtime: Runtime, code: str) -> Seal:
    """The department's seal (custody label + certificate) for signing, in one query."""
    with runtime.db.read() as session:
        found = session.execute(
            select(Department, Certificate.der)
            .join(Certificate, Certificate.serial == Department.cert_serial)
            .where(Department.code == code)
        ).one_or_none()
        if found is None:
            _department(session, code)  # refuses an unknown department
            raise LookupError(f"department {code} has no seal certificate")
        dept, der = found
        return Seal(dept.code, dept.name, dept.key_label, asn1_x509.Certificate.load(der), dept.id)


def require_member(runtime: Runtime, code: str, username: str | None) -> tuple[int, int]:
    """(department id, user id) if ``username`` may sign for ``code``; else refuse."""
    with runtime.db.read() as session:
        dept = _department(session, code)
        user_id = session.execute(
            select(User.id).where(User.username == (username or ""))
        ).scalar_one_or_none()
        if user_id is None or session.get(Member, (dept.id, user_id)) is None:
            raise DepartmentError(
                "not_a_member", f"{username or 'this caller'} is not a member of {code}", 403
            )
        return dept.id, user_id


def by_serial(runtime: Runtime, serial: str) -> dict | None:
    """The department whose seal has certificate ``serial`` (for verification reports)."""
    with runtime.db.read() as session:
        dept = session.execute(
            select(Department).where(Department.cert_serial == serial)
        ).scalar_one_or_none()
        return {"code": dept.code, "name": dept.name} if dept else None
