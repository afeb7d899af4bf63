"""Departments: who seals, with which certificate, and which officers may sign for them.

Creating a department generates its key in custody and has OneTrip's CA issue its
``department`` e-seal certificate in the same transaction as the department row and the
audit event, so a failure leaves neither a department without a seal nor a stray seal.
Renewal (:func:`renew_seal`, by hand or automatically before expiry) gives the department
a new key and certificate; the old ones stay for validation (``signing_seals``).

Officers are the identity provider's users; signing never reads the provider's tables:
callers hand over the user id and username (from an access token, or the CLI's lookup).
"""

from __future__ import annotations

import logging
import re
import secrets
import threading
from datetime import datetime, timedelta

from asn1crypto import x509 as asn1_x509
from sqlalchemy import select
from sqlalchemy.exc import IntegrityError

from certs import profiles
from certs.authority import AuthorityError, authority
from config import audit
from config.db import utcnow
from config.errors import Refusal
from config.runtime import Runtime
from signing.engine import Seal
from signing.models import Department, Member
from signing.models import Seal as SealRow

CODE = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_-]{0,31}$")
#: EN 319 412-1 5.1.4: type (3 letters) + country (2) + '-' + identifier, or CC:identifier.
ORGANIZATION_ID = re.compile(r"^([A-Z]{3}[A-Z]{2}-|[A-Z]{2}:)[A-Za-z0-9./_-]{1,40}$")
RENEW_CHECK_SECONDS = 3600.0
#: A member's roles: an officer signs and acts on routes; an administrator also names
#: the department's officers.
ROLES = ("officer", "admin")
log = logging.getLogger(__name__)


class DepartmentError(Refusal):
    """A refused department operation; ``error`` is a stable machine-readable reason."""


def _subject(runtime: Runtime, dept_name: str, organization_identifier: str):
    return profiles.department_subject(
        dept_name, organization_identifier, country=runtime.settings.ca_country
    )


def create(
    runtime: Runtime,
    code: str,
    name: str,
    name_en: str | None = None,
    actor: str | None = None,
    organization_identifier: str | None = None,
) -> dict:
    """Create department ``code`` and its seal.

    ``organization_identifier`` is the department's registration by EN 319 412-1
    (``NTRCN-<unified social credit code>`` for a Chinese public body); without one it
    is ``<C>:ONETRIP-<code>``, an identifier in OneTrip's own national scheme.
    """
    if not CODE.match(code):
        raise DepartmentError(
            "invalid_code", "a department code is 1-32 letters, digits, '-' or '_'"
        )
    name = name.strip()
    if not name or len(name) > 255:
        raise DepartmentError("invalid_name", "a department name is 1-255 characters")
    org_id = organization_identifier or f"{runtime.settings.ca_country}:ONETRIP-{code.upper()}"
    if not ORGANIZATION_ID.match(org_id):
        raise DepartmentError(
            "invalid_organization_identifier",
            "an organization identifier looks like NTRCN-<registration number> (EN 319 412-1)",
        )
    ca = authority(runtime)
    ca.ensure()
    try:
        with runtime.db.write() as session:
            if session.execute(select(Department.id).where(Department.code == code)).first():
                raise DepartmentError("exists", f"department {code} already exists", 409)
            dept = Department(code=code, name=name, name_en=name_en, organization_identifier=org_id)
            not_after = _new_seal(runtime, session, dept, actor)
            session.add(dept)
            session.flush()
            _record_seal(session, dept, not_after)
            audit.record(
                session,
                "signing.department.create",
                actor=actor,
                subject=code,
                name=name,
                certificate=dept.cert_serial,
            )
    except IntegrityError:
        raise DepartmentError("exists", f"department {code} already exists", 409) from None
    except AuthorityError as refused:
        raise DepartmentError("invalid_name", str(refused)) from None
    return get(runtime, code)


def _new_seal(runtime: Runtime, session, dept: Department, actor: str | None) -> datetime:
    """Generate a key in custody and issue the seal certificate onto ``dept``; its end."""
    ca = authority(runtime)
    label = f"dept-{dept.code}-{secrets.token_hex(4)}"
    public = ca.custody.generate(session, label)
    org_id = dept.organization_identifier or f"{runtime.settings.ca_country}:ONETRIP-{dept.code}"
    issued = ca.issue(
        "department",
        subject=_subject(runtime, dept.name, org_id),
        public_key=public,
        key_label=label,
        actor=actor,
        session=session,
    )
    dept.key_label, dept.cert_serial = label, issued.serial
    dept.organization_identifier = org_id
    return issued.certificate.not_valid_after_utc.replace(tzinfo=None)


def _record_seal(session, dept: Department, not_after: datetime) -> None:
    session.add(
        SealRow(
            cert_serial=dept.cert_serial,
            department_id=dept.id,
            key_label=dept.key_label,
            not_after=not_after,
        )
    )


def renew_seal(runtime: Runtime, code: str, actor: str | None = None) -> dict:
    """A new key and seal certificate for ``code``, used from now on; the old one is kept
    (its signatures keep validating, its reports keep naming the department)."""
    with runtime.db.write() as session:
        dept = session.execute(
            select(Department).where(Department.code == code).with_for_update()
        ).scalar_one_or_none()
        if dept is None:
            raise DepartmentError("unknown_department", f"no department with code {code}", 404)
        previous = dept.cert_serial
        not_after = _new_seal(runtime, session, dept, actor)
        session.flush()
        _record_seal(session, dept, not_after)
        audit.record(
            session,
            "signing.department.renew_seal",
            actor=actor,
            subject=code,
            certificate=dept.cert_serial,
            previous=previous,
        )
    return get(runtime, code)


def renew_expiring_seals(runtime: Runtime, within: int | None = None) -> list[str]:
    """Renew every seal that ends within ``within`` seconds (``seal_renew_before``).

    Safe when many workers and nodes run it at once: each renewal re-reads the department
    under a row lock and skips it if another process renewed it meanwhile.
    """
    horizon = utcnow() + timedelta(seconds=within or runtime.settings.seal_renew_before)
    with runtime.db.read() as session:
        due = session.execute(
            select(Department.code, Department.cert_serial)
            .join(SealRow, SealRow.cert_serial == Department.cert_serial)
            .where(SealRow.not_after < horizon)
        ).all()
    renewed = []
    for code, serial in due:
        with runtime.db.write() as session:
            current = session.execute(
                select(Department.cert_serial).where(Department.code == code).with_for_update()
            ).scalar_one()
        if current == serial:
            renew_seal(runtime, code, actor="auto-renewal")
            renewed.append(code)
    return renewed


def start_renewal(runtime: Runtime) -> threading.Thread:
    """A daemon thread that renews expiring seals at start and then every hour."""
    stop = threading.Event()

    def run() -> None:
        while True:
            try:
                for code in renew_expiring_seals(runtime):
                    log.info("renewed the seal of department %s before it expired", code)
            except Exception:  # a failed round is retried at the next one
                log.exception("seal renewal round failed")
            if stop.wait(RENEW_CHECK_SECONDS):
                return

    thread = threading.Thread(target=run, name="onetrip-seal-renewal", daemon=True)
    thread.start()
    return thread


def check_role(role: str) -> str:
    if role not in ROLES:
        raise DepartmentError("invalid_role", f"a member's role is one of {', '.join(ROLES)}")
    return role


def add_member(
    runtime: Runtime,
    code: str,
    user_id: int,
    username: str,
    actor: str | None = None,
    role: str = "officer",
) -> dict:
    """Let user ``user_id`` (the provider's ``username``) sign for ``code`` with ``role``
    (a member already there gets the new role)."""
    check_role(role)
    with runtime.db.write() as session:
        dept = _department(session, code)
        member = session.get(Member, (dept.id, user_id))
        if member is None:
            session.add(
                Member(department_id=dept.id, user_id=user_id, username=username, role=role)
            )
            audit.record(
                session,
                "signing.department.add_member",
                actor=actor,
                subject=code,
                username=username,
                role=role,
            )
        elif member.role != role:
            member.role = role
            audit.record(
                session,
                "signing.department.set_role",
                actor=actor,
                subject=code,
                username=username,
                role=role,
            )
    return get(runtime, code)


def remove_member(runtime: Runtime, code: str, username: str, actor: str | None = None) -> dict:
    """Take USERNAME's right to sign for ``code`` away (refused if it had none)."""
    with runtime.db.write() as session:
        dept = _department(session, code)
        member = session.execute(
            select(Member).where(Member.department_id == dept.id, Member.username == username)
        ).scalar_one_or_none()
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
        select(Member.username).where(Member.department_id == dept.id).order_by(Member.username)
    ).scalars()
    return {
        "code": dept.code,
        "name": dept.name,
        "name_en": dept.name_en,
        "organization_identifier": dept.organization_identifier,
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


def memberships(runtime: Runtime, user_id: int | None) -> list[dict]:
    """The departments ``user_id`` belongs to, with the member's role in each."""
    with runtime.db.read() as session:
        rows = session.execute(
            select(Department.id, Department.code, Department.name, Department.name_en, Member.role)
            .join(Member, Member.department_id == Department.id)
            .where(Member.user_id == (user_id or -1))
            .order_by(Department.code)
        ).all()
    return [{"id": i, "code": c, "name": n, "name_en": e, "role": r} for i, c, n, e, r in rows]


def names(runtime: Runtime, codes: list[str]) -> dict[str, tuple[str, str | None]]:
    """The (name, English name) of each department in ``codes``, by code."""
    with runtime.db.read() as session:
        rows = session.execute(
            select(Department.code, Department.name, Department.name_en).where(
                Department.code.in_(codes)
            )
        ).all()
    return {code: (name, name_en) for code, name, name_en in rows}


def members(runtime: Runtime, code: str) -> list[dict]:
    """The members of ``code`` with their roles, by username."""
    with runtime.db.read() as session:
        dept = _department(session, code)
        rows = session.execute(
            select(Member.username, Member.role, Member.added_at)
            .where(Member.department_id == dept.id)
            .order_by(Member.username)
        ).all()
    return [{"username": u, "role": r, "added_at": a} for u, r, a in rows]


def member_codes(runtime: Runtime, user_id: int | None) -> list[str]:
    """Codes of the departments ``user_id`` belongs to."""
    with runtime.db.read() as session:
        return list(
            session.execute(
                select(Department.code)
                .join(Member, Member.department_id == Department.id)
                .where(Member.user_id == (user_id or -1))
                .order_by(Department.code)
            ).scalars()
        )


def seal(runtime: Runtime, code: str) -> Seal:
    """The department's seal (custody label + certificate) for signing: the department is
    signing's, its certificate the CA's (:meth:`~certs.authority.Authority.certificate_der`,
    which remembers it)."""
    with runtime.db.read() as session:
        dept = _department(session, code)  # refuses an unknown department
    der = authority(runtime).certificate_der(dept.cert_serial)
    if der is None:
        raise LookupError(f"department {code} has no seal certificate")
    return Seal(dept.code, dept.name, dept.key_label, asn1_x509.Certificate.load(der), dept.id)


def require_member(runtime: Runtime, code: str, user_id: int | None) -> int:
    """The department's id if user ``user_id`` may sign for ``code``; else refuse."""
    with runtime.db.read() as session:
        dept = _department(session, code)
        if user_id is None or session.get(Member, (dept.id, user_id)) is None:
            raise DepartmentError("not_a_member", f"this caller is not a member of {code}", 403)
        return dept.id


def by_serial(runtime: Runtime, serial: str) -> dict | None:
    """The department whose seal has (or had) certificate ``serial``, for reports."""
    with runtime.db.read() as session:
        dept = session.execute(
            select(Department)
            .join(SealRow, SealRow.department_id == Department.id)
            .where(SealRow.cert_serial == serial)
        ).scalar_one_or_none()
        return {"code": dept.code, "name": dept.name} if dept else None
